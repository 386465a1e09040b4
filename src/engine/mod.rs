//! The RecNet forward phase as a sans-IO state machine. `poll` returns events (already applied to
//! the engine's world) or a batch of reasoning requests; `answer` hands the answers back. No
//! terminal, no network, no clock: the same inputs give the same events.
//!
//! Layer: engine. Owns the forward and backward phases, its protocol with reasoners (`protocol`: the
//! requests, answers and the `Reasoner` trait), its configuration (`config`), world setup from a
//! `WorldSpec`, the counterfactual rewards (`reward`), and the one loop that drives an engine
//! with a reasoner (`drive`, whose hooks are how callers differ). May import `world`, `rules` and
//! `util`; what answers when a reasoner answers out of shape is the driver's choice, not ours.

mod backward;
pub mod config;
mod digest;
mod drive;
mod evidence;
mod forward;
pub mod protocol;
pub mod reward;
mod select;
mod setup;
mod spec;

use drive::Collect;
pub use drive::{drive, DriveError, Flow, Hooks, Outcome};
pub use setup::{kmeans_pp, setup_events};
pub use spec::{ClientSpec, Scheduled, WorldSpec};

use crate::engine::config::Config;
use crate::engine::protocol::{check_answers, AnswerError, FilterVerdict, ReasonAnswer, ReasonRequest, Reasoner};
use crate::world::event::{AttrDelta, Decision, Event, EventBody};
use crate::world::World;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

pub enum Poll {
    Events(Vec<Event>),
    /// Shared with the engine, which keeps them until they are answered (a copy per poll cost
    /// a fiftieth of a large run).
    Reason(Arc<Vec<ReasonRequest>>),
    Done,
    /// The engine made an event its own world refused (a defect, not an input's fault): it stops
    /// there, after handing out every event before it, and says which event and why.
    Failed(String),
}

#[derive(Debug, Clone)]
enum Task {
    Interact(usize),
    /// The interaction itself, once the user and item have read what waited for them.
    Choose(usize),
    Receive {
        agent: String,
        reason: &'static str,
    },
    Reflect(usize),
    Route,
    Integrate,
    Deliver {
        message: u64,
        agent: String,
        relevance: f64,
        drained: bool,
    },
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
    awaiting: Option<(Task, Arc<Vec<ReasonRequest>>)>,
    out: Vec<Event>,
    tick_changes: Vec<(String, Vec<AttrDelta>)>,
    /// This step's real choices (user, item), routed as evidence.
    tick_choices: Vec<(String, String)>,
    /// Gate steps and rewards of the interaction in hand, computed before it was recorded.
    prepared: Option<backward::Prepared>,
    /// The users' buffers have been read for the final ranking.
    read_for_ranking: bool,
    /// Routers that integrated this step (each integrates once).
    tick_integrated: BTreeSet<String>,
    /// Item clients by index, for drawing extra negatives (filled on first use).
    item_pool: Vec<usize>,
    /// Per user: the mean number of scheduled interactions per user over this user's number
    /// (filled on first use), so that gates weigh users as evaluation does, not interactions.
    user_weight: std::collections::HashMap<String, f64>,
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
    /// Setup events not yet applied (`new_unless`): `poll` hands them out first, a batch at a time.
    setup: VecDeque<EventBody>,
    /// Score every member for every message (`set_full_scan`).
    full_scan: bool,
    /// Per router (by index), its members' terms laid out for bounding, made at its first message.
    member_terms: Vec<Option<crate::world::MemberTerms>>,
    /// Per router (by index), the receivers of its last message with content: likely receivers
    /// of its next, scored first to raise the bar of its bound scan.
    last_receivers: Vec<Vec<usize>>,
    /// The first event of its own that the world refused: nothing is emitted after it.
    fault: Option<String>,
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

    /// `new` for a driver that must stay responsive: `None` if `stop` says so while the world is
    /// computed, and the setup events are applied batch by batch as `poll` hands them out (the
    /// same events as `new`'s), so a million agents never wait in one batch.
    pub fn new_unless(spec: &WorldSpec, cfg: Config, seed: u64, rounds: u32, stop: &dyn Fn() -> bool) -> Option<Engine> {
        let setup = setup::setup_events_unless(spec, &cfg, seed, stop)?;
        Some(Engine::with_setup(setup, Arc::new(spec.schedule.clone()), cfg, rounds))
    }

    /// `new_unless` taking the spec: its schedule is moved, not copied, and its agents are
    /// dropped once their setup events exist (at 100k users, tens of MB not held twice for a run).
    pub fn from_spec_unless(spec: WorldSpec, cfg: Config, seed: u64, rounds: u32, stop: &dyn Fn() -> bool) -> Option<Engine> {
        let setup = setup::setup_events_unless(&spec, &cfg, seed, stop)?;
        Some(Engine::with_setup(setup, Arc::new(spec.schedule), cfg, rounds))
    }

    fn with_setup(setup: Vec<EventBody>, schedule: Arc<Vec<Scheduled>>, cfg: Config, rounds: u32) -> Engine {
        let mut e = Engine::resume(World::new(), schedule, cfg, rounds);
        e.setup = setup.into();
        e
    }

    /// Continue from a world at a time-step boundary (used by forks).
    pub fn resume(mut world: World, schedule: Arc<Vec<Scheduled>>, cfg: Config, rounds: u32) -> Engine {
        world.track_term_changes();
        Engine {
            cfg,
            world,
            schedule,
            rounds,
            tasks: VecDeque::new(),
            awaiting: None,
            out: Vec::new(),
            tick_changes: Vec::new(),
            tick_choices: Vec::new(),
            prepared: None,
            read_for_ranking: false,
            tick_integrated: BTreeSet::new(),
            item_pool: Vec::new(),
            user_weight: std::collections::HashMap::new(),
            tick_activated: BTreeSet::new(),
            pending_credit: Vec::new(),
            optimise_evidence: BTreeMap::new(),
            optimise_queue: Vec::new(),
            round_open: false,
            setup: VecDeque::new(),
            full_scan: false,
            member_terms: Vec::new(),
            last_receivers: Vec::new(),
            fault: None,
        }
    }

    /// Whether setup events (`new_unless`) are still to be handed out: the world is not whole yet.
    pub fn setting_up(&self) -> bool {
        !self.setup.is_empty()
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
        if self.fault.is_some() {
            return;
        }
        if let Err(e) = self.record(body) {
            // The engine only emits what its own world accepts; anything else is a defect here.
            // Stopping at it keeps every event before it; going on would build on a lie.
            self.fault = Some(format!("the engine stopped at its own event that its world refused: {}", e.0));
        }
    }

    /// Apply `body` as the next event and keep it to hand out, or refuse it with the world as
    /// it was (a refused event leaves no trace).
    fn record(&mut self, body: EventBody) -> Result<(), crate::world::ApplyError> {
        let ev = Event { step: self.world.steps(), round: self.world.cursor().round, tick: self.world.cursor().tick, body };
        let ev = match &ev.body {
            // The new position is part of the event that starts it.
            EventBody::RoundStarted { index } => Event { round: *index, ..ev },
            EventBody::TickStarted { index, .. } => Event { tick: *index, ..ev },
            _ => ev,
        };
        self.world.apply(&ev).map_err(|e| crate::world::ApplyError(format!("step {} ({}): {}", ev.step, ev.body.kind(), e.0)))?;
        self.out.push(ev);
        Ok(())
    }

    /// Record an outside change (an analyst's edit, a model exchange) as the next event, or
    /// refuse it, the engine unchanged.
    pub fn inject(&mut self, body: EventBody) -> Result<(), crate::world::ApplyError> {
        if let Some(fault) = &self.fault {
            return Err(crate::world::ApplyError(fault.clone()));
        }
        self.record(body)
    }

    /// Hand out the events recorded so far without advancing (e.g. exchanges injected while a
    /// request is pending).
    pub fn poll_recorded(&mut self) -> Poll {
        Poll::Events(std::mem::take(&mut self.out))
    }

    /// Advance until there are events to hand out, reasoning is needed, or the run is over.
    pub fn poll(&mut self) -> Poll {
        if let Some(failed) = self.failed() {
            return failed;
        }
        if !self.setup.is_empty() {
            while self.out.len() < BATCH_EVENTS {
                let Some(body) = self.setup.pop_front() else { break };
                self.emit(body);
            }
            if self.setup.is_empty() {
                // Its room (an event per agent made) would otherwise stay taken for the whole run.
                self.setup = VecDeque::new();
            }
            return Poll::Events(std::mem::take(&mut self.out));
        }
        loop {
            if let Some(failed) = self.failed() {
                return failed;
            }
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

    /// After a fault: the events before it first, then the fault itself, at every poll.
    fn failed(&mut self) -> Option<Poll> {
        let fault = self.fault.as_ref()?;
        Some(if self.out.is_empty() { Poll::Failed(fault.clone()) } else { Poll::Events(std::mem::take(&mut self.out)) })
    }

    /// Answers for the requests of the last `Poll::Reason`: one each, in the same order. Anything
    /// else is refused with the engine unchanged (the requests still wait); what answers them
    /// instead is the driver's choice.
    pub fn answer(&mut self, answers: Vec<ReasonAnswer>) -> Result<(), AnswerError> {
        let (_, reqs) = self.awaiting.as_ref().ok_or(AnswerError::NotAwaiting)?;
        check_answers(reqs, &answers)?;
        let (task, reqs) = self.awaiting.take().ok_or(AnswerError::NotAwaiting)?;
        self.resume_task(task, &reqs, answers);
        Ok(())
    }

    /// Run to the end with one reasoner, collecting every event (tests, small runs). Stops early,
    /// with the events so far, if the reasoner fails for good or answers out of shape.
    pub fn run_to_end(&mut self, reasoner: &mut dyn Reasoner) -> Vec<Event> {
        let mut collect = Collect(Vec::new());
        // The error is the reason it stopped; the events up to there are what the caller wants.
        let _ = drive(self, reasoner, &mut collect);
        collect.0
    }

    fn plan_tick(&mut self) -> bool {
        let len = self.schedule.len();
        if len == 0 || self.rounds == 0 {
            return false;
        }
        let c = self.world.cursor().clone();
        let first = !c.started;
        if first && !self.round_open {
            self.emit(EventBody::RoundStarted { index: 0 });
            // A round boundary is a batch boundary: the driver sees the state between rounds.
            self.round_open = true;
            return true;
        } else if c.next_index >= len {
            if c.round + 1 >= self.rounds {
                // Being ranked activates a user too: what waits in its buffer is read before the
                // run ends, so the state a ranking sees has heard everything sent to it.
                if self.cfg.buffer.read_when_ranked && !self.read_for_ranking {
                    self.read_for_ranking = true;
                    let waiting: Vec<String> = self
                        .world
                        .clients()
                        .iter()
                        .filter(|c| c.kind == crate::world::event::ClientKind::User && !c.buffer.is_empty())
                        .map(|c| c.id.clone())
                        .collect();
                    for agent in waiting {
                        self.tasks.push_back(Task::Receive { agent, reason: "ranked" });
                    }
                    return !self.tasks.is_empty();
                }
                return false;
            }
            self.emit(EventBody::RoundStarted { index: c.round + 1 });
            return true;
        }
        self.round_open = true;
        let start = self.world.cursor().next_index;
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
            Task::Interact(k) if self.cfg.buffer.enabled && self.cfg.buffer.read_before_choice => {
                // A user about to choose is ranked, and being ranked activates it (as at the end
                // of a run): the choice is judged on a state that has heard what was sent before it.
                let s = &self.schedule[k];
                let (user, item) = (s.user.clone(), s.item.clone());
                self.tasks.push_front(Task::Choose(k));
                self.tasks.push_front(Task::Receive { agent: item, reason: "about to be chosen" });
                self.tasks.push_front(Task::Receive { agent: user, reason: "about to choose" });
            }
            Task::Interact(k) | Task::Choose(k) => {
                let s = self.schedule[k].clone();
                // The outcome is judged on the state before the interaction is recorded: once
                // recorded, the chosen item is in the user's history and would raise its
                // similarity to everyone who chose it (and so the evidence for it).
                self.prepared = if self.cfg.backward.enabled { Some(self.prepare_outcome(k)) } else { None };
                self.emit(EventBody::Interaction { user: s.user.clone(), item: s.item.clone(), negative: s.negative.clone(), index: k });
                self.tick_choices.push((s.user.clone(), s.item.clone()));
                self.tasks.push_front(Task::Reflect(k));
                if !matches!(task, Task::Choose(_)) {
                    self.tasks.push_front(Task::Receive { agent: s.item, reason: "interacted" });
                    self.tasks.push_front(Task::Receive { agent: s.user, reason: "interacted" });
                }
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
                    self.awaiting = Some((task, Arc::new(vec![req])));
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
                self.awaiting = Some((task, Arc::new(vec![req])));
            }
            Task::Route => {
                self.route();
                self.route_choices();
            }
            Task::Integrate => {
                let reqs: Vec<ReasonRequest> = self
                    .world
                    .routers()
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
                    self.awaiting = Some((task, Arc::new(reqs)));
                } else {
                    self.integrate_choices_only();
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
                if let (Some(ReasonRequest::Filter { messages, .. }), Some(ReasonAnswer::Filter { verdicts })) = (reqs.first(), answers.into_iter().next()) {
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
                    if let (ReasonRequest::Integrate { router, .. }, ReasonAnswer::Integrate { profile, message, summary }) = (req, ans) {
                        self.integrate(router, profile, message, summary);
                    }
                }
                self.integrate_choices_only();
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
                    let (ReasonRequest::Gradient { module, evidence, .. }, ReasonAnswer::Gradient { direction, edit }) = (req, ans) else {
                        continue;
                    };
                    self.emit(EventBody::Gradient { module: module.clone(), direction: direction.clone(), edit: edit.clone(), evidence: evidence.clone() });
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
                    let (ReasonRequest::Optimise { agent, .. }, ReasonAnswer::Optimise { rules, rule, before, after, reason }) = (req, ans) else {
                        continue;
                    };
                    let Some(rules) = rules else { continue };
                    if crate::rules::parse_rules(&rules).is_err() {
                        continue;
                    }
                    let (direction, evidence) = self.optimise_evidence.remove(agent).unwrap_or_default();
                    let reason = crate::util::text::sanitize(&format!("{direction}; {reason}"), 400);
                    self.emit(EventBody::RuleEdited { agent: agent.clone(), rule, before, after, rules, reason, evidence });
                }
            }
            _ => {}
        }
    }
}
