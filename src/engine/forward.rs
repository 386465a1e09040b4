//! The forward phase's steps: filter requests and verdicts, reflection, routing, router
//! integration and delivery into buffers. Each emits events through `Engine::emit`.

use super::{Engine, Task};
use crate::engine::config::{DigestScope, ItemUpdates, OverflowPolicy};
use crate::engine::protocol::{FilterItem, FilterVerdict, ReasonRequest};
use crate::rules::Polarity;
use crate::util::{clip, r4};
use crate::world::embed::cosine;
use crate::world::event::{AssimilatedInto, AttrChange, AttrDelta, Choice, ClientKind, Decision, EventBody, Recipient};
use crate::world::profile_text;
use std::collections::{BTreeMap, BTreeSet};

impl Engine {
    pub(super) fn filter_request(&self, agent: &str) -> ReasonRequest {
        let c = self.world.client(agent).expect("activated agent exists");
        let tick = self.world.cursor().tick;
        let receiver = self.world.client_ix(agent);
        let messages = c
            .buffer
            .iter()
            .filter_map(|b| {
                let m = self.world.messages().get(&b.message)?;
                let behaviour = receiver
                    .map(|rx| {
                        let users = self.choosers(&m.sources, &m.evidence).into_iter().map(|ch| self.world.behaviour_similarity(rx, ch));
                        // Co-choices: how closely what they name is tied to the item the receiver chose.
                        let co_choices = m
                            .evidence
                            .iter()
                            .filter(|c| self.is_item(&c.user))
                            .filter_map(|c| Some(self.world.entry_similarity(rx, self.world.client_ix(&c.user)?, &c.item)));
                        users.chain(co_choices).fold(0.0, f64::max)
                    })
                    .unwrap_or(0.0);
                let router_credit = self.world.router(&m.router).map(|r| r.credit).unwrap_or(0.0);
                Some(FilterItem {
                    message: m.id,
                    router: m.router.to_string(),
                    router_credit,
                    source: m.sources.first().cloned().unwrap_or_default(),
                    source_kind: m.source_kind.name().into(),
                    content: m.content.to_vec(),
                    topic: m.topic.clone(),
                    polarity: m.polarity,
                    strength: m.strength(),
                    relevance: if m.content.is_empty() { r4(behaviour) } else { self.blend_relevance(behaviour, self.world.relevance(c, &m.content)) },
                    support: self.world.support(c, m),
                    age: tick.saturating_sub(b.arrived_tick),
                    evidence: m.evidence.len(),
                    text: m.text.clone(),
                    held_by: b.held.as_ref().map(|h| (h.rule, h.steps)),
                    held_for: b.held.as_ref().map_or(0, |h| tick.saturating_sub(h.since_tick)),
                })
            })
            .collect();
        ReasonRequest::Filter {
            agent: agent.to_string(),
            attrs: c.attrs.clone(),
            rules: c.rules_text.clone(),
            like_threshold: self.cfg.filter.like_threshold,
            messages,
        }
    }

    /// Record the verdicts on the buffered messages `messages` (as the request described them).
    pub(super) fn apply_verdicts(&mut self, agent: &str, messages: &[FilterItem], verdicts: Vec<FilterVerdict>) {
        for v in verdicts {
            let Some(item) = messages.iter().find(|m| m.message == v.message) else { continue };
            let c = self.world.client(agent).expect("agent exists");
            if !c.buffer.iter().any(|b| b.message == v.message) {
                continue;
            }
            let rule = v.rule.filter(|r| *r >= 1 && *r <= c.rules.len());
            let rule_text = rule.map(|r| crate::rules::print_rule(&c.rules[r - 1])).unwrap_or_default();
            // Without a buffer a message is read once, on arrival: there is nowhere to hold it
            // for later, so a hold lets it go (as a reject, credited as one).
            let v = if v.decision == Decision::Hold && !self.cfg.buffer.enabled {
                FilterVerdict { decision: Decision::Reject, reason: format!("{} (buffer off: nothing is held)", v.reason), ..v }
            } else {
                v
            };
            self.emit(EventBody::FilterDecision {
                agent: agent.to_string(),
                message: v.message,
                router: item.router.clone(),
                rule,
                rule_text,
                decision: v.decision,
                weight: r4(v.weight),
                relevance: item.relevance,
                support: item.support,
                age: item.age,
                reason: v.reason,
            });
            if v.decision == Decision::Accept {
                let c = self.world.client(agent).expect("agent exists");
                let into = self.cfg.filter.assimilate_into;
                let layer = match into {
                    AssimilatedInto::Profile => Some(&c.attrs),
                    AssimilatedInto::Updates => c.heard.get(&item.router),
                };
                let changes: Vec<AttrChange> = item
                    .content
                    .iter()
                    .filter_map(|d| {
                        let from = layer.and_then(|l| l.get(&d.attr)).copied().unwrap_or(0.0);
                        let to = r4(clip(from + v.weight * d.delta));
                        (to != from).then(|| AttrChange { attr: d.attr.clone(), from, to })
                    })
                    .collect();
                self.emit(EventBody::Assimilated { agent: agent.to_string(), message: v.message, weight: r4(v.weight), changes, into });
                self.store_evidence(agent, v.message, r4(v.weight));
            }
        }
    }

    pub(super) fn reflect(&mut self, agent: &str, new: &BTreeMap<String, f64>, reason: &str) {
        let Some(c) = self.world.client(agent) else { return };
        let changes: Vec<AttrChange> = new
            .iter()
            .filter_map(|(a, to)| {
                let from = c.attrs.get(a).copied().unwrap_or(0.0);
                let to = r4(clip(*to));
                (to != from).then(|| AttrChange { attr: a.clone(), from, to })
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        let mut after = c.attrs.clone();
        for ch in &changes {
            after.insert(ch.attr.clone(), ch.to);
        }
        self.emit(EventBody::ProfileUpdated { agent: agent.to_string(), changes: changes.clone(), reason: reason.to_string(), text: profile_text(&after, 5) });
        self.update_memberships(agent);
        let eps = self.cfg.reflection.change_epsilon;
        let changed: Vec<AttrDelta> =
            changes.iter().filter(|ch| (ch.to - ch.from).abs() > eps).map(|ch| AttrDelta { attr: ch.attr.clone(), delta: r4(ch.to - ch.from) }).collect();
        if !changed.is_empty() {
            self.emit(EventBody::AttributesExtracted { agent: agent.to_string(), changed: changed.clone() });
            self.tick_changes.push((agent.to_string(), changed));
        }
    }

    pub(super) fn update_memberships(&mut self, agent: &str) {
        let Some(cix) = self.world.client_ix(agent) else { return };
        let c = &self.world.clients()[cix];
        let threshold = self.cfg.filter.like_threshold;
        let mut changes = Vec::new();
        // The client's own few routers (kept in step with each router's members by the same
        // events), by index: a search of each router's thousands of members was a thirtieth of a run.
        let member_of: Vec<usize> = c.routers.iter().filter_map(|r| self.world.router_ix(r)).collect();
        for (rix, r) in self.world.routers().iter().enumerate() {
            let belongs = r.attributes.iter().any(|a| c.attrs.get(a).is_some_and(|w| w.abs() >= threshold));
            let is_member = member_of.contains(&rix);
            debug_assert_eq!(is_member, r.member_ix.binary_search(&cix).is_ok(), "{}'s routers out of step with {}'s members", c.id, r.id);
            if belongs != is_member {
                changes.push((r.id.clone(), belongs));
            }
        }
        for (router, joined) in changes {
            self.emit(EventBody::MembershipChanged { router, agent: agent.to_string(), joined });
        }
    }

    pub(super) fn route(&mut self) {
        let changes = std::mem::take(&mut self.tick_changes);
        if !self.cfg.routers.enabled || self.world.routers().is_empty() {
            return;
        }
        for (agent, deltas) in changes {
            for d in deltas {
                let v = self.world.attr_vec(&d.attr);
                let (best, sim, community) = self
                    .world
                    .routers()
                    .iter()
                    .map(|r| {
                        // An attribute of the community itself goes to that router, whatever the
                        // embedding says.
                        let own = r.attributes.contains(&d.attr);
                        let s = if own { 1.0 } else { cosine(&v, &r.centroid) };
                        (r.id.clone(), s, own)
                    })
                    .fold((String::new(), f64::NEG_INFINITY, false), |acc, x| if x.1 > acc.1 { x } else { acc });
                self.emit(EventBody::AttributeRouted { agent: agent.clone(), attr: d.attr, delta: d.delta, router: best, similarity: r4(sim), community });
            }
        }
    }

    /// Routers that received real choices but no attribute moves this step still pass the choices
    /// on: their profile stays as it is.
    pub(super) fn integrate_choices_only(&mut self) {
        let idle: Vec<(String, BTreeMap<String, f64>, String)> = self
            .world
            .routers()
            .iter()
            .filter(|r| !self.tick_integrated.contains(&r.id) && r.choices.last().is_some_and(|c| c.tick == self.world.cursor().tick))
            .map(|r| (r.id.clone(), r.profile.clone(), r.summary.clone()))
            .collect();
        for (router, profile, summary) in idle {
            self.integrate(&router, profile, Vec::new(), summary);
        }
        self.tick_integrated.clear();
    }

    pub(super) fn integrate(&mut self, router: &str, profile: BTreeMap<String, f64>, content: Vec<AttrDelta>, summary: String) {
        let Some(r) = self.world.router(router) else { return };
        self.tick_integrated.insert(router.to_string());
        let inbox = r.inbox.len();
        // Captured before `router_integrated` empties the router's inbox and trims its window:
        // the whole window only where it is read (resent, or a window's digests), else this
        // step's choices, all that is read of it then (cloning the window was a tenth of a run).
        let now = self.world.cursor().tick;
        let e = &self.cfg.evidence;
        let whole_window = e.resend_window || (e.digest && e.digest_scope == DigestScope::Window);
        let evidence: Vec<Choice> = match (self.cfg.evidence.enabled, whole_window) {
            (false, _) => Vec::new(),
            (true, true) => r.choices.clone(),
            (true, false) => r.choices.iter().filter(|c| c.tick == now).cloned().collect(),
        };
        let fresh = self.cfg.evidence.enabled && r.choices.last().is_some_and(|c| c.tick == now);
        let mut sources: Vec<String> = Vec::new();
        for x in &r.inbox {
            if !sources.contains(&x.agent) {
                sources.push(x.agent.clone());
            }
        }
        let mut changes: Vec<AttrChange> = profile
            .iter()
            .filter_map(|(a, to)| {
                let from = r.profile.get(a).copied().unwrap_or(0.0);
                let to = r4(clip(*to));
                (to != from).then(|| AttrChange { attr: a.clone(), from, to })
            })
            .collect();
        for (a, from) in &r.profile {
            if !profile.contains_key(a) {
                changes.push(AttrChange { attr: a.clone(), from: *from, to: 0.0 });
            }
        }
        let new_attributes: Vec<String> =
            r.inbox.iter().map(|x| x.attr.clone()).filter(|a| !r.attributes.contains(a)).collect::<BTreeSet<_>>().into_iter().collect();
        let first_chooser = if self.cfg.evidence.enabled { r.choices.first() } else { None };
        let source_kind = sources.first().or(first_chooser.map(|c| &c.user)).and_then(|s| self.world.client(s)).map(|c| c.kind).unwrap_or(ClientKind::User);
        self.emit(EventBody::RouterIntegrated {
            router: router.to_string(),
            inbox,
            changes,
            new_attributes,
            summary,
            keep_choices: if self.cfg.evidence.enabled { self.cfg.evidence.window } else { 0 },
        });
        let content: Vec<AttrDelta> = content
            .into_iter()
            .filter(|d| d.delta.is_finite() && d.delta != 0.0)
            .map(|d| AttrDelta { attr: d.attr, delta: r4(d.delta.clamp(-1.0, 1.0)) })
            .collect();
        let top = content.iter().max_by(|a, b| a.delta.abs().total_cmp(&b.delta.abs()).then(b.attr.cmp(&a.attr)));
        if let Some(top) = top {
            let (topic, polarity) = (top.attr.clone(), Polarity::of(top.delta));
            self.send(router, sources.clone(), source_kind, content.clone(), topic, polarity, Vec::new());
        }
        // The community's choices go in a message of their own, to the members who share behaviour
        // with the choosers, when there is a fresh one.
        if fresh {
            if let Some(topic) = self.topic_of(&evidence) {
                // Without the window, the news carries this step's choices alone (members who come
                // to share behaviour later catch up through their digests).
                let news: Vec<Choice> =
                    if !self.cfg.evidence.resend_window { evidence.iter().filter(|c| c.tick == now).cloned().collect() } else { evidence.clone() };
                self.send(router, Vec::new(), ClientKind::User, Vec::new(), topic, Polarity::Up, news);
            }
            if self.cfg.evidence.digest {
                self.send_digests(router, &evidence);
            }
        }
    }

    /// Send one message to its most relevant members (or, as the placebo control, to random ones).
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        router: &str,
        sources: Vec<String>,
        source_kind: ClientKind,
        content: Vec<AttrDelta>,
        topic: String,
        polarity: Polarity,
        evidence: Vec<Choice>,
    ) {
        let Some(rix) = self.world.router_ix(router) else { return };
        let pruned = !self.full_scan && !self.cfg.routers.placebo && !content.is_empty();
        if pruned {
            self.sync_member_terms(rix);
        }
        let r = &*self.world.routers()[rix];
        let content_key = self.world.content_key(&content);
        let choosers = self.choosers(&sources, &evidence);
        // Receivers are found by who chose this step: the rest of the window is passed on to them
        // too, for whom it concerns.
        let tick = self.world.cursor().tick;
        let behaviour = self.behaviour_relevance(&self.choosers(&sources, evidence.iter().filter(|c| c.tick == tick)));
        let mut excluded: Vec<usize> = sources.iter().filter_map(|s| self.world.client_ix(s)).collect();
        excluded.extend(&choosers);
        let items = self.cfg.routers.items;
        let has_content = !content.is_empty();
        // An item may receive only what would turn it (see `ItemUpdates`), and never choices;
        // users always may.
        let eligible = |ix: usize| -> bool {
            let c = &self.world.clients()[ix];
            match (c.kind, items) {
                (ClientKind::User, _) => true,
                (ClientKind::Item, _) if !has_content => false,
                (ClientKind::Item, ItemUpdates::All) => true,
                (ClientKind::Item, ItemUpdates::None) => false,
                (ClientKind::Item, ItemUpdates::Direction) => c.attrs.get(&topic).is_none_or(|w| (*w > 0.0) != (polarity == Polarity::Up)),
            }
        };
        // Rank by relevance, ties by creation order (the index): numbers only in the hot loop.
        let keep = |ix: usize| !excluded.contains(&ix) && eligible(ix);
        let rank = |ix: usize| -> f64 {
            let b = behaviour.get(&ix).copied().unwrap_or(0.0);
            if has_content {
                self.blend_relevance(b, self.world.relevance_to(&content_key, ix))
            } else {
                r4(b)
            }
        };
        let mut scored: Vec<(f64, usize)> = if self.cfg.routers.placebo {
            // The control: as many receivers as relevance would have chosen, drawn at random.
            self.placebo_members(r, self.world.next_message_id(), keep, rank)
        } else {
            let table = self.member_terms.get(rix).and_then(Option::as_ref).filter(|_| pruned);
            let seeds = self.last_receivers.get(rix).filter(|_| pruned).map_or(&[][..], Vec::as_slice);
            self.top_members(r, &behaviour, has_content.then_some(&content_key), table, seeds, keep, rank)
        };
        scored.truncate(r.fan_out);
        if pruned {
            if self.last_receivers.len() <= rix {
                self.last_receivers.resize(rix + 1, Vec::new());
            }
            self.last_receivers[rix] = scored.iter().map(|(_, ix)| *ix).collect();
        }
        let candidates: Vec<(String, f64)> = scored.into_iter().map(|(rel, ix)| (self.world.clients()[ix].id.clone(), rel)).collect();
        if candidates.is_empty() {
            return;
        }
        let id = self.world.next_message_id();
        let moves: Vec<String> = content
            .iter()
            .map(|d| format!("{} {}{:.2}", d.attr, if d.delta >= 0.0 { "+" } else { "" }, d.delta))
            .chain(evidence.iter().map(|c| format!("{} chose {}", c.user, c.item)))
            .collect();
        let text = if evidence.is_empty() {
            format!("{router}: {} (from {})", moves.join(", "), sources.join(", "))
        } else {
            format!("{router}: {}", moves.join(", "))
        };
        let recipients: Vec<Recipient> = candidates.iter().map(|(a, rel)| Recipient { agent: a.clone(), relevance: *rel }).collect();
        self.emit(EventBody::MessageSent {
            message: id,
            router: router.to_string(),
            sources,
            source_kind,
            content,
            topic,
            polarity,
            text,
            recipients: recipients.clone(),
            evidence,
        });
        for rc in recipients {
            self.tasks.push_back(Task::Deliver { message: id, agent: rc.agent, relevance: rc.relevance, drained: false });
        }
    }

    pub(super) fn deliver(&mut self, message: u64, agent: String, relevance: f64, drained: bool) {
        let Some(c) = self.world.client(&agent) else { return };
        if !self.cfg.buffer.enabled {
            self.emit(EventBody::MessageBuffered { agent: agent.clone(), message, relevance });
            self.tasks.push_front(Task::Receive { agent, reason: "buffer off: read at once" });
            return;
        }
        if c.buffer.len() >= self.cfg.buffer.capacity {
            let policy = if drained { OverflowPolicy::DropOldest } else { self.cfg.buffer.overflow };
            match policy {
                OverflowPolicy::Drain => {
                    self.tasks.push_front(Task::Deliver { message, agent: agent.clone(), relevance, drained: true });
                    self.tasks.push_front(Task::Receive { agent, reason: "buffer full" });
                    return;
                }
                OverflowPolicy::DropOldest => {
                    let oldest = c.buffer[0].message;
                    self.emit(EventBody::BufferOverflow { agent: agent.clone(), message: oldest, policy: "drop_oldest".into() });
                }
                OverflowPolicy::DropNew => {
                    // The message never enters the buffer; the event records its loss.
                    self.emit(EventBody::BufferOverflow { agent, message, policy: "drop_new".into() });
                    return;
                }
            }
        }
        self.emit(EventBody::MessageBuffered { agent, message, relevance });
    }
}
