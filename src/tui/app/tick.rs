//! The messages of the time step on screen (router → receiver, and their fate), prepared as the
//! position moves so that drawing a frame only reads them. Stepping forward within a time step
//! takes in just the new events.

use crate::world::event::{Decision, Event, EventBody};
use std::collections::{HashMap, HashSet};

/// One delivery of this time step: who sent it, who got it, and what its filter decided so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub router: String,
    pub agent: String,
    pub fate: Option<Decision>,
}

#[derive(Debug, Default)]
pub struct TickMessages {
    /// (branch, first step of the time step, events taken in): what these messages describe.
    key: Option<(usize, u64, u64)>,
    deliveries: Vec<Delivery>,
    /// (message, receiver) → its delivery, for the decision that settles it.
    by_receiver: HashMap<(u64, String), usize>,
    /// Messages whose sending is in this time step (a decision about any other is shown alone).
    sent_here: HashSet<u64>,
    /// Every router and receiver named above, to highlight them.
    involved: HashSet<String>,
}

impl TickMessages {
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    pub fn involves(&self, id: &str) -> bool {
        self.involved.contains(id)
    }

    /// Whether these messages are those of `branch` from `start` up to `upto`, or can get there
    /// by taking in the events from the returned step on.
    pub fn resume_from(&self, branch: usize, start: u64, upto: u64) -> Option<u64> {
        match self.key {
            Some((b, s, u)) if b == branch && s == start && u <= upto => Some(u),
            _ => None,
        }
    }

    pub fn clear(&mut self, branch: usize, start: u64) {
        *self = TickMessages { key: Some((branch, start, start)), ..TickMessages::default() };
    }

    /// Take in `events`, which end at step `upto`.
    pub fn extend(&mut self, events: &[Event], upto: u64) {
        for e in events {
            match &e.body {
                EventBody::MessageSent { message, router, recipients, .. } => {
                    self.sent_here.insert(*message);
                    for r in recipients {
                        self.add(*message, router, &r.agent, None);
                    }
                }
                EventBody::FilterDecision { agent, message, router, decision, .. } => {
                    match self.by_receiver.get(&(*message, agent.clone())) {
                        Some(&i) => self.deliveries[i].fate = Some(*decision),
                        // A message sent in an earlier step, decided now: shown with its fate.
                        None if !self.sent_here.contains(message) => {
                            self.sent_here.insert(*message);
                            self.add(*message, router, agent, Some(*decision));
                        }
                        None => {}
                    }
                }
                _ => {}
            }
        }
        if let Some((_, _, u)) = self.key.as_mut() {
            *u = upto;
        }
    }

    fn add(&mut self, message: u64, router: &str, agent: &str, fate: Option<Decision>) {
        self.by_receiver.insert((message, agent.to_string()), self.deliveries.len());
        self.deliveries.push(Delivery { router: router.to_string(), agent: agent.to_string(), fate });
        self.involved.insert(router.to_string());
        self.involved.insert(agent.to_string());
    }
}
