//! A reasoner that hands a model only the requests about some users and answers the rest offline:
//! how `recnet eval --llm-url --users N` keeps a model run to N users' worth of calls while the
//! world around them evolves as usual. The routers' stages (integration, a router's gradient)
//! concern every user, so they stay offline: the comparison with the offline reasoner then differs
//! only in the chosen users' own reasoning.

use super::offline::Offline;
use crate::engine::protocol::{ReasonAnswer, ReasonRequest, Reasoner};
use crate::world::event::EventBody;
use crate::world::parse_rule_module;
use std::collections::BTreeSet;

pub struct Subset<'a> {
    model: &'a mut dyn Reasoner,
    offline: Offline,
    /// Agent ids (`u…`) whose requests go to the model.
    agents: BTreeSet<String>,
}

/// Where one request's answer comes from.
enum Part {
    Offline,
    /// The model answers request `ix` of its batch.
    Model(usize),
    /// A credit batch split in two: which items went to the model (`ix` of its batch).
    Credit {
        ix: usize,
        to_model: Vec<bool>,
    },
}

impl<'a> Subset<'a> {
    pub fn new(model: &'a mut dyn Reasoner, agents: BTreeSet<String>) -> Subset<'a> {
        Subset { model, offline: Offline::new(), agents }
    }

    fn chosen(&self, agent: &str) -> bool {
        self.agents.contains(agent)
    }

    /// The request the model is asked for `req` (none: offline), and how to merge its answer.
    fn split(&self, req: &ReasonRequest, next: usize) -> (Part, Option<ReasonRequest>) {
        let whole = |yes: bool| if yes { (Part::Model(next), Some(req.clone())) } else { (Part::Offline, None) };
        match req {
            ReasonRequest::Reflect { user, .. } => whole(self.chosen(user)),
            ReasonRequest::Filter { agent, .. } | ReasonRequest::Optimise { agent, .. } => whole(self.chosen(agent)),
            ReasonRequest::Gradient { module, .. } => whole(parse_rule_module(module).is_some_and(|(a, _)| self.chosen(a))),
            ReasonRequest::Integrate { .. } => whole(false),
            ReasonRequest::Credit { items, router_share } => {
                let to_model: Vec<bool> = items.iter().map(|it| self.chosen(&it.agent)).collect();
                if !to_model.contains(&true) {
                    return (Part::Offline, None);
                }
                let mine = items.iter().zip(&to_model).filter(|(_, m)| **m).map(|(it, _)| it.clone()).collect();
                (Part::Credit { ix: next, to_model }, Some(ReasonRequest::Credit { items: mine, router_share: *router_share }))
            }
        }
    }
}

impl Reasoner for Subset<'_> {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
        let mut parts = Vec::with_capacity(requests.len());
        let mut asked = Vec::new();
        for req in requests {
            let (part, ask) = self.split(req, asked.len());
            asked.extend(ask);
            parts.push(part);
        }
        let mut got = if asked.is_empty() { Vec::new() } else { self.model.answer(&asked) };
        // An answer that does not fit its request is made offline, as drivers repair.
        got = self.offline.fill_in(&asked, got);
        requests
            .iter()
            .zip(parts)
            .map(|(req, part)| match part {
                Part::Offline => self.offline.answer_one(req),
                Part::Model(ix) => got[ix].clone(),
                Part::Credit { ix, to_model } => {
                    let ReasonAnswer::Credit { items: offline } = self.offline.answer_one(req) else { unreachable!("a credit request") };
                    let mut model = match &got[ix] {
                        ReasonAnswer::Credit { items } if items.len() == to_model.iter().filter(|m| **m).count() => items.clone().into_iter(),
                        _ => Vec::new().into_iter(),
                    };
                    let items = offline.into_iter().zip(&to_model).map(|(o, m)| if *m { model.next().unwrap_or(o) } else { o }).collect();
                    ReasonAnswer::Credit { items }
                }
            })
            .collect()
    }

    fn take_exchanges(&mut self) -> Vec<EventBody> {
        self.model.take_exchanges()
    }

    fn fatal(&mut self) -> Option<String> {
        self.model.fatal()
    }
}
