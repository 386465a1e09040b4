//! Evidence memories, update layers and gates: what propagation leaves beside a profile, and how
//! ranking counts it.

use super::*;

#[test]
fn choices_become_evidence_that_ranks_by_current_similarity() {
    let mut w = W::new();
    // Both users chose i1: their histories overlap entirely.
    for (k, user) in ["u1", "u2"].iter().enumerate() {
        w.ok(EventBody::Interaction { user: (*user).into(), item: "i1".into(), negative: None, index: k });
    }
    let i1 = w.world.client_ix("i1").unwrap() as u32;
    assert_eq!(w.client("u1").history, vec![i1]);
    assert_eq!(w.client("i1").history.len(), 2, "an item's history is its users");
    let (u1, u2) = (w.world.client_ix("u1").unwrap(), w.world.client_ix("u2").unwrap());
    assert!((w.world.behaviour_similarity(u1, u2) - 1.0).abs() < 1e-12);
    // u2's choice goes to R1, which keeps one choice past integration.
    w.ok(EventBody::ChoiceRouted { user: "u2".into(), item: "i1".into(), router: "R1".into() });
    w.ok(EventBody::ChoiceRouted { user: "u2".into(), item: "i1".into(), router: "R1".into() });
    w.ok(EventBody::RouterIntegrated { router: "R1".into(), inbox: 0, changes: vec![], new_attributes: vec![], summary: String::new(), keep_choices: 1 });
    assert_eq!(w.world.router("R1").unwrap().choices.len(), 1, "the window keeps the most recent");
    let choice = Choice { user: "u2".into(), item: "i1".into(), tick: 0 };
    w.ok(EventBody::MessageSent {
        message: 1,
        router: "R1".into(),
        sources: vec![],
        source_kind: ClientKind::User,
        content: vec![],
        topic: "Jazz".into(),
        polarity: Polarity::Up,
        text: String::new(),
        recipients: vec![Recipient { agent: "u1".into(), relevance: 1.0 }],
        evidence: vec![choice.clone()],
    });
    assert_eq!(w.world.messages()[&1].evidence, vec![choice]);
    w.buffer("u1", 1);
    w.decide("u1", 1, 1, Decision::Accept);
    w.ok(EventBody::EvidenceStored {
        agent: "u1".into(),
        message: 1,
        router: "R1".into(),
        entries: vec![EvidenceChange { item: "i1".into(), chooser: "u2".into(), from: 0.0, to: 0.8, trust: 0.8 }],
    });
    let u = w.client("u1").clone();
    assert_eq!(u.evidence.len(), 1);
    assert_eq!(u.feedback[0].evidence, vec![("i1".to_string(), 0.8)], "what the reward will take away");
    // Gate 0.5 × trust 0.8 × similarity 1.0.
    assert!((w.world.evidence_score(&u, "i1") - 0.4).abs() < 1e-12);
    let item = w.client("i1").clone();
    assert!((w.world.rank_score(&u, &item) - (score(&u.attrs, &item.attrs) + 0.4)).abs() < 1e-12);
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.5,
        to: 1.0,
        gradient: 0.5,
        channel: GateChannel::Evidence,
        precision: None,
    });
    assert!((w.world.evidence_score(&w.client("u1").clone(), "i1") - 0.8).abs() < 1e-12);
    assert!(weighed_as_one_by_one(&w, w.client("u1"))[0] > 0.0);
    assert!(w
        .refused(EventBody::GateUpdated {
            router: "R1".into(),
            agent: "u1".into(),
            item: "i1".into(),
            from: 1.0,
            to: -1.0,
            gradient: 0.0,
            channel: GateChannel::Evidence,
            precision: None
        })
        .to_string()
        .contains("gate"));
    assert!(w
        .refused(EventBody::EvidenceStored {
            agent: "u1".into(),
            message: 1,
            router: "R1".into(),
            entries: vec![EvidenceChange { item: "i1".into(), chooser: "u2".into(), from: 0.0, to: 1.5, trust: 0.8 }],
        })
        .to_string()
        .contains("outside [0, 1]"));
    // A message naming an agent nobody knows is refused.
    assert!(w
        .refused(EventBody::MessageSent {
            message: 2,
            router: "R1".into(),
            sources: vec![],
            source_kind: ClientKind::User,
            content: vec![],
            topic: String::new(),
            polarity: Polarity::Up,
            text: String::new(),
            recipients: vec![Recipient { agent: "ghost".into(), relevance: 1.0 }],
            evidence: vec![],
        })
        .to_string()
        .contains("ghost"));
}

#[test]
fn an_acceptance_that_changed_nothing_is_settled_at_once() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    w.buffer("u1", 1);
    w.decide("u1", 1, 1, Decision::Accept);
    w.ok(EventBody::Assimilated { agent: "u1".into(), message: 1, weight: 0.8, changes: vec![], into: AssimilatedInto::Profile });
    assert_eq!(w.client("u1").feedback.len(), 1);
    w.ok(EventBody::EvidenceStored { agent: "u1".into(), message: 1, router: "R1".into(), entries: vec![] });
    assert!(w.client("u1").feedback.is_empty(), "nothing to wait for");
    assert!(!w.world.messages().contains_key(&1), "and the message is released");
}

#[test]
fn an_update_gate_scales_the_layer_of_accepted_updates_beside_the_profile() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    w.buffer("u1", 1);
    w.decide("u1", 1, 1, Decision::Accept);
    let attrs_before = w.client("u1").attrs.clone();
    w.ok(EventBody::Assimilated {
        agent: "u1".into(),
        message: 1,
        weight: 0.8,
        changes: vec![AttrChange { attr: "Bebop".into(), from: 0.0, to: 0.24 }],
        into: AssimilatedInto::Updates,
    });
    let u = w.client("u1").clone();
    assert_eq!(u.attrs, attrs_before, "the profile itself is as it was");
    assert_eq!(u.heard["R1"]["Bebop"], 0.24, "the update is kept beside it, by router");
    let item = w.client("i1").clone();
    let with_update: BTreeMap<String, f64> = [("Jazz".to_string(), 0.8), ("Bebop".to_string(), 0.24)].into();
    assert_eq!(w.world.with_updates(&u), with_update);
    // Update gate 1: ranking counts the update in full.
    let full = score(&with_update, &item.attrs);
    assert!((w.world.profile_score(&u, &item) - full).abs() < 1e-12);
    // Closed: ranking sees the profile alone.
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 1.0,
        to: 0.0,
        gradient: -0.1,
        channel: GateChannel::Updates,
        precision: None,
    });
    assert_eq!(w.world.router("R1").map(|r| (r.gate, r.update_gate)), Some((0.5, 0.0)), "the evidence gate is another gate");
    let alone = score(&u.attrs, &item.attrs);
    assert!((w.world.profile_score(&u, &item) - alone).abs() < 1e-12);
    // Half open: half the update counts; the slope is what the whole update adds.
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.0,
        to: 0.5,
        gradient: 0.1,
        channel: GateChannel::Updates,
        precision: None,
    });
    assert!((w.world.profile_score(&u, &item) - (alone + full) / 2.0).abs() < 1e-12);
    assert!((w.world.update_gate_slope(&u, &item, "R1") - (full - alone)).abs() < 1e-12);
    assert_eq!(w.world.update_gate_slope(&u, &item, "R9"), 0.0, "a router that sent nothing moves nothing");
    // An update gate is a share: outside [0, 1] (or not a number) is refused, naming the gate.
    for bad in [1.5, -0.1, f64::NAN] {
        let err = w.refused(EventBody::GateUpdated {
            router: "R1".into(),
            agent: "u1".into(),
            item: "i1".into(),
            from: 0.5,
            to: bad,
            gradient: 0.0,
            channel: GateChannel::Updates,
            precision: None,
        });
        assert!(err.to_string().contains("update gate"), "{err}");
    }
    let err = w.refused(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.5,
        to: 1e308,
        gradient: 0.0,
        channel: GateChannel::Evidence,
        precision: None,
    });
    assert!(err.to_string().contains("1e308"), "huge numbers stay short: {err}");
    // A Bayesian step carries the precision the gate holds after it; a session's claim of one
    // that is negative or not a number is refused, and one that is absent leaves it.
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.5,
        to: 0.6,
        gradient: 0.1,
        channel: GateChannel::Updates,
        precision: Some(2.5),
    });
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.6,
        to: 0.7,
        gradient: 0.1,
        channel: GateChannel::Updates,
        precision: None,
    });
    assert_eq!(w.world.router("R1").map(|r| (r.update_gate_precision, r.gate_precision)), Some((2.5, 0.0)));
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
        let err = w.refused(EventBody::GateUpdated {
            router: "R1".into(),
            agent: "u1".into(),
            item: "i1".into(),
            from: 0.7,
            to: 0.7,
            gradient: 0.0,
            channel: GateChannel::Evidence,
            precision: Some(bad),
        });
        assert!(err.to_string().contains("precision"), "{err}");
    }
}

#[test]
fn a_co_choice_counts_by_the_overlap_of_the_two_items_fans_under_its_own_gate() {
    let mut w = W::new();
    w.ok(EventBody::AgentCreated {
        agent: "i2".into(),
        agent_kind: ClientKind::Item,
        title: None,
        attrs: [("Metal".to_string(), 0.9)].into(),
        rules: "default reject\n".into(),
    });
    // i1's fans: u1 and u2; i2's: u2. Their overlap (cosine of the fan sets) is 1/√2.
    for (k, (user, item)) in [("u1", "i1"), ("u2", "i1"), ("u2", "i2")].into_iter().enumerate() {
        w.ok(EventBody::Interaction { user: user.into(), item: item.into(), negative: None, index: k });
    }
    w.ok(EventBody::MessageSent {
        message: 1,
        router: "R1".into(),
        sources: vec![],
        source_kind: ClientKind::User,
        content: vec![],
        topic: "Metal".into(),
        polarity: Polarity::Up,
        text: String::new(),
        recipients: vec![Recipient { agent: "u1".into(), relevance: 0.7 }],
        evidence: vec![Choice { user: "i1".into(), item: "i2".into(), tick: 0 }],
    });
    w.buffer("u1", 1);
    w.decide("u1", 1, 1, Decision::Accept);
    let overlap = 1.0 / 2f64.sqrt();
    w.ok(EventBody::EvidenceStored {
        agent: "u1".into(),
        message: 1,
        router: "R1".into(),
        entries: vec![EvidenceChange { item: "i2".into(), chooser: "i1".into(), from: 0.0, to: 0.5657, trust: 0.8 }],
    });
    let u = w.client("u1").clone();
    assert!(w.world.is_co_choice(&u.evidence[0]), "its chooser is an item");
    assert!((w.world.entry_weight(&u, &u.evidence[0]) - 0.8 * overlap).abs() < 1e-12, "trust × the items' overlap, not u1's similarity to i1");
    // The co-choice gate starts at the router's gate (0.5) and moves alone.
    assert!((w.world.evidence_score(&u, "i2") - 0.5 * 0.8 * overlap).abs() < 1e-12);
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i2".into(),
        from: 0.5,
        to: 1.5,
        gradient: 0.2,
        channel: GateChannel::CoChoice,
        precision: Some(3.0),
    });
    assert_eq!(w.world.router("R1").map(|r| (r.gate, r.co_choice_gate, r.co_choice_gate_precision)), Some((0.5, 1.5, 3.0)));
    assert!((w.world.evidence_score(&w.client("u1").clone(), "i2") - 1.5 * 0.8 * overlap).abs() < 1e-12);
    // A memory mixing choosers and routers in runs (a user, an item, the user again), an unknown
    // router, an unknown chooser and no trust: no entry may inherit the one before's answer.
    let entry = |item: &str, chooser: &str, router: &str, trust: f64| {
        crate::world::evidence::EvidenceEntry::new(item.into(), 0.5, router.into(), chooser.into(), 0, trust)
    };
    let mut mixed = w.client("u1").clone();
    mixed.evidence = vec![
        entry("i1", "u2", "R1", 0.8),
        entry("i2", "i1", "R1", 0.8),
        entry("i2", "u2", "R1", 0.6),
        entry("i1", "u2", "R9", 0.8),
        entry("i2", "nobody", "R1", 0.8),
        entry("i1", "u2", "R1", 0.0),
        entry("i2", "i1", "R9", 0.6),
    ];
    let weights = weighed_as_one_by_one(&w, &mixed);
    assert!(weights[0] > 0.0 && weights[1] > 0.0 && weights[0] != weights[2] && weights[4] == 0.0 && weights[5] == 0.0, "{weights:?}");
    let err = w.refused(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i2".into(),
        from: 1.5,
        to: -1.0,
        gradient: 0.0,
        channel: GateChannel::CoChoice,
        precision: None,
    });
    assert!(err.to_string().contains("co-choice gate -1 of R1"), "{err}");
}

#[test]
fn an_item_layer_counts_on_the_item_side() {
    let mut w = W::new();
    w.send(1, &["i1"]);
    w.buffer("i1", 1);
    w.ok(EventBody::FilterDecision {
        agent: "i1".into(),
        message: 1,
        router: "R1".into(),
        rule: Some(1),
        rule_text: String::new(),
        decision: Decision::Accept,
        weight: 0.8,
        relevance: 0.5,
        support: 0,
        age: 0,
        reason: String::new(),
    });
    // An update that gives the item an attribute it did not have.
    w.ok(EventBody::Assimilated {
        agent: "i1".into(),
        message: 1,
        weight: 0.8,
        changes: vec![AttrChange { attr: "Metal".into(), from: 0.0, to: 0.5 }],
        into: AssimilatedInto::Updates,
    });
    let (u2, item) = (w.client("u2").clone(), w.client("i1").clone());
    assert_eq!(score(&u2.attrs, &item.attrs), 0.0, "u2 likes Metal only");
    assert!(w.world.profile_score(&u2, &item) > 0.0, "the item's layer reaches u2's Metal");
    assert!(w.world.update_gate_slope(&u2, &item, "R1") > 0.0);
    // A layer weight outside [-1, 1] is refused.
    w.send(2, &["i1"]);
    let err = w.refused(EventBody::Assimilated {
        agent: "i1".into(),
        message: 2,
        weight: 0.8,
        changes: vec![AttrChange { attr: "Metal".into(), from: 0.5, to: f64::INFINITY }],
        into: AssimilatedInto::Updates,
    });
    assert!(err.to_string().contains("outside"), "{err}");
}

/// `weigh_entries`, which looks choosers and routers up once per run of entries, gives each entry
/// what the one-entry functions give it.
fn weighed_as_one_by_one(w: &W, u: &Client) -> Vec<f64> {
    let weighed = w.world.weigh_entries(u);
    assert_eq!(weighed.weights.len(), u.evidence.len());
    for (k, e) in u.evidence.iter().enumerate() {
        assert_eq!(weighed.weights[k], w.world.entry_weight(u, e), "weight of entry {k}");
        assert_eq!(weighed.gates[k], w.world.entry_gate(e), "gate of entry {k}");
        assert_eq!(weighed.co_choice[k], w.world.is_co_choice(e), "kind of entry {k}");
    }
    weighed.weights
}
