//! Evidence and gates in the engine: real choices routed to the chosen item's community, the
//! receivers an update reaches by shared behaviour, what an accepted message leaves in a receiver's
//! evidence memory, the extra negatives rewards compare against, and each router's gate learned at
//! the receivers' real interactions.

use super::Engine;
use crate::util::{fnv1a, r4, FastMap};
use crate::world::embed::cosine;
use crate::world::event::{Choice, ClientKind, EventBody, EvidenceChange, GateChannel};
use crate::world::evidence::{KeyFilter, WeighedEntries};
use std::collections::HashMap;

/// How one gate moves: its step size, its decay toward 0, and its ceiling.
struct GateRule {
    rate: f64,
    decay: f64,
    max: f64,
}

/// One step of a gate along `grad`, less its decay, clamped; `None` when it does not move.
fn gate_step(channel: GateChannel, router: &str, user: &str, item: &str, from: f64, grad: f64, rule: GateRule) -> Option<EventBody> {
    let to = r4((from + rule.rate * (grad - rule.decay * from)).clamp(0.0, rule.max));
    (to != from).then(|| gate_moved(channel, [router, user, item], (from, to), grad, None))
}

/// The event of a gate step: which gate (router), whose interaction (user, item), the move.
fn gate_moved(channel: GateChannel, [router, user, item]: [&str; 3], (from, to): (f64, f64), grad: f64, precision: Option<f64>) -> EventBody {
    EventBody::GateUpdated { router: router.to_string(), agent: user.to_string(), item: item.to_string(), from, to, gradient: r4(grad), channel, precision }
}

/// What one interaction says about one gate: the gradient and the curvature of the log-likelihood
/// that the real choice beats each negative, as a function of the gate (means over the negatives).
/// `margins` are the choice's score minus each negative's; `slopes` how each margin moves with the
/// gate.
fn likelihood_at(margins: &[f64], slopes: &[f64]) -> (f64, f64) {
    let n = margins.len().max(1) as f64;
    let (mut grad, mut curvature) = (0.0, 0.0);
    for (m, b) in margins.iter().zip(slopes) {
        let lose = 1.0 / (1.0 + m.exp());
        grad += lose * b;
        curvature += lose * (1.0 - lose) * b * b;
    }
    (grad / n, curvature / n)
}

/// A gate's Bayesian step: a Gaussian posterior (mean `from`, precision `prior + held`) meets one
/// interaction's likelihood (weighed by `weight`); one Newton step gives the new mean, and the
/// curvature joins what the gate holds. `None` when the interaction says nothing about it.
#[allow(clippy::too_many_arguments)]
fn bayes_step(
    channel: GateChannel,
    router: &str,
    user: &str,
    item: &str,
    (from, held): (f64, f64),
    (grad, curvature): (f64, f64),
    prior: f64,
    weight: f64,
    max: f64,
) -> Option<EventBody> {
    if curvature <= 0.0 || weight <= 0.0 {
        return None;
    }
    let precision = held + weight * curvature;
    let to = r4((from + weight * grad / (prior + precision).max(f64::MIN_POSITIVE)).clamp(0.0, max));
    Some(gate_moved(channel, [router, user, item], (from, to), grad, Some(precision)))
}

impl Engine {
    /// Route this step's real choices: each goes to the router whose community best matches the
    /// chosen item's attributes.
    pub(super) fn route_choices(&mut self) {
        let choices = std::mem::take(&mut self.tick_choices);
        if !self.cfg.evidence.enabled || !self.cfg.routers.enabled || self.world.routers().is_empty() {
            return;
        }
        for (user, item) in choices {
            let Some(i) = self.world.client(&item) else { continue };
            let total: f64 = i.attrs.values().map(|w| w.abs()).sum();
            // Each attribute's embedding once, not once per router.
            let attrs: Vec<(&String, f64, Vec<f32>)> = i.attrs.iter().map(|(a, w)| (a, w.abs(), self.world.attr_vec(a))).collect();
            let mut best: Option<(String, f64)> = None;
            for r in self.world.routers() {
                let mut s = 0.0;
                for (a, w, v) in &attrs {
                    let sim = if r.attributes.contains(*a) { 1.0 } else { cosine(v, &r.centroid) };
                    s += w * sim;
                }
                let s = if total > 0.0 { s / total } else { 0.0 };
                if best.as_ref().is_none_or(|b| s > b.1) {
                    best = Some((r.id.clone(), s));
                }
            }
            if let Some((router, _)) = best {
                self.emit(EventBody::ChoiceRouted { user, item, router });
            }
        }
    }

    /// What a message of choices is about: the newest chosen item's strongest attribute (what
    /// topic rules can read).
    pub(super) fn topic_of(&self, choices: &[Choice]) -> Option<String> {
        let item = self.world.client(&choices.last()?.item)?;
        item.attrs.iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()).then(b.0.cmp(a.0))).map(|(a, _)| a.clone())
    }

    /// A user member of `router` other than `not`, drawn by a stable hash (the placebo's receiver).
    pub(super) fn random_member(&self, router: &str, not: &str) -> Option<String> {
        let r = self.world.router(router)?;
        let users: Vec<usize> =
            r.member_ix.iter().copied().filter(|ix| self.world.clients()[*ix].kind == ClientKind::User && self.world.clients()[*ix].id != not).collect();
        if users.is_empty() {
            return None;
        }
        let salt = self.world.next_message_id();
        Some(self.world.clients()[users[(fnv1a(format!("{salt}/{not}").as_bytes()) % users.len() as u64) as usize]].id.clone())
    }

    /// For every client sharing behaviour with any of `choosers`: the highest similarity.
    pub(super) fn behaviour_relevance(&self, choosers: &[usize]) -> crate::world::IxMap<f64> {
        let mut best: crate::world::IxMap<f64> = crate::world::IxMap::default();
        for c in choosers {
            for (f, s) in self.world.behaviour_neighbours(*c) {
                let e = best.entry(f).or_insert(0.0);
                if s > *e {
                    *e = s;
                }
            }
        }
        best
    }

    /// The users a message speaks for: the user sources of its attribute moves and its choosers.
    pub(super) fn choosers<'c>(&self, sources: &[String], evidence: impl IntoIterator<Item = &'c Choice>) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut seen: crate::util::FastSet<usize> = crate::util::FastSet::default();
        for id in sources.iter().chain(evidence.into_iter().map(|c| &c.user)) {
            if let Some(ix) = self.world.client_ix(id) {
                if self.world.clients()[ix].kind == ClientKind::User && seen.insert(ix) {
                    out.push(ix);
                }
            }
        }
        out
    }

    /// Relevance of a message to a receiver: behaviour (shared interactions with the clients it
    /// speaks for) mixed with how its attribute moves match the receiver's interests.
    pub(super) fn blend_relevance(&self, behaviour: f64, content: f64) -> f64 {
        let w = self.cfg.routers.behaviour_weight;
        r4(w * behaviour + (1.0 - w) * content)
    }

    /// An accepted message's choices, as the receiver's evidence: each trusted by the accept
    /// weight times the receiver's behaviour similarity to its chooser. Items the receiver already
    /// chose teach it nothing.
    pub(super) fn store_evidence(&mut self, agent: &str, message: u64, weight: f64) {
        let Some(m) = self.world.messages().get(&message) else { return };
        let Some(rx) = self.world.client_ix(agent) else { return };
        let receiver = &self.world.clients()[rx];
        if m.evidence.is_empty() || receiver.kind != ClientKind::User || weight.is_nan() || weight <= 0.0 {
            return;
        }
        // An accept weight is a share: whatever a reasoner answered, trust stays within [0, 1].
        let weight = weight.min(1.0);
        let mut entries: Vec<EvidenceChange> = Vec::new();
        let mut sims: FastMap<usize, f64> = FastMap::default();
        // The choices that could be new to the receiver, with the trust each would have.
        let mut fresh: Vec<(&Choice, f64)> = Vec::new();
        for ch in &m.evidence {
            let (Some(item_ix), Some(chooser_ix)) = (self.world.client_ix(&ch.item), self.world.client_ix(&ch.user)) else {
                continue;
            };
            if receiver.history.binary_search(&(item_ix as u32)).is_ok() || chooser_ix == rx {
                continue;
            }
            // A user chooser's similarity once per message (a digest names many of its choices).
            let sim = if self.world.clients()[chooser_ix].kind == ClientKind::Item {
                self.world.entry_similarity(rx, chooser_ix, &ch.item)
            } else {
                *sims.entry(chooser_ix).or_insert_with(|| self.world.entry_similarity(rx, chooser_ix, &ch.item))
            };
            if sim > 0.0 {
                fresh.push((ch, r4((weight * sim).min(1.0))));
            }
        }
        // What the memory already holds of them, found in one pass that hashes only the entries
        // that may be among them (a memory holds up to thousands).
        let held: FastMap<(&str, &str), f64> = if fresh.is_empty() {
            FastMap::default()
        } else {
            let wanted = KeyFilter::of(fresh.iter().map(|(ch, _)| (ch.item.as_str(), ch.user.as_str())));
            receiver.evidence.iter().filter(|e| wanted.may_hold_entry(e)).map(|e| ((e.item.as_str(), e.chooser.as_str()), e.weight)).collect()
        };
        let mut named: crate::util::FastSet<(&str, &str)> = crate::util::FastSet::default();
        for (ch, to) in fresh {
            // A choice heard again is not new evidence: it keeps the stronger of the two trusts.
            let from = held.get(&(ch.item.as_str(), ch.user.as_str())).copied().unwrap_or(0.0);
            if to <= from || !named.insert((ch.item.as_str(), ch.user.as_str())) {
                continue;
            }
            entries.push(EvidenceChange { item: ch.item.clone(), chooser: ch.user.clone(), from, to, trust: weight });
        }
        // The memory keeps what `evidence.memory` allows: a long message leaves its strongest.
        let cap = self.world.evidence_memory();
        if entries.len() > cap {
            entries.sort_by(|a, b| b.to.total_cmp(&a.to));
            entries.truncate(cap);
        }
        // Also when nothing was new: the receiver knew every choice, and the message has no outcome
        // left to score (`apply` settles it).
        let router = m.router.to_string();
        self.emit(EventBody::EvidenceStored { agent: agent.to_string(), message, router, entries });
    }

    /// The evidence a rejected message would have left, at `scale` (for its would-be reward).
    pub(super) fn would_be_evidence(&self, agent: &str, message: u64, scale: f64) -> Vec<(String, f64)> {
        let (Some(m), Some(rx)) = (self.world.messages().get(&message), self.world.client_ix(agent)) else {
            return Vec::new();
        };
        let mut out: Vec<(String, f64)> = Vec::new();
        for ch in &m.evidence {
            let Some(chooser) = self.world.client_ix(&ch.user) else { continue };
            let sim = self.world.entry_similarity(rx, chooser, &ch.item);
            if sim > 0.0 && !out.iter().any(|(i, _)| *i == ch.item) {
                out.push((ch.item.clone(), scale * sim));
            }
        }
        out
    }

    /// A user's gated evidence for one item and over all items, with the pool's size.
    /// `weighed` is the user's `weigh_entries`.
    pub(super) fn evidence_view(&self, user: &crate::world::Client, item: &str, weighed: &WeighedEntries) -> crate::engine::reward::EvidenceView {
        // Each entry's gate looked up once, for both sums.
        let (mut total, mut for_item) = (0.0, 0.0);
        for ((e, w), g) in user.evidence.iter().zip(&weighed.weights).zip(&weighed.gates) {
            let gated = w * g;
            total += gated;
            if e.item == item {
                for_item += gated;
            }
        }
        crate::engine::reward::EvidenceView { for_item, total, pool: self.item_pool.len() }
    }

    /// The negatives an interaction is judged against: its own, then `backward.negatives` more,
    /// drawn by a stable hash of the interaction (no state to carry, the same on every replay)
    /// from the items the user has not chosen.
    pub(super) fn negatives_for(&mut self, k: usize) -> Vec<String> {
        let s = &self.schedule[k];
        let mut out: Vec<String> = s.negative.iter().cloned().collect();
        if self.item_pool.is_empty() {
            self.item_pool = self.world.clients().iter().enumerate().filter(|(_, c)| c.kind == ClientKind::Item).map(|(ix, _)| ix).collect();
        }
        let Some(user) = self.world.client(&s.user) else { return out };
        let pool = &self.item_pool;
        let want = self.cfg.backward.negatives;
        let target = out.len() + want;
        for j in 0..want * 8 {
            if out.len() >= target || pool.is_empty() {
                break;
            }
            let h = fnv1a(format!("{}/{k}/{j}", s.user).as_bytes());
            let ix = pool[(h % pool.len() as u64) as usize];
            let id = &self.world.clients()[ix].id;
            if *id != s.item && !out.contains(id) && user.history.binary_search(&(ix as u32)).is_err() {
                out.push(id.clone());
            }
        }
        out
    }

    /// How much one of `user`'s interactions weighs in a gate step: 1, or with
    /// `backward.gates_per_user` the mean interactions per user over the user's own, so that a
    /// user with ten times the interactions does not decide the gates ten times over (evaluation
    /// averages over users).
    fn gate_weight(&self, user: &str) -> f64 {
        if !self.cfg.backward.gates_per_user {
            return 1.0;
        }
        self.user_weight.get(user).copied().unwrap_or(1.0)
    }

    /// Fill `user_weight` from the schedule (once).
    pub(super) fn weigh_users(&mut self) {
        if !self.cfg.backward.gates_per_user || !self.user_weight.is_empty() {
            return;
        }
        let mut counts: HashMap<&str, f64> = HashMap::new();
        for s in self.schedule.iter() {
            *counts.entry(s.user.as_str()).or_insert(0.0) += 1.0;
        }
        if counts.is_empty() {
            return;
        }
        let mean = self.schedule.len() as f64 / counts.len() as f64;
        self.user_weight = counts.into_iter().map(|(u, n)| (u.to_string(), mean / n)).collect();
    }

    /// Learn the gates of the routers whose evidence bears on this interaction: a step along the
    /// gradient of the log-likelihood that the real choice beats each negative (BPR on one
    /// parameter per router), from the state before the interaction is learned from.
    /// `weighed` is the user's `weigh_entries`.
    pub(super) fn learn_gates(&self, user: &str, item: &str, negatives: &[String], weighed: &WeighedEntries) -> Vec<EventBody> {
        let Some(u) = self.world.client(user) else { return Vec::new() };
        // The user's evidence summed per item once, for every score below.
        let gated = self.world.gated_evidence(u, weighed);
        // For both channels.
        let margins = self.margins(u, item, negatives, &gated);
        let mut out = self.learn_update_gates(user, item, negatives, &margins);
        out.extend(self.learn_evidence_gates(user, item, negatives, weighed, &margins));
        out
    }

    /// The real choice's score minus each (known) negative's, with the user's gated evidence.
    fn margins(&self, u: &crate::world::Client, item: &str, negatives: &[String], gated: &FastMap<&str, f64>) -> Vec<f64> {
        let Some(pos) = self.world.client(item) else { return Vec::new() };
        let s_pos = self.world.rank_score_with(u, pos, gated);
        negatives.iter().filter_map(|n| self.world.client(n)).map(|n| s_pos - self.world.rank_score_with(u, n, gated)).collect()
    }

    /// Update gates: the same step for what each router's accepted updates added to the user's
    /// and the items' profiles (on either side of the comparison).
    fn learn_update_gates(&self, user: &str, item: &str, negatives: &[String], margins: &[f64]) -> Vec<EventBody> {
        let b = &self.cfg.backward;
        if !b.learn_update_gate || negatives.is_empty() {
            return Vec::new();
        }
        let (Some(u), Some(pos)) = (self.world.client(user), self.world.client(item)) else { return Vec::new() };
        let negs: Vec<&crate::world::Client> = negatives.iter().filter_map(|n| self.world.client(n)).collect();
        let mut routers: Vec<&str> = u.heard.keys().chain(pos.heard.keys()).chain(negs.iter().flat_map(|n| n.heard.keys())).map(|r| r.as_str()).collect();
        routers.sort_unstable();
        routers.dedup();
        if routers.is_empty() || negs.is_empty() {
            return Vec::new();
        }
        let mut updates = Vec::new();
        for router in routers {
            let at_pos = self.world.update_gate_slope(u, pos, router);
            let slopes: Vec<f64> = negs.iter().map(|n| at_pos - self.world.update_gate_slope(u, n, router)).collect();
            let (grad, curvature) = likelihood_at(margins, &slopes);
            let gate = self.world.update_gate(router);
            if b.gate_rule == crate::engine::config::GateRule::Bayes {
                let held = self.world.router(router).map_or(0.0, |r| r.update_gate_precision);
                updates.extend(bayes_step(
                    GateChannel::Updates,
                    router,
                    user,
                    item,
                    (gate, held),
                    (grad, curvature),
                    b.update_gate_prior,
                    self.gate_weight(user),
                    1.0,
                ));
                continue;
            }
            if grad == 0.0 {
                continue;
            }
            let rule = GateRule { rate: b.update_gate_rate * self.gate_weight(user), decay: b.update_gate_decay, max: 1.0 };
            updates.extend(gate_step(GateChannel::Updates, router, user, item, gate, grad, rule));
        }
        updates
    }

    fn learn_evidence_gates(&self, user: &str, item: &str, negatives: &[String], weighed: &WeighedEntries, margins: &[f64]) -> Vec<EventBody> {
        let e = &self.cfg.evidence;
        if !e.enabled || !e.learn_gate || negatives.is_empty() {
            return Vec::new();
        }
        let (Some(u), Some(_)) = (self.world.client(user), self.world.client(item)) else { return Vec::new() };
        if u.evidence.is_empty() {
            return Vec::new();
        }
        let negs: Vec<&crate::world::Client> = negatives.iter().filter_map(|n| self.world.client(n)).collect();
        // Each entry's gate: its router's, on the channel of its kind (choices or co-choices).
        let channels: Vec<(&str, GateChannel)> = u
            .evidence
            .iter()
            .zip(&weighed.co_choice)
            .map(|(e, co)| (e.router.as_str(), if *co { GateChannel::CoChoice } else { GateChannel::Evidence }))
            .collect();
        // The distinct gates, sorted; entries come in runs of one router, so a run's first
        // entry is the only one to look for among those already found.
        let mut routers: Vec<(&str, GateChannel)> = Vec::new();
        for (k, c) in channels.iter().enumerate() {
            if (k == 0 || channels[k - 1] != *c) && !routers.contains(c) {
                routers.push(*c);
            }
        }
        routers.sort_unstable_by(|a, b| a.0.cmp(b.0).then((a.1 == GateChannel::CoChoice).cmp(&(b.1 == GateChannel::CoChoice))));
        // The items the user could still choose: the pool without its history.
        let pool = self.item_pool.len().saturating_sub(u.history.len()).max(1) as f64;
        // Each gate's entry weights summed, in total and for each candidate (the real choice, then
        // the negatives), in one pass in entry order: the sums a filter per gate and candidate gave.
        let candidates: Vec<&str> = std::iter::once(item).chain(negs.iter().map(|n| n.id.as_str())).collect();
        let zero: f64 = std::iter::empty::<f64>().sum();
        let (mut totals, mut sums) = (vec![zero; routers.len()], vec![zero; routers.len() * candidates.len()]);
        // A candidate's first place among them (as `position` finds it), by one hash per entry.
        let mut candidate_slot: FastMap<&str, usize> = FastMap::default();
        for (t, x) in candidates.iter().enumerate() {
            candidate_slot.entry(x).or_insert(t);
        }
        let mut run: Option<((&str, GateChannel), usize)> = None;
        for ((e, w), c) in u.evidence.iter().zip(&weighed.weights).zip(&channels) {
            let g = match run {
                Some((seen, g)) if seen == *c => g,
                _ => {
                    let Some(g) = routers.iter().position(|r| r == c) else { continue };
                    run = Some((*c, g));
                    g
                }
            };
            totals[g] += w;
            if let Some(&t) = candidate_slot.get(e.item.as_str()) {
                sums[g * candidates.len() + t] += w;
            }
        }
        let slot = |gate: (&str, GateChannel)| routers.iter().position(|r| *r == gate).unwrap_or(0);
        let from_router = |gate: (&str, GateChannel), item: &str| -> f64 {
            candidates.iter().position(|x| *x == item).map_or(zero, |t| sums[slot(gate) * candidates.len() + t])
        };
        let router_total = |gate: (&str, GateChannel)| -> f64 { totals[slot(gate)] };
        // How likely the real choice loses to a negative, on average over the sampled ones.
        let bayes = self.cfg.backward.gate_rule == crate::engine::config::GateRule::Bayes;
        let miss = if bayes { 0.0 } else { margins.iter().map(|m| 1.0 / (1.0 + m.exp())).sum::<f64>() / negs.len().max(1) as f64 };
        let mut updates = Vec::new();
        for &(router, channel) in &routers {
            let gate = (router, channel);
            let (now, held) = self.world.router(router).map_or((0.0, 0.0), |r| match channel {
                GateChannel::CoChoice => (r.co_choice_gate, r.co_choice_gate_precision),
                _ => (r.gate, r.gate_precision),
            });
            if bayes {
                // The sampled negatives themselves: the likelihood the gate is a parameter of.
                let at_pos = from_router(gate, item);
                let slopes: Vec<f64> = negs.iter().map(|n| at_pos - from_router(gate, &n.id)).collect();
                let step = likelihood_at(margins, &slopes);
                updates.extend(bayes_step(channel, router, user, item, (now, held), step, e.gate_prior, self.gate_weight(user), e.gate_max));
                continue;
            }
            // The router's evidence for the real choice against its expectation for a uniformly
            // drawn negative (it names few of the pool's items).
            let grad = miss * (from_router(gate, item) - router_total(gate) / pool);
            if grad == 0.0 {
                continue;
            }
            // The decay is a prior that evidence is worth nothing until shown otherwise: without
            // it, noise alone would push a gate up from its floor at 0.
            let rule = GateRule { rate: e.gate_rate * self.gate_weight(user), decay: e.gate_decay, max: e.gate_max };
            updates.extend(gate_step(channel, router, user, item, now, grad, rule));
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Config;
    use crate::engine::spec::{ClientSpec, Scheduled, WorldSpec};
    use crate::rules::Polarity;
    use crate::world::event::{AssimilatedInto, AttrChange, AttrDelta, Decision, Recipient};

    fn client(id: &str, kind: ClientKind, attr: &str) -> ClientSpec {
        ClientSpec { id: id.into(), kind, title: None, attrs: [(attr.to_string(), 0.8)].into(), rules: None }
    }

    /// u1 likes Jazz and has accepted an update that added Metal 0.4 to its profile.
    fn engine_with_a_heard_update() -> (Engine, String) {
        let spec = WorldSpec {
            name: "gates".into(),
            clients: vec![
                client("u1", ClientKind::User, "Jazz"),
                client("u2", ClientKind::User, "Metal"),
                client("j1", ClientKind::Item, "Jazz"),
                client("m1", ClientKind::Item, "Metal"),
                client("m2", ClientKind::Item, "Metal"),
            ],
            schedule: vec![Scheduled { user: "u1".into(), item: "j1".into(), negative: None }],
        };
        let cfg = Config::from_layers(&[], &["routers.count=1".into(), "backward.update_gate_init=0.5".into()]).unwrap();
        let mut e = Engine::new(&spec, cfg, 1, 1);
        let router = e.world().routers()[0].id.clone();
        e.inject(EventBody::MessageSent {
            message: 1,
            router: router.clone(),
            sources: vec!["u2".into()],
            source_kind: ClientKind::User,
            content: vec![AttrDelta { attr: "Metal".into(), delta: 0.5 }],
            topic: "Metal".into(),
            polarity: Polarity::Up,
            text: String::new(),
            recipients: vec![Recipient { agent: "u1".into(), relevance: 0.5 }],
            evidence: vec![],
        })
        .unwrap();
        e.inject(EventBody::MessageBuffered { agent: "u1".into(), message: 1, relevance: 0.5 }).unwrap();
        e.inject(EventBody::FilterDecision {
            agent: "u1".into(),
            message: 1,
            router: router.clone(),
            rule: Some(1),
            rule_text: String::new(),
            decision: Decision::Accept,
            weight: 0.8,
            relevance: 0.5,
            support: 0,
            age: 0,
            reason: String::new(),
        })
        .unwrap();
        e.inject(EventBody::Assimilated {
            agent: "u1".into(),
            message: 1,
            weight: 0.8,
            changes: vec![AttrChange { attr: "Metal".into(), from: 0.0, to: 0.4 }],
            into: AssimilatedInto::Updates,
        })
        .unwrap();
        (e, router)
    }

    /// The margins a user without evidence has (these tests are about update layers).
    fn ungated_margins(e: &Engine, user: &str, item: &str, negatives: &[String]) -> Vec<f64> {
        e.margins(e.world.client(user).expect("a known user"), item, negatives, &FastMap::default())
    }

    fn update_step(e: &Engine, item: &str, negatives: &[&str]) -> (f64, f64, f64) {
        let negatives: Vec<String> = negatives.iter().map(|n| n.to_string()).collect();
        let steps = e.learn_update_gates("u1", item, &negatives, &ungated_margins(e, "u1", item, &negatives));
        match steps.as_slice() {
            [EventBody::GateUpdated { from, to, gradient, channel: GateChannel::Updates, .. }] => (*from, *to, *gradient),
            other => panic!("one update-gate step expected, got {other:?}"),
        }
    }

    #[test]
    fn an_update_that_misled_the_real_choice_closes_its_routers_update_gate() {
        let (e, _) = engine_with_a_heard_update();
        // u1 chose Jazz over Metal: the Metal it heard worked against the choice.
        let (from, to, gradient) = update_step(&e, "j1", &["m1", "m2"]);
        assert!(gradient < 0.0 && to < from, "{from} → {to} ({gradient})");
    }

    #[test]
    fn an_update_that_foretold_the_real_choice_opens_it() {
        let (e, router) = engine_with_a_heard_update();
        let (from, to, gradient) = update_step(&e, "m1", &["j1"]);
        assert!(gradient > 0.0 && to > from, "{from} → {to} ({gradient})");
        assert_eq!(from, e.world().update_gate(&router));
    }

    #[test]
    fn per_user_weighting_makes_every_user_count_the_same() {
        let (mut e, _) = engine_with_a_heard_update();
        assert_eq!(e.gate_weight("u1"), 1.0, "off by default: every interaction counts the same");
        e.cfg.backward.gates_per_user = true;
        e.cfg.backward.gate_rule = crate::engine::config::GateRule::Sgd;
        e.schedule = std::sync::Arc::new(
            [("u1", "j1"), ("u1", "m1"), ("u1", "m2"), ("u2", "m1")]
                .iter()
                .map(|(u, i)| Scheduled { user: u.to_string(), item: i.to_string(), negative: None })
                .collect(),
        );
        e.weigh_users();
        // Two interactions per user on average: u1's three weigh 2/3 each, u2's one weighs 2.
        assert!((e.gate_weight("u1") - 2.0 / 3.0).abs() < 1e-12 && (e.gate_weight("u2") - 2.0).abs() < 1e-12);
        let (from, to, gradient) = update_step(&e, "j1", &["m1", "m2"]);
        assert!((to - from - (2.0 / 3.0) * gradient).abs() < 1e-3, "the step shrinks with the weight: {from} → {to} ({gradient})");
    }

    #[test]
    fn nothing_is_learned_when_switched_off_or_when_no_update_was_heard() {
        let (mut e, _) = engine_with_a_heard_update();
        assert!(e.learn_update_gates("u2", "m1", &["j1".into()], &ungated_margins(&e, "u2", "m1", &["j1".into()])).is_empty(), "u2 heard nothing");
        e.cfg.backward.learn_update_gate = false;
        assert!(e.learn_update_gates("u1", "j1", &["m1".into()], &ungated_margins(&e, "u1", "j1", &["m1".into()])).is_empty());
    }

    #[test]
    fn a_bayesian_gate_moves_by_its_gradient_over_what_it_has_learned() {
        let (mut e, router) = engine_with_a_heard_update();
        assert_eq!(e.cfg.backward.gate_rule, crate::engine::config::GateRule::Bayes, "the default rule");
        // A prior firm enough that no step reaches the gate's bounds (clamping would hide the sizes).
        let prior = 5.0;
        e.cfg.backward.update_gate_prior = prior;
        let mut moves = Vec::new();
        let mut held = 0.0;
        for _ in 0..4 {
            let steps = e.learn_update_gates("u1", "m1", &["j1".into()], &ungated_margins(&e, "u1", "m1", &["j1".into()]));
            let [EventBody::GateUpdated { from, to, gradient, precision: Some(p), channel: GateChannel::Updates, .. }] = steps.as_slice() else {
                panic!("one Bayesian update-gate step expected, got {steps:?}")
            };
            // The curvature this interaction added, and the Newton step it allows.
            let curvature = p - held;
            assert!(curvature > 0.0 && *gradient > 0.0, "m1 was foretold: {steps:?}");
            let expected = (from + gradient / (prior + p)).clamp(0.0, 1.0);
            assert!((to - expected).abs() < 1e-4, "{from} → {to}, expected {expected}");
            moves.push(to - from);
            held = *p;
            e.inject(steps[0].clone()).unwrap();
            assert_eq!(e.world().router(&router).unwrap().update_gate_precision, *p, "the world holds the precision");
        }
        // Each interaction moves the gate less than the one before: the prior counts once and
        // what the gate has learned accumulates.
        assert!(moves.windows(2).all(|w| w[1] < w[0]), "steps shrink: {moves:?}");
    }

    #[test]
    fn an_interaction_the_channel_does_not_touch_teaches_its_gate_nothing() {
        let (e, _) = engine_with_a_heard_update();
        // Zero slopes (the channel added nothing to either side): no gradient, no curvature.
        assert_eq!(likelihood_at(&[0.3, -0.2], &[0.0, 0.0]), (0.0, 0.0));
        assert!(bayes_step(GateChannel::Evidence, "R", "u", "i", (0.5, 1.0), (0.0, 0.0), 1.0, 1.0, 2.0).is_none());
        assert!(e.learn_update_gates("u2", "m1", &["j1".into()], &ungated_margins(&e, "u2", "m1", &["j1".into()])).is_empty(), "u2 heard nothing");
    }
}
