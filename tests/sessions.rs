//! Sessions on disk and time travel, through the real binary where a user would use it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recnet"))
}

fn run_demo(dir: &Path, rounds: u32) -> PathBuf {
    let out = dir.join("demo.jsonl");
    let st = bin().args(["run", "--scenario", "demo", "--rounds", &rounds.to_string(), "--seed", "7", "--out"]).arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    out
}

#[test]
fn check_finds_the_bad_line_without_panicking() {
    let d = tempfile::tempdir().unwrap();
    let s = run_demo(d.path(), 1);
    let ok = bin().arg("check").arg(&s).output().unwrap();
    assert!(ok.status.success());
    let text = std::fs::read_to_string(&s).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Truncated in the middle of line 151.
    let cut: usize = lines[..150].iter().map(|l| l.len() + 1).sum::<usize>() + 17;
    let trunc = d.path().join("trunc.jsonl");
    std::fs::write(&trunc, &text.as_bytes()[..cut]).unwrap();
    let o = bin().arg("check").arg(&trunc).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("trunc.jsonl:151:"), "{err}");
    assert!(err.contains("149 event(s) before line 151 are valid"), "{err}");
    // Garbled line 120.
    let mut g: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    g[119] = "{\"step\": 5, \"kind\": 'oops".into();
    let garbled = d.path().join("garbled.jsonl");
    std::fs::write(&garbled, g.join("\n") + "\n").unwrap();
    let o = bin().arg("check").arg(&garbled).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("garbled.jsonl:120:"));
    // An event that refers to an agent that does not exist.
    let mut h: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let line = (60..h.len()).find(|i| h[*i].contains("\"agent\":\"")).expect("an event naming an agent");
    h[line] = h[line].replacen("\"agent\":\"", "\"agent\":\"ghost", 1);
    let ghost = d.path().join("ghost.jsonl");
    std::fs::write(&ghost, h.join("\n") + "\n").unwrap();
    let o = bin().arg("check").arg(&ghost).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    // Random bytes, an empty file, a newer major version.
    for (name, bytes) in [
        ("noise.jsonl", vec![0xff, 0x00, 0x1b, b'[', b'\n', 0x80]),
        ("empty.jsonl", vec![]),
        ("future.jsonl", b"{\"format\":\"recnet-session\",\"version\":\"9.0\"}\n".to_vec()),
    ] {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = bin().arg("check").arg(&p).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("{name}:1:")), "{name}");
    }
    let o = bin().arg("check").arg(d.path().join("future.jsonl")).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("newer"));
}

#[test]
fn export_does_not_depend_on_keyframes() {
    let d = tempfile::tempdir().unwrap();
    let s = run_demo(d.path(), 2);
    for at in ["0", "37", "400", "1100"] {
        let a = bin().arg("export").arg(&s).args(["--at", at, "--format", "json", "--keyframe-every", "1"]).output().unwrap();
        let b = bin().arg("export").arg(&s).args(["--at", at, "--format", "json", "--keyframe-every", "0"]).output().unwrap();
        assert!(a.status.success() && b.status.success());
        assert_eq!(a.stdout, b.stdout, "state at {at} depends on keyframes");
    }
    let dot = bin().arg("export").arg(&s).args(["--at", "400", "--format", "dot"]).output().unwrap();
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(dot.starts_with("digraph recnet") && dot.contains("\"R1\"") && dot.contains("dir=back"));
    let csv = bin().arg("export").arg(&s).args(["--events", "--format", "csv"]).output().unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("step,round,tick,phase,stage,kind,"));
    assert_eq!(csv.lines().count(), std::fs::read_to_string(&s).unwrap().lines().count());
}

#[test]
fn a_stricter_rule_shows_downstream_in_the_diff() {
    let d = tempfile::tempdir().unwrap();
    let s = run_demo(d.path(), 3);
    let rules = d.path().join("strict.rules");
    // Tighten u1's first rule: only very close news gets in.
    std::fs::write(&rules, "reject when topic in dislikes\naccept 0.8 when relevance >= 0.95 and topic in likes\ndefault reject\n").unwrap();
    let branch = d.path().join("branch.jsonl");
    let o = bin().arg("fork").arg(&s).args(["--at", "300", "--agent", "u1", "--rules"]).arg(&rules).arg("--out").arg(&branch).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(bin().arg("check").arg(&branch).status().unwrap().success());
    let o = bin().arg("diff").arg(&s).arg(&branch).args(["--format", "json"]).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let div = v["first_divergence"]["step"].as_u64().unwrap();
    assert!(div <= 300, "the branch diverges at the start of step 300's time step, not {div}");
    let decisions = v["decisions"].as_array().unwrap();
    assert!(
        decisions.iter().any(|d| d["agent"] == "u1" && d["a"].as_str().unwrap().starts_with("accept") && d["b"].as_str().unwrap().starts_with("reject")),
        "no message u1 accepted in A and rejected in B"
    );
    let profiles = v["profiles"].as_array().unwrap();
    assert!(profiles.iter().any(|p| p["agent"] == "u1"));
    // Downstream: u1's rewards move its routers' strategy, and other agents decide differently.
    assert!(decisions.iter().any(|d| d["agent"] != "u1"), "the change did not reach anyone downstream");
    assert!(!v["routers"].as_array().unwrap().is_empty(), "nor any router");
    assert!(v["counters"]["accepted"].is_array());
    let human = bin().arg("diff").arg(&s).arg(&branch).output().unwrap();
    let human = String::from_utf8(human.stdout).unwrap();
    assert!(human.contains("first divergence at step") && human.contains("filter decisions that differ"));
    // Two steps of one session.
    let o = bin().arg("diff").arg(&s).args(["--steps", "100", "400", "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["profiles"].as_array().unwrap().is_empty());
}

#[test]
fn fork_refuses_bad_edits_clearly() {
    let d = tempfile::tempdir().unwrap();
    let s = run_demo(d.path(), 1);
    let bad = d.path().join("bad.rules");
    std::fs::write(&bad, "accept when relevance >>= 1\n").unwrap();
    let o = bin().arg("fork").arg(&s).args(["--at", "50", "--agent", "u1", "--rules"]).arg(&bad).arg("--out").arg(d.path().join("x.jsonl")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.rules:1:"));
    let good = d.path().join("good.rules");
    std::fs::write(&good, "default reject\n").unwrap();
    let o =
        bin().arg("fork").arg(&s).args(["--at", "50", "--agent", "nobody", "--rules"]).arg(&good).arg("--out").arg(d.path().join("x.jsonl")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no agent nobody"));
    let o = bin().arg("fork").arg(&s).args(["--at", "50", "--router", "R2", "--fan-out", "1", "--out"]).arg(d.path().join("r.jsonl")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_header_from_before_evidence_still_loads() {
    // Sessions written before format 1.1 have no evidence knobs in their config; they ran without
    // evidence, and must still open, check and replay.
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("new.jsonl");
    let o = bin().args(["run", "--scenario", "demo", "--out"]).arg(&s).output().unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(&s).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let mut h: serde_json::Value = serde_json::from_str(head).unwrap();
    h["version"] = "1.0".into();
    let cfg = h["config"].as_object_mut().unwrap();
    cfg.remove("evidence");
    for (section, key) in [
        ("routers", "behaviour_weight"),
        ("routers", "items"),
        ("routers", "placebo"),
        ("backward", "negatives"),
        ("buffer", "read_when_ranked"),
        ("buffer", "read_before_choice"),
    ] {
        cfg[section].as_object_mut().unwrap().remove(key).expect(key);
    }
    let old = d.path().join("old.jsonl");
    std::fs::write(&old, format!("{h}\n{rest}")).unwrap();
    let o = bin().arg("check").arg(&old).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A header whose config an engine could not run with is refused, by name.
    h["config"]["evidence"] =
        serde_json::json!({"enabled": true, "gate_init": 0.5, "gate_rate": 1.0, "gate_max": -1.0, "learn_gate": true, "gate_decay": 0.0, "window": 4});
    let bad = d.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{h}\n{rest}")).unwrap();
    let o = bin().arg("check").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gate"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("run.jsonl");
    assert!(bin().args(["run", "--scenario", "demo", "--out"]).arg(&s).output().unwrap().status.success());
    let before = std::fs::read(&s).unwrap();
    for args in [vec!["fork", "--at", "100", "--router", "R1", "--fan-out", "3", "--out"], vec!["export", "--at", "10", "--format", "json", "--out"]] {
        let o = bin().arg(args[0]).arg(&s).args(&args[1..]).arg(&s).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"), "{args:?}");
        assert_eq!(std::fs::read(&s).unwrap(), before, "{args:?} overwrote its input");
    }
    let scenario = d.path().join("demo.toml");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.toml"), &scenario).unwrap();
    let o = bin().args(["run", "--scenario"]).arg(&scenario).arg("--out").arg(&scenario).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(std::fs::read_to_string(&scenario).unwrap().contains("[["), "the scenario is intact");
}
