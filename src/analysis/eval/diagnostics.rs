//! What propagation did in one RecNet run, read off its events: who messages reached, how often the
//! backward phase had anything to learn from, and whether accepted messages helped their receivers'
//! later choices.

use crate::world::event::{ClientKind, Decision, Event, EventBody, GateChannel};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Diagnostics {
    pub model: String,
    pub messages_sent: u64,
    pub deliveries_to_users: u64,
    pub deliveries_to_items: u64,
    /// Users who received at least one message, of `users`.
    pub users_reached: usize,
    pub users: usize,
    pub accepted: u64,
    pub rejected: u64,
    pub rewards: u64,
    /// Share of rewards that are exactly zero (the backward phase learns nothing from them).
    pub zero_reward_share: f64,
    /// Accepted messages whose reward at the receiver's next interaction was positive (the true
    /// item moved up against the negatives) or negative (down).
    pub accepted_helped: u64,
    pub accepted_hurt: u64,
    pub rule_edits: u64,
    /// Rule edits other than retiring an unused rule.
    pub rule_edits_learned: u64,
    pub router_edits: u64,
    /// Evidence entries stored or reinforced in receivers' memories.
    pub evidence_stored: u64,
    pub gate_updates: u64,
    /// The routers' gates at the end of the run (mean), and the largest.
    pub gate_mean: f64,
    pub gate_max: f64,
    /// The routers' update gates at the end (mean), and the smallest.
    pub update_gate_mean: f64,
    pub update_gate_min: f64,
}

pub fn diagnose(model: &str, events: &[Event]) -> Diagnostics {
    let mut d = Diagnostics { model: model.to_string(), ..Diagnostics::default() };
    let mut kinds: HashMap<&str, ClientKind> = HashMap::new();
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let mut zero = 0u64;
    let mut gates: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    let mut update_gates: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for ev in events {
        match &ev.body {
            EventBody::AgentCreated { agent, agent_kind, .. } => {
                kinds.insert(agent, *agent_kind);
                if *agent_kind == ClientKind::User {
                    d.users += 1;
                }
            }
            EventBody::MessageSent { .. } => d.messages_sent += 1,
            EventBody::MessageBuffered { agent, .. } => match kinds.get(agent.as_str()) {
                Some(ClientKind::User) => {
                    d.deliveries_to_users += 1;
                    reached.insert(agent);
                }
                _ => d.deliveries_to_items += 1,
            },
            EventBody::FilterDecision { decision, .. } => match decision {
                Decision::Accept => d.accepted += 1,
                Decision::Reject => d.rejected += 1,
                Decision::Hold => {}
            },
            EventBody::Reward { decision, reward, .. } => {
                d.rewards += 1;
                if *reward == 0.0 {
                    zero += 1;
                }
                if *decision == Decision::Accept {
                    if *reward > 0.0 {
                        d.accepted_helped += 1;
                    } else if *reward < 0.0 {
                        d.accepted_hurt += 1;
                    }
                }
            }
            EventBody::RuleEdited { after, .. } => {
                d.rule_edits += 1;
                if !after.is_empty() {
                    d.rule_edits_learned += 1;
                }
            }
            EventBody::RouterStrategyEdited { .. } => d.router_edits += 1,
            EventBody::RouterCreated { router, gate, update_gate, .. } => {
                gates.insert(router, *gate);
                update_gates.insert(router, *update_gate);
            }
            EventBody::EvidenceStored { entries, .. } => d.evidence_stored += entries.len() as u64,
            EventBody::GateUpdated { router, to, channel, .. } => {
                d.gate_updates += 1;
                match channel {
                    GateChannel::Evidence => gates.insert(router, *to),
                    GateChannel::Updates => update_gates.insert(router, *to),
                };
            }
            _ => {}
        }
    }
    d.users_reached = reached.len();
    if !update_gates.is_empty() {
        d.update_gate_mean = update_gates.values().sum::<f64>() / update_gates.len() as f64;
        d.update_gate_min = update_gates.values().fold(f64::INFINITY, |a, b| a.min(*b));
    }
    if !gates.is_empty() {
        d.gate_mean = gates.values().sum::<f64>() / gates.len() as f64;
        d.gate_max = gates.values().fold(0.0, |a, b| a.max(*b));
    }
    d.zero_reward_share = if d.rewards == 0 { 0.0 } else { zero as f64 / d.rewards as f64 };
    d
}
