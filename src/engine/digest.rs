//! Digests: each user who chose this step hears, in a message of its own, what its nearest
//! neighbours by shared behaviour chose and it has not (from the router's window, or from the
//! neighbours' histories).

use super::config::DigestScope;
use super::Engine;
use crate::util::r4;
use crate::world::event::{Choice, ClientKind, EventBody};

impl Engine {
    /// Each user who chose this step hears, in a message of its own, what the users it now shares
    /// behaviour with chose (and it has not): the choice that made them neighbours came after the
    /// choices they would have passed on. `evidence.digest_scope` says where those choices come
    /// from (the router's window, or the neighbours' histories). Under the placebo control the
    /// digest goes to a random member instead.
    pub(super) fn send_digests(&mut self, router: &str, window: &[Choice]) {
        let tick = self.world.cursor().tick;
        let Some(fan_out) = self.world.router(router).map(|r| r.fan_out) else { return };
        let mut fresh: Vec<&str> = window.iter().filter(|c| c.tick == tick).map(|c| c.user.as_str()).collect();
        fresh.sort_unstable();
        fresh.dedup();
        let mut digests: Vec<(String, Vec<Choice>, f64)> = Vec::new();
        for user in fresh {
            let Some(ux) = self.world.client_ix(user) else { continue };
            let u = &self.world.clients()[ux];
            if u.kind != ClientKind::User {
                continue;
            }
            let (picked, closest) = match self.cfg.evidence.digest_scope {
                DigestScope::Window => self.window_digest(ux, fan_out, window),
                DigestScope::Neighbours => self.neighbour_digest(ux, fan_out),
            };
            if picked.is_empty() {
                continue;
            }
            let receiver = if self.cfg.routers.placebo { self.random_member(router, user) } else { Some(user.to_string()) };
            if let Some(receiver) = receiver {
                digests.push((receiver, picked, r4(closest)));
            }
        }
        if self.cfg.evidence.co_choice {
            for c in window.iter().filter(|c| c.tick == tick) {
                let (picked, closest) = self.co_choices(&c.user, &c.item);
                if picked.is_empty() {
                    continue;
                }
                let receiver = if self.cfg.routers.placebo { self.random_member(router, &c.user) } else { Some(c.user.clone()) };
                if let Some(receiver) = receiver {
                    digests.push((receiver, picked, r4(closest)));
                }
            }
        }
        for (receiver, picked, relevance) in digests {
            let Some(topic) = self.topic_of(&picked) else { continue };
            let id = self.world.next_message_id();
            let moves: Vec<String> = picked
                .iter()
                .map(|c| if self.is_item(&c.user) { format!("fans of {} chose {}", c.user, c.item) } else { format!("{} chose {}", c.user, c.item) })
                .collect();
            self.emit(EventBody::MessageSent {
                message: id,
                router: router.to_string(),
                sources: Vec::new(),
                source_kind: ClientKind::User,
                content: Vec::new(),
                topic,
                polarity: crate::rules::Polarity::Up,
                text: format!("{router}: digest for {receiver}: {}", moves.join(", ")),
                recipients: vec![crate::world::event::Recipient { agent: receiver.clone(), relevance }],
                evidence: picked,
            });
            self.tasks.push_back(super::Task::Deliver { message: id, agent: receiver, relevance, drained: false });
        }
    }

    /// A digest from the router's window: what the window's choosers `ux` shares behaviour with
    /// chose, for the router's fan-out of them (nearest first), oldest choice first; and how
    /// close the nearest is.
    fn window_digest(&self, ux: usize, fan_out: usize, window: &[Choice]) -> (Vec<Choice>, f64) {
        let u = &self.world.clients()[ux];
        let mut near: Vec<(f64, usize)> = Vec::new();
        let mut seen: crate::util::FastSet<usize> = crate::util::FastSet::default();
        for c in window {
            let Some(chooser_ix) = self.world.client_ix(&c.user) else { continue };
            if chooser_ix != ux && seen.insert(chooser_ix) {
                let sim = self.world.behaviour_similarity(ux, chooser_ix);
                if sim > 0.0 {
                    near.push((sim, chooser_ix));
                }
            }
        }
        near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.truncate(fan_out);
        let closest = near.first().map_or(0.0, |n| n.0);
        let nearest: crate::util::FastSet<usize> = near.iter().map(|(_, n)| *n).collect();
        let mut picked: Vec<Choice> = Vec::new();
        let mut named: crate::util::FastSet<(&str, &str)> = crate::util::FastSet::default();
        for c in window.iter().rev() {
            let (Some(item_ix), Some(chooser_ix)) = (self.world.client_ix(&c.item), self.world.client_ix(&c.user)) else { continue };
            if !nearest.contains(&chooser_ix) || u.history.binary_search(&(item_ix as u32)).is_ok() {
                continue;
            }
            if named.insert((c.item.as_str(), c.user.as_str())) {
                picked.push(c.clone());
            }
        }
        picked.reverse();
        (picked, closest)
    }

    /// A digest from `ux`'s nearest users by shared behaviour, wherever their choices were routed:
    /// the items they chose and `ux` has not, those most of them (by similarity) chose first, up
    /// to `evidence.digest_entries` (item, chooser) pairs; and how close the nearest is. A
    /// community's router speaks for its members' whole histories, not only for what passed
    /// through it lately: neighbours across communities are the evidence a window misses.
    fn neighbour_digest(&self, ux: usize, fan_out: usize) -> (Vec<Choice>, f64) {
        let clients = self.world.clients();
        let u = &clients[ux];
        let mut near: Vec<(f64, usize)> =
            self.world.behaviour_neighbours(ux).into_iter().filter(|(f, s)| *s > 0.0 && clients[*f].kind == ClientKind::User).map(|(f, s)| (s, f)).collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.truncate(fan_out);
        let closest = near.first().map_or(0.0, |n| n.0);
        // Each item's support among the neighbours, and who chose it (nearest first).
        let mut support: crate::world::IxMap<(f64, Vec<usize>)> = crate::world::IxMap::default();
        for (sim, v) in &near {
            for &item in &clients[*v].history {
                if u.history.binary_search(&item).is_err() {
                    let e = support.entry(item as usize).or_insert((0.0, Vec::new()));
                    e.0 += sim;
                    e.1.push(*v);
                }
            }
        }
        let mut items: Vec<(usize, (f64, Vec<usize>))> = support.into_iter().collect();
        items.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let tick = self.world.cursor().tick;
        let cap = self.cfg.evidence.digest_entries;
        let mut picked: Vec<Choice> = Vec::new();
        'items: for (item, (_, choosers)) in items {
            for v in choosers {
                if picked.len() == cap {
                    break 'items;
                }
                picked.push(Choice { user: clients[v].id.clone(), item: clients[item].id.clone(), tick });
            }
        }
        // Weakest first, so the strongest item names the topic (`topic_of` reads the last).
        picked.reverse();
        (picked, closest)
    }

    /// Co-choices for `user`, who chose `item`: the items whose fans overlap `item`'s most (as
    /// item-based kNN measures it) and `user` has not chosen, up to `evidence.digest_entries`,
    /// weakest first (so the strongest names the topic), each as a choice whose chooser is
    /// `item` ("fans of `item` chose it"); and the closest one's overlap.
    fn co_choices(&self, user: &str, item: &str) -> (Vec<Choice>, f64) {
        let (Some(ux), Some(ix)) = (self.world.client_ix(user), self.world.client_ix(item)) else { return (Vec::new(), 0.0) };
        let clients = self.world.clients();
        if clients[ux].kind != ClientKind::User || clients[ix].kind != ClientKind::Item {
            return (Vec::new(), 0.0);
        }
        let history = &clients[ux].history;
        let mut near: Vec<(f64, usize)> = self
            .world
            .behaviour_neighbours(ix)
            .into_iter()
            .filter(|(j, s)| *s > 0.0 && clients[*j].kind == ClientKind::Item && history.binary_search(&(*j as u32)).is_err())
            .map(|(j, s)| (s, j))
            .collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        near.truncate(self.cfg.evidence.digest_entries);
        let closest = near.first().map_or(0.0, |n| n.0);
        let tick = self.world.cursor().tick;
        let picked = near.iter().rev().map(|(_, j)| Choice { user: item.to_string(), item: clients[*j].id.clone(), tick }).collect();
        (picked, closest)
    }

    /// Whether `id` is an item agent (a co-choice's "chooser").
    pub(super) fn is_item(&self, id: &str) -> bool {
        self.world.client(id).is_some_and(|c| c.kind == ClientKind::Item)
    }

    /// The gate a message's evidence counts under: its router's co-choice gate for co-choices
    /// (their chooser is an item), else its gate.
    pub(super) fn message_gate(&self, message: u64, router: &str) -> f64 {
        let co_choice = self.world.messages().get(&message).and_then(|m| m.evidence.first()).is_some_and(|c| self.is_item(&c.user));
        match self.world.router(router) {
            Some(r) if co_choice => r.co_choice_gate,
            Some(r) => r.gate,
            None => 0.0,
        }
    }
}
