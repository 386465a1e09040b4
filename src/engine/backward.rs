//! The backward phase's steps: rewards at a receiver's next interaction, credit, gradients and
//! the bounded edits they lead to. The arithmetic of a reward is in `reward`.

use super::{Engine, Task};
use crate::engine::protocol::ReasonRequest;
use crate::engine::reward::{user_counterfactual, Candidate, Outcome};
use crate::util::r4;
use crate::world::event::EventBody;
use std::collections::BTreeSet;

/// What an interaction's outcome teaches, computed before the interaction is recorded.
pub(super) struct Prepared {
    gates: Vec<EventBody>,
    rewards: Vec<(EventBody, crate::engine::protocol::CreditItem)>,
}

impl Engine {
    /// Backward phase, at a client's real interaction, before it is recorded: the gate steps it
    /// teaches, and the reward of every decision awaiting this outcome.
    pub(super) fn prepare_outcome(&mut self, k: usize) -> Prepared {
        let s = self.schedule[k].clone();
        let negatives = self.negatives_for(k);
        self.weigh_users();
        // The user's evidence weighed once, for its gates and for its rewards' views.
        let weighed = self.world.client(&s.user).map(|u| self.world.weigh_entries(u)).unwrap_or_default();
        let gates = self.learn_gates(&s.user, &s.item, &negatives, &weighed);
        // A message's content is judged as if counted in full, whatever the update gates say.
        let attrs = |id: &str| self.world.client(id).map(|c| self.world.with_updates(c)).unwrap_or_default();
        let (user, item) = (attrs(&s.user), attrs(&s.item));
        let negative_attrs: Vec<(String, std::collections::BTreeMap<String, f64>)> = negatives.iter().map(|n| (n.clone(), attrs(n))).collect();
        let negative_candidates: Vec<Candidate> = negative_attrs.iter().map(|(id, a)| (id.as_str(), a)).collect();
        let probe = self.cfg.backward.probe_weight;
        let mut out = Vec::new();
        for (agent, is_user) in [(&s.user, true), (&s.item, false)] {
            let Some(c) = self.world.client(agent) else { continue };
            // The same for every pending decision of this client: computed once.
            let now = if is_user && !c.feedback.is_empty() { Some(self.evidence_view(c, &s.item, &weighed)) } else { None };
            for p in &c.feedback {
                let (with, without) = if is_user {
                    let gate = self.message_gate(p.message, &p.router);
                    let added: Vec<(String, f64)> = match p.decision {
                        crate::world::event::Decision::Accept => p.evidence.iter().map(|(i, w)| (i.clone(), w * gate)).collect(),
                        _ => self.would_be_evidence(agent, p.message, probe * gate),
                    };
                    let now = now.expect("computed for a user with pending decisions");
                    user_counterfactual(&user, &p.deltas, now, &added, p.decision, probe, Outcome { item: (&s.item, &item), negatives: &negative_candidates })
                } else {
                    crate::engine::reward::item_counterfactual(&user, &item, &p.deltas, p.decision, probe)
                };
                let rule_text = p.rule.and_then(|r| c.rules.get(r - 1)).map(crate::rules::print_rule).unwrap_or_default();
                out.push((
                    EventBody::Reward {
                        agent: agent.clone(),
                        message: p.message,
                        router: p.router.to_string(),
                        rule: p.rule,
                        decision: p.decision,
                        item: s.item.clone(),
                        negative: s.negative.clone(),
                        with: r4(with),
                        without: r4(without),
                        reward: r4(with - without),
                    },
                    crate::engine::protocol::CreditItem {
                        agent: agent.clone(),
                        message: p.message,
                        router: p.router.to_string(),
                        rule: p.rule,
                        rule_text,
                        decision: p.decision,
                        relevance: p.relevance,
                        reward: r4(with - without),
                    },
                ));
            }
        }
        Prepared { gates, rewards: out }
    }

    /// Emit what `prepare_outcome` found, and ask for the credit of what taught something.
    pub(super) fn rewards(&mut self, k: usize) {
        let Some(Prepared { gates, rewards }) = self.prepared.take() else { return };
        for ev in gates {
            self.emit(ev);
        }
        let mut items = Vec::new();
        for (ev, item) in rewards {
            self.emit(ev);
            // A message that changed nothing teaches nothing: no credit to spread.
            if item.reward != 0.0 {
                items.push(item);
            }
        }
        if !items.is_empty() {
            self.pending_credit = items.clone();
            let req = ReasonRequest::Credit { items, router_share: self.cfg.backward.router_share };
            self.awaiting = Some((Task::Rewards(k), std::sync::Arc::new(vec![req])));
        }
    }

    pub(super) fn credit(&mut self, it: &crate::engine::protocol::CreditItem, ans: crate::engine::protocol::CreditAnswer) {
        // Only modules on this message's path may be credited, whatever a model proposes.
        let rule_module = it.rule.map(|r| crate::world::rule_module(&it.agent, r));
        let rules_len = self.world.client(&it.agent).map(|c| c.rules.len()).unwrap_or(0);
        let shares: Vec<crate::world::event::CreditShare> = ans
            .shares
            .into_iter()
            .filter(|s| s.amount.is_finite())
            .filter(|s| s.module == it.router || (Some(&s.module) == rule_module.as_ref() && it.rule.is_some_and(|r| r <= rules_len)))
            .map(|s| crate::world::event::CreditShare { module: s.module, amount: r4(s.amount.clamp(-1.0, 1.0)) })
            .collect();
        if shares.is_empty() {
            return;
        }
        self.emit(EventBody::CreditAssigned {
            agent: it.agent.clone(),
            message: it.message,
            decision: it.decision,
            relevance: it.relevance,
            reward: it.reward,
            shares,
            reason: crate::util::text::sanitize(&ans.reason, 300),
        });
    }

    /// End of a time step: gradients for modules with enough evidence, and rules unused too long.
    pub(super) fn backward(&mut self) {
        let activated = std::mem::take(&mut self.tick_activated);
        if !self.cfg.backward.enabled {
            return;
        }
        let b = self.cfg.backward.clone();
        let mut reqs = Vec::new();
        let mut undecided = Vec::new();
        for (module, evidence) in self.world.evidence() {
            if evidence.len() < b.min_evidence {
                continue;
            }
            if let Some((mean, error)) = indistinct_from_zero(evidence, b.confidence) {
                if b.max_evidence > 0 && evidence.len() >= b.max_evidence {
                    undecided.push((module.clone(), mean, error, evidence.to_vec()));
                }
                continue;
            }
            let description = match crate::world::parse_rule_module(module) {
                Some((agent, ix)) => match self.world.client(agent).and_then(|c| c.rules.get(ix - 1)) {
                    Some(rule) => crate::rules::print_rule(rule),
                    None => continue,
                },
                None => match self.world.router(module) {
                    Some(r) => format!("fan_out {} tau {}", r.fan_out, r.tau),
                    None => continue,
                },
            };
            reqs.push(ReasonRequest::Gradient { module: module.clone(), description, evidence: evidence.to_vec(), threshold: b.threshold, step: b.step });
        }
        // A module that many decisions have not set apart from zero: no direction to take.
        for (module, mean, error, evidence) in undecided {
            let direction = format!("mean reward {mean:.3} ± {error:.3} over {} decisions: not told apart from zero, keep it", evidence.len());
            self.emit(EventBody::Gradient { module, direction, edit: crate::world::event::Edit::NoChange, evidence });
        }
        // Retiring needs no reasoning: a rule that never matched in `retire_after_ticks`.
        let tick = self.world.cursor().tick;
        let mut retire = Vec::new();
        for agent in activated {
            let Some(c) = self.world.client(&agent) else { continue };
            if tick.saturating_sub(c.rules_since_tick) < b.retire_after_ticks {
                continue;
            }
            if let Some(ix) = c.rules.iter().zip(&c.rule_hits).position(|(r, h)| *h == 0 && r.cond.is_some()) {
                retire.push((agent.clone(), ix + 1));
            }
        }
        let mut rule_edits = Vec::new();
        for (agent, rule) in retire.into_iter().take(b.max_edits_per_step) {
            let direction = format!("rule {rule} has not matched in {} steps: retire it", b.retire_after_ticks);
            let edit = crate::world::event::Edit::Retire { agent: agent.clone(), rule };
            self.emit(EventBody::Gradient {
                module: crate::world::rule_module(&agent, rule),
                direction: direction.clone(),
                edit: edit.clone(),
                evidence: Vec::new(),
            });
            rule_edits.push((edit, direction, Vec::new()));
        }
        if !reqs.is_empty() {
            self.optimise_queue = rule_edits;
            self.awaiting = Some((Task::Backward, std::sync::Arc::new(reqs)));
        } else {
            self.request_optimise(rule_edits);
        }
    }

    pub(super) fn request_optimise(&mut self, mut edits: Vec<(crate::world::event::Edit, String, Vec<u64>)>) {
        edits.append(&mut self.optimise_queue);
        let mut reqs = Vec::new();
        let mut seen = BTreeSet::new();
        for (edit, direction, ids) in edits {
            if reqs.len() >= self.cfg.backward.max_edits_per_step {
                break;
            }
            let agent = match &edit {
                crate::world::event::Edit::Tighten { agent, .. }
                | crate::world::event::Edit::Loosen { agent, .. }
                | crate::world::event::Edit::Retire { agent, .. } => agent.clone(),
                _ => continue,
            };
            // One edit per agent per step: a second would be computed against stale rules.
            if !seen.insert(agent.clone()) {
                continue;
            }
            let Some(c) = self.world.client(&agent) else { continue };
            self.optimise_evidence.insert(agent.clone(), (direction, ids));
            reqs.push(ReasonRequest::Optimise { agent, rules: c.rules_text.clone(), edit, step: self.cfg.backward.step });
        }
        if !reqs.is_empty() {
            self.awaiting = Some((Task::Optimise, std::sync::Arc::new(reqs)));
        }
    }

    pub(super) fn edit_router(&mut self, router: &str, fan_out_delta: i64, tau_delta: f64, reason: &str, evidence: Vec<u64>) -> bool {
        let Some(r) = self.world.router(router) else { return false };
        let max = self.cfg.backward.max_fan_out.max(1) as i64;
        let fan_out_to = (r.fan_out as i64 + fan_out_delta.clamp(-2, 2)).clamp(1, max) as usize;
        let tau_to = r4((r.tau + tau_delta.clamp(-0.2, 0.2)).clamp(0.0, 0.9));
        if fan_out_to == r.fan_out && tau_to == r.tau {
            return false;
        }
        self.emit(EventBody::RouterStrategyEdited {
            router: router.to_string(),
            fan_out_from: r.fan_out,
            fan_out_to,
            tau_from: r.tau,
            tau_to,
            reason: crate::util::text::sanitize(reason, 300),
            evidence,
        });
        true
    }
}

/// A module's mean reward and its standard error when the mean is within `confidence` standard
/// errors of zero (so its evidence gives no direction yet); `None` when it stands apart, or when
/// no confidence is asked for.
fn indistinct_from_zero(evidence: &[crate::world::event::Evidence], confidence: f64) -> Option<(f64, f64)> {
    if confidence <= 0.0 || evidence.is_empty() {
        return None;
    }
    let n = evidence.len() as f64;
    let mean = evidence.iter().map(|e| e.reward).sum::<f64>() / n;
    let variance = evidence.iter().map(|e| (e.reward - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let error = (variance / n).sqrt();
    (mean.abs() <= confidence * error).then_some((mean, error))
}
