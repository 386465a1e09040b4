//! The RecNet forward phase as a sans-IO state machine. `poll` returns events (already applied to
//! the engine's world) or a batch of reasoning requests; `answer` hands the answers back. No
//! terminal, no network, no clock: the same inputs give the same events.
//!
//! Layer: engine. Owns the forward and backward phases, its protocol with reasoners (`protocol`: the
//! requests, answers and the `Reasoner` trait), its configuration (`config`), world setup from a
//! `WorldSpec`, and the counterfactual rewards (`reward`). May import `world`, `rules` and `util`.

pub mod config;
pub mod protocol;
pub mod reward;

use crate::engine::config::{Config, OverflowPolicy};
use crate::world::embed::{cosine, Embedder};
use crate::world::event::{AttrChange, AttrDelta, ClientKind, Decision, Event, EventBody, Recipient};
use crate::reasoner::offline::Offline;
use crate::engine::protocol::{FilterItem, FilterVerdict, ReasonAnswer, ReasonRequest, Reasoner};
use crate::rules::Polarity;
use crate::util::{clip, r4, Rng};
use crate::world::{profile_text, World};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// One real interaction of the schedule: `user` chose `item` (over `negative`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    pub user: String,
    pub item: String,
    pub negative: Option<String>,
}

/// A client as a scenario or dataset describes it before the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    pub id: String,
    pub kind: ClientKind,
    pub title: Option<String>,
    pub attrs: BTreeMap<String, f64>,
    pub rules: Option<String>,
}

/// Everything needed to start a run.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    pub name: String,
    pub clients: Vec<ClientSpec>,
    pub schedule: Vec<Scheduled>,
}

pub enum Poll {
    Events(Vec<Event>),
    Reason(Vec<ReasonRequest>),
    Done,
}

#[derive(Debug, Clone)]
enum Task {
    Interact(usize),
    Receive { agent: String, reason: &'static str },
    Reflect(usize),
    Route,
    Integrate,
    Deliver { message: u64, agent: String, relevance: f64, drained: bool },
    Rewards(usize),
    Backward,
    Optimise,
}

/// Events are handed out in batches of about this many (and at every reasoning request).
const BATCH_EVENTS: usize = 512;

pub struct Engine {
    cfg: Config,
    world: World,
    schedule: Arc<Vec<Scheduled>>,
    rounds: u32,
    tasks: VecDeque<Task>,
    awaiting: Option<(Task, Vec<ReasonRequest>)>,
    out: Vec<Event>,
    tick_changes: Vec<(String, Vec<AttrDelta>)>,
    /// Clients that read their buffer this tick (candidates for retiring unused rules).
    tick_activated: BTreeSet<String>,
    /// Reward events of the interaction being credited, in request order.
    pending_credit: Vec<crate::engine::protocol::CreditItem>,
    /// Evidence (message ids) behind each rule edit being optimised, by agent.
    optimise_evidence: BTreeMap<String, (String, Vec<u64>)>,
    /// Retire edits waiting for the gradient answers of the same step.
    optimise_queue: Vec<(crate::world::event::Edit, String, Vec<u64>)>,
    /// The first round has been opened (its `round_started` is out).
    round_open: bool,
    fallback: Offline,
}

impl Engine {
    /// A fresh run: the setup events (world, agents, routers) are the first events `poll` returns.
    pub fn new(spec: &WorldSpec, cfg: Config, seed: u64, rounds: u32) -> Engine {
        let setup = setup_events(spec, &cfg, seed);
        let mut e = Engine::resume(World::new(), Arc::new(spec.schedule.clone()), cfg, rounds);
        for body in setup {
            e.emit(body);
        }
        e
    }

    /// Continue from a world at a time-step boundary (used by forks).
    pub fn resume(world: World, schedule: Arc<Vec<Scheduled>>, cfg: Config, rounds: u32) -> Engine {
        Engine {
            cfg,
            world,
            schedule,
            rounds,
            tasks: VecDeque::new(),
            awaiting: None,
            out: Vec::new(),
            tick_changes: Vec::new(),
            tick_activated: BTreeSet::new(),
            pending_credit: Vec::new(),
            optimise_evidence: BTreeMap::new(),
            optimise_queue: Vec::new(),
            round_open: false,
            fallback: Offline::new(),
        }
    }

    pub fn world(&self) -> &World {
        &self.world
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn schedule(&self) -> &Arc<Vec<Scheduled>> {
        &self.schedule
    }

    fn emit(&mut self, body: EventBody) {
        let ev = Event { step: self.world.steps, round: self.world.cursor.round, tick: self.world.cursor.tick, body };
        let ev = match &ev.body {
            // The new position is part of the event that starts it.
            EventBody::RoundStarted { index } => Event { round: *index, ..ev },
            EventBody::TickStarted { index, .. } => Event { tick: *index, ..ev },
            _ => ev,
        };
        if let Err(e) = self.world.apply(&ev) {
            // The engine only emits what its own world accepts; anything else is a bug here.
            panic!("engine produced an event its world refuses: {e} ({ev:?})");
        }
        self.out.push(ev);
    }

    /// Record an outside change (an analyst's edit, a model exchange) as the next event.
    pub fn inject(&mut self, body: EventBody) {
        self.emit(body);
    }

    /// Hand out the events recorded so far without advancing (e.g. exchanges injected while a
    /// request is pending).
    pub fn poll_recorded(&mut self) -> Poll {
        Poll::Events(std::mem::take(&mut self.out))
    }

    /// Advance until there are events to hand out, reasoning is needed, or the run is over.
    pub fn poll(&mut self) -> Poll {
        loop {
            if let Some((_, reqs)) = &self.awaiting {
                if !self.out.is_empty() {
                    return Poll::Events(std::mem::take(&mut self.out));
                }
                return Poll::Reason(reqs.clone());
            }
            if self.out.len() >= BATCH_EVENTS || self.out.last().is_some_and(|e| matches!(e.body, EventBody::RoundStarted { .. })) {
                return Poll::Events(std::mem::take(&mut self.out));
            }
            let Some(task) = self.tasks.pop_front() else {
                if !self.out.is_empty() {
                    return Poll::Events(std::mem::take(&mut self.out));
                }
                if self.plan_tick() {
                    continue;
                }
                return Poll::Done;
            };
            self.run(task);
        }
    }

    /// Answers for the requests of the last `Poll::Reason`, in the same order. Missing or
    /// mismatched answers are replaced by the offline reasoner's.
    pub fn answer(&mut self, answers: Vec<ReasonAnswer>) {
        let Some((task, reqs)) = self.awaiting.take() else { return };
        let answers: Vec<ReasonAnswer> = reqs
            .iter()
            .enumerate()
            .map(|(i, req)| match answers.get(i) {
                Some(a) if a.stage() == req.stage() => a.clone(),
                _ => self.fallback.answer_one(req),
            })
            .collect();
        self.resume_task(task, &reqs, answers);
    }

    /// Run to the end with one reasoner, collecting every event (tests, small runs).
    pub fn run_to_end(&mut self, reasoner: &mut dyn Reasoner) -> Vec<Event> {
        let mut all = Vec::new();
        loop {
            match self.poll() {
                Poll::Events(evs) => all.extend(evs),
                Poll::Reason(reqs) => {
                    let a = reasoner.answer(&reqs);
                    for body in reasoner.take_exchanges() {
                        self.inject(body);
                    }
                    self.answer(a);
                }
                Poll::Done => return all,
            }
        }
    }

    fn plan_tick(&mut self) -> bool {
        let len = self.schedule.len();
        if len == 0 || self.rounds == 0 {
            return false;
        }
        let c = self.world.cursor.clone();
        let first = !c.started;
        if first && !self.round_open {
            self.emit(EventBody::RoundStarted { index: 0 });
            // A round boundary is a batch boundary: the driver sees the state between rounds.
            self.round_open = true;
            return true;
        } else if c.next_index >= len {
            if c.round + 1 >= self.rounds {
                return false;
            }
            self.emit(EventBody::RoundStarted { index: c.round + 1 });
            return true;
        }
        self.round_open = true;
        let start = self.world.cursor.next_index;
        let end = (start + self.cfg.time.batch_size).min(len);
        let tick = if first { 0 } else { c.tick + 1 };
        self.emit(EventBody::TickStarted { index: tick, interactions: end - start });
        for k in start..end {
            self.tasks.push_back(Task::Interact(k));
        }
        self.tasks.push_back(Task::Route);
        self.tasks.push_back(Task::Integrate);
        true
    }

    fn run(&mut self, task: Task) {
        match task {
            Task::Interact(k) => {
                let s = self.schedule[k].clone();
                self.emit(EventBody::Interaction {
                    user: s.user.clone(),
                    item: s.item.clone(),
                    negative: s.negative.clone(),
                    index: k,
                });
                self.tasks.push_front(Task::Reflect(k));
                self.tasks.push_front(Task::Receive { agent: s.item, reason: "interacted" });
                self.tasks.push_front(Task::Receive { agent: s.user, reason: "interacted" });
                self.tasks.push_front(Task::Rewards(k));
            }
            Task::Receive { ref agent, reason } => {
                let Some(c) = self.world.client(agent) else { return };
                if c.buffer.is_empty() {
                    return;
                }
                let buffered = c.buffer.len();
                let agent = agent.clone();
                self.tick_activated.insert(agent.clone());
                self.emit(EventBody::Activated { agent: agent.clone(), reason: reason.into(), buffered });
                let req = self.filter_request(&agent);
                if self.cfg.filter.enabled {
                    self.awaiting = Some((task, vec![req]));
                } else {
                    let ReasonRequest::Filter { messages, .. } = &req else { unreachable!() };
                    let verdicts: Vec<FilterVerdict> = messages
                        .iter()
                        .map(|m| FilterVerdict {
                            message: m.message,
                            rule: None,
                            decision: Decision::Accept,
                            weight: 1.0,
                            reason: "filter off: everything is assimilated".into(),
                        })
                        .collect();
                    self.apply_verdicts(&agent, messages, verdicts);
                }
            }
            Task::Reflect(k) => {
                let s = &self.schedule[k];
                let attrs = |id: &str| self.world.client(id).map(|c| c.attrs.clone()).unwrap_or_default();
                let req = ReasonRequest::Reflect {
                    user: s.user.clone(),
                    user_attrs: attrs(&s.user),
                    item: s.item.clone(),
                    item_attrs: attrs(&s.item),
                    negative: s.negative.clone(),
                    negative_attrs: s.negative.as_deref().map(attrs).unwrap_or_default(),
                    user_rate: self.cfg.reflection.user_rate,
                    item_rate: self.cfg.reflection.item_rate,
                    margin: self.cfg.reflection.margin,
                };
                self.awaiting = Some((task, vec![req]));
            }
            Task::Route => self.route(),
            Task::Integrate => {
                let reqs: Vec<ReasonRequest> = self
                    .world
                    .routers
                    .iter()
                    .filter(|r| !r.inbox.is_empty())
                    .map(|r| ReasonRequest::Integrate {
                        router: r.id.clone(),
                        profile: r.profile.clone(),
                        inbox: r.inbox.iter().map(|x| AttrDelta { attr: x.attr.clone(), delta: x.delta }).collect(),
                        decay: self.cfg.routers.profile_decay,
                        max_attributes: self.cfg.routers.message_attributes,
                    })
                    .collect();
                if !reqs.is_empty() {
                    self.awaiting = Some((task, reqs));
                } else {
                    self.tasks.push_back(Task::Backward);
                }
            }
            Task::Rewards(k) => self.rewards(k),
            Task::Backward => self.backward(),
            // Optimise only ever waits for answers (see `request_optimise`).
            Task::Optimise => {}
            Task::Deliver { message, agent, relevance, drained } => self.deliver(message, agent, relevance, drained),
        }
    }

    fn resume_task(&mut self, task: Task, reqs: &[ReasonRequest], answers: Vec<ReasonAnswer>) {
        match task {
            Task::Receive { agent, .. } => {
                if let (Some(ReasonRequest::Filter { messages, .. }), Some(ReasonAnswer::Filter { verdicts })) =
                    (reqs.first(), answers.into_iter().next())
                {
                    self.apply_verdicts(&agent, messages, verdicts);
                }
            }
            Task::Reflect(k) => {
                if let Some(ReasonAnswer::Reflect { user, item, reason }) = answers.into_iter().next() {
                    let s = self.schedule[k].clone();
                    self.reflect(&s.user, &user, &reason);
                    self.reflect(&s.item, &item, &reason);
                }
            }
            Task::Integrate => {
                for (req, ans) in reqs.iter().zip(answers) {
                    if let (ReasonRequest::Integrate { router, .. }, ReasonAnswer::Integrate { profile, message, summary }) =
                        (req, ans)
                    {
                        self.integrate(router, profile, message, summary);
                    }
                }
                self.tasks.push_back(Task::Backward);
            }
            Task::Rewards(_) => {
                let items = std::mem::take(&mut self.pending_credit);
                if let Some(ReasonAnswer::Credit { items: answers }) = answers.into_iter().next() {
                    for (it, ans) in items.iter().zip(answers) {
                        self.credit(it, ans);
                    }
                }
            }
            Task::Backward => {
                let mut rule_edits = Vec::new();
                // Rules and routers each get their own budget of edits per step.
                let mut router_edits_left = self.cfg.backward.max_edits_per_step;
                for (req, ans) in reqs.iter().zip(answers) {
                    let (ReasonRequest::Gradient { module, evidence, .. }, ReasonAnswer::Gradient { direction, edit }) =
                        (req, ans)
                    else {
                        continue;
                    };
                    self.emit(EventBody::Gradient {
                        module: module.clone(),
                        direction: direction.clone(),
                        edit: edit.clone(),
                        evidence: evidence.clone(),
                    });
                    let ids: Vec<u64> = evidence.iter().map(|e| e.message).collect();
                    match edit {
                        crate::world::event::Edit::Router { router, fan_out_delta, tau_delta } => {
                            if router_edits_left > 0 && self.edit_router(&router, fan_out_delta, tau_delta, &direction, ids) {
                                router_edits_left -= 1;
                            }
                        }
                        crate::world::event::Edit::NoChange => {}
                        rule_edit => rule_edits.push((rule_edit, direction, ids)),
                    }
                }
                self.request_optimise(rule_edits);
            }
            Task::Optimise => {
                for (req, ans) in reqs.iter().zip(answers) {
                    let (ReasonRequest::Optimise { agent, edit, .. }, ReasonAnswer::Optimise { rules, rule, before, after, reason }) =
                        (req, ans)
                    else {
                        continue;
                    };
                    let Some(rules) = rules else { continue };
                    if crate::rules::parse_rules(&rules).is_err() {
                        continue;
                    }
                    let (direction, evidence) = self.optimise_evidence.remove(agent).unwrap_or_default();
                    let _ = edit;
                    let reason = crate::util::text::sanitize(&format!("{direction}; {reason}"), 400);
                    self.emit(EventBody::RuleEdited { agent: agent.clone(), rule, before, after, rules, reason, evidence });
                }
            }
            _ => {}
        }
    }

    fn filter_request(&self, agent: &str) -> ReasonRequest {
        let c = self.world.client(agent).expect("activated agent exists");
        let tick = self.world.cursor.tick;
        let messages = c
            .buffer
            .iter()
            .filter_map(|b| {
                let m = self.world.messages.get(&b.message)?;
                let router_credit = self.world.router(&m.router).map(|r| r.credit).unwrap_or(0.0);
                Some(FilterItem {
                    message: m.id,
                    router: m.router.clone(),
                    router_credit,
                    source: m.sources.first().cloned().unwrap_or_default(),
                    source_kind: m.source_kind.name().into(),
                    content: m.content.clone(),
                    topic: m.topic.clone(),
                    polarity: m.polarity,
                    strength: m.strength(),
                    relevance: r4(self.world.relevance(c, &m.content)),
                    support: self.world.support(c, m),
                    age: tick.saturating_sub(b.arrived_tick),
                    text: m.text.clone(),
                    held_by: b.held.as_ref().map(|h| (h.rule, h.steps)),
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
    fn apply_verdicts(&mut self, agent: &str, messages: &[FilterItem], verdicts: Vec<FilterVerdict>) {
        for v in verdicts {
            let Some(item) = messages.iter().find(|m| m.message == v.message) else { continue };
            let c = self.world.client(agent).expect("agent exists");
            if !c.buffer.iter().any(|b| b.message == v.message) {
                continue;
            }
            let rule = v.rule.filter(|r| *r >= 1 && *r <= c.rules.len());
            let rule_text = rule.map(|r| crate::rules::print_rule(&c.rules[r - 1])).unwrap_or_default();
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
                let changes: Vec<AttrChange> = item
                    .content
                    .iter()
                    .filter_map(|d| {
                        let from = c.attrs.get(&d.attr).copied().unwrap_or(0.0);
                        let to = r4(clip(from + v.weight * d.delta));
                        (to != from).then(|| AttrChange { attr: d.attr.clone(), from, to })
                    })
                    .collect();
                self.emit(EventBody::Assimilated {
                    agent: agent.to_string(),
                    message: v.message,
                    weight: r4(v.weight),
                    changes,
                });
            }
        }
    }

    fn reflect(&mut self, agent: &str, new: &BTreeMap<String, f64>, reason: &str) {
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
        self.emit(EventBody::ProfileUpdated {
            agent: agent.to_string(),
            changes: changes.clone(),
            reason: reason.to_string(),
            text: profile_text(&after, 5),
        });
        self.update_memberships(agent);
        let eps = self.cfg.reflection.change_epsilon;
        let changed: Vec<AttrDelta> = changes
            .iter()
            .filter(|ch| (ch.to - ch.from).abs() > eps)
            .map(|ch| AttrDelta { attr: ch.attr.clone(), delta: r4(ch.to - ch.from) })
            .collect();
        if !changed.is_empty() {
            self.emit(EventBody::AttributesExtracted { agent: agent.to_string(), changed: changed.clone() });
            self.tick_changes.push((agent.to_string(), changed));
        }
    }

    fn update_memberships(&mut self, agent: &str) {
        let Some(c) = self.world.client(agent) else { return };
        let threshold = self.cfg.filter.like_threshold;
        let mut changes = Vec::new();
        for r in &self.world.routers {
            let belongs = r.attributes.iter().any(|a| c.attrs.get(a).is_some_and(|w| w.abs() >= threshold));
            if belongs != r.members.contains(agent) {
                changes.push((r.id.clone(), belongs));
            }
        }
        for (router, joined) in changes {
            self.emit(EventBody::MembershipChanged { router, agent: agent.to_string(), joined });
        }
    }

    fn route(&mut self) {
        let changes = std::mem::take(&mut self.tick_changes);
        if !self.cfg.routers.enabled || self.world.routers.is_empty() {
            return;
        }
        for (agent, deltas) in changes {
            for d in deltas {
                let v = self.world.attr_vec(&d.attr);
                let (best, sim) = self
                    .world
                    .routers
                    .iter()
                    .map(|r| {
                        // An attribute of the community itself goes to that router, whatever the
                        // embedding says.
                        let s = if r.attributes.contains(&d.attr) { 1.0 } else { cosine(&v, &r.centroid) };
                        (r.id.clone(), s)
                    })
                    .fold((String::new(), f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc });
                self.emit(EventBody::AttributeRouted {
                    agent: agent.clone(),
                    attr: d.attr,
                    delta: d.delta,
                    router: best,
                    similarity: r4(sim),
                });
            }
        }
    }

    fn integrate(&mut self, router: &str, profile: BTreeMap<String, f64>, content: Vec<AttrDelta>, summary: String) {
        let Some(r) = self.world.router(router) else { return };
        let inbox = r.inbox.len();
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
        let new_attributes: Vec<String> = r
            .inbox
            .iter()
            .map(|x| x.attr.clone())
            .filter(|a| !r.attributes.contains(a))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let source_kind = sources
            .first()
            .and_then(|s| self.world.client(s))
            .map(|c| c.kind)
            .unwrap_or(ClientKind::User);
        self.emit(EventBody::RouterIntegrated {
            router: router.to_string(),
            inbox,
            changes,
            new_attributes,
            summary,
        });
        let content: Vec<AttrDelta> = content
            .into_iter()
            .filter(|d| d.delta.is_finite() && d.delta != 0.0)
            .map(|d| AttrDelta { attr: d.attr, delta: r4(d.delta.clamp(-1.0, 1.0)) })
            .collect();
        let Some(top) = content.iter().max_by(|a, b| a.delta.abs().total_cmp(&b.delta.abs()).then(b.attr.cmp(&a.attr)))
        else {
            return;
        };
        let (topic, polarity) = (top.attr.clone(), Polarity::of(top.delta));
        let r = self.world.router(router).expect("router exists");
        let content_key = self.world.content_key(&content);
        let source_ix: Vec<usize> = sources.iter().filter_map(|s| self.world.client_ix(s)).collect();
        let tau = r.tau;
        // Rank by relevance, ties by creation order (the index): numbers only in the hot loop.
        let mut scored: Vec<(f64, usize)> = r
            .member_ix
            .iter()
            .filter(|ix| !source_ix.contains(ix))
            .map(|ix| (r4(self.world.relevance_to(&content_key, *ix)), *ix))
            .filter(|(rel, _)| *rel >= tau)
            .collect();
        let by_relevance = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > r.fan_out && r.fan_out > 0 {
            scored.select_nth_unstable_by(r.fan_out - 1, by_relevance);
        }
        scored.truncate(r.fan_out);
        scored.sort_by(by_relevance);
        let candidates: Vec<(String, f64)> =
            scored.into_iter().map(|(rel, ix)| (self.world.clients[ix].id.clone(), rel)).collect();
        if candidates.is_empty() {
            return;
        }
        let id = self.world.next_message_id();
        let moves: Vec<String> = content
            .iter()
            .map(|d| format!("{} {}{:.2}", d.attr, if d.delta >= 0.0 { "+" } else { "" }, d.delta))
            .collect();
        let text = format!("{router}: {} (from {})", moves.join(", "), sources.join(", "));
        let recipients: Vec<Recipient> =
            candidates.iter().map(|(a, rel)| Recipient { agent: a.clone(), relevance: *rel }).collect();
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
        });
        for rc in recipients {
            self.tasks.push_back(Task::Deliver { message: id, agent: rc.agent, relevance: rc.relevance, drained: false });
        }
    }

    /// Backward phase, at a client's real interaction: score every decision awaiting its outcome.
    fn rewards(&mut self, k: usize) {
        if !self.cfg.backward.enabled {
            return;
        }
        let s = self.schedule[k].clone();
        let attrs = |id: &str| self.world.client(id).map(|c| c.attrs.clone()).unwrap_or_default();
        let (user, item) = (attrs(&s.user), attrs(&s.item));
        let negative = s.negative.as_deref().map(attrs);
        let probe = self.cfg.backward.probe_weight;
        let mut out = Vec::new();
        for (agent, is_user) in [(&s.user, true), (&s.item, false)] {
            let Some(c) = self.world.client(agent) else { continue };
            for p in &c.feedback {
                let (with, without) = if is_user {
                    crate::engine::reward::user_counterfactual(&c.attrs, &p.deltas, p.decision, probe, &item, negative.as_ref())
                } else {
                    crate::engine::reward::item_counterfactual(&user, &c.attrs, &p.deltas, p.decision, probe)
                };
                let rule_text = p
                    .rule
                    .and_then(|r| c.rules.get(r - 1))
                    .map(crate::rules::print_rule)
                    .unwrap_or_default();
                out.push((
                    EventBody::Reward {
                        agent: agent.clone(),
                        message: p.message,
                        router: p.router.clone(),
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
                        router: p.router.clone(),
                        rule: p.rule,
                        rule_text,
                        decision: p.decision,
                        relevance: p.relevance,
                        reward: r4(with - without),
                    },
                ));
            }
        }
        let mut items = Vec::new();
        for (ev, item) in out {
            self.emit(ev);
            // A message that changed nothing teaches nothing: no credit to spread.
            if item.reward != 0.0 {
                items.push(item);
            }
        }
        if !items.is_empty() {
            self.pending_credit = items.clone();
            let req = ReasonRequest::Credit { items, router_share: self.cfg.backward.router_share };
            self.awaiting = Some((Task::Rewards(k), vec![req]));
        }
    }

    fn credit(&mut self, it: &crate::engine::protocol::CreditItem, ans: crate::engine::protocol::CreditAnswer) {
        // Only modules on this message's path may be credited, whatever a model proposes.
        let rule_module = it.rule.map(|r| crate::world::rule_module(&it.agent, r));
        let rules_len = self.world.client(&it.agent).map(|c| c.rules.len()).unwrap_or(0);
        let shares: Vec<crate::world::event::CreditShare> = ans
            .shares
            .into_iter()
            .filter(|s| s.amount.is_finite())
            .filter(|s| {
                s.module == it.router
                    || (Some(&s.module) == rule_module.as_ref() && it.rule.is_some_and(|r| r <= rules_len))
            })
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
    fn backward(&mut self) {
        let activated = std::mem::take(&mut self.tick_activated);
        if !self.cfg.backward.enabled {
            return;
        }
        let b = self.cfg.backward.clone();
        let mut reqs = Vec::new();
        for (module, evidence) in &self.world.evidence {
            if evidence.len() < b.min_evidence {
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
            reqs.push(ReasonRequest::Gradient {
                module: module.clone(),
                description,
                evidence: evidence.to_vec(),
                threshold: b.threshold,
                step: b.step,
            });
        }
        // Retiring needs no reasoning: a rule that never matched in `retire_after_ticks`.
        let tick = self.world.cursor.tick;
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
            self.awaiting = Some((Task::Backward, reqs));
        } else {
            self.request_optimise(rule_edits);
        }
    }

    fn request_optimise(&mut self, mut edits: Vec<(crate::world::event::Edit, String, Vec<u64>)>) {
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
            self.awaiting = Some((Task::Optimise, reqs));
        }
    }

    fn edit_router(&mut self, router: &str, fan_out_delta: i64, tau_delta: f64, reason: &str, evidence: Vec<u64>) -> bool {
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

    fn deliver(&mut self, message: u64, agent: String, relevance: f64, drained: bool) {
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
                    self.emit(EventBody::BufferOverflow {
                        agent: agent.clone(),
                        message: oldest,
                        policy: "drop_oldest".into(),
                    });
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

/// The events that create a world: vocabulary, agents, and routers from seeded k-means++.
pub fn setup_events(spec: &WorldSpec, cfg: &Config, seed: u64) -> Vec<EventBody> {
    let mut freq: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &spec.clients {
        for a in c.attrs.keys() {
            *freq.entry(a.as_str()).or_insert(0) += 1;
        }
    }
    let vocabulary: Vec<String> = freq.keys().map(|s| s.to_string()).collect();
    let mut out = vec![EventBody::WorldCreated { dim: cfg.embedding.dim, vocabulary: vocabulary.clone() }];
    for c in &spec.clients {
        out.push(EventBody::AgentCreated {
            agent: c.id.clone(),
            agent_kind: c.kind,
            title: c.title.clone(),
            attrs: c.attrs.iter().map(|(a, w)| (a.clone(), r4(clip(*w)))).collect(),
            rules: c.rules.clone().unwrap_or_else(|| cfg.filter.default_rules.clone()),
        });
    }
    if vocabulary.is_empty() {
        return out;
    }
    let embedder = Embedder::new(cfg.embedding.dim, &vocabulary);
    // An attribute is placed by what it says (its text embedding) and by the company it keeps (the
    // summed profiles of the clients that like it): phrases that share no words but share
    // listeners land in one community.
    let dim = cfg.embedding.dim;
    let text_vecs: BTreeMap<&str, Vec<f32>> = vocabulary.iter().map(|w| (w.as_str(), embedder.embed(w))).collect();
    let mut holders: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
    for c in &spec.clients {
        let mut profile = vec![0.0f32; dim];
        for (a, w) in &c.attrs {
            let w = w.max(0.0) as f32;
            profile.iter_mut().zip(&text_vecs[a.as_str()]).for_each(|(p, x)| *p += w * x);
        }
        for (a, w) in &c.attrs {
            let w = w.max(0.0) as f32;
            let v = holders.entry(a.as_str()).or_insert_with(|| vec![0.0; dim]);
            v.iter_mut().zip(&profile).for_each(|(x, p)| *x += w * p);
        }
    }
    let alpha = cfg.routers.cooccurrence_weight as f32;
    let points: Vec<Vec<f32>> = vocabulary
        .iter()
        .map(|w| {
            let mut text = text_vecs[w.as_str()].clone();
            let mut co = holders.remove(w.as_str()).unwrap_or_else(|| vec![0.0; dim]);
            crate::world::embed::normalize(&mut co);
            text.iter_mut().zip(&co).for_each(|(t, c)| *t = (1.0 - alpha) * *t + alpha * c);
            crate::world::embed::normalize(&mut text);
            text
        })
        .collect();
    let weights: Vec<f64> = vocabulary.iter().map(|w| freq[w.as_str()] as f64).collect();
    let assignment = kmeans_pp(&points, &weights, cfg.routers.count, cfg.routers.kmeans_iterations, seed);
    let k = assignment.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut clusters: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, c) in assignment.iter().enumerate() {
        clusters[*c].push(i);
    }
    clusters.retain(|c| !c.is_empty());
    // Biggest community first, so R1 is the one most clients belong to.
    clusters.sort_by(|a, b| {
        let wa: f64 = a.iter().map(|i| weights[*i]).sum();
        let wb: f64 = b.iter().map(|i| weights[*i]).sum();
        wb.total_cmp(&wa).then(a[0].cmp(&b[0]))
    });
    for (n, cluster) in clusters.iter().enumerate() {
        let attributes: Vec<String> = cluster.iter().map(|i| vocabulary[*i].clone()).collect();
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let mut members = Vec::new();
        for c in &spec.clients {
            let mut member = false;
            for a in &attributes {
                if let Some(w) = c.attrs.get(a) {
                    let e = sums.entry(a.clone()).or_insert((0.0, 0));
                    e.0 += w;
                    e.1 += 1;
                    member |= w.abs() >= cfg.filter.like_threshold;
                }
            }
            if member {
                members.push(c.id.clone());
            }
        }
        let profile: BTreeMap<String, f64> =
            sums.into_iter().map(|(a, (s, n))| (a, r4(clip(s / n as f64)))).filter(|(_, w)| *w != 0.0).collect();
        let id = format!("R{}", n + 1);
        let summary = format!("{id}: community {} ({} members)", profile_text(&profile, 4), members.len());
        out.push(EventBody::RouterCreated {
            router: id,
            attributes,
            profile,
            members,
            fan_out: cfg.routers.fan_out,
            tau: cfg.routers.tau,
            summary,
        });
    }
    out
}

/// Spherical k-means with k-means++ seeding over unit vectors; returns each point's cluster.
pub fn kmeans_pp(points: &[Vec<f32>], weights: &[f64], k: usize, iterations: usize, seed: u64) -> Vec<usize> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    let k = k.min(n).max(1);
    let mut rng = Rng::new(seed);
    let dist = |a: &[f32], b: &[f32]| (1.0 - cosine(a, b)).max(0.0);
    let pick = |rng: &mut Rng, w: &[f64]| -> usize {
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return rng.below(w.len());
        }
        let mut x = rng.next_f64() * total;
        for (i, wi) in w.iter().enumerate() {
            x -= wi;
            if x < 0.0 {
                return i;
            }
        }
        w.len() - 1
    };
    let mut centers: Vec<Vec<f32>> = vec![points[pick(&mut rng, weights)].clone()];
    while centers.len() < k {
        let d2: Vec<f64> = points
            .iter()
            .zip(weights)
            .map(|(p, w)| {
                let d = centers.iter().map(|c| dist(p, c)).fold(f64::INFINITY, f64::min);
                d * d * w
            })
            .collect();
        if d2.iter().sum::<f64>() <= 0.0 {
            break;
        }
        centers.push(points[pick(&mut rng, &d2)].clone());
    }
    let mut assignment = vec![0usize; n];
    for _ in 0..iterations.max(1) {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let best = centers
                .iter()
                .enumerate()
                .map(|(c, ctr)| (c, cosine(p, ctr)))
                .fold((0, f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc })
                .0;
            if best != assignment[i] {
                assignment[i] = best;
                changed = true;
            }
        }
        for (c, ctr) in centers.iter_mut().enumerate() {
            let mut sum = vec![0.0f32; ctr.len()];
            let mut any = false;
            for (i, p) in points.iter().enumerate() {
                if assignment[i] == c {
                    any = true;
                    sum.iter_mut().zip(p).for_each(|(s, x)| *s += x * weights[i] as f32);
                }
            }
            if any {
                crate::world::embed::normalize(&mut sum);
                *ctr = sum;
            }
        }
        if !changed {
            break;
        }
    }
    // Renumber clusters by first appearance so numbering does not depend on seeding order.
    let mut map: BTreeMap<usize, usize> = BTreeMap::new();
    for a in &mut assignment {
        let next = map.len();
        *a = *map.entry(*a).or_insert(next);
    }
    assignment
}
