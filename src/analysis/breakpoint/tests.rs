use super::*;

#[test]
fn the_rules_lexer_reads_breakpoints_in_their_dialect() {
    // Escapes as in rule strings; `#` inside a word; letters beyond ASCII in words.
    assert!(parse(r#"title == "say \"hi\"""#).is_ok());
    assert!(parse("agent == u#1").is_ok());
    assert!(parse("title == Café").is_ok());
    // What only rules use is refused at its column.
    assert_eq!(parse("agent == [u1]").unwrap_err().col, 10);
    // A control character inside a string is refused (it would reach the terminal).
    let e = parse("title == \"a\u{1b}b\"").unwrap_err();
    assert!(e.message.contains("control character"), "{}", e.message);
}

#[test]
fn parses_and_reports_columns() {
    assert!(parse("kind == filter_decision and agent == u7 and decision == reject").is_ok());
    assert!(parse("router == R2 and target.kind == item").is_ok());
    let e = parse("kind == ").unwrap_err();
    assert_eq!(e.col, 9);
    let e = parse("kind = x and").unwrap_err();
    assert_eq!(e.col, 13);
    let e = parse(&format!("{}kind == x{}", "(".repeat(5000), ")".repeat(5000))).unwrap_err();
    assert!(e.message.contains("deeper"));
    assert!(parse("kind == \"x").is_err());
    assert!(parse("").is_err());
}

#[test]
fn checked_queries_name_the_column_of_an_unknown_name() {
    assert!(parse_checked("kind == filter_decision and decision == reject and values.ndcg > 0").is_ok());
    let e = parse_checked("foo > 3").unwrap_err();
    assert_eq!((e.col, e.message.as_str()), (1, "unknown field foo"));
    let e = parse_checked("relevence > 0.3").unwrap_err();
    assert_eq!(e.message, "unknown field relevence (did you mean relevance?)");
    let e = parse_checked("kind == filter_decison").unwrap_err();
    assert_eq!(e.col, 9);
    assert!(e.message.contains("no value filter_decison"), "{}", e.message);
    let e = parse_checked("kind == reward and decision == maybe").unwrap_err();
    assert_eq!(e.col, 32);
    let e = parse_checked("kind == reward and reward < high").unwrap_err();
    assert_eq!(e.col, 29);
    assert!(e.message.contains("reward is a number"), "{}", e.message);
    assert!(parse_checked("values.ndcg > 0.1 and rule == 2").is_ok());
    assert_eq!(parse_checked("attrs.Jazz > much").unwrap_err().col, 14);
}

#[test]
fn ids_not_in_the_world_are_errors_at_their_column() {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let mut e = crate::engine::Engine::new(&sc.spec, cfg, 7, 1);
    e.run_to_end(&mut crate::reasoner::offline::Offline::new());
    let world = e.world();
    assert!(parse_in("agent == u7 and router == R2 and target == i3", world).is_ok());
    let err = parse_in("kind == reward and agent == u99", world).unwrap_err();
    assert_eq!((err.col, err.message.as_str()), (29, "no agent u99 in this world"));
    let err = parse_in("router == R9", world).unwrap_err();
    assert_eq!((err.col, err.message.as_str()), (11, "no router R9 in this world"));
    // A router is not an agent's id, nor the reverse.
    assert!(parse_in("router == u7", world).is_err());
    // Without a world, ids are not checked.
    assert!(parse_checked("agent == u99").is_ok());
}

/// The field and kind lists are kept in step with the event types: every field and kind a
/// real run writes is known.
#[test]
fn every_recorded_field_and_kind_is_known() {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let mut e = crate::engine::Engine::new(&sc.spec, cfg, 7, 2);
    for ev in e.run_to_end(&mut crate::reasoner::offline::Offline::new()) {
        assert!(KINDS.contains(&ev.body.kind()), "{}", ev.body.kind());
        let v = serde_json::to_value(&ev).unwrap();
        for (k, x) in v.as_object().unwrap() {
            assert!(FIELDS.contains(&k.as_str()), "{} has an unknown field {k}", ev.body.kind());
            if let (Some(o), false) = (x.as_object(), MAP_FIELDS.contains(&k.as_str())) {
                for sub in o.keys() {
                    assert!(FIELDS.contains(&format!("{k}.{sub}").as_str()), "{k}.{sub}");
                }
            }
        }
    }
}

#[test]
fn matches_semantic_events() {
    let sc = crate::inputs::scenario::load_scenario("demo", 7).unwrap();
    let cfg = crate::engine::config::Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let mut e = crate::engine::Engine::new(&sc.spec, cfg, 7, 1);
    let events = e.run_to_end(&mut crate::reasoner::offline::Offline::new());
    let world = e.world();
    let count = |expr: &str| {
        let c = parse(expr).unwrap();
        events.iter().filter(|ev| matches(&c, ev, &serde_json::to_value(ev).unwrap(), world)).count()
    };
    let rejects = events.iter().filter(|e| matches!(&e.body, EventBody::FilterDecision { decision: crate::world::event::Decision::Reject, .. })).count();
    assert_eq!(count("kind == filter_decision and decision == reject"), rejects);
    assert!(count("kind == message_sent and target.kind == item") > 0);
    // Every message reaches a user or an item; a message to items only has no user target.
    let only_items =
        events.iter().filter(|e| matches!(&e.body, EventBody::MessageSent { recipients, .. } if recipients.iter().all(|r| r.agent.starts_with('i')))).count();
    assert_eq!(count("kind == message_sent and target.kind != user"), only_items);
    assert!(count("kind == message_sent and target.kind == user") > 0);
    assert_eq!(count("kind == nothing_like_this"), 0);
    assert!(count("kind == reward and reward > 0") > 0);
    assert_eq!(count("not (kind == interaction) and kind == interaction"), 0);
}
