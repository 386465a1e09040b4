//! What propagation did in one RecNet run, read off its events: who messages reached, how often the
//! backward phase had anything to learn from, and whether accepted messages helped their receivers'
//! later choices.

use crate::engine::{DriveError, Flow, Hooks};
use crate::world::event::{ClientKind, Decision, Event, EventBody, GateChannel};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// The routers' co-choice gates at the end (mean).
    pub co_choice_gate_mean: f64,
}

/// Diagnostics gathered event by event while a run goes (a MovieLens-sized run's events do not
/// all fit in memory at once); also the hooks that drive such a run.
pub struct Diagnose {
    d: Diagnostics,
    kinds: HashMap<String, ClientKind>,
    reached: HashSet<String>,
    zero: u64,
    gates: BTreeMap<String, f64>,
    update_gates: BTreeMap<String, f64>,
    co_choice_gates: BTreeMap<String, f64>,
}

impl Diagnose {
    pub fn new(model: &str) -> Diagnose {
        Diagnose {
            d: Diagnostics { model: model.to_string(), ..Diagnostics::default() },
            kinds: HashMap::new(),
            reached: HashSet::new(),
            zero: 0,
            gates: BTreeMap::new(),
            update_gates: BTreeMap::new(),
            co_choice_gates: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        let d = &mut self.d;
        match &ev.body {
            EventBody::AgentCreated { agent, agent_kind, .. } => {
                self.kinds.insert(agent.clone(), *agent_kind);
                if *agent_kind == ClientKind::User {
                    d.users += 1;
                }
            }
            EventBody::MessageSent { .. } => d.messages_sent += 1,
            EventBody::MessageBuffered { agent, .. } => match self.kinds.get(agent.as_str()) {
                Some(ClientKind::User) => {
                    d.deliveries_to_users += 1;
                    if !self.reached.contains(agent) {
                        self.reached.insert(agent.clone());
                    }
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
                    self.zero += 1;
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
                self.gates.insert(router.clone(), *gate);
                self.update_gates.insert(router.clone(), *update_gate);
                self.co_choice_gates.insert(router.clone(), *gate);
            }
            EventBody::EvidenceStored { entries, .. } => d.evidence_stored += entries.len() as u64,
            EventBody::GateUpdated { router, to, channel, .. } => {
                d.gate_updates += 1;
                match channel {
                    GateChannel::Evidence => self.gates.insert(router.clone(), *to),
                    GateChannel::Updates => self.update_gates.insert(router.clone(), *to),
                    GateChannel::CoChoice => self.co_choice_gates.insert(router.clone(), *to),
                };
            }
            _ => {}
        }
    }

    pub fn finish(self) -> Diagnostics {
        let mut d = self.d;
        d.users_reached = self.reached.len();
        if !self.update_gates.is_empty() {
            d.update_gate_mean = self.update_gates.values().sum::<f64>() / self.update_gates.len() as f64;
            d.update_gate_min = self.update_gates.values().fold(f64::INFINITY, |a, b| a.min(*b));
        }
        if !self.co_choice_gates.is_empty() {
            d.co_choice_gate_mean = self.co_choice_gates.values().sum::<f64>() / self.co_choice_gates.len() as f64;
        }
        if !self.gates.is_empty() {
            d.gate_mean = self.gates.values().sum::<f64>() / self.gates.len() as f64;
            d.gate_max = self.gates.values().fold(0.0, |a, b| a.max(*b));
        }
        d.zero_reward_share = if d.rewards == 0 { 0.0 } else { self.zero as f64 / d.rewards as f64 };
        d
    }
}

impl Hooks for Diagnose {
    type Error = DriveError;

    fn events(&mut self, _engine: &mut crate::engine::Engine, events: Vec<Event>) -> Result<Flow, DriveError> {
        for ev in &events {
            self.observe(ev);
        }
        Ok(Flow::Continue)
    }
}
