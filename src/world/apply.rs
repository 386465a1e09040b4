//! `World::apply`: the only way a world changes, one event at a time, and the replay helpers
//! around it (rebuilding derived indexes after a keyframe is loaded).

use super::apply_evidence::check_gate;
use crate::world::embed::Embedder;
use crate::world::event::{AssimilatedInto, AttrChange, AttrDelta, Choice, Decision, Event, EventBody, Evidence, GateChannel};
use crate::world::evidence;

use super::{ApplyError, Buffered, Client, Held, Message, Pending, Routed, Router, World, FEEDBACK_CAP};
use crate::rules::{parse_rules, Rule};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Weights this close to zero are dropped from a profile.
pub(super) const ZERO: f64 = 1e-4;

pub(super) fn set_weights(attrs: &mut BTreeMap<String, f64>, changes: &[AttrChange]) {
    for c in changes {
        if c.to.abs() < ZERO {
            attrs.remove(&c.attr);
        } else {
            attrs.insert(c.attr.clone(), c.to);
        }
    }
}

/// Each change's `from` is the weight it starts from (0 for an absent one), to within the
/// rounding a weight may carry and the threshold under which a weight is dropped: a session whose
/// `from`s say otherwise would show the reader moves that never happened.
fn check_from(kind: &str, owner: &str, attrs: Option<&BTreeMap<String, f64>>, changes: &[AttrChange]) -> Result<(), ApplyError> {
    for c in changes {
        let now = attrs.and_then(|a| a.get(&c.attr)).copied().unwrap_or(0.0);
        if !(c.from.is_finite() && (c.from - now).abs() <= ZERO + 1e-9) {
            return Err(ApplyError(format!(
                "{kind}: {} of {} moves from {}, but it is {}",
                crate::util::text::sanitize(&c.attr, 40),
                crate::util::text::sanitize(owner, 40),
                crate::util::text::number(c.from),
                crate::util::text::number(now)
            )));
        }
    }
    Ok(())
}

/// Profile weights live in [-1, 1]: the scenario, reflection and assimilation keep them there,
/// and everything computed from them (norms, relevance, rewards) assumes it.
fn check_weights<'a>(kind: &str, owner: &str, weights: impl IntoIterator<Item = (&'a String, f64)>) -> Result<(), ApplyError> {
    for (attr, w) in weights {
        if !(w.is_finite() && w.abs() <= 1.0) {
            return Err(ApplyError(format!(
                "{kind} {}: weight {} of {} is outside [-1, 1]",
                crate::util::text::sanitize(owner, 40),
                crate::util::text::number(w),
                crate::util::text::sanitize(attr, 40)
            )));
        }
    }
    Ok(())
}

/// The largest fan-out a router may have (the config's `routers.fan_out` and
/// `backward.max_fan_out` are capped at it too).
pub const FAN_OUT_LIMIT: usize = 1 << 20;

/// A router's fan-out and τ as a session may set them: what the config allows.
pub(super) fn check_router_knobs(kind: &str, router: &str, fan_out: usize, tau: f64) -> Result<(), ApplyError> {
    if !(1..=FAN_OUT_LIMIT).contains(&fan_out) {
        return Err(ApplyError(format!("{kind} {}: fan-out {fan_out} is outside 1..={FAN_OUT_LIMIT}", crate::util::text::sanitize(router, 40))));
    }
    if !(tau.is_finite() && (0.0..=1.0).contains(&tau)) {
        return Err(ApplyError(format!("{kind} {}: τ {} is outside [0, 1]", crate::util::text::sanitize(router, 40), crate::util::text::number(tau))));
    }
    Ok(())
}

impl World {
    pub(super) fn client_mut(&mut self, id: &str, ev: &str) -> Result<&mut Client, ApplyError> {
        let ix = self.client_index.get(id).copied().ok_or_else(|| ApplyError(format!("{ev}: unknown agent {}", crate::util::text::sanitize(id, 40))))?;
        Ok(Arc::make_mut(&mut self.clients[ix]))
    }
    pub(super) fn router_mut(&mut self, id: &str, ev: &str) -> Result<&mut Router, ApplyError> {
        let ix = self.router_index.get(id).copied().ok_or_else(|| ApplyError(format!("{ev}: unknown router {}", crate::util::text::sanitize(id, 40))))?;
        Ok(Arc::make_mut(&mut self.routers[ix]))
    }

    pub fn apply(&mut self, ev: &Event) -> Result<(), ApplyError> {
        if ev.step != self.steps {
            return Err(ApplyError(format!("event step {} where step {} was expected", ev.step, self.steps)));
        }
        let kind = ev.body.kind();
        match &ev.body {
            EventBody::WorldCreated { dim, vocabulary, evidence_memory } => {
                if *dim < 8 || *dim > 4096 {
                    return Err(ApplyError(format!("{kind}: embedding dimension {dim} out of range 8..4096")));
                }
                if *evidence_memory < 1 || *evidence_memory > evidence::MEMORY_LIMIT {
                    return Err(ApplyError(format!("{kind}: evidence memory {evidence_memory} out of range 1..{}", evidence::MEMORY_LIMIT)));
                }
                self.evidence_memory = *evidence_memory;
                let e = Embedder::new(*dim, vocabulary);
                self.attr_vecs = Arc::new(vocabulary.iter().map(|w| (w.clone(), e.embed(w))).collect());
                self.embedder = Some(Arc::new(e));
                self.dim = *dim;
            }
            EventBody::AgentCreated { agent, agent_kind, title, attrs, rules } => {
                if self.client_index.contains_key(agent) || self.router_index.contains_key(agent) {
                    return Err(ApplyError(format!("{kind}: agent {} exists already (as an agent or a router)", crate::util::text::sanitize(agent, 40))));
                }
                if attrs.len() > super::MAX_ATTRS {
                    return Err(ApplyError(format!(
                        "{kind} {}: {} attributes, more than the limit of {}",
                        crate::util::text::sanitize(agent, 40),
                        attrs.len(),
                        super::MAX_ATTRS
                    )));
                }
                check_weights(kind, agent, attrs.iter().map(|(a, w)| (a, *w)))?;
                let shared = self.rules_for(rules).map_err(|e| ApplyError(format!("{kind} {agent}: rules:{e}")))?;
                let ix = self.clients.len();
                Arc::make_mut(&mut self.client_index).insert(agent.clone(), ix);
                self.clients.push(Arc::new(Client {
                    heard: BTreeMap::new(),
                    id: agent.clone(),
                    kind: *agent_kind,
                    title: title.clone(),
                    attrs: attrs.clone(),
                    rules_text: rules.clone(),
                    rule_hits: vec![0; shared.len()],
                    rule_credit: vec![0.0; shared.len()],
                    rules_since_tick: ev.tick,
                    feedback: Vec::new(),
                    rules: shared,
                    buffer: Vec::new(),
                    routers: BTreeSet::new(),
                    last_extracted: Vec::new(),
                    interactions: 0,
                    history: Vec::new(),
                    evidence: Vec::new(),
                }));
                self.refresh_interest(ix);
            }
            EventBody::RouterCreated { router, attributes, profile, members, fan_out, tau, summary, gate, update_gate } => {
                if self.router_index.contains_key(router) || self.client_index.contains_key(router) {
                    return Err(ApplyError(format!("{kind}: router {} exists already (as a router or an agent)", crate::util::text::sanitize(router, 40))));
                }
                check_gate(kind, router, GateChannel::Evidence, *gate)?;
                check_gate(kind, router, GateChannel::Updates, *update_gate)?;
                check_router_knobs(kind, router, *fan_out, *tau)?;
                check_weights(kind, router, profile.iter().map(|(a, w)| (a, *w)))?;
                // Every member checked before any learns of the router: a refused event leaves no trace.
                if let Some(m) = members.iter().find(|m| !self.client_index.contains_key(m.as_str())) {
                    return Err(ApplyError(format!("{kind}: unknown agent {}", crate::util::text::sanitize(m, 40))));
                }
                for m in members {
                    self.client_mut(m, kind)?.routers.insert(router.clone());
                }
                let ix = self.routers.len();
                Arc::make_mut(&mut self.router_index).insert(router.clone(), ix);
                self.routers.push(Arc::new(Router {
                    id: router.clone(),
                    attributes: attributes.iter().cloned().collect(),
                    profile: profile.clone(),
                    members: Arc::new(members.iter().cloned().collect()),
                    fan_out: *fan_out,
                    tau: *tau,
                    credit: 0.0,
                    inbox: Vec::new(),
                    choices: Vec::new(),
                    gate: *gate,
                    update_gate: *update_gate,
                    gate_precision: 0.0,
                    update_gate_precision: 0.0,
                    // Both kinds of evidence start from the same trust.
                    co_choice_gate: *gate,
                    co_choice_gate_precision: 0.0,
                    summary: summary.clone(),
                    messages_sent: 0,
                    centroid: Vec::new(),
                    member_ix: Vec::new(),
                }));
                self.refresh_member_ix(ix);
                self.refresh_centroid(ix);
            }
            EventBody::RoundStarted { index } => {
                self.cursor.round = *index;
                self.cursor.next_index = 0;
            }
            EventBody::TickStarted { index, .. } => {
                self.cursor.tick = *index;
                self.cursor.started = true;
            }
            EventBody::Interaction { user, item, index, .. } => {
                let (user_ix, item_ix) = (self.client_ix(user), self.client_ix(item));
                // Both checked before either changes: a refused event leaves no trace.
                self.client_mut(item, kind)?;
                let u = self.client_mut(user, kind)?;
                u.interactions += 1;
                if let Some(i) = item_ix {
                    insert_sorted(&mut u.history, i as u32);
                }
                let i = self.client_mut(item, kind)?;
                i.interactions += 1;
                if let Some(u) = user_ix {
                    insert_sorted(&mut i.history, u as u32);
                }
                self.cursor.next_index = index + 1;
                self.counters.interactions += 1;
            }
            EventBody::ProfileUpdated { agent, changes, .. } => {
                check_weights(kind, agent, changes.iter().map(|c| (&c.attr, c.to)))?;
                let c = self.client_mut(agent, kind)?;
                check_from(kind, agent, Some(&c.attrs), changes)?;
                set_weights(&mut c.attrs, changes);
                let ix = self.client_index[agent];
                self.refresh_interest(ix);
                self.counters.profile_updates += 1;
            }
            EventBody::AttributesExtracted { agent, changed } => {
                self.client_mut(agent, kind)?.last_extracted = changed.clone();
            }
            EventBody::MembershipChanged { router, agent, joined } => {
                // The agent checked first: a refused event leaves no trace in the router either.
                self.client_mut(agent, kind)?;
                let r = self.router_mut(router, kind)?;
                let members = Arc::make_mut(&mut r.members);
                if *joined {
                    members.insert(agent.clone());
                } else {
                    members.remove(agent);
                }
                let c = self.client_mut(agent, kind)?;
                if *joined {
                    c.routers.insert(router.clone());
                } else {
                    c.routers.remove(router);
                }
                let (rix, cix) = (self.router_index[router], self.client_index[agent]);
                let list = &mut Arc::make_mut(&mut self.routers[rix]).member_ix;
                let changed = match (list.binary_search(&cix), *joined) {
                    (Err(pos), true) => {
                        list.insert(pos, cix);
                        true
                    }
                    (Ok(pos), false) => {
                        list.remove(pos);
                        true
                    }
                    _ => false,
                };
                if changed {
                    self.note_membership(rix, cix, *joined);
                }
            }
            EventBody::AttributeRouted { agent, attr, delta, router, similarity, .. } => {
                self.client_mut(agent, kind)?;
                self.router_mut(router, kind)?.inbox.push(Routed { agent: agent.clone(), attr: attr.clone(), delta: *delta, similarity: *similarity });
                self.counters.attributes_routed += 1;
            }
            EventBody::ChoiceRouted { user, item, router } => {
                // Looked up, not borrowed mutably: a mutable borrow would copy shared agents.
                for who in [user, item] {
                    if self.client_ix(who).is_none() {
                        return Err(ApplyError(format!("{kind}: unknown agent {}", crate::util::text::sanitize(who, 40))));
                    }
                }
                let tick = ev.tick;
                self.router_mut(router, kind)?.choices.push(Choice { user: user.clone(), item: item.clone(), tick });
            }
            EventBody::RouterIntegrated { router, changes, new_attributes, summary, keep_choices, .. } => {
                check_weights(kind, router, changes.iter().map(|c| (&c.attr, c.to)))?;
                let r = self.router_mut(router, kind)?;
                set_weights(&mut r.profile, changes);
                r.inbox.clear();
                let stale = r.choices.len().saturating_sub(*keep_choices);
                r.choices.drain(..stale);
                r.summary = summary.clone();
                let grew = !new_attributes.is_empty();
                r.attributes.extend(new_attributes.iter().cloned());
                if grew {
                    let ix = self.router_index[router];
                    self.refresh_centroid(ix);
                }
                self.counters.integrations += 1;
            }
            EventBody::MessageSent { message, router, sources, source_kind, content, topic, polarity, text, recipients, evidence } => {
                if self.messages.contains_key(message) {
                    return Err(ApplyError(format!("{kind}: message {message} exists already")));
                }
                // Each recipient holds a reference until its delivery is settled; a message for
                // nobody would never be released.
                if recipients.is_empty() || recipients.len() > u32::MAX as usize / 2 {
                    return Err(ApplyError(format!("{kind}: message {message} has {} recipients", recipients.len())));
                }
                if evidence.len() > 4096 {
                    return Err(ApplyError(format!("{kind}: message {message} carries {} choices (at most 4096)", evidence.len())));
                }
                for who in sources.iter().chain(recipients.iter().map(|r| &r.agent)).chain(evidence.iter().flat_map(|c| [&c.user, &c.item])) {
                    if self.client_ix(who).is_none() {
                        return Err(ApplyError(format!("{kind}: message {message} names unknown agent {}", crate::util::text::sanitize(who, 40))));
                    }
                }
                self.router_mut(router, kind)?.messages_sent += 1;
                self.messages.insert(
                    *message,
                    Arc::new(Message {
                        id: *message,
                        router: Arc::from(router.as_str()),
                        sources: sources.clone(),
                        source_kind: *source_kind,
                        content: Arc::from(content.as_slice()),
                        topic: topic.clone(),
                        polarity: *polarity,
                        text: text.clone(),
                        evidence: evidence.clone(),
                        tick: ev.tick,
                        // One reference per delivery still to happen: each passes to the buffer
                        // entry it becomes, or is released if the delivery is refused.
                        refs: recipients.len() as u32,
                    }),
                );
                self.next_message = self.next_message.max(message + 1);
                self.counters.messages_sent += 1;
            }
            EventBody::MessageBuffered { agent, message, relevance } => {
                self.known_message(*message, kind)?;
                let tick = ev.tick;
                self.client_mut(agent, kind)?.buffer.push(Buffered { message: *message, arrived_tick: tick, relevance: *relevance, held: None });
                self.counters.deliveries += 1;
            }
            EventBody::BufferOverflow { agent, message, .. } => {
                let c = self.client_mut(agent, kind)?;
                // The evicted buffer entry's reference, or (drop_new) the refused delivery's.
                c.buffer.retain(|b| b.message != *message);
                self.release(*message);
                self.counters.overflowed += 1;
            }
            EventBody::Activated { agent, .. } => {
                self.client_mut(agent, kind)?;
            }
            EventBody::FilterDecision { agent, message, rule, decision, .. } => {
                let tick = ev.tick;
                let c = self.client_mut(agent, kind)?;
                let pos = c
                    .buffer
                    .iter()
                    .position(|b| b.message == *message)
                    .ok_or_else(|| ApplyError(format!("{kind}: message {message} is not in {agent}'s buffer")))?;
                if let Some(r) = rule {
                    let hits = c.rule_hits.get_mut(r.wrapping_sub(1)).ok_or_else(|| ApplyError(format!("{kind}: {agent} has no rule {r}")))?;
                    *hits += 1;
                }
                let relevance = match &ev.body {
                    EventBody::FilterDecision { relevance, .. } => *relevance,
                    _ => 0.0,
                };
                let router = self.messages.get(message).map(|m| m.router.clone()).unwrap_or_default();
                let content = self.messages.get(message).map(|m| m.content.clone()).unwrap_or_default();
                let c = self.client_mut(agent, kind)?;
                let mut evicted = None;
                if *decision != Decision::Hold {
                    // Deltas of an acceptance are filled in by the assimilation that follows. The
                    // buffer entry's reference passes to the pending reward.
                    let deltas = if *decision == Decision::Reject { content } else { Arc::from([]) };
                    c.feedback.push(Arc::new(Pending { message: *message, router, rule: *rule, decision: *decision, relevance, deltas, evidence: Vec::new() }));
                    if c.feedback.len() > FEEDBACK_CAP {
                        evicted = Some(c.feedback.remove(0).message);
                    }
                }
                match decision {
                    Decision::Accept | Decision::Reject => {
                        c.buffer.remove(pos);
                    }
                    Decision::Hold => {
                        let steps = match rule.and_then(|r| c.rules.get(r - 1)).map(|r| r.action) {
                            Some(crate::rules::Action::Hold { steps }) => steps,
                            _ => 1,
                        };
                        let b = &mut c.buffer[pos];
                        if b.held.as_ref().is_none_or(|h| Some(h.rule) != *rule) {
                            b.held = Some(Held { rule: rule.unwrap_or(0), steps, since_tick: tick });
                        }
                    }
                }
                if let Some(m) = evicted {
                    self.release(m);
                }
                match decision {
                    Decision::Accept => self.counters.accepted += 1,
                    Decision::Hold => self.counters.held += 1,
                    Decision::Reject => self.counters.rejected += 1,
                }
            }
            EventBody::Assimilated { agent, message, changes, into, .. } => {
                self.known_message(*message, kind)?;
                if changes.iter().any(|ch| !(ch.to.is_finite() && ch.to.abs() <= 1.0)) {
                    return Err(ApplyError(format!("{kind}: a weight outside [-1, 1]")));
                }
                let router = self.messages[message].router.to_string();
                let c = self.client_mut(agent, kind)?;
                match into {
                    AssimilatedInto::Profile => check_from(kind, agent, Some(&c.attrs), changes)?,
                    AssimilatedInto::Updates => check_from(kind, agent, c.heard.get(&router), changes)?,
                }
                match into {
                    AssimilatedInto::Profile => set_weights(&mut c.attrs, changes),
                    AssimilatedInto::Updates => {
                        set_weights(c.heard.entry(router).or_default(), changes);
                        c.heard.retain(|_, h| !h.is_empty());
                    }
                }
                if let Some(p) = c.feedback.iter_mut().find(|p| p.message == *message) {
                    Arc::make_mut(p).deltas = changes.iter().map(|ch| AttrDelta { attr: ch.attr.clone(), delta: ch.to - ch.from }).collect();
                }
                let ix = self.client_index[agent];
                self.refresh_interest(ix);
            }
            EventBody::EvidenceStored { agent, message, router, entries } => self.store_evidence(kind, ev.tick, agent, *message, router, entries)?,
            EventBody::GateUpdated { router, to, channel, precision, .. } => self.set_gate(kind, router, *to, *channel, *precision)?,
            EventBody::Reward { agent, message, .. } => {
                let c = self.client_mut(agent, kind)?;
                let before = c.feedback.len();
                c.feedback.retain(|p| p.message != *message);
                if c.feedback.len() < before {
                    self.release(*message);
                }
                self.counters.rewards += 1;
            }
            EventBody::CreditAssigned { agent, message, decision, relevance, reward, shares, .. } => {
                for sh in shares {
                    if let Some((a, r)) = crate::world::parse_rule_module(&sh.module) {
                        let c = self.client_mut(a, kind)?;
                        let credit = c.rule_credit.get_mut(r.wrapping_sub(1)).ok_or_else(|| ApplyError(format!("{kind}: {a} has no rule {r}")))?;
                        *credit += sh.amount;
                    } else {
                        self.router_mut(&sh.module, kind)?.credit += sh.amount;
                    }
                    Arc::make_mut(self.evidence.entry(sh.module.clone()).or_default()).push(Evidence {
                        message: *message,
                        agent: agent.clone(),
                        decision: *decision,
                        // What the message was worth to its receiver; the gradient reads it with the
                        // decision (a rejected message worth +0.1 was a loss for the rule).
                        reward: *reward,
                        relevance: *relevance,
                    });
                }
            }
            EventBody::Gradient { module, .. } => {
                self.evidence.remove(module);
                self.counters.gradients += 1;
            }
            EventBody::RuleEdited { agent, rule, before, after, rules, .. } => {
                let parsed = self.rules_for(rules).map_err(|e| ApplyError(format!("{kind} {agent}: rules:{e}")))?;
                let tick = ev.tick;
                let c = self.client_mut(agent, kind)?;
                let ix = rule.saturating_sub(1);
                // Keep every other rule's statistics where it now stands.
                if before.is_empty() && ix <= c.rule_hits.len() {
                    c.rule_hits.insert(ix, 0);
                    c.rule_credit.insert(ix, 0.0);
                } else if after.is_empty() && ix < c.rule_hits.len() {
                    c.rule_hits.remove(ix);
                    c.rule_credit.remove(ix);
                } else if let Some(cr) = c.rule_credit.get_mut(ix) {
                    *cr = 0.0;
                }
                self.install_rules(agent, parsed, rules, tick);
                self.counters.rule_edits += 1;
            }
            EventBody::RulesReplaced { agent, rules, .. } => {
                let parsed = self.rules_for(rules).map_err(|e| ApplyError(format!("{kind} {agent}: rules:{e}")))?;
                let c = self.client_mut(agent, kind)?;
                c.rule_hits.clear();
                c.rule_credit.clear();
                self.install_rules(agent, parsed, rules, ev.tick);
            }
            EventBody::RouterEdited { router, fan_out, tau, .. } => {
                check_router_knobs(kind, router, *fan_out, *tau)?;
                let r = self.router_mut(router, kind)?;
                r.fan_out = *fan_out;
                r.tau = *tau;
            }
            EventBody::RouterStrategyEdited { router, fan_out_to, tau_to, .. } => {
                check_router_knobs(kind, router, *fan_out_to, *tau_to)?;
                let r = self.router_mut(router, kind)?;
                r.fan_out = *fan_out_to;
                r.tau = *tau_to;
                self.counters.router_edits += 1;
            }
            EventBody::ReasonExchange { tokens_in, tokens_out, cache_hit, .. } => {
                if !cache_hit {
                    self.counters.model_calls += 1;
                }
                // Saturating: a session may carry a hostile server's claims.
                self.counters.tokens_in = self.counters.tokens_in.saturating_add(*tokens_in);
                self.counters.tokens_out = self.counters.tokens_out.saturating_add(*tokens_out);
            }
            // A budget notice or a response_format downgrade is not a reply that failed.
            EventBody::ReasonFailed { cause, .. } if cause == "budget" || cause == "format_fallback" => {}
            EventBody::ReasonFailed { .. } => self.counters.model_failures += 1,
            EventBody::Metrics { split, values } => self.metrics.push((ev.step, split.clone(), values.clone())),
        }
        self.steps += 1;
        Ok(())
    }

    /// Give a client new rules (statistics already aligned by the caller): held messages are
    /// re-judged at the next activation, and evidence about the old rules is dropped.
    pub(super) fn install_rules(&mut self, agent: &str, shared: Arc<Vec<Rule>>, text: &str, tick: u64) {
        let Some(ix) = self.client_ix(agent) else { return };
        let c = Arc::make_mut(&mut self.clients[ix]);
        c.rule_hits.resize(shared.len(), 0);
        c.rule_credit.resize(shared.len(), 0.0);
        c.rules = shared;
        c.rules_text = text.to_string();
        c.rules_since_tick = tick;
        for b in &mut c.buffer {
            b.held = None;
        }
        // The agent's rules' evidence, found where its keys sort (a retain walked every module's).
        let prefix = format!("{agent}#");
        let stale: Vec<String> = self
            .evidence
            .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
            .map(|(m, _)| m)
            .take_while(|m| m.starts_with(&prefix))
            .cloned()
            .collect();
        for m in stale {
            self.evidence.remove(&m);
        }
    }

    /// The parsed rule list for `text`, parsed once per distinct text and shared.
    pub(super) fn rules_for(&mut self, text: &str) -> Result<Arc<Vec<Rule>>, crate::rules::RuleError> {
        if let Some(r) = self.rule_sets.get(text) {
            return Ok(r.clone());
        }
        let parsed = Arc::new(parse_rules(text)?);
        Arc::make_mut(&mut self.rule_sets).insert(text.to_string(), parsed.clone());
        Ok(parsed)
    }

    pub(super) fn release(&mut self, id: u64) {
        if let Some(m) = self.messages.get_mut(&id) {
            let m = Arc::make_mut(m);
            m.refs = m.refs.saturating_sub(1);
            if m.refs == 0 {
                self.messages.remove(&id);
            }
        }
    }

    pub(super) fn known_message(&self, id: u64, kind: &str) -> Result<(), ApplyError> {
        if self.messages.contains_key(&id) {
            Ok(())
        } else {
            Err(ApplyError(format!("{kind}: unknown message {id}")))
        }
    }

    /// Rebuild what serialisation leaves out (indexes, parsed rules, interest terms, member
    /// indices, centroids) after deserialising a world. `donor` is a world of the same session at
    /// the same step or later: its embedder and attribute space are shared rather than recomputed.
    /// Its space may know attributes this world has not met yet; that changes no result, because a
    /// similarity does not depend on when its phrases were interned and messages only carry
    /// attributes some client held before.
    pub fn rebuild_derived(&mut self, donor: &World) -> Result<(), ApplyError> {
        if donor.dim != self.dim {
            return Err(ApplyError(format!("snapshot of dimension {} restored with a world of dimension {}", self.dim, donor.dim)));
        }
        self.embedder = donor.embedder.clone();
        self.attr_vecs = donor.attr_vecs.clone();
        self.space = donor.space.clone();
        self.rule_sets = donor.rule_sets.clone();
        self.client_index = Arc::new(self.clients.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect());
        self.router_index = Arc::new(self.routers.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect());
        self.client_terms = Arc::new(Vec::with_capacity(self.clients.len()));
        for ix in 0..self.clients.len() {
            let text = self.clients[ix].rules_text.clone();
            let shared = self.rules_for(&text).map_err(|e| ApplyError(format!("snapshot {}: rules:{e}", self.clients[ix].id)))?;
            Arc::make_mut(&mut self.clients[ix]).rules = shared;
            self.refresh_interest(ix);
        }
        for ix in 0..self.routers.len() {
            self.refresh_member_ix(ix);
            self.refresh_centroid(ix);
        }
        Ok(())
    }

    /// Apply events in order; the first failure names its step.
    pub fn apply_all<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> Result<(), ApplyError> {
        for ev in events {
            self.apply(ev).map_err(|e| ApplyError(format!("step {}: {}", ev.step, e.0)))?;
        }
        Ok(())
    }
}

/// Insert into a sorted list, once.
fn insert_sorted(list: &mut Vec<u32>, x: u32) {
    if let Err(pos) = list.binary_search(&x) {
        list.insert(pos, x);
    }
}
