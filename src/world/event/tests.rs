//! Events' kinds, stages and readers, on the demo's events and hand-written lines.

use super::*;

fn demo_events() -> Vec<Event> {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    crate::engine::Engine::new(&sc.spec, cfg, 7, 2).run_to_end(&mut crate::reasoner::offline::Offline::new())
}

/// Every kind the demo records reads back the same, as written and with its keys in reverse
/// (the order a tool might leave them in).
#[test]
fn events_read_back_whatever_their_key_order() {
    let events = demo_events();
    let kinds: std::collections::BTreeSet<&str> = events.iter().map(|e| e.body.kind()).collect();
    assert!(kinds.len() >= 15, "{kinds:?}");
    for e in &events {
        let line = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<Event>(&line).unwrap(), e, "{line}");
        let serde_json::Value::Object(map) = serde_json::from_str(&line).unwrap() else { panic!("{line}") };
        let reversed: serde_json::Map<String, serde_json::Value> = map.into_iter().rev().collect();
        let line = serde_json::to_string(&reversed).unwrap();
        assert_eq!(&serde_json::from_str::<Event>(&line).unwrap(), e, "{line}");
    }
}

/// A lean read (a first pass's) is the whole event with only the strings apply never reads
/// left empty, and a line one refuses the other refuses with the same message.
#[test]
fn a_lean_read_differs_only_in_unread_strings() {
    let blank = |e: &Event| {
        let serde_json::Value::Object(mut map) = serde_json::to_value(e).unwrap() else { panic!() };
        for key in super::read::unread(e.body.kind()) {
            if let Some(v) = map.get_mut(*key) {
                *v = serde_json::Value::String(String::new());
            }
        }
        map
    };
    for e in &demo_events() {
        let line = serde_json::to_string(e).unwrap();
        let lean = Event::from_line_lean(line.as_bytes()).unwrap();
        assert_eq!(blank(&lean), blank(e), "{line}");
    }
    for line in [
        r#"{"step":0,"round":0,"tick":0,"kind":"activated","agent":"u1","reason":5,"buffered":1}"#,
        r#"{"step":0,"round":0,"tick":0,"kind":"activated","agent":"u1","buffered":1}"#,
        r#"{"step":0,"round":0,"tick":0,"kind":"activated","agent":"u1","reason":"x","buffered":1} x"#,
        r#"{"step":0,"round":0,"tick":0,"kind":"reward","agent":"u1","message":1,"router":null}"#,
    ] {
        let (full, lean) = (serde_json::from_str::<Event>(line).unwrap_err(), Event::from_line_lean(line.as_bytes()).unwrap_err());
        assert_eq!(full.to_string(), lean.to_string(), "{line}");
    }
    let bytes = b"{\"step\":0,\"round\":0,\"tick\":0,\"kind\":\"activated\",\"agent\":\"u1\",\"reason\":\"\xff\",\"buffered\":1}";
    let (full, lean) = (serde_json::from_slice::<Event>(bytes).unwrap_err(), Event::from_line_lean(bytes).unwrap_err());
    assert_eq!(full.to_string(), lean.to_string());
}

/// A branch's analyst edit is called an edit, in stage and phase, not the world's setup.
#[test]
fn an_analysts_edit_on_a_branch_is_an_edit_not_setup() {
    let edits = [
        EventBody::RulesReplaced { agent: "u1".into(), rules: "default accept\n".into(), reason: "analyst edit (fork)".into() },
        EventBody::RouterEdited { router: "R1".into(), fan_out: 3, tau: 0.2, reason: "analyst edit (fork)".into() },
    ];
    for body in &edits {
        assert_eq!((body.stage().name(), body.stage().phase()), ("edit", "edit"), "{}", body.kind());
    }
}

/// A misspelt kind is refused with the kind meant, alike by a whole and a lean read and in
/// either key order; a kind like none gets serde's message alone.
#[test]
fn an_unknown_kind_suggests_the_nearest_known_one() {
    let refusals = |line: &str| {
        let whole = serde_json::from_str::<Event>(line).unwrap_err().to_string();
        let lean = Event::from_line_lean(line.as_bytes()).unwrap_err().to_string();
        assert_eq!(whole, lean, "{line}");
        whole
    };
    for line in [r#"{"step":0,"round":0,"tick":0,"kind":"round_startd","index":0}"#, r#"{"index":0,"kind":"round_startd","step":0,"round":0,"tick":0}"#] {
        let message = refusals(line);
        assert!(message.starts_with("unknown variant `round_startd` (did you mean `round_started`?), expected one of `world_created`"), "{message}");
    }
    for line in [r#"{"step":0,"round":0,"tick":0,"kind":"no_such_kind","index":0}"#, r#"{"index":0,"kind":"no_such_kind","step":0,"round":0,"tick":0}"#] {
        let message = refusals(line);
        assert!(message.starts_with("unknown variant `no_such_kind`, expected one of `world_created`"), "{message}");
        assert!(!message.contains("did you mean"), "{message}");
    }
}

#[test]
fn a_bad_event_is_still_an_error_in_either_order() {
    for line in [
        r#"{"step":0,"round":0,"tick":0,"kind":"round_started"}"#,
        r#"{"step":0,"round":0,"tick":0,"kind":"no_such_kind","index":0}"#,
        r#"{"step":0,"round":0,"tick":0,"kind":"round_started","index":"zero"}"#,
        r#"{"kind":"round_started","index":0,"step":0,"round":0}"#,
        r#"{"index":0,"step":0,"round":0,"tick":0}"#,
    ] {
        assert!(serde_json::from_str::<Event>(line).is_err(), "{line}");
    }
    // Defaults apply on the fast path too (sessions from before a field existed).
    let e: Event = serde_json::from_str(r#"{"step":0,"round":0,"tick":0,"kind":"world_created","dim":16,"vocabulary":[]}"#).unwrap();
    assert!(matches!(e.body, EventBody::WorldCreated { evidence_memory: 64, .. }), "{e:?}");
}
