//! The engine's promises, checked through the public API on the built-in demo and a small dataset
//! in the real RecBole format (fixtures/tiny-cds).

use recnet::engine::config::Config;
use recnet::engine::Engine;
use recnet::reasoner::offline::Offline;
use recnet::run::driver::{record, resolve_source, RecordHooks};
use recnet::store::session::{check_session, read_session};
use recnet::world::event::{Decision, EventBody};
use recnet::world::World;
use std::path::Path;

fn record_demo(out: &Path, seed: u64, rounds: u32) -> Engine {
    let mut src = resolve_source(Some("demo"), None, seed).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    let spec = std::mem::take(&mut src.spec);
    record(&src, spec, cfg, seed, rounds, out, &mut Offline::new(), RecordHooks::default()).unwrap().0
}

#[test]
fn same_seed_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    record_demo(&d.path().join("a.jsonl"), 7, 3);
    record_demo(&d.path().join("b.jsonl"), 7, 3);
    let a = std::fs::read(d.path().join("a.jsonl")).unwrap();
    let b = std::fs::read(d.path().join("b.jsonl")).unwrap();
    assert!(a.len() > 10_000);
    assert!(a == b, "same scenario, seed and config gave different sessions");
    record_demo(&d.path().join("c.jsonl"), 8, 3);
    let c = std::fs::read(d.path().join("c.jsonl")).unwrap();
    assert!(a != c, "the seed changes nothing");
}

#[test]
fn replaying_the_session_reproduces_the_live_world() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.jsonl");
    let engine = record_demo(&path, 7, 3);
    let (header, events) = read_session(&path).unwrap();
    assert_eq!(header.rounds, 3);
    let mut replayed = World::new();
    replayed.apply_all(&events).unwrap();
    let live = serde_json::to_string(engine.world()).unwrap();
    let again = serde_json::to_string(&replayed).unwrap();
    assert_eq!(live, again);
    assert_eq!(check_session(&path), Ok(events.len() as u64));
}

#[test]
fn the_demo_shows_every_mechanism_early() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.jsonl");
    record_demo(&path, 7, 2);
    let (_, events) = read_session(&path).unwrap();
    let kinds: std::collections::BTreeSet<&str> = events.iter().map(|e| e.body.kind()).collect();
    for k in [
        "interaction",
        "profile_updated",
        "attributes_extracted",
        "attribute_routed",
        "router_integrated",
        "message_sent",
        "message_buffered",
        "filter_decision",
        "assimilated",
    ] {
        assert!(kinds.contains(k), "no {k} in two demo rounds");
    }
    let mut held = std::collections::BTreeSet::new();
    let mut hold_resolved = false;
    let mut rejected = false;
    for e in &events {
        if let EventBody::FilterDecision { agent, message, decision, .. } = &e.body {
            match decision {
                Decision::Hold => {
                    held.insert((agent.clone(), *message));
                }
                Decision::Accept if held.contains(&(agent.clone(), *message)) => hold_resolved = true,
                Decision::Reject => rejected = true,
                _ => {}
            }
        }
    }
    assert!(hold_resolved, "no held message was later accepted");
    assert!(rejected, "no rule rejected anything");
    // Jo (u10) drifts toward metal, and the metal community hears of it.
    let drift = events.iter().any(|e| {
        matches!(&e.body,
        EventBody::MessageSent { sources, topic, .. } if sources.contains(&"u10".to_string()) && topic.contains("Metal"))
    });
    assert!(drift, "u10's drift to metal did not propagate");
}

#[test]
fn dataset_runs_contain_the_forward_kinds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-cds");
    let mut src = resolve_source(None, Some(&dir), 1).unwrap();
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("t.jsonl");
    let metrics = src.dataset.as_ref().and_then(recnet::analysis::validation_metrics).unwrap();
    let hooks = RecordHooks { round_metrics: Some(Box::new(metrics)), ..RecordHooks::default() };
    let spec = std::mem::take(&mut src.spec);
    record(&src, spec, Config::default(), 1, 1, &path, &mut Offline::new(), hooks).unwrap();
    let (_, events) = read_session(&path).unwrap();
    for k in ["interaction", "attribute_routed", "message_sent", "filter_decision", "assimilated"] {
        assert!(events.iter().any(|e| e.body.kind() == k), "no {k}");
    }
    // A dataset run scores its validation split at the end of every round.
    let metrics: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Metrics { split, values } => Some((split, values)),
            _ => None,
        })
        .collect();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].0, "valid");
    assert!((0.0..=1.0).contains(&metrics[0].1["ndcg@10"]));
}

#[test]
fn ablations_switch_mechanisms_off() {
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let run = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let cfg = Config::from_layers(&src.config_tables, &sets).unwrap();
        let mut e = Engine::new(&src.spec, cfg, 7, 1);
        e.run_to_end(&mut Offline::new());
        e.world().counters().clone()
    };
    let full = run(&[]);
    assert!(full.messages_sent > 0 && full.rejected > 0);
    let no_routers = run(&["routers.enabled=false"]);
    assert_eq!(no_routers.messages_sent, 0);
    let no_filter = run(&["filter.enabled=false"]);
    assert_eq!((no_filter.rejected, no_filter.held), (0, 0));
    assert!(no_filter.accepted > 0);
    let small = run(&["buffer.capacity=1", "buffer.overflow=drop_oldest"]);
    assert!(small.overflowed > 0, "a one-slot buffer never overflowed");
    // Without a buffer nothing waits: what the rules would hold is let go on arrival.
    assert!(full.held > 0, "the demo's rules hold messages");
    let no_buffer = run(&["buffer.enabled=false"]);
    assert_eq!(no_buffer.held, 0, "a message was held with the buffer off");
    assert!(no_buffer.rejected > full.rejected, "the holds became rejections");
}

#[test]
fn the_backward_phase_edits_rules_and_routers_with_evidence() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.jsonl");
    record_demo(&path, 7, 3);
    let (_, events) = read_session(&path).unwrap();
    let mut rule_edit = false;
    let mut router_edit = false;
    for e in &events {
        match &e.body {
            EventBody::RuleEdited { evidence, reason, rules, .. } => {
                assert!(!evidence.is_empty() && !reason.is_empty());
                recnet::rules::parse_rules(rules).unwrap();
                rule_edit = true;
            }
            EventBody::RouterStrategyEdited { evidence, fan_out_from, fan_out_to, tau_from, tau_to, .. } => {
                assert!(!evidence.is_empty());
                assert!(fan_out_from != fan_out_to || tau_from != tau_to);
                router_edit = true;
            }
            EventBody::Reward { with, without, reward, .. } => {
                assert!((with - without - reward).abs() < 2e-4, "reward is not with - without");
            }
            _ => {}
        }
    }
    assert!(rule_edit && router_edit);
    for k in ["reward", "credit_assigned", "gradient"] {
        assert!(events.iter().any(|e| e.body.kind() == k), "no {k}");
    }
    // Backward off: no rewards, no edits.
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &["backward.enabled=false".into()]).unwrap();
    let mut e = Engine::new(&src.spec, cfg, 7, 3);
    let evs = e.run_to_end(&mut Offline::new());
    assert!(!evs.iter().any(|e| matches!(e.body.kind(), "reward" | "gradient" | "rule_edited")));
}

/// A driver's engine (`new_unless`) hands out the same events as `new`, its setup a batch at a
/// time; and a stop asked for while a big world is computed ends the setup early.
#[test]
fn a_responsive_setup_gives_the_same_events_and_stops_when_asked() {
    use recnet::engine::Poll;
    let spec = recnet::inputs::gen::generate(3000, 1500, 600, 6, 3);
    let drain = |mut e: Engine| {
        let (mut events, mut batches) = (Vec::new(), Vec::new());
        while let Poll::Events(evs) = e.poll() {
            batches.push(evs.len());
            events.extend(evs);
        }
        (events, batches)
    };
    let (eager, _) = drain(Engine::new(&spec, Config::default(), 5, 1));
    let mut e = Engine::new_unless(&spec, Config::default(), 5, 1, &|| false).expect("not stopped");
    assert!(e.setting_up() && matches!(e.poll(), Poll::Events(_)) && e.setting_up(), "one batch does not set a world of 4,500 agents up");
    let (rest, _) = drain(e);
    let mut e = Engine::new_unless(&spec, Config::default(), 5, 1, &|| false).expect("not stopped");
    let first = match e.poll() {
        Poll::Events(evs) => evs,
        _ => panic!("setup first"),
    };
    assert!(first.iter().chain(&rest).eq(eager.iter()));
    let (batched, sizes) = drain(Engine::new_unless(&spec, Config::default(), 5, 1, &|| false).expect("not stopped"));
    assert!(eager.len() > 4500);
    assert!(eager == batched, "the same events, in the same order");
    assert!(sizes.iter().take(5).all(|n| *n <= 512), "the setup comes in batches: {:?}", &sizes[..5]);
    let asked = std::cell::Cell::new(0);
    let stopped = Engine::new_unless(&spec, Config::default(), 5, 1, &|| {
        asked.set(asked.get() + 1);
        true
    });
    assert!(stopped.is_none() && asked.get() == 1, "stopped at the first check ({} asked)", asked.get());
}

/// The bound that lets propagation skip members: never below a member's true relevance, and
/// below the best member's for most members (else it would prune nothing and the pruned path
/// would only ever equal the full scan by doing the full scan).
#[test]
fn the_relevance_bound_holds_and_rules_members_out() {
    let spec = recnet::inputs::gen::generate(400, 200, 400, 6, 3);
    let mut e = Engine::new(&spec, Config::default(), 5, 1);
    e.run_to_end(&mut Offline::new());
    let w = e.world();
    let n = w.clients().len();
    let attrs: Vec<String> = w.clients().iter().flat_map(|c| c.attrs.keys().cloned()).collect::<std::collections::BTreeSet<_>>().into_iter().take(8).collect();
    assert!(attrs.len() >= 4);
    let everyone: Vec<usize> = (0..n).collect();
    let table = w.member_terms(&everyone);
    let mut ruled_out = 0;
    for a in &attrs {
        let key = w.content_key(&[recnet::world::event::AttrDelta { attr: a.clone(), delta: 0.5 }]);
        let mut bound = w.relevance_bound(&key, n).expect("a small vocabulary has bounds");
        let exact: Vec<f64> = (0..n).map(|ix| w.relevance_to(&key, ix)).collect();
        let best = exact.iter().copied().fold(f64::MIN, f64::max);
        for (ix, rel) in exact.iter().enumerate() {
            let up = bound.upper(ix);
            assert!(up >= rel - 1e-6, "{a}: client {ix}'s bound {up} is under its relevance {rel}");
            // The same bound read from a community's table of terms.
            let at_table = bound.upper_at(&table, ix);
            assert!(at_table >= rel - 1e-6 && (at_table - up).abs() < 1e-5, "{a}: client {ix}'s table bound {at_table}, {up} from the world");
            ruled_out += usize::from(up < best - 1e-3);
        }
        // The one-pass scan gives the same bounds, leaving out only members under what they
        // must reach.
        for least in [f64::NEG_INFINITY, 0.0, 1e-5, 0.3 * best, best - 1e-3, best] {
            let mut given = Vec::new();
            bound.each_upper_at(&table, least, |at, up| given.push((at, up)));
            let reaching: Vec<usize> = (0..n).filter(|at| bound.upper_at(&table, *at) >= least).collect();
            assert!(given.iter().all(|(at, up)| *up == bound.upper_at(&table, *at)), "{a}: a bound of the scan differs");
            assert!(reaching.iter().all(|at| given.iter().any(|(g, _)| g == at)), "{a}: the scan left out a member reaching {least}");
            assert!(least < best - 1e-3 || given.len() < n / 2, "{a}: the scan cut too few at {least}: {} of {n}", given.len());
        }
    }
    assert!(ruled_out * 2 > attrs.len() * n, "the bound rules out {ruled_out} of {} member checks", attrs.len() * n);
}

/// With `backward.confidence`, a module is edited only once its mean reward stands that many
/// standard errors from zero; one that many decisions leave undecided is kept and starts again.
#[test]
fn edits_wait_for_a_mean_reward_told_apart_from_zero() {
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let run = |sets: &[&str]| {
        let cfg = Config::from_layers(&src.config_tables, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Engine::new(&src.spec, cfg, 7, 3).run_to_end(&mut Offline::new())
    };
    let stands_apart = |evidence: &[recnet::world::event::Evidence]| {
        let n = evidence.len() as f64;
        let mean = evidence.iter().map(|e| e.reward).sum::<f64>() / n;
        let variance = evidence.iter().map(|e| (e.reward - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        mean.abs() > 2.0 * (variance / n).sqrt()
    };
    let gradients = |events: &[recnet::world::event::Event]| -> Vec<(String, Vec<recnet::world::event::Evidence>, String)> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Gradient { module, evidence, direction, .. } if !evidence.is_empty() => Some((module.clone(), evidence.clone(), direction.clone())),
                _ => None,
            })
            .collect()
    };
    let before = gradients(&run(&[]));
    assert!(before.iter().any(|(_, ev, _)| !stands_apart(ev)), "without it, some gradients follow a mean within noise");
    let after = gradients(&run(&["backward.confidence=2", "backward.max_evidence=8"]));
    let (undecided, decided): (Vec<_>, Vec<_>) = after.iter().partition(|(_, _, d)| d.contains("not told apart from zero"));
    assert!(!decided.is_empty() && !undecided.is_empty(), "{} decided, {} undecided", decided.len(), undecided.len());
    for (module, evidence, _) in &decided {
        assert!(stands_apart(evidence), "{module} was given a direction within noise");
    }
    for (module, evidence, _) in &undecided {
        assert!(evidence.len() >= 8 && !stands_apart(evidence), "{module} was kept with {} decisions", evidence.len());
    }
}

/// A reasoner that answers from a fixed script instead of thinking: reflection sets the user's
/// weight of each of the item's attributes to 0.9, routers pass their inbox on unchanged, every message is rejected, credit is empty, no edit is proposed. It
/// remembers the stages it was asked, and can be told to fail for good after some batches.
#[derive(Default)]
struct Scripted {
    asked: Vec<recnet::engine::protocol::ReasonStage>,
    fail_after: Option<usize>,
}

impl recnet::engine::protocol::Reasoner for Scripted {
    fn answer(&mut self, requests: &[recnet::engine::protocol::ReasonRequest]) -> Vec<recnet::engine::protocol::ReasonAnswer> {
        use recnet::engine::protocol::{CreditAnswer, FilterVerdict, ReasonAnswer, ReasonRequest};
        self.asked.extend(requests.iter().map(|r| r.stage()));
        requests
            .iter()
            .map(|r| match r {
                ReasonRequest::Reflect { item_attrs, .. } => {
                    ReasonAnswer::Reflect { user: item_attrs.keys().map(|a| (a.clone(), 0.9)).collect(), item: Default::default(), reason: "scripted".into() }
                }
                ReasonRequest::Filter { messages, .. } => ReasonAnswer::Filter {
                    verdicts: messages
                        .iter()
                        .map(|m| FilterVerdict { message: m.message, rule: None, decision: Decision::Reject, weight: 0.0, reason: "scripted".into() })
                        .collect(),
                },
                ReasonRequest::Integrate { profile, inbox, .. } => {
                    ReasonAnswer::Integrate { profile: profile.clone(), message: inbox.clone(), summary: "scripted".into() }
                }
                ReasonRequest::Credit { items, .. } => {
                    ReasonAnswer::Credit { items: items.iter().map(|_| CreditAnswer { shares: Vec::new(), reason: "scripted".into() }).collect() }
                }
                ReasonRequest::Gradient { .. } => ReasonAnswer::Gradient { direction: "keep".into(), edit: recnet::world::event::Edit::NoChange },
                ReasonRequest::Optimise { .. } => {
                    ReasonAnswer::Optimise { rules: None, rule: 0, before: String::new(), after: String::new(), reason: "scripted".into() }
                }
            })
            .collect()
    }

    fn fatal(&mut self) -> Option<String> {
        let batches = self.asked.len();
        self.fail_after.filter(|n| batches > *n).map(|_| "scripted endpoint died".to_string())
    }
}

fn demo_engine(rounds: u32) -> Engine {
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    Engine::new(&src.spec, cfg, 7, rounds)
}

#[test]
fn answers_that_do_not_fit_are_refused_and_the_requests_keep_waiting() {
    use recnet::engine::protocol::{AnswerError, ReasonStage, Reasoner};
    use recnet::engine::Poll;
    let mut e = demo_engine(1);
    assert_eq!(e.answer(Vec::new()), Err(AnswerError::NotAwaiting));
    let reqs = loop {
        match e.poll() {
            Poll::Events(_) => {}
            Poll::Reason(reqs) => break reqs,
            Poll::Done | Poll::Failed(_) => panic!("the demo asks for reasoning"),
        }
    };
    let steps = e.world().steps();
    let mut script = Scripted::default();
    let answers = script.answer(&reqs);
    assert_eq!(e.answer(Vec::new()), Err(AnswerError::Count { expected: reqs.len(), got: 0 }));
    // The first batch is reflection; a filter answer in its place is the wrong stage.
    assert_eq!(reqs[0].stage(), ReasonStage::Reflect);
    let mut wrong = answers.clone();
    wrong[0] = recnet::engine::protocol::ReasonAnswer::Filter { verdicts: Vec::new() };
    assert_eq!(e.answer(wrong), Err(AnswerError::Stage { index: 0, expected: ReasonStage::Reflect, got: ReasonStage::Filter }));
    assert_eq!(e.world().steps(), steps, "a refused answer changes nothing");
    match e.poll() {
        Poll::Reason(again) => assert_eq!(again, reqs, "the same requests still wait"),
        _ => panic!("the requests were dropped"),
    }
    e.answer(answers).unwrap();
    assert!(matches!(e.poll(), Poll::Events(_) | Poll::Reason(_)));
}

#[test]
fn a_scripted_reasoner_drives_the_whole_cycle() {
    let mut e = demo_engine(1);
    let mut script = Scripted::default();
    let events = e.run_to_end(&mut script);
    use recnet::engine::protocol::ReasonStage::*;
    for stage in [Reflect, Filter, Integrate] {
        assert!(script.asked.contains(&stage), "never asked to {stage}");
    }
    // Every message was rejected, as scripted, so nothing was assimilated.
    assert!(!events.iter().any(|ev| matches!(ev.body, EventBody::Assimilated { .. })));
    let decisions: Vec<Decision> = events
        .iter()
        .filter_map(|ev| match ev.body {
            EventBody::FilterDecision { decision, .. } => Some(decision),
            _ => None,
        })
        .collect();
    assert!(!decisions.is_empty() && decisions.iter().all(|d| *d == Decision::Reject));
    assert_eq!(e.world().counters().accepted, 0);
    // The same script gives the same events.
    assert_eq!(demo_engine(1).run_to_end(&mut Scripted::default()), events);
}

#[test]
fn a_reasoner_that_fails_for_good_stops_the_run() {
    let mut whole = demo_engine(1);
    let all = whole.run_to_end(&mut Scripted::default());
    let mut e = demo_engine(1);
    let mut script = Scripted { fail_after: Some(3), ..Scripted::default() };
    let events = e.run_to_end(&mut script);
    assert!(events.len() < all.len(), "run_to_end went on past a fatal failure");
    assert_eq!(events[..], all[..events.len()], "what came before the failure is unchanged");
    let mut e = demo_engine(1);
    let err = recnet::run::driver::drive(&mut e, &mut Scripted { fail_after: Some(3), ..Scripted::default() }, |_| Ok(())).unwrap_err();
    assert_eq!(err.to_string(), "scripted endpoint died");
}

/// The complaints a class found in the 3-round demo's narration (issue 14, item 6), checked over
/// every line: none may come back.
#[test]
fn the_demo_narration_says_what_happened() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.jsonl");
    record_demo(&path, 7, 3);
    let (_, events) = read_session(&path).unwrap();
    let (mut routed, mut own) = (0, 0);
    for e in &events {
        let line = recnet::analysis::narrate::narrate(e);
        assert!(!line.ends_with(": ."), "an empty list: {line}");
        match &e.body {
            EventBody::Reward { agent, item, .. } if agent == item => {
                assert!(line.starts_with(&format!("{agent} was chosen")), "{line}")
            }
            EventBody::ProfileUpdated { changes, .. } => {
                assert!(!changes.is_empty());
                assert!(!line.contains("no change"), "weights changed: {line}");
                assert!(line.contains(&changes[0].attr), "{line}");
            }
            EventBody::AttributeRouted { community, attr, .. } => {
                routed += 1;
                if *community {
                    own += 1;
                    assert!(line.contains(&format!("{attr} belongs to its community")), "{line}");
                } else {
                    assert!(line.contains("similarity"), "{line}");
                }
            }
            _ => {}
        }
    }
    assert!(routed > 0 && own > 0, "routing was not exercised");
}

/// Answers offline and keeps what it was asked.
struct Spy(Offline, Vec<recnet::engine::protocol::ReasonRequest>);

impl recnet::engine::protocol::Reasoner for Spy {
    fn answer(&mut self, requests: &[recnet::engine::protocol::ReasonRequest]) -> Vec<recnet::engine::protocol::ReasonAnswer> {
        self.1.extend(requests.iter().cloned());
        recnet::engine::protocol::Reasoner::answer(&mut self.0, requests)
    }
}

#[test]
fn a_model_for_some_users_is_asked_only_about_them_and_splitting_changes_nothing_else() {
    use recnet::engine::protocol::{ReasonRequest, ReasonStage, Reasoner};
    use recnet::reasoner::subset::Subset;
    use std::collections::BTreeSet;
    let about = |req: &ReasonRequest| -> Vec<String> {
        match req {
            ReasonRequest::Reflect { user, .. } => vec![user.clone()],
            ReasonRequest::Filter { agent, .. } | ReasonRequest::Optimise { agent, .. } => vec![agent.clone()],
            ReasonRequest::Gradient { module, .. } => recnet::world::parse_rule_module(module).map(|(a, _)| a.to_string()).into_iter().collect(),
            ReasonRequest::Credit { items, .. } => items.iter().map(|i| i.agent.clone()).collect(),
            ReasonRequest::Integrate { .. } => Vec::new(),
        }
    };
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let config = Config::from_layers(&src.config_tables, &[]).unwrap();
    let run = |reasoner: &mut dyn Reasoner| {
        let mut engine = Engine::new(&src.spec, config.clone(), 7, 2);
        serde_json::to_string(&engine.run_to_end(reasoner)).unwrap()
    };
    let plain = run(&mut Offline::new());
    let mut spy = Spy(Offline::new(), Vec::new());
    let chosen: BTreeSet<String> = ["u1".to_string(), "u3".to_string()].into();
    let routed = run(&mut Subset::new(&mut spy, chosen.clone()));
    // This "model" answers as the offline reasoner would, so splitting batches (credit items
    // included) and merging the answers back must leave the run byte for byte as it was.
    assert!(plain == routed, "the routed run differs from the offline one");
    let asked = spy.1;
    for req in &asked {
        let who = about(req);
        assert!(!who.is_empty() && who.iter().all(|a| chosen.contains(a)), "{:?} about {who:?} reached the model", req.stage());
    }
    let stages: BTreeSet<ReasonStage> = asked.iter().map(|r| r.stage()).collect();
    for s in [ReasonStage::Reflect, ReasonStage::Filter, ReasonStage::Credit] {
        assert!(stages.contains(&s), "the model was never asked to {s}: {stages:?}");
    }
}

/// Every event of a run, as the session writes it.
fn run_events(spec: &recnet::engine::WorldSpec, sets: &[&str], full_scan: bool) -> Vec<String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let cfg = Config::from_layers(&[], &sets).unwrap();
    let mut e = Engine::new(spec, cfg, 3, 2);
    e.set_full_scan(full_scan);
    e.run_to_end(&mut Offline::new()).iter().map(|ev| serde_json::to_string(ev).unwrap()).collect()
}

#[test]
fn pruned_receivers_are_the_full_scans_to_the_byte() {
    let generated = recnet::inputs::gen::generate(400, 80, 500, 5, 11);
    let dataset = recnet::inputs::dataset::load_dataset(Path::new("fixtures/tiny-cds"), 3).unwrap().world_spec(3);
    let settings: [&[&str]; 7] = [
        &[],
        &["routers.tau=0", "routers.fan_out=3"],
        &["routers.fan_out=1", "routers.behaviour_weight=0"],
        &["routers.behaviour_weight=1", "routers.tau=0.3"],
        &["routers.items=all", "routers.fan_out=20", "routers.tau=0.05"],
        &["routers.placebo=true"],
        &["routers.placebo=true", "routers.fan_out=30", "routers.tau=0.6"],
    ];
    for (name, spec) in [("generated", &generated), ("tiny-cds", &dataset)] {
        for sets in settings {
            let full = run_events(spec, sets, true);
            let pruned = run_events(spec, sets, false);
            assert!(full.iter().filter(|e| e.contains("\"message_sent\"")).count() > 20, "{name} {sets:?}: too few messages to tell");
            assert_eq!(full.len(), pruned.len(), "{name} {sets:?}");
            if let Some(k) = (0..full.len()).find(|k| full[*k] != pruned[*k]) {
                panic!("{name} {sets:?}: event {k} differs:\n full:   {}\n pruned: {}", full[k], pruned[k]);
            }
        }
    }
}

/// Every message buffered for a user before one of its choices has been decided on before it.
fn choices_judged_on_read_buffers(sets: &[&str]) -> (bool, usize) {
    let src = resolve_source(Some("demo"), None, 7).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let mut e = Engine::new(&src.spec, Config::from_layers(&src.config_tables, &sets).unwrap(), 7, 2);
    let mut unread: std::collections::BTreeMap<String, std::collections::BTreeSet<u64>> = Default::default();
    let (mut all_read, mut read_first) = (true, 0);
    for ev in e.run_to_end(&mut Offline::new()) {
        match ev.body {
            EventBody::MessageBuffered { agent, message, .. } => {
                unread.entry(agent).or_default().insert(message);
            }
            EventBody::FilterDecision { agent, message, .. } => {
                unread.entry(agent).or_default().remove(&message);
            }
            EventBody::Activated { reason, .. } if reason == "about to choose" => read_first += 1,
            EventBody::Interaction { user, .. } => all_read &= unread.get(&user).is_none_or(|m| m.is_empty()),
            _ => {}
        }
    }
    (all_read, read_first)
}

#[test]
fn a_user_about_to_choose_reads_its_buffer_first_when_asked() {
    let (all_read, read_first) = choices_judged_on_read_buffers(&["buffer.read_before_choice=true"]);
    assert!(all_read, "a choice was judged with messages still unread");
    assert!(read_first > 0, "no user read its buffer before choosing");
    // The default reads after the choice: some choices are judged with messages waiting.
    assert_eq!(choices_judged_on_read_buffers(&[]), (false, 0));
}
