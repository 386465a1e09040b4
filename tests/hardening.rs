//! Hostile input and faults: fuzz regressions, random bytes, signals, full disks, bad paths,
//! escape sequences in exports.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    v.sort();
    v
}

#[test]
fn kept_crash_inputs_stay_fixed() {
    let mut n = 0;
    for p in regressions("rules_parser") {
        if let Ok(t) = std::str::from_utf8(&std::fs::read(&p).unwrap()) {
            recnet::hardening::fuzz_rules(t);
        }
        n += 1;
    }
    for p in regressions("breakpoint_parser") {
        recnet::hardening::fuzz_breakpoint(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        n += 1;
    }
    for p in regressions("session_reader") {
        recnet::hardening::fuzz_session(&std::fs::read(&p).unwrap());
        n += 1;
    }
    for p in regressions("dataset_loader") {
        recnet::hardening::fuzz_dataset(&std::fs::read(&p).unwrap());
        n += 1;
    }
    for p in regressions("settings_merge") {
        recnet::hardening::fuzz_settings(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        n += 1;
    }
    for p in regressions("scenario_parser") {
        recnet::hardening::fuzz_scenario(&std::fs::read(&p).unwrap());
        n += 1;
    }
    for p in regressions("session_ops") {
        recnet::hardening::fuzz_session_ops(&std::fs::read(&p).unwrap());
        n += 1;
    }
    for p in regressions("reply_parser") {
        recnet::hardening::fuzz_reply(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        n += 1;
    }
    for p in regressions("keymap_file") {
        recnet::hardening::fuzz_keymap(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        n += 1;
    }
    println!("inputs tried: kept_crash_inputs_stay_fixed: {n}");
    assert!(n >= 27, "the regression corpus is missing ({n} files)");
}

/// The fuzz targets' bounded stand-in where cargo-fuzz is not installed: inputs built from the
/// pieces each parser knows (keys, sections, stage fields), mixed with noise. A few thousand
/// cases in all, each target's count below.
mod bounded_fuzz {
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "routers.tau",
        "routers.count",
        "routers.items",
        "routers.fan_out",
        "filter.assimilate_into",
        "filter.enabled",
        "filter.like_threshold",
        "buffer.capacity",
        "buffer.overflow",
        "time.batch_size",
        "embedding.dim",
        "backward.negatives",
        "reflection.user_rate",
        "evidence.window",
        "nope.x",
        "routers",
    ];
    const VALUES: &[&str] = &[
        "0",
        "1",
        "-1",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "100000",
        "0.5",
        "true",
        "\"bad\"",
        "\"profile\"",
        "\"drain\"",
        "\"direction\"",
        "[]",
        "{}",
        "\"\"",
        "3",
    ];

    fn setting() -> impl Strategy<Value = String> {
        (prop::sample::select(KEYS), prop::sample::select(VALUES), any::<bool>()).prop_map(|(k, v, as_set)| {
            if as_set {
                format!("--set {k}={}", v.trim_matches('"'))
            } else {
                match k.split_once('.') {
                    Some((s, key)) => format!("[{s}]\n{key} = {v}"),
                    None => format!("{k} = {v}"),
                }
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn settings_merging_never_panics(lines in prop::collection::vec(prop_oneof![4 => setting(), 1 => "[ -~\n]{0,30}"], 0..6)) {
            recnet::hardening::fuzz_settings(&lines.join("\n"));
        }

        #[test]
        fn keymap_files_never_panic(pairs in prop::collection::vec(("(ctrl\\+|alt\\+|shift\\+)?([a-zA-Z0-9 ]|f[0-9]{1,2}|up|enter|esc|tab|)", "(quit|help|step_forward|nope|)"), 0..5), noise in "[ -~]{0,10}") {
            let body: Vec<String> = pairs.iter().map(|(k, a)| format!("{k:?} = {a:?}")).collect();
            recnet::hardening::fuzz_keymap(&format!("[keys]\n{}\n{noise}", body.join("\n")));
        }
    }

    const REPLY_KEYS: &[&str] = &[
        "summary", "verdicts", "message", "decision", "rules", "edits", "op", "rule", "text", "reason", "profile", "attrs", "delta", "attr", "weight", "edit",
        "fan_out", "tau", "accept", "reject", "hold", "replace", "add", "remove",
    ];

    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            (-3i64..100).prop_map(|n| n.to_string()),
            prop::sample::select(&[0.5f64, -1.0, 1e308, 2.0][..]).prop_map(|f| f.to_string()),
            prop::sample::select(REPLY_KEYS).prop_map(|s| format!("{s:?}")),
            "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((prop::sample::select(REPLY_KEYS), inner), 0..4)
                    .prop_map(|v| format!("{{{}}}", v.iter().map(|(k, x)| format!("{k:?}:{x}")).collect::<Vec<_>>().join(","))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn model_replies_never_panic(v in json_value(), fence in any::<bool>(), cut in 0usize..200) {
            let text = if fence { format!("```json\n{v}\n```") } else { v.clone() };
            recnet::hardening::fuzz_reply(&text);
            // Cut anywhere: a reply stopped at max_tokens.
            let end = text.char_indices().map(|(i, _)| i).find(|i| *i >= cut).unwrap_or(text.len());
            recnet::hardening::fuzz_reply(&text[..end]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn scenarios_never_panic(
            users in prop::collection::vec(("[a-z0-9 ]{0,4}", prop::collection::vec(("[a-z]{1,3}", -2.0f64..2.0), 0..3)), 0..4),
            items in prop::collection::vec(("[a-z0-9]{0,3}", prop::collection::vec("[a-z]{1,3}", 0..3)), 0..4),
            rows in prop::collection::vec(prop::collection::vec("[a-z0-9]{0,4}", 0..4), 0..5),
            extra in prop::sample::select(&["", "[config.routers]\ntau = nan\n", "[config.buffer]\ncapacity = 0\n", "rules = \"hold when\"\n", "[[user]]\n"][..]),
            json in any::<bool>(),
        ) {
            let users: Vec<serde_json::Value> = users.iter().map(|(id, attrs)| serde_json::json!({"id": format!("u{id}"), "attrs": attrs.iter().map(|(k, w)| (k.clone(), serde_json::json!(w))).collect::<serde_json::Map<String, serde_json::Value>>()})).collect();
            let items: Vec<serde_json::Value> = items.iter().map(|(id, cats)| serde_json::json!({"id": format!("i{id}"), "categories": cats})).collect();
            let v = serde_json::json!({"name": "f", "user": users, "item": items, "schedule": {"interactions": rows}});
            let text = if json {
                v.to_string()
            } else {
                match toml::to_string(&v) {
                    Ok(t) => format!("{t}\n{extra}"),
                    Err(_) => v.to_string(),
                }
            };
            recnet::hardening::fuzz_scenario(text.as_bytes());
        }

        #[test]
        fn mutated_sessions_never_panic_in_check_export_diff_or_fork(ops in prop::collection::vec(any::<u8>(), 0..24)) {
            recnet::hardening::fuzz_session_ops(&ops);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn rules_and_breakpoints_never_panic(s in "[ -~\\n\\t()\\[\\]\"#<>=!éλ\u{1b}]{0,120}") {
        recnet::hardening::fuzz_rules(&s);
        recnet::hardening::fuzz_breakpoint(&s);
    }

    #[test]
    fn sessions_of_any_bytes_never_panic(
        lines in prop::collection::vec(prop_oneof![
            Just("{\"format\":\"recnet-session\",\"version\":\"1.0\",\"recnet\":\"0\",\"source\":{\"kind\":\"scenario\",\"name\":\"x\",\"path\":\"x\"},\"seed\":1,\"rounds\":1,\"config\":{}}".to_string()),
            Just("{\"step\":0,\"round\":0,\"tick\":0,\"kind\":\"world_created\",\"dim\":16,\"vocabulary\":[\"a\"]}".to_string()),
            Just("{\"step\":1,\"round\":0,\"tick\":0,\"kind\":\"agent_created\",\"agent\":\"u1\",\"agent_kind\":\"user\",\"attrs\":{\"a\":0.5},\"rules\":\"default reject\"}".to_string()),
            "[ -~]{0,40}",
        ], 0..6),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut bytes = lines.join("\n").into_bytes();
        bytes.extend(tail);
        recnet::hardening::fuzz_session(&bytes);
    }

    #[test]
    fn datasets_of_any_bytes_never_panic(rows in prop::collection::vec("[0-9a-z \\t:_]{0,30}", 0..8)) {
        recnet::hardening::fuzz_dataset(rows.join("\n").as_bytes());
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recnet"))
}

#[test]
fn sigint_mid_run_leaves_a_valid_session() {
    let d = tempfile::tempdir().unwrap();
    let scen = d.path().join("big.json");
    assert!(bin()
        .args(["gen", "--users", "20000", "--items", "4000", "--interactions", "20000", "--communities", "20", "--out"])
        .arg(&scen)
        .status()
        .unwrap()
        .success());
    let out = d.path().join("s.jsonl");
    let child = bin().args(["run", "--scenario"]).arg(&scen).arg("--out").arg(&out).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until it is well into the run.
    let t = std::time::Instant::now();
    // The session grows in a temporary file beside `out` until the run ends.
    let written = || -> u64 {
        std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    // Past the world's setup (about 9 MB here): a run stopped inside it keeps no session.
    while written() < 20_000_000 && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted at step"), "{err}");
    let chk = bin().arg("check").arg(&out).output().unwrap();
    assert!(chk.status.success(), "{}", String::from_utf8_lossy(&chk.stderr));
    // Complete up to the step it names: events held back for a batch were written too.
    let named: u64 = err.split("interrupted at step ").nth(1).and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()).and_then(|n| n.parse().ok()).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"].as_u64(), Some(named), "the session ends elsewhere than {err}");
}

#[test]
fn full_disks_and_bad_paths_are_clear_errors() {
    let o = bin().args(["run", "--scenario", "demo", "--out", "/dev/full"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/dev/full: write failed"), "{err}");
    let o = bin().args(["run", "--scenario", "demo", "--out", "/nonexistent/dir/s.jsonl"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/dir/s.jsonl: cannot create session file"));
    let o = bin().args(["run", "--scenario", "nowhere.toml", "--out", "x.jsonl"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("nowhere.toml: cannot read scenario"));
}

#[test]
fn exports_of_hostile_text_are_safe() {
    let d = tempfile::tempdir().unwrap();
    let huge = "x".repeat(100_000);
    let scen = format!(
        "name = \"evil\"\n[[user]]\nid = \"u1\"\nname = \"\\u001b]52;c;aGk=\\u0007\\u202eevil\\u200b{huge}\"\nattrs = {{ \"Jazz\\u001b[2J\" = 0.5 }}\n[[item]]\nid = \"i1\"\ntitle = \"\\u001b[31mred\\u009b\"\ncategories = [\"Jazz\\u001b[2J\"]\n[[item]]\nid = \"i2\"\ncategories = [\"Rock\"]\n[schedule]\ninteractions = [[\"u1\", \"i1\", \"i2\"]]\n"
    );
    std::fs::write(d.path().join("evil.toml"), scen).unwrap();
    let run = bin().current_dir(d.path()).args(["run", "--scenario", "evil.toml", "--out", "s.jsonl"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let bad = |s: &str| s.chars().any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{9b}' || c == '\u{202e}' || c == '\u{200b}');
    for args in [
        vec!["export", "s.jsonl", "--format", "json"],
        vec!["export", "s.jsonl", "--format", "dot"],
        vec!["export", "s.jsonl", "--events", "--format", "csv"],
        vec!["export", "s.jsonl", "--events", "--format", "json"],
    ] {
        let o = bin().current_dir(d.path()).args(&args).output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(!bad(&text), "{args:?} printed a raw escape or bidi character");
        if args.contains(&"dot") || args.contains(&"csv") {
            assert!(text.lines().all(|l| l.chars().count() < 2_000), "{args:?}: a huge string was not cut");
        }
    }
    // JSON stays faithful: parsing it gives back the original text.
    let o = bin().current_dir(d.path()).args(["export", "s.jsonl", "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["clients"][0]["title"].as_str().unwrap().starts_with("\u{1b}]52"));
    let diff = bin().current_dir(d.path()).args(["diff", "s.jsonl", "--steps", "0", "5"]).output().unwrap();
    assert!(!bad(&String::from_utf8_lossy(&diff.stdout)));
    let demo = bin().current_dir(d.path()).args(["demo", "--headless", "--rounds", "1"]).output().unwrap();
    assert!(!bad(&String::from_utf8_lossy(&demo.stdout)));
}

#[test]
fn api_keys_never_leak_into_errors() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("leak.jsonl");
    let o = bin()
        .args(["run", "--scenario", "demo", "--llm-url", "http://127.0.0.1:1/v1?key=sk-LEAK-9999", "--llm-retries", "0", "--out"])
        .arg(&out)
        .env("OPENAI_API_KEY", "sk-LEAK-9999")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!all.contains("sk-LEAK-9999"), "{all}");
    // The error names the endpoint, with the key in its URL redacted.
    assert!(all.contains("127.0.0.1:1/v1?key=[redacted]"), "{all}");
    if let Ok(session) = std::fs::read_to_string(&out) {
        assert!(!session.contains("sk-LEAK-9999"), "the key reached the session file");
    }
}

/// A signal at any moment of a run's start gets one story: either nothing was written (the file
/// is as it was) or the session is complete up to a step, never both (a SIGINT inside the world's
/// setup said "complete up to there" and "no session was written" at once).
#[test]
fn a_signal_during_setup_leaves_no_session_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let scen = d.path().join("g.json");
    assert!(bin()
        .args(["gen", "--users", "20000", "--items", "4000", "--interactions", "2000", "--communities", "20", "--out"])
        .arg(&scen)
        .status()
        .unwrap()
        .success());
    let mut stories = std::collections::BTreeSet::new();
    for delay_ms in [30, 80, 150, 250, 400] {
        let out = d.path().join(format!("s{delay_ms}.jsonl"));
        let child = bin().args(["run", "--scenario"]).arg(&scen).arg("--out").arg(&out).stderr(std::process::Stdio::piped()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            continue;
        }
        assert_eq!(o.status.code(), Some(130), "{err}");
        let nothing = err.contains("no session was written") || err.contains("before any event was written");
        assert!(!(nothing && err.contains("complete up to")), "{err}");
        if nothing {
            assert!(!out.exists(), "{err}");
            stories.insert("nothing written");
        } else if out.exists() {
            let chk = bin().arg("check").arg(&out).output().unwrap();
            assert!(chk.status.success(), "{err}: {}", String::from_utf8_lossy(&chk.stderr));
            stories.insert("a prefix");
        }
    }
    println!("stories seen: {stories:?}");
}

/// Help, version and the headless demo on a full disk: exit 2 naming standard output (help and
/// version exited 0 with nothing said; the demo said only "No space left on device").
#[test]
fn help_version_and_the_demo_on_a_full_disk_name_stdout() {
    for args in [vec!["--help"], vec!["--version"], vec!["run", "--help"], vec!["demo", "--headless"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let o = bin().args(&args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("<stdout>: write failed") && err.contains("No space left"), "{args:?}: {err}");
    }
}
