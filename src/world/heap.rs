//! Heap accounting: what a keyframe holding a world costs beside an earlier one, so the timeline
//! keeps keyframes within a memory budget.

use super::{Buffered, Client, Message, Pending, Routed, Router, World};
use crate::world::event::{AttrDelta, Evidence};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Rough heap bytes of a value beside an earlier version of it (parts shared through `Arc`s
/// count once, with the earlier version): what a keyframe holding it costs. Estimates (per-entry
/// overheads of maps and strings included), used only to keep keyframes within a memory budget.
pub trait HeapSize {
    fn heap_bytes_beside(&self, earlier: Option<&Self>) -> usize;
}

/// A map or set entry's node share plus its key's heap bytes.
const ENTRY: usize = 48;

fn str_bytes(s: &str) -> usize {
    s.len() + 24
}

fn weights_bytes(m: &BTreeMap<String, f64>) -> usize {
    m.keys().map(|k| ENTRY + str_bytes(k)).sum()
}

fn names_bytes(m: &BTreeSet<String>) -> usize {
    m.iter().map(|k| ENTRY + str_bytes(k)).sum()
}

fn deltas_bytes(v: &[AttrDelta]) -> usize {
    v.iter().map(|d| 16 + str_bytes(&d.attr)).sum()
}

impl HeapSize for Client {
    fn heap_bytes_beside(&self, earlier: Option<&Client>) -> usize {
        let mut shared: Vec<*const Pending> = earlier.map(|e| e.feedback.iter().map(Arc::as_ptr).collect()).unwrap_or_default();
        shared.sort_unstable();
        let feedback: usize = self
            .feedback
            .iter()
            .map(|p| {
                let own = if shared.binary_search(&Arc::as_ptr(p)).is_ok() {
                    0
                } else {
                    std::mem::size_of::<Pending>() + p.router.len() + deltas_bytes(&p.deltas) + p.evidence.iter().map(|(i, _)| 8 + str_bytes(i)).sum::<usize>()
                };
                8 + own
            })
            .sum();
        std::mem::size_of::<Client>()
            + str_bytes(&self.id)
            + self.title.as_deref().map_or(0, str_bytes)
            + weights_bytes(&self.attrs)
            + self.rules_text.len()
            + self.rule_hits.len() * 16
            + feedback
            + self.buffer.len() * std::mem::size_of::<Buffered>()
            + names_bytes(&self.routers)
            + deltas_bytes(&self.last_extracted)
            + self.history.capacity() * 4
            + self
                .evidence
                .iter()
                .map(|e| std::mem::size_of::<crate::world::evidence::EvidenceEntry>() + e.item.len() + e.router.len() + e.chooser.len())
                .sum::<usize>()
            + self.heard.iter().map(|(r, layer)| str_bytes(r) + weights_bytes(layer)).sum::<usize>()
    }
}

impl HeapSize for Router {
    fn heap_bytes_beside(&self, earlier: Option<&Router>) -> usize {
        let members = if earlier.is_some_and(|e| Arc::ptr_eq(&e.members, &self.members)) { 0 } else { names_bytes(&self.members) };
        std::mem::size_of::<Router>()
            + str_bytes(&self.id)
            + names_bytes(&self.attributes)
            + weights_bytes(&self.profile)
            + members
            + self.inbox.iter().map(|r| std::mem::size_of::<Routed>() + r.agent.len() + r.attr.len()).sum::<usize>()
            + self.choices.iter().map(|c| std::mem::size_of::<crate::world::event::Choice>() + c.user.len() + c.item.len()).sum::<usize>()
            + self.summary.len()
            + self.centroid.len() * 4
            + self.member_ix.len() * 8
    }
}

impl HeapSize for Message {
    fn heap_bytes_beside(&self, _earlier: Option<&Message>) -> usize {
        std::mem::size_of::<Message>()
            + self.router.len()
            + self.sources.iter().map(|s| str_bytes(s)).sum::<usize>()
            + deltas_bytes(&self.content)
            + self.topic.len()
            + self.text.len()
            + self.evidence.iter().map(|c| 8 + str_bytes(&c.user) + str_bytes(&c.item)).sum::<usize>()
    }
}

impl World {
    /// Heap bytes this world holds beyond what it shares with `previous` (agents and messages
    /// are shared through `Arc`s until changed): the cost of keeping it as a keyframe next to
    /// `previous`.
    pub fn marginal_bytes(&self, previous: Option<&World>) -> usize {
        fn own<T: HeapSize>(mine: &[Arc<T>], theirs: &[Arc<T>]) -> usize {
            mine.iter()
                .enumerate()
                .map(|(i, a)| {
                    let earlier = theirs.get(i);
                    8 + if earlier.is_some_and(|b| Arc::ptr_eq(a, b)) { 0 } else { a.heap_bytes_beside(earlier.map(|b| &**b)) }
                })
                .sum()
        }
        let empty = World::default();
        let prev = previous.unwrap_or(&empty);
        let messages: usize = self
            .messages
            .iter()
            .map(|(id, m)| ENTRY + if prev.messages.get(id).is_some_and(|p| Arc::ptr_eq(m, p)) { 0 } else { m.heap_bytes_beside(None) })
            .sum();
        let evidence: usize = self
            .evidence
            .iter()
            .map(|(k, v)| {
                let shared = prev.evidence.get(k).is_some_and(|p| Arc::ptr_eq(p, v));
                ENTRY + str_bytes(k) + if shared { 0 } else { v.iter().map(|e| std::mem::size_of::<Evidence>() + e.agent.len()).sum::<usize>() }
            })
            .sum();
        let metrics: usize = self.metrics.iter().map(|(_, s, v)| 64 + s.len() + weights_bytes(v)).sum();
        // The derived tables are copied whole on a change (one contiguous array each): a keyframe
        // after any change to them holds a copy the size of the world. Uncounted, a million-agent
        // world kept 64 such copies within a budget it thought met (8.8 GB for one export).
        let unshared = |shared: bool, bytes: usize| if shared { 0 } else { bytes };
        let derived = unshared(Arc::ptr_eq(&self.client_terms, &prev.client_terms), super::relevance::Terms::array_bytes(&self.client_terms))
            + unshared(Arc::ptr_eq(&self.space, &prev.space), self.space.heap_bytes())
            + unshared(Arc::ptr_eq(&self.client_index, &prev.client_index), self.client_index.keys().map(|k| ENTRY + str_bytes(k)).sum())
            + unshared(Arc::ptr_eq(&self.router_index, &prev.router_index), self.router_index.keys().map(|k| ENTRY + str_bytes(k)).sum());
        let counted =
            std::mem::size_of::<World>() + own(&self.clients, &prev.clients) + own(&self.routers, &prev.routers) + messages + evidence + metrics + derived;
        // Allocator rounding and half-empty map nodes: resident memory measured at about 1.6×
        // the count above (a 1M-event replay of a 400-agent world).
        counted * 8 / 5
    }
}
