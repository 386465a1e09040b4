//! Propagation that pays, on planted data in the real RecBole format: communities of users share
//! items that content cannot tell apart (every item has the same categories), so only evidence of
//! what a community chose can rank a user's next item. And a control where choices are random,
//! where the gate must not open.

use recnet::analysis::eval::{run_eval, EvalOptions};
use recnet::engine::config::Config;
use recnet::inputs::dataset::load_dataset;
use std::fmt::Write as _;
use std::path::Path;

/// SplitMix-style stream for the fixture (independent of the crate's RNG).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `communities` groups of `users_each` users; each group draws its histories from its own pool of
/// `pool` items; `planted = false` draws every choice from all items instead.
fn write_planted(dir: &Path, communities: usize, users_each: usize, pool: usize, history: usize, planted: bool) {
    let mut s = 17u64;
    let items = communities * pool;
    let mut item_file = String::from("item_id:token\ttitle:token_seq\tcategory:token_seq\n");
    for i in 0..items {
        // Same categories everywhere: content carries no signal.
        writeln!(item_file, "{i}\tRecord {i}\tRock; Pop").unwrap();
    }
    let (mut train, mut valid, mut test, mut random) = (
        String::from("user_id:token\titem_id_list:token_seq\titem_id:token\n"),
        String::from("user_id:token\titem_id_list:token_seq\titem_id:token\n"),
        String::from("user_id:token\titem_id_list:token_seq\titem_id:token\n"),
        String::new(),
    );
    for c in 0..communities {
        for k in 0..users_each {
            let user = 1000 + c * users_each + k;
            let mut seq: Vec<usize> = Vec::new();
            while seq.len() < history + 2 {
                let i = if planted { c * pool + (next(&mut s) as usize % pool) } else { next(&mut s) as usize % items };
                if !seq.contains(&i) {
                    seq.push(i);
                }
            }
            let ids: Vec<String> = seq.iter().map(|i| i.to_string()).collect();
            for n in 1..history {
                writeln!(train, "{user}\t{}\t{}", ids[..n].join(" "), ids[n]).unwrap();
            }
            writeln!(valid, "{user}\t{}\t{}", ids[..history].join(" "), ids[history]).unwrap();
            writeln!(test, "{user}\t{}\t{}", ids[..history + 1].join(" "), ids[history + 1]).unwrap();
            let mut negs: Vec<String> = Vec::new();
            while negs.len() < 20 {
                let i = next(&mut s) as usize % items;
                if !seq.contains(&i) && !negs.contains(&i.to_string()) {
                    negs.push(i.to_string());
                }
            }
            writeln!(random, "{user}\t{}", negs.join(" ")).unwrap();
        }
    }
    for (name, text) in [("p.item", item_file), ("p.train.inter", train), ("p.valid.inter", valid), ("p.test.inter", test), ("p.random", random)] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn eval(dir: &Path, split: &str) -> recnet::analysis::eval::Report {
    let opts = EvalOptions { split: split.into(), rounds: 1, seeds: vec![1, 2], models: Vec::new() };
    run_eval(|seed| load_dataset(dir, seed), &Config::default(), &opts, |_| {}).unwrap()
}

fn ndcg10(r: &recnet::analysis::eval::Report, model: &str) -> f64 {
    r.models.iter().find(|m| m.name == model).unwrap().metrics["ndcg@10"]
}

fn diagnostics<'a>(r: &'a recnet::analysis::eval::Report, model: &str) -> &'a recnet::analysis::eval::diagnostics::Diagnostics {
    r.diagnostics.iter().find(|d| d.model == model).unwrap()
}

fn paired<'a>(r: &'a recnet::analysis::eval::Report, baseline: &str) -> &'a recnet::analysis::eval::Paired {
    r.paired.iter().find(|p| p.baseline == baseline && p.metric == "ndcg@10").unwrap()
}

#[test]
fn evidence_ranks_what_content_cannot() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    let r = eval(d.path(), "valid");
    let (full, none) = (ndcg10(&r, "recnet"), ndcg10(&r, "recnet-no-propagation"));
    eprintln!(
        "planted: recnet {full:.4} no-propagation {none:.4} placebo {:.4} minus-evidence {:.4}",
        ndcg10(&r, "recnet-placebo"),
        ndcg10(&r, "recnet-minus-evidence")
    );
    eprintln!("{:?}", diagnostics(&r, "recnet"));
    let p = paired(&r, "recnet-no-propagation");
    assert!(p.ci_low > 0.0, "propagation must help where only behaviour carries signal: {p:?}");
    // On this fixture random receivers within the community do about as well as the most
    // similar ones (who often chose the items already): the placebo must not do better.
    let placebo = paired(&r, "recnet-placebo");
    assert!(placebo.ci_high > 0.0, "the placebo is not significantly better: {placebo:?}");
    assert!(full > ndcg10(&r, "recnet-minus-evidence"));
    let g = diagnostics(&r, "recnet");
    assert!(g.gate_mean > 0.3, "gates open where evidence predicts choices: {g:?}");
    assert!(g.users_reached == g.users && g.deliveries_to_users > g.deliveries_to_items);
}

#[test]
fn gates_stay_shut_on_random_choices() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, false);
    let r = eval(d.path(), "valid");
    let g = diagnostics(&r, "recnet");
    eprintln!("random: recnet {:.4} no-propagation {:.4} gates {g:?}", ndcg10(&r, "recnet"), ndcg10(&r, "recnet-no-propagation"));
    for m in &r.models {
        eprintln!("random: {} {:.4}", m.name, m.metrics["ndcg@10"]);
    }
    let planted = {
        let d = tempfile::tempdir().unwrap();
        write_planted(d.path(), 4, 10, 12, 6, true);
        diagnostics(&eval(d.path(), "valid"), "recnet").gate_mean
    };
    assert!(g.gate_mean < planted, "gates open less where choices are noise: {} vs {planted}", g.gate_mean);
}

#[test]
fn evaluation_is_deterministic() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 3, 8, 10, 5, true);
    let once = serde_json::to_string(&eval(d.path(), "test")).unwrap();
    let again = serde_json::to_string(&eval(d.path(), "test")).unwrap();
    assert_eq!(once, again);
}

#[test]
fn each_router_integrates_once_a_step_and_gates_learn_from_the_interaction_in_hand() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    let out = d.path().join("run.jsonl");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recnet")).args(["run", "--dataset"]).arg(d.path()).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let (mut gates, mut evidence) = (0, 0);
    let mut last_interaction: Option<(String, String)> = None;
    for line in text.lines().skip(1) {
        let ev: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = ev["kind"].as_str().unwrap().to_string();
        let pair = |a: &str, b: &str| (ev[a].as_str().unwrap_or("").to_string(), ev[b].as_str().unwrap_or("").to_string());
        if kind == "interaction" {
            last_interaction = Some(pair("user", "item"));
        }
        // A gate step is learned from the interaction just recorded (judged on the state before it).
        if kind == "gate_updated" {
            assert_eq!(last_interaction.as_ref(), Some(&pair("agent", "item")));
        }
        match kind.as_str() {
            "router_integrated" => {
                let key = (ev["tick"].as_u64().unwrap(), ev["router"].as_str().unwrap().to_string());
                assert!(seen.insert(key.clone()), "{key:?} integrated twice");
            }
            "gate_updated" => gates += 1,
            "evidence_stored" => evidence += 1,
            _ => {}
        }
    }
    assert!(gates > 0 && evidence > 0, "gates {gates}, evidence {evidence}");
}

/// Run the planted fixture headless with `sets`, and return its events.
fn run_events(dir: &Path, sets: &[&str]) -> Vec<serde_json::Value> {
    let out = dir.join(format!("run-{}.jsonl", sets.len()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recnet"));
    cmd.args(["run", "--dataset"]).arg(dir).arg("--out").arg(&out);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(&out).unwrap().lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_chooser_hears_in_a_digest_what_its_new_neighbours_chose() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    let events = run_events(d.path(), &[]);
    // Replay histories to check each digest against the state it was sent in.
    let mut history: std::collections::HashMap<String, std::collections::BTreeSet<String>> = Default::default();
    let mut chose_this_tick: std::collections::BTreeSet<String> = Default::default();
    let (mut digests, mut named) = (0, 0);
    for ev in &events {
        let s = |k: &str| ev[k].as_str().unwrap_or("").to_string();
        match ev["kind"].as_str().unwrap() {
            "tick_started" => chose_this_tick.clear(),
            "interaction" => {
                history.entry(s("user")).or_default().insert(s("item"));
                chose_this_tick.insert(s("user"));
            }
            "message_sent" if s("text").contains(": digest for ") => {
                digests += 1;
                let recipients = ev["recipients"].as_array().unwrap();
                assert_eq!(recipients.len(), 1, "a digest is personal: {ev}");
                let to = recipients[0]["agent"].as_str().unwrap().to_string();
                assert!(chose_this_tick.contains(&to), "a digest goes to a user who chose this step: {ev}");
                let mine = history.get(&to).cloned().unwrap_or_default();
                for c in ev["evidence"].as_array().unwrap() {
                    let (user, item) = (c["user"].as_str().unwrap(), c["item"].as_str().unwrap());
                    assert_ne!(user, to, "not its own choices");
                    assert!(!mine.contains(item), "not what it chose already: {item}");
                    let theirs = history.get(user).cloned().unwrap_or_default();
                    assert!(mine.intersection(&theirs).next().is_some(), "{user} shares behaviour with {to}");
                    named += 1;
                }
            }
            _ => {}
        }
    }
    assert!(digests > 0 && named > 0, "digests {digests}, choices named {named}");
    // Switched off, none is sent, and less evidence is stored.
    let stored = |events: &[serde_json::Value]| -> usize {
        events.iter().filter(|e| e["kind"] == "evidence_stored").map(|e| e["entries"].as_array().unwrap().len()).sum()
    };
    let off = run_events(d.path(), &["evidence.digest=false"]);
    assert!(!off.iter().any(|e| e["text"].as_str().is_some_and(|t| t.contains(": digest for "))));
    assert!(stored(&events) > stored(&off), "digests carry evidence: {} vs {}", stored(&events), stored(&off));
}

/// Over a run's digests: how many were sent, the most pairs one named, and how many named pairs
/// were chosen before the previous step (each checked to be a real earlier choice).
fn digest_reach(events: &[serde_json::Value]) -> (usize, usize, usize) {
    let mut chosen_at: std::collections::HashMap<(String, String), u64> = Default::default();
    let mut tick = 0;
    let (mut digests, mut most, mut old) = (0, 0, 0);
    for ev in events {
        let s = |k: &str| ev[k].as_str().unwrap_or("").to_string();
        match ev["kind"].as_str().unwrap() {
            "tick_started" => tick = ev["tick"].as_u64().unwrap(),
            "interaction" => {
                chosen_at.insert((s("user"), s("item")), tick);
            }
            "message_sent" if s("text").contains(": digest for ") => {
                digests += 1;
                let named = ev["evidence"].as_array().unwrap();
                most = most.max(named.len());
                for c in named {
                    let key = (c["user"].as_str().unwrap().to_string(), c["item"].as_str().unwrap().to_string());
                    let at = *chosen_at.get(&key).unwrap_or_else(|| panic!("{key:?} is a real earlier choice: {ev}"));
                    if at + 1 < tick {
                        old += 1;
                    }
                }
            }
            _ => {}
        }
    }
    (digests, most, old)
}

#[test]
fn a_neighbours_digest_names_what_the_nearest_chose_long_ago_up_to_its_size() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    // A router window of one earlier choice: what a digest names from before the last step came
    // from the neighbours' histories, not from the window.
    let (digests, most, old) = digest_reach(&run_events(d.path(), &["evidence.window=1", "evidence.digest_scope=neighbours", "evidence.digest_entries=5"]));
    assert!(digests > 0 && (1..=5).contains(&most), "digests {digests}, at most digest_entries pairs each: {most}");
    let (_, _, old_in_window) = digest_reach(&run_events(d.path(), &["evidence.window=1", "evidence.digest_scope=window"]));
    assert!(old > 2 * old_in_window.max(1), "choices from before the window: {old} by neighbours, {old_in_window} by the window");
}

#[test]
fn the_evidence_memory_keeps_what_the_setting_allows() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    let most = |events: &[serde_json::Value]| -> usize {
        let mut held: std::collections::HashMap<String, std::collections::BTreeSet<(String, String)>> = Default::default();
        let mut most = 0;
        for e in events.iter().filter(|e| e["kind"] == "evidence_stored") {
            let m = held.entry(e["agent"].as_str().unwrap().to_string()).or_default();
            for x in e["entries"].as_array().unwrap() {
                m.insert((x["item"].as_str().unwrap().into(), x["chooser"].as_str().unwrap().into()));
            }
            most = most.max(m.len());
        }
        most
    };
    let events = run_events(d.path(), &["evidence.memory=4"]);
    assert_eq!(events[0]["evidence_memory"], 4, "the session records the memory it ran with");
    assert!(most(&events) > 4, "the fixture offers more than four pieces of evidence to someone");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recnet")).args(["export", "--format", "json"]).arg(d.path().join("run-1.jsonl")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let world: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fullest = world["clients"].as_array().unwrap().iter().map(|c| c["evidence"].as_array().unwrap().len()).max().unwrap();
    assert_eq!(fullest, 4, "no client holds more than the memory keeps");
}

#[test]
fn a_chooser_hears_what_the_fans_of_its_item_chose_trusted_by_their_overlap() {
    let d = tempfile::tempdir().unwrap();
    write_planted(d.path(), 4, 10, 12, 6, true);
    let events = run_events(d.path(), &["evidence.co_choice=true", "evidence.digest_entries=5"]);
    // Replay the fans of every item and the users' histories, to check each co-choice against the
    // state it was sent and stored in.
    let mut fans: std::collections::HashMap<String, std::collections::BTreeSet<String>> = Default::default();
    let mut history: std::collections::HashMap<String, std::collections::BTreeSet<String>> = Default::default();
    let mut chose: std::collections::BTreeSet<(String, String)> = Default::default();
    let overlap = |fans: &std::collections::HashMap<String, std::collections::BTreeSet<String>>, a: &str, b: &str| -> f64 {
        let (x, y) = (&fans[a], fans.get(b).cloned().unwrap_or_default());
        x.intersection(&y).count() as f64 / ((x.len() * y.len()) as f64).sqrt()
    };
    let (mut co_choices, mut stored, mut gate_steps) = (0, 0, 0);
    for ev in &events {
        let s = |k: &str| ev[k].as_str().unwrap_or("").to_string();
        match ev["kind"].as_str().unwrap() {
            "tick_started" => chose.clear(),
            "interaction" => {
                fans.entry(s("item")).or_default().insert(s("user"));
                history.entry(s("user")).or_default().insert(s("item"));
                chose.insert((s("user"), s("item")));
            }
            "message_sent" if s("text").contains(": fans of ") => {
                co_choices += 1;
                let to = ev["recipients"][0]["agent"].as_str().unwrap().to_string();
                let named = ev["evidence"].as_array().unwrap();
                assert!((1..=5).contains(&named.len()), "at most digest_entries: {ev}");
                for c in named {
                    let (anchor, item) = (c["user"].as_str().unwrap(), c["item"].as_str().unwrap());
                    assert!(chose.contains(&(to.clone(), anchor.to_string())), "{to} chose {anchor} this step: {ev}");
                    assert!(!history[&to].contains(item), "not what {to} chose already: {item}");
                    assert!(overlap(&fans, anchor, item) > 0.0, "{item} shares fans with {anchor}");
                }
            }
            "evidence_stored" => {
                for x in ev["entries"].as_array().unwrap() {
                    let (anchor, item) = (x["chooser"].as_str().unwrap(), x["item"].as_str().unwrap());
                    if !fans.contains_key(anchor) {
                        continue;
                    }
                    stored += 1;
                    let expected = (x["trust"].as_f64().unwrap() * overlap(&fans, anchor, item)).min(1.0);
                    assert!((x["to"].as_f64().unwrap() - expected).abs() < 1e-4, "trust × overlap: {x} vs {expected}");
                }
            }
            "gate_updated" if s("channel") == "co_choice" => gate_steps += 1,
            _ => {}
        }
    }
    assert!(co_choices > 0 && stored > 0 && gate_steps > 0, "co-choices {co_choices}, stored {stored}, co-choice gate steps {gate_steps}");
    // Off (the default), none is sent and no co-choice gate moves.
    let off = run_events(d.path(), &[]);
    assert!(!off.iter().any(|e| e["text"].as_str().is_some_and(|t| t.contains(": fans of ")) || e["channel"] == "co_choice"));
}
