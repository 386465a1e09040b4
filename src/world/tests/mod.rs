//! `World::apply`, one event kind at a time, on a world small enough to check by hand: users u1
//! and u2, item i1, router R1 holding all three.

use super::*;
use crate::rules::Polarity;
use crate::world::event::{
    AssimilatedInto, AttrChange, AttrDelta, Choice, ClientKind, CreditShare, Decision, Edit, Event, EventBody, EvidenceChange, GateChannel, Recipient,
};
use std::collections::BTreeMap;

struct W {
    world: World,
    tick: u64,
    /// Every event applied, for the test of kinds against their serialised tags.
    log: Vec<Event>,
}

impl W {
    fn new() -> W {
        let mut w = W { world: World::new(), tick: 0, log: Vec::new() };
        let rules = "accept 0.8 when relevance >= 0.1\nhold 2 when support < 1\ndefault reject\n";
        w.ok(EventBody::WorldCreated { dim: 32, vocabulary: vec!["Jazz".into(), "Metal".into(), "Bebop".into()], evidence_memory: 64 });
        for (id, kind, attrs) in [
            ("u1", ClientKind::User, vec![("Jazz", 0.8)]),
            ("u2", ClientKind::User, vec![("Metal", 0.6)]),
            ("i1", ClientKind::Item, vec![("Jazz", 0.9), ("Bebop", 0.5)]),
        ] {
            w.ok(EventBody::AgentCreated {
                agent: id.into(),
                agent_kind: kind,
                title: None,
                attrs: attrs.into_iter().map(|(a, v)| (a.to_string(), v)).collect(),
                rules: rules.into(),
            });
        }
        w.ok(EventBody::RouterCreated {
            router: "R1".into(),
            attributes: vec!["Jazz".into()],
            profile: [("Jazz".to_string(), 0.5)].into(),
            members: vec!["u1".into(), "u2".into(), "i1".into()],
            fan_out: 2,
            tau: 0.15,
            summary: "jazz".into(),
            gate: 0.5,
            update_gate: 1.0,
        });
        w
    }

    fn event(&self, body: EventBody) -> Event {
        Event { step: self.world.steps(), round: self.world.cursor().round, tick: self.tick, body }
    }

    fn ok(&mut self, body: EventBody) {
        let ev = self.event(body);
        if let Err(e) = self.world.apply(&ev) {
            panic!("{e} ({ev:?})");
        }
        self.log.push(ev);
    }

    fn refused(&mut self, body: EventBody) -> ApplyError {
        let steps = self.world.steps();
        let err = self.world.apply(&self.event(body)).expect_err("refused");
        assert_eq!(self.world.steps(), steps, "a refused event is not counted");
        err
    }

    fn client(&self, id: &str) -> &Client {
        self.world.client(id).expect("client")
    }

    fn send(&mut self, message: u64, recipients: &[&str]) {
        self.ok(EventBody::MessageSent {
            message,
            router: "R1".into(),
            sources: vec!["u2".into()],
            source_kind: ClientKind::User,
            content: vec![AttrDelta { attr: "Bebop".into(), delta: 0.3 }],
            topic: "Bebop".into(),
            polarity: Polarity::Up,
            text: "Bebop +0.3".into(),
            recipients: recipients.iter().map(|a| Recipient { agent: a.to_string(), relevance: 0.5 }).collect(),
            evidence: vec![],
        });
    }

    fn buffer(&mut self, agent: &str, message: u64) {
        self.ok(EventBody::MessageBuffered { agent: agent.into(), message, relevance: 0.5 });
    }

    fn decide(&mut self, agent: &str, message: u64, rule: usize, decision: Decision) {
        self.ok(EventBody::FilterDecision {
            agent: agent.into(),
            message,
            router: "R1".into(),
            rule: Some(rule),
            rule_text: String::new(),
            decision,
            weight: 0.8,
            relevance: 0.5,
            support: 0,
            age: 0,
            reason: String::new(),
        });
    }
}

fn change(attr: &str, from: f64, to: f64) -> AttrChange {
    AttrChange { attr: attr.into(), from, to }
}

#[test]
fn setup_creates_agents_and_router() {
    let w = W::new();
    assert_eq!((w.world.steps(), w.world.dim(), w.world.clients().len(), w.world.routers().len()), (5, 32, 3, 1));
    assert_eq!(w.client("u1").rules.len(), 3);
    assert!(w.client("u1").routers.contains("R1"));
    assert_eq!(w.world.router("R1").unwrap().members.len(), 3);
}

#[test]
fn setup_refuses_duplicates_bad_dimensions_and_bad_rules() {
    let mut w = W::new();
    let dup = EventBody::AgentCreated { agent: "u1".into(), agent_kind: ClientKind::User, title: None, attrs: BTreeMap::new(), rules: "default reject".into() };
    assert!(w.refused(dup).to_string().contains("exists already"));
    let bad = EventBody::AgentCreated { agent: "u9".into(), agent_kind: ClientKind::User, title: None, attrs: BTreeMap::new(), rules: "accept when".into() };
    assert!(w.refused(bad).to_string().contains("rules"));
    let mut fresh = W { world: World::new(), tick: 0, log: Vec::new() };
    assert!(fresh.refused(EventBody::WorldCreated { dim: 4, vocabulary: vec![], evidence_memory: 64 }).to_string().contains("out of range"));
}

#[test]
fn events_out_of_step_are_refused() {
    let mut w = W::new();
    let mut ev = w.event(EventBody::RoundStarted { index: 0 });
    ev.step += 1;
    assert!(w.world.apply(&ev).is_err());
}

#[test]
fn rounds_ticks_and_interactions_move_the_cursor() {
    let mut w = W::new();
    w.ok(EventBody::RoundStarted { index: 1 });
    w.ok(EventBody::TickStarted { index: 4, interactions: 1 });
    w.ok(EventBody::Interaction { user: "u1".into(), item: "i1".into(), negative: None, index: 6 });
    let c = w.world.cursor();
    assert_eq!((c.round, c.tick, c.next_index, c.started), (1, 4, 7, true));
    assert_eq!((w.client("u1").interactions, w.client("i1").interactions, w.world.counters().interactions), (1, 1, 1));
    assert!(w.refused(EventBody::Interaction { user: "nobody".into(), item: "i1".into(), negative: None, index: 7 }).to_string().contains("unknown agent"));
}

#[test]
fn profile_updates_set_weights_and_drop_zeros() {
    let mut w = W::new();
    w.ok(EventBody::ProfileUpdated {
        agent: "u1".into(),
        changes: vec![change("Jazz", 0.8, 0.0), change("Bebop", 0.0, 0.4)],
        reason: String::new(),
        text: String::new(),
    });
    assert_eq!(w.client("u1").attrs, [("Bebop".to_string(), 0.4)].into());
    assert_eq!(w.world.counters().profile_updates, 1);
    let changed = vec![AttrDelta { attr: "Bebop".into(), delta: 0.4 }];
    w.ok(EventBody::AttributesExtracted { agent: "u1".into(), changed: changed.clone() });
    assert_eq!(w.client("u1").last_extracted, changed);
}

#[test]
fn membership_changes_both_sides() {
    let mut w = W::new();
    w.ok(EventBody::MembershipChanged { router: "R1".into(), agent: "u2".into(), joined: false });
    assert!(!w.client("u2").routers.contains("R1"));
    assert!(!w.world.router("R1").unwrap().members.contains("u2"));
    w.ok(EventBody::MembershipChanged { router: "R1".into(), agent: "u2".into(), joined: true });
    assert!(w.world.router("R1").unwrap().members.contains("u2"));
}

#[test]
fn routing_fills_the_inbox_and_integration_empties_it() {
    let mut w = W::new();
    w.ok(EventBody::AttributeRouted { agent: "u1".into(), attr: "Bebop".into(), delta: 0.3, router: "R1".into(), similarity: 0.7, community: false });
    assert_eq!(w.world.router("R1").unwrap().inbox.len(), 1);
    w.ok(EventBody::RouterIntegrated {
        router: "R1".into(),
        inbox: 1,
        changes: vec![change("Bebop", 0.0, 0.2)],
        new_attributes: vec!["Bebop".into()],
        summary: "jazz, bebop".into(),
        keep_choices: 0,
    });
    let r = w.world.router("R1").unwrap();
    assert!(r.inbox.is_empty());
    assert_eq!(r.profile.get("Bebop"), Some(&0.2));
    assert!(r.attributes.contains("Bebop"));
    assert_eq!(r.summary, "jazz, bebop");
    assert_eq!((w.world.counters().attributes_routed, w.world.counters().integrations), (1, 1));
}

#[test]
fn a_message_lives_while_a_buffer_or_a_pending_reward_holds_it() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    assert!(w
        .refused(EventBody::MessageSent {
            message: 1,
            router: "R1".into(),
            sources: vec![],
            source_kind: ClientKind::User,
            content: vec![],
            topic: String::new(),
            polarity: Polarity::Up,
            text: String::new(),
            recipients: vec![],
            evidence: vec![],
        })
        .to_string()
        .contains("exists already"));
    w.buffer("u1", 1);
    assert_eq!(w.world.messages()[&1].refs, 1);
    w.ok(EventBody::Activated { agent: "u1".into(), reason: "interaction".into(), buffered: 1 });
    w.decide("u1", 1, 1, Decision::Accept);
    assert!(w.client("u1").buffer.is_empty());
    assert_eq!(w.client("u1").rule_hits, vec![1, 0, 0]);
    assert_eq!(w.client("u1").feedback.len(), 1, "the buffer's reference passed to the pending reward");
    w.ok(EventBody::Assimilated { agent: "u1".into(), message: 1, weight: 0.8, changes: vec![change("Bebop", 0.0, 0.24)], into: AssimilatedInto::Profile });
    assert_eq!(w.client("u1").attrs.get("Bebop"), Some(&0.24));
    assert_eq!(w.client("u1").feedback[0].deltas[..], [AttrDelta { attr: "Bebop".into(), delta: 0.24 }]);
    w.ok(EventBody::Reward {
        agent: "u1".into(),
        message: 1,
        router: "R1".into(),
        rule: Some(1),
        decision: Decision::Accept,
        item: "i1".into(),
        negative: None,
        with: 0.6,
        without: 0.5,
        reward: 0.1,
    });
    assert!(w.client("u1").feedback.is_empty());
    assert!(!w.world.messages().contains_key(&1), "released with its last reference");
    assert_eq!((w.world.counters().accepted, w.world.counters().rewards), (1, 1));
}

#[test]
fn held_messages_stay_and_rejected_ones_keep_their_content_for_the_reward() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    w.buffer("u1", 1);
    w.decide("u1", 1, 2, Decision::Hold);
    let held = w.client("u1").buffer[0].held.clone().expect("held");
    assert_eq!((held.rule, held.steps), (2, 2));
    w.decide("u1", 1, 3, Decision::Reject);
    assert!(w.client("u1").buffer.is_empty());
    assert_eq!(w.client("u1").feedback[0].deltas[..], [AttrDelta { attr: "Bebop".into(), delta: 0.3 }]);
    // Shared with the message it keeps alive, not copied: most pending decisions are rejections.
    let pending = &w.client("u1").feedback[0];
    let message = &w.world.messages()[&1];
    assert!(Arc::ptr_eq(&pending.deltas, &message.content) && Arc::ptr_eq(&pending.router, &message.router));
    assert_eq!((w.world.counters().held, w.world.counters().rejected), (1, 1));
    assert!(w
        .refused(EventBody::Assimilated { agent: "u1".into(), message: 9, weight: 1.0, changes: vec![], into: AssimilatedInto::Profile })
        .to_string()
        .contains("unknown message"));
}

#[test]
fn overflow_drops_the_message_from_the_buffer() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    w.buffer("u1", 1);
    w.ok(EventBody::BufferOverflow { agent: "u1".into(), message: 1, policy: "drop_oldest".into() });
    assert!(w.client("u1").buffer.is_empty());
    assert!(!w.world.messages().contains_key(&1));
    assert_eq!(w.world.counters().overflowed, 1);
}

#[test]
fn a_message_every_recipient_drops_on_arrival_is_forgotten() {
    let mut w = W::new();
    w.send(1, &["u1", "u2"]);
    w.ok(EventBody::BufferOverflow { agent: "u1".into(), message: 1, policy: "drop_new".into() });
    assert!(w.world.messages().contains_key(&1), "u2 has not had its turn");
    w.ok(EventBody::BufferOverflow { agent: "u2".into(), message: 1, policy: "drop_new".into() });
    assert!(!w.world.messages().contains_key(&1));
    // Dropped by one recipient but buffered by the other: it stays for the other.
    w.send(2, &["u1", "u2"]);
    w.buffer("u1", 2);
    w.ok(EventBody::BufferOverflow { agent: "u2".into(), message: 2, policy: "drop_new".into() });
    assert!(w.world.messages().contains_key(&2));
}

#[test]
fn credit_goes_to_rules_and_routers_with_its_evidence_until_a_gradient() {
    let mut w = W::new();
    w.ok(EventBody::CreditAssigned {
        agent: "u1".into(),
        message: 1,
        decision: Decision::Accept,
        relevance: 0.5,
        reward: 0.2,
        shares: vec![CreditShare { module: "u1#1".into(), amount: 0.2 }, CreditShare { module: "R1".into(), amount: 0.1 }],
        reason: String::new(),
    });
    assert_eq!(w.client("u1").rule_credit, vec![0.2, 0.0, 0.0]);
    assert_eq!(w.world.router("R1").unwrap().credit, 0.1);
    assert_eq!(w.world.evidence()["u1#1"].len(), 1);
    w.ok(EventBody::Gradient { module: "u1#1".into(), direction: String::new(), edit: Edit::NoChange, evidence: vec![] });
    assert!(!w.world.evidence().contains_key("u1#1"));
    assert!(w.world.evidence().contains_key("R1"));
    assert_eq!(w.world.counters().gradients, 1);
    let bad = EventBody::CreditAssigned {
        agent: "u1".into(),
        message: 1,
        decision: Decision::Accept,
        relevance: 0.5,
        reward: 0.2,
        shares: vec![CreditShare { module: "u1#9".into(), amount: 0.2 }],
        reason: String::new(),
    };
    assert!(w.refused(bad).to_string().contains("no rule 9"));
}

#[test]
fn rule_edits_keep_the_other_rules_statistics() {
    let mut w = W::new();
    w.send(1, &["u1"]);
    w.buffer("u1", 1);
    w.decide("u1", 1, 3, Decision::Reject);
    // A learned rule inserted at 1: the old rules' hits move down one.
    let rules = "accept 0.3 when relevance >= 0.2\naccept 0.8 when relevance >= 0.1\nhold 2 when support < 1\ndefault reject\n";
    w.ok(EventBody::RuleEdited {
        agent: "u1".into(),
        rule: 1,
        before: String::new(),
        after: "accept 0.3 when relevance >= 0.2".into(),
        rules: rules.into(),
        reason: String::new(),
        evidence: vec![],
    });
    assert_eq!(w.client("u1").rule_hits, vec![0, 0, 0, 1]);
    assert_eq!(w.client("u1").rules.len(), 4);
    assert_eq!(w.world.counters().rule_edits, 1);
    w.ok(EventBody::RulesReplaced { agent: "u1".into(), rules: "default accept\n".into(), reason: String::new() });
    assert_eq!((w.client("u1").rule_hits.clone(), w.client("u1").rules_text.as_str()), (vec![0], "default accept\n"));
    assert!(w.refused(EventBody::RulesReplaced { agent: "u1".into(), rules: "accept when".into(), reason: String::new() }).to_string().contains("rules"));
}

#[test]
fn router_edits_set_the_knobs() {
    let mut w = W::new();
    w.ok(EventBody::RouterEdited { router: "R1".into(), fan_out: 5, tau: 0.3, reason: String::new() });
    assert_eq!((w.world.router("R1").unwrap().fan_out, w.world.router("R1").unwrap().tau), (5, 0.3));
    assert!(w.refused(EventBody::RouterEdited { router: "R1".into(), fan_out: 5, tau: f64::NAN, reason: String::new() }).to_string().contains("τ"));
    w.ok(EventBody::RouterStrategyEdited {
        router: "R1".into(),
        fan_out_from: 5,
        fan_out_to: 4,
        tau_from: 0.3,
        tau_to: 0.35,
        reason: String::new(),
        evidence: vec![],
    });
    assert_eq!((w.world.router("R1").unwrap().fan_out, w.world.router("R1").unwrap().tau), (4, 0.35));
    assert_eq!(w.world.counters().router_edits, 1);
}

#[test]
fn model_exchanges_failures_and_metrics_are_counted() {
    let mut w = W::new();
    let exchange = |cache_hit| EventBody::ReasonExchange {
        stage: "filter".into(),
        model: "m".into(),
        prompt: String::new(),
        reply: String::new(),
        tokens_in: 10,
        tokens_out: 3,
        latency_ms: 5,
        cache_hit,
        finish_reason: "stop".into(),
    };
    w.ok(exchange(false));
    w.ok(exchange(true));
    w.ok(EventBody::ReasonFailed { stage: "filter".into(), error: "bad JSON".into(), fallback: "offline".into(), cause: "invalid_json".into() });
    // A budget notice is not a failed reply.
    w.ok(EventBody::ReasonFailed { stage: "filter".into(), error: "spent".into(), fallback: "offline".into(), cause: "budget".into() });
    let c = w.world.counters();
    assert_eq!((c.model_calls, c.tokens_in, c.tokens_out, c.model_failures), (1, 20, 6, 1));
    w.ok(EventBody::Metrics { split: "valid".into(), values: [("ndcg@10".to_string(), 0.5)].into() });
    assert_eq!(w.world.metrics().len(), 1);
    assert_eq!(w.world.metrics()[0].1, "valid");
}

/// One event of every kind after the setup, each applied.
fn every_kind(w: &mut W) {
    w.ok(EventBody::RoundStarted { index: 0 });
    w.ok(EventBody::TickStarted { index: 0, interactions: 1 });
    w.ok(EventBody::Interaction { user: "u1".into(), item: "i1".into(), negative: None, index: 0 });
    w.ok(EventBody::ProfileUpdated { agent: "u1".into(), changes: vec![change("Bebop", 0.0, 0.1)], reason: String::new(), text: String::new() });
    w.ok(EventBody::AttributesExtracted { agent: "u1".into(), changed: vec![] });
    w.ok(EventBody::MembershipChanged { router: "R1".into(), agent: "u2".into(), joined: false });
    w.ok(EventBody::MembershipChanged { router: "R1".into(), agent: "u2".into(), joined: true });
    w.ok(EventBody::AttributeRouted { agent: "u1".into(), attr: "Bebop".into(), delta: 0.1, router: "R1".into(), similarity: 0.5, community: false });
    w.ok(EventBody::RouterIntegrated { router: "R1".into(), inbox: 1, changes: vec![], new_attributes: vec![], summary: String::new(), keep_choices: 0 });
    w.send(1, &["u1", "i1"]);
    w.buffer("u1", 1);
    w.buffer("i1", 1);
    w.ok(EventBody::BufferOverflow { agent: "i1".into(), message: 1, policy: "drop_oldest".into() });
    w.ok(EventBody::Activated { agent: "u1".into(), reason: String::new(), buffered: 1 });
    w.decide("u1", 1, 1, Decision::Accept);
    w.ok(EventBody::Assimilated { agent: "u1".into(), message: 1, weight: 0.8, changes: vec![], into: AssimilatedInto::Profile });
    w.ok(EventBody::Reward {
        agent: "u1".into(),
        message: 1,
        router: "R1".into(),
        rule: Some(1),
        decision: Decision::Accept,
        item: "i1".into(),
        negative: None,
        with: 0.1,
        without: 0.0,
        reward: 0.1,
    });
    w.ok(EventBody::CreditAssigned {
        agent: "u1".into(),
        message: 1,
        decision: Decision::Accept,
        relevance: 0.5,
        reward: 0.1,
        shares: vec![],
        reason: String::new(),
    });
    w.ok(EventBody::Gradient { module: "R1".into(), direction: String::new(), edit: Edit::NoChange, evidence: vec![] });
    w.ok(EventBody::RuleEdited {
        agent: "u1".into(),
        rule: 1,
        before: "x".into(),
        after: "y".into(),
        rules: "default reject\n".into(),
        reason: String::new(),
        evidence: vec![],
    });
    w.ok(EventBody::RulesReplaced { agent: "u1".into(), rules: "default reject\n".into(), reason: String::new() });
    w.ok(EventBody::RouterEdited { router: "R1".into(), fan_out: 1, tau: 0.1, reason: String::new() });
    w.ok(EventBody::RouterStrategyEdited {
        router: "R1".into(),
        fan_out_from: 1,
        fan_out_to: 2,
        tau_from: 0.1,
        tau_to: 0.2,
        reason: String::new(),
        evidence: vec![],
    });
    w.ok(EventBody::ReasonExchange {
        stage: "filter".into(),
        model: String::new(),
        prompt: String::new(),
        reply: String::new(),
        tokens_in: 0,
        tokens_out: 0,
        latency_ms: 0,
        cache_hit: false,
        finish_reason: String::new(),
    });
    w.ok(EventBody::ReasonFailed { stage: "filter".into(), error: String::new(), fallback: String::new(), cause: String::new() });
    w.ok(EventBody::Metrics { split: "valid".into(), values: BTreeMap::new() });
    w.ok(EventBody::ChoiceRouted { user: "u1".into(), item: "i1".into(), router: "R1".into() });
    w.ok(EventBody::GateUpdated {
        router: "R1".into(),
        agent: "u1".into(),
        item: "i1".into(),
        from: 0.5,
        to: 0.6,
        gradient: 0.1,
        channel: GateChannel::Evidence,
        precision: None,
    });
    w.send(2, &["u2"]);
    w.buffer("u2", 2);
    w.decide("u2", 2, 1, Decision::Accept);
    w.ok(EventBody::EvidenceStored { agent: "u2".into(), message: 2, router: "R1".into(), entries: vec![] });
}

#[test]
fn every_kind_names_its_serialised_tag() {
    let mut w = W::new();
    every_kind(&mut w);
    let mut kinds = std::collections::BTreeSet::new();
    for ev in &w.log {
        let tag = serde_json::to_value(ev).unwrap()["kind"].as_str().map(str::to_string);
        assert_eq!(tag.as_deref(), Some(ev.body.kind()), "{ev:?}");
        kinds.insert(ev.body.kind());
    }
    // Every variant of EventBody (30 today): a new one belongs in the list above.
    assert_eq!(kinds.len(), 30, "{kinds:?}");
}

mod evidence;

/// Every reference an event makes (an agent, a router, a message), one at a time, pointed at
/// nothing: an event refused for it leaves the world exactly as it was (a replay that stops
/// there shows the state before it, not half of it).
#[test]
fn a_refused_event_leaves_no_trace() {
    let mut full = W::new();
    every_kind(&mut full);
    let known = ["u1", "u2", "i1", "R1"];
    let (mut refused, mut leaks) = (0, Vec::new());
    for at in 1..full.log.len() {
        let mut world = World::new();
        for ev in &full.log[..at] {
            world.apply(ev).expect("the log replays");
        }
        let before = serde_json::to_value(&world).expect("a world serialises");
        let original = serde_json::to_value(&full.log[at]).expect("an event serialises");
        let serde_json::Value::Object(fields) = &original else { panic!("an event is an object") };
        let mut variants = Vec::new();
        for (key, value) in fields {
            let mut point = |path: Vec<serde_json::Value>| {
                let mut v = original.clone();
                v[key] = path.into_iter().next().unwrap_or(serde_json::Value::Null);
                variants.push(v);
            };
            match value {
                serde_json::Value::String(s) if known.contains(&s.as_str()) => point(vec!["ghost".into()]),
                serde_json::Value::Number(_) if key == "message" => point(vec![999.into()]),
                serde_json::Value::Array(list) => {
                    for (i, x) in list.iter().enumerate() {
                        let mut l = list.clone();
                        match x {
                            serde_json::Value::String(s) if known.contains(&s.as_str()) => l[i] = "ghost".into(),
                            serde_json::Value::Object(o) if o.get("agent").and_then(|a| a.as_str()).is_some_and(|a| known.contains(&a)) => {
                                l[i]["agent"] = "ghost".into()
                            }
                            _ => continue,
                        }
                        point(vec![serde_json::Value::Array(l)]);
                    }
                }
                _ => {}
            }
        }
        for v in variants {
            let ev: Event = serde_json::from_value(v.clone()).expect("a mutated event still parses");
            let mut tried = world.clone();
            if tried.apply(&ev).is_ok() {
                continue;
            }
            refused += 1;
            if serde_json::to_value(&tried).expect("a world serialises") != before {
                leaks.push(v.to_string());
            }
        }
    }
    assert!(leaks.is_empty(), "refused but changed the world:\n{}", leaks.join("\n"));
    assert!(refused > 30, "only {refused} refusals tried");
}

/// Numbers a session may not hold: what the engine could not have written and would compute
/// NaN from (a 1.7e308 weight made a fork panic and write `null` deltas).
#[test]
fn weights_and_router_knobs_out_of_range_are_refused() {
    let mut w = W::new();
    let agent = |attrs: Vec<(&str, f64)>| EventBody::AgentCreated {
        agent: "u9".into(),
        agent_kind: ClientKind::User,
        title: None,
        attrs: attrs.into_iter().map(|(a, v)| (a.to_string(), v)).collect(),
        rules: "default reject".into(),
    };
    for bad in [1.7e308, -1.0001, f64::NAN, f64::INFINITY] {
        let e = w.refused(agent(vec![("Jazz", bad)])).to_string();
        assert!(e.contains("agent_created u9: weight") && e.contains("of Jazz is outside [-1, 1]"), "{e}");
    }
    assert!(w.refused(agent(vec![("Jazz", 1.7e308)])).to_string().contains("1.7e308"), "huge numbers in short form");
    w.ok(agent(vec![("Jazz", -1.0)]));
    let e = w.refused(EventBody::ProfileUpdated { agent: "u1".into(), changes: vec![change("Jazz", 0.8, 2.0)], reason: String::new(), text: String::new() });
    assert!(e.to_string().contains("profile_updated u1: weight 2 of Jazz"), "{e}");
    let e = w.refused(EventBody::RouterIntegrated {
        router: "R1".into(),
        inbox: 0,
        changes: vec![change("Jazz", 0.5, -3.0)],
        new_attributes: vec![],
        summary: String::new(),
        keep_choices: 0,
    });
    assert!(e.to_string().contains("router_integrated R1: weight -3 of Jazz"), "{e}");
    for (fan_out, tau, what) in
        [(0, 0.1, "fan-out 0"), (crate::world::FAN_OUT_LIMIT + 1, 0.1, "fan-out"), (2, 1.7e308, "τ 1.7e308"), (2, -0.1, "τ -0.1"), (2, f64::NAN, "τ NaN")]
    {
        let e = w.refused(EventBody::RouterEdited { router: "R1".into(), fan_out, tau, reason: String::new() }).to_string();
        assert!(e.contains(what) && e.contains("outside"), "{e}");
        let e = w.refused(EventBody::RouterStrategyEdited {
            router: "R1".into(),
            fan_out_from: 2,
            fan_out_to: fan_out,
            tau_from: 0.15,
            tau_to: tau,
            reason: String::new(),
            evidence: vec![],
        });
        assert!(e.to_string().contains(what), "{e}");
    }
    w.ok(EventBody::RouterEdited { router: "R1".into(), fan_out: 3, tau: 0.0, reason: String::new() });
}

/// An agent and a router never share an id (a DOT export, a query's `target == R1` and the
/// inspector's search would not know which is meant).
#[test]
fn an_agent_and_a_router_never_share_an_id() {
    let mut w = W::new();
    let e = w.refused(EventBody::AgentCreated {
        agent: "R1".into(),
        agent_kind: ClientKind::User,
        title: None,
        attrs: BTreeMap::new(),
        rules: "default reject".into(),
    });
    assert!(e.to_string().contains("exists already"), "{e}");
    let e = w.refused(EventBody::RouterCreated {
        router: "u1".into(),
        attributes: vec![],
        profile: BTreeMap::new(),
        members: vec![],
        fan_out: 2,
        tau: 0.1,
        summary: String::new(),
        gate: 0.5,
        update_gate: 1.0,
    });
    assert!(e.to_string().contains("exists already"), "{e}");
}

#[test]
fn a_change_must_start_from_the_weight_it_changes() {
    let mut w = W::new();
    let update = |changes| EventBody::ProfileUpdated { agent: "u1".into(), changes, reason: String::new(), text: String::new() };
    let e = w.refused(update(vec![change("Jazz", 0.3, 0.9)])).to_string();
    assert!(e.contains("profile_updated: Jazz of u1 moves from 0.3, but it is 0.8"), "{e}");
    let e = w.refused(update(vec![change("Metal", 0.5, 0.2)])).to_string();
    assert!(e.contains("Metal of u1 moves from 0.5, but it is 0"), "an absent weight is 0: {e}");
    // Within the rounding a recorded weight may carry.
    w.ok(update(vec![change("Jazz", 0.80004, 0.9), change("Metal", 0.0, 0.2)]));
}
