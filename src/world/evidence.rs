//! Evidence memory: the items a client's community chose, kept beside (not inside) its weighted
//! profile, each with who chose it, through which router, and how much the client trusts it. The
//! ranking score adds it, scaled by the sending router's gate, which the backward phase learns.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entries a client keeps; past it the weakest (then the oldest) is forgotten.
pub const EVIDENCE_CAP: usize = 64;

/// The evidence memory sessions recorded before `evidence.memory` existed kept.
pub fn old_memory() -> usize {
    EVIDENCE_CAP
}

/// The largest evidence memory a session may ask for.
pub const MEMORY_LIMIT: usize = 4096;

/// One item a client's community chose, as the client holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceEntry {
    pub item: String,
    /// Accumulated trust in [0, 1]: accept weight times the receiver's similarity to the chooser.
    pub weight: f64,
    pub router: String,
    /// Who chose it, and when it was heard.
    pub chooser: String,
    pub tick: u64,
    /// The accept weight it came with (0 in older sessions: `weight` then counts as it is).
    #[serde(default)]
    pub trust: f64,
    /// `KeyFilter`'s bit of (item, chooser) plus one, worked out when made (0: not known, as in
    /// an entry read back). Kept beside the entry because reading its two strings to work it
    /// out, for each of a memory's thousand entries, is what a pass over the memory cost.
    #[serde(skip)]
    key_bit: u16,
}

impl EvidenceEntry {
    pub fn new(item: String, weight: f64, router: String, chooser: String, tick: u64, trust: f64) -> Self {
        let key_bit = KeyFilter::bit(&item, &chooser) as u16 + 1;
        EvidenceEntry { item, weight, router, chooser, tick, trust, key_bit }
    }
}

/// Entries are equal whatever their cached bit (one read back has none).
impl PartialEq for EvidenceEntry {
    fn eq(&self, other: &Self) -> bool {
        self.item == other.item
            && self.weight == other.weight
            && self.router == other.router
            && self.chooser == other.chooser
            && self.tick == other.tick
            && self.trust == other.trust
    }
}

/// Store an entry, keeping the memory bounded. Entries are keyed by (item, chooser): one person's
/// choice is one piece of evidence however often it is passed on, and two people choosing the same
/// item are two. (The reference `store_all` is tested against.)
#[cfg(test)]
pub fn store(memory: &mut Vec<EvidenceEntry>, entry: EvidenceEntry, cap: usize) {
    if let Some(e) = memory.iter_mut().find(|e| e.item == entry.item && e.chooser == entry.chooser) {
        *e = entry;
        return;
    }
    memory.push(entry);
    if memory.len() > cap {
        let weakest = memory.iter().enumerate().min_by(|(_, a), (_, b)| a.weight.total_cmp(&b.weight).then(a.tick.cmp(&b.tick))).map(|(ix, _)| ix).unwrap_or(0);
        memory.remove(weakest);
    }
}

/// Store a batch of entries as `store` would one by one, in one pass: an index instead of a scan
/// per entry, and the weakest dropped at the end. The same entries stay (one among the `cap`
/// strongest is never the weakest of `cap + 1`, and the engine stores a choice heard again only
/// with more trust than it had); an entry heard again keeps its place.
pub fn store_all(memory: &mut Vec<EvidenceEntry>, entries: Vec<EvidenceEntry>, cap: usize) {
    // Where each incoming entry goes: over an entry already held, or after the memory (the first
    // time its key appears, with the value it last has).
    let mut place: Vec<Option<usize>> = vec![None; entries.len()];
    let mut appended: Vec<usize> = Vec::new();
    {
        let mut last: crate::util::FastMap<(&str, &str), usize> = crate::util::FastMap::default();
        let mut order: Vec<(&str, &str)> = Vec::new();
        for (k, e) in entries.iter().enumerate() {
            let key = (e.item.as_str(), e.chooser.as_str());
            if last.insert(key, k).is_none() {
                order.push(key);
            }
        }
        let mut held: crate::util::FastSet<(&str, &str)> = crate::util::FastSet::default();
        let incoming = KeyFilter::of(order.iter().copied());
        // Nothing incoming (a message whose choices the receiver knew): no pass at all.
        let looked_over = if order.is_empty() { &memory[..0] } else { &memory[..] };
        for (ix, m) in looked_over.iter().enumerate() {
            if !incoming.may_hold_entry(m) {
                continue;
            }
            let key = (m.item.as_str(), m.chooser.as_str());
            if let Some(&k) = last.get(&key) {
                place[k] = Some(ix);
                held.insert(key);
            }
        }
        appended.extend(order.iter().filter(|key| !held.contains(*key)).map(|key| last[key]));
    }
    let mut entries: Vec<Option<EvidenceEntry>> = entries.into_iter().map(Some).collect();
    for (k, p) in place.iter().enumerate() {
        if let Some(ix) = p {
            if let Some(e) = entries[k].take() {
                memory[*ix] = e;
            }
        }
    }
    // A memory past its cap would double its room, only to drop back to `cap`: a thousand spare
    // entries per client. A little room to spare instead (below the cap it grows as usual).
    let needed = memory.len() + appended.len();
    if needed > memory.capacity() && needed > cap {
        memory.reserve_exact(appended.len().max(cap / 8));
    }
    memory.extend(appended.into_iter().filter_map(|k| entries[k].take()));
    if memory.len() > cap {
        // Weakest first, then oldest, then first in the memory (as `store`'s `min_by` picks).
        // The order is total (the place breaks ties), so the weakest `len - cap` are one set,
        // found without sorting the rest.
        let mut order: Vec<usize> = (0..memory.len()).collect();
        let excess = memory.len() - cap;
        order.select_nth_unstable_by(excess - 1, |&a, &b| {
            memory[a].weight.total_cmp(&memory[b].weight).then(memory[a].tick.cmp(&memory[b].tick)).then(a.cmp(&b))
        });
        let mut drop = vec![false; memory.len()];
        for &ix in &order[..excess] {
            drop[ix] = true;
        }
        let mut ix = 0;
        memory.retain(|_| {
            ix += 1;
            !drop[ix - 1]
        });
    }
}

/// A chooser as an evidence entry counts it: its index, whether it is an item, and (a user) the
/// holder's behaviour similarity to it.
type ChooserView = (usize, bool, f64);

/// A 512-bit filter over (item, chooser) keys, for a pass over a memory of up to thousands of
/// entries that looks for the few keys of one message: an entry whose bit is clear is not among
/// them, told without hashing its two strings (most of such a pass's time was that hashing).
pub struct KeyFilter([u64; 8]);

impl KeyFilter {
    fn bit(item: &str, chooser: &str) -> usize {
        // The last three bytes of each id, and its length: ids differ at their ends. (Reading
        // more, byte by byte, cost as much as the hashing it saves.)
        let tail = |s: &str| {
            let b = s.as_bytes();
            let at = |back: usize| if b.len() >= back { b[b.len() - back] as u64 } else { 0 };
            b.len() as u64 | at(1) << 8 | at(2) << 16 | at(3) << 24
        };
        ((tail(item) ^ tail(chooser).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as usize
    }

    pub fn of<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut filter = KeyFilter([0; 8]);
        for (item, chooser) in keys {
            let b = Self::bit(item, chooser);
            filter.0[b >> 6] |= 1 << (b & 63);
        }
        filter
    }

    /// False only for a key that was not given to `of`.
    pub fn may_hold(&self, item: &str, chooser: &str) -> bool {
        self.has_bit(Self::bit(item, chooser))
    }

    /// `may_hold` of an entry's key, from its cached bit when it has one.
    pub fn may_hold_entry(&self, e: &EvidenceEntry) -> bool {
        match e.key_bit {
            0 => self.may_hold(&e.item, &e.chooser),
            b => self.has_bit(usize::from(b) - 1),
        }
    }

    fn has_bit(&self, b: usize) -> bool {
        self.0[b >> 6] & (1 << (b & 63)) != 0
    }
}

/// A holder's entries as ranking counts them (`World::weigh_entries`), parallel to its memory.
#[derive(Default)]
pub struct WeighedEntries {
    /// Each entry's ungated weight (`entry_weight`).
    pub weights: Vec<f64>,
    /// The gate its router gives it (`entry_gate`).
    pub gates: Vec<f64>,
    /// Whether it is a co-choice (`is_co_choice`).
    pub co_choice: Vec<bool>,
}

/// The weight one chooser's choice of an item already holds (0 when none; tests read memories
/// with it, the engine indexes them).
#[cfg(test)]
pub fn held(memory: &[EvidenceEntry], item: &str, chooser: &str) -> f64 {
    memory.iter().find(|e| e.item == item && e.chooser == chooser).map(|e| e.weight).unwrap_or(0.0)
}

impl super::World {
    /// A router's gate (0 for an unknown router: evidence nobody vouches for counts for nothing).
    pub fn gate(&self, router: &str) -> f64 {
        self.router(router).map(|r| r.gate).unwrap_or(0.0)
    }

    /// What one entry counts for now, ungated: its trust times a similarity of today. A choice by
    /// a user counts by the holder's behaviour similarity to that user (people drift apart and
    /// together); a co-choice (its chooser is an item: "fans of that item chose this one") counts
    /// by how much the two items' fans overlap.
    pub fn entry_weight(&self, holder: &super::Client, e: &EvidenceEntry) -> f64 {
        if e.trust <= 0.0 {
            return 0.0;
        }
        match (self.client_ix(&holder.id), self.client_ix(&e.chooser)) {
            (Some(h), Some(c)) => e.trust * self.entry_similarity(h, c, &e.item),
            _ => 0.0,
        }
    }

    /// The similarity an entry with chooser `chooser` counts by for holder `holder`: behaviour
    /// similarity to a user chooser, the two items' fan overlap for a co-choice.
    pub fn entry_similarity(&self, holder: usize, chooser: usize, item: &str) -> f64 {
        if self.clients[chooser].kind == super::event::ClientKind::Item {
            return self.client_ix(item).map_or(0.0, |i| self.behaviour_similarity(chooser, i));
        }
        self.behaviour_similarity(holder, chooser)
    }

    /// Whether an entry is a co-choice (its chooser is an item), weighed and gated as one.
    pub fn is_co_choice(&self, e: &EvidenceEntry) -> bool {
        self.client(&e.chooser).is_some_and(|c| c.kind == super::event::ClientKind::Item)
    }

    /// The gate an entry's router gives it: its co-choice gate for a co-choice, else its gate.
    pub fn entry_gate(&self, e: &EvidenceEntry) -> f64 {
        if self.is_co_choice(e) {
            self.router(&e.router).map(|r| r.co_choice_gate).unwrap_or(0.0)
        } else {
            self.gate(&e.router)
        }
    }

    /// Each of `holder`'s entries as ranking counts it: `entry_weight`, `entry_gate` and
    /// `is_co_choice`, in memory order. A memory holds up to thousands of entries from a few
    /// choosers and routers, stored in runs: each is looked up once per run, hashed once per call.
    pub fn weigh_entries(&self, holder: &super::Client) -> WeighedEntries {
        let n = holder.evidence.len();
        let mut out = WeighedEntries { weights: Vec::with_capacity(n), gates: Vec::with_capacity(n), co_choice: Vec::with_capacity(n) };
        let h = self.client_ix(&holder.id);
        let mut choosers: crate::util::FastMap<&str, Option<ChooserView>> = crate::util::FastMap::default();
        let mut routers: crate::util::FastMap<&str, (f64, f64)> = crate::util::FastMap::default();
        let mut last_chooser: Option<(&str, Option<ChooserView>)> = None;
        let mut last_router: Option<(&str, (f64, f64))> = None;
        for e in &holder.evidence {
            let chooser = match last_chooser {
                Some((id, seen)) if id == e.chooser => seen,
                _ => {
                    let seen = *choosers.entry(e.chooser.as_str()).or_insert_with(|| {
                        self.client_ix(&e.chooser).map(|c| {
                            let is_item = self.clients[c].kind == super::event::ClientKind::Item;
                            let sim = match h {
                                Some(h) if !is_item => self.behaviour_similarity(h, c),
                                _ => 0.0,
                            };
                            (c, is_item, sim)
                        })
                    });
                    last_chooser = Some((e.chooser.as_str(), seen));
                    seen
                }
            };
            let (gate, co_choice_gate) = match last_router {
                Some((id, gates)) if id == e.router => gates,
                _ => {
                    let gates = *routers.entry(e.router.as_str()).or_insert_with(|| self.router(&e.router).map_or((0.0, 0.0), |r| (r.gate, r.co_choice_gate)));
                    last_router = Some((e.router.as_str(), gates));
                    gates
                }
            };
            let is_item = chooser.is_some_and(|(_, is_item, _)| is_item);
            let weight = match (h, chooser) {
                _ if e.trust <= 0.0 => 0.0,
                (None, _) | (_, None) => 0.0,
                (Some(_), Some((c, true, _))) => e.trust * self.client_ix(&e.item).map_or(0.0, |i| self.behaviour_similarity(c, i)),
                (Some(_), Some((_, false, sim))) => e.trust * sim,
            };
            out.weights.push(weight);
            out.gates.push(if is_item { co_choice_gate } else { gate });
            out.co_choice.push(is_item);
        }
        out
    }

    /// `holder`'s gated evidence for every item it holds some for, from its `weigh_entries`.
    pub fn gated_evidence<'a>(&self, holder: &'a super::Client, weighed: &WeighedEntries) -> crate::util::FastMap<&'a str, f64> {
        let mut out: crate::util::FastMap<&'a str, f64> = crate::util::FastMap::default();
        for ((e, w), g) in holder.evidence.iter().zip(&weighed.weights).zip(&weighed.gates) {
            if *w != 0.0 {
                *out.entry(e.item.as_str()).or_insert(0.0) += w * g;
            }
        }
        out
    }

    /// `rank_score` with the user's gated evidence already summed per item (`gated_evidence`).
    pub fn rank_score_with(&self, user: &super::Client, item: &super::Client, gated: &crate::util::FastMap<&str, f64>) -> f64 {
        self.profile_score(user, item) + gated.get(item.id.as_str()).copied().unwrap_or(0.0)
    }

    /// The evidence part of `user`'s score for `item`.
    pub fn evidence_score(&self, user: &super::Client, item: &str) -> f64 {
        user.evidence.iter().filter(|e| e.item == item).map(|e| self.entry_weight(user, e) * self.entry_gate(e)).sum()
    }

    /// A router's update gate (1 for an unknown router: nothing to scale).
    pub fn update_gate(&self, router: &str) -> f64 {
        self.router(router).map(|r| r.update_gate).unwrap_or(1.0)
    }

    /// A client's weight for `attr` as ranking sees it: the profile's, plus each router's layer
    /// of accepted updates scaled by that router's update gate.
    fn ranked_weight(&self, c: &super::Client, attr: &str) -> f64 {
        c.attrs.get(attr).copied().unwrap_or(0.0) + c.heard.iter().map(|(r, h)| h.get(attr).map_or(0.0, |x| self.update_gate(r) * x)).sum::<f64>()
    }

    /// An item's weights as ranking sees them (borrowed when it heard nothing).
    fn ranked_item<'a>(&self, item: &'a super::Client) -> std::borrow::Cow<'a, BTreeMap<String, f64>> {
        if item.heard.is_empty() {
            return std::borrow::Cow::Borrowed(&item.attrs);
        }
        std::borrow::Cow::Owned(self.ranked_profile(item))
    }

    /// A client's weights as ranking sees them: the profile plus each router's layer of accepted
    /// updates at that router's update gate.
    pub fn ranked_profile(&self, c: &super::Client) -> BTreeMap<String, f64> {
        let mut out = c.attrs.clone();
        for h in c.heard.values() {
            for a in h.keys() {
                out.entry(a.clone()).or_insert(0.0);
            }
        }
        for (a, w) in out.iter_mut() {
            *w = self.ranked_weight(c, a);
        }
        out
    }

    /// A client's profile with every accepted update added in full (what rewards judge a
    /// message's content against, whatever the gates).
    pub fn with_updates(&self, c: &super::Client) -> BTreeMap<String, f64> {
        let mut out = c.attrs.clone();
        for h in c.heard.values() {
            for (a, x) in h {
                *out.entry(a.clone()).or_insert(0.0) += x;
            }
        }
        out
    }

    /// The profile overlap ranking uses: `score` of the two profiles, each with its layers of
    /// accepted updates added at their routers' update gates.
    pub fn profile_score(&self, user: &super::Client, item: &super::Client) -> f64 {
        if user.heard.is_empty() && item.heard.is_empty() {
            return super::score(&user.attrs, &item.attrs);
        }
        let (mut dot, mut norm) = (0.0, 0.0);
        let weights = self.ranked_item(item);
        for (a, w) in weights.iter() {
            norm += w * w;
            dot += self.ranked_weight(user, a) * w;
        }
        if norm == 0.0 {
            0.0
        } else {
            dot / norm.sqrt()
        }
    }

    /// How `profile_score` moves as router `router`'s update gate opens (the item's norm held
    /// fixed): what the router's updates added on either side, as the other side sees it.
    pub fn update_gate_slope(&self, user: &super::Client, item: &super::Client, router: &str) -> f64 {
        let (uh, ih) = (user.heard.get(router), item.heard.get(router));
        if uh.is_none() && ih.is_none() {
            return 0.0;
        }
        let (mut slope, mut norm) = (0.0, 0.0);
        let weights = self.ranked_item(item);
        for (a, w) in weights.iter() {
            norm += w * w;
            let at = |h: Option<&BTreeMap<String, f64>>| h.and_then(|h| h.get(a)).copied().unwrap_or(0.0);
            slope += at(uh) * w + self.ranked_weight(user, a) * at(ih);
        }
        if norm == 0.0 {
            0.0
        } else {
            slope / norm.sqrt()
        }
    }

    /// The score ranking uses: the gated profile overlap with the item, plus the gated evidence
    /// the user holds for the item.
    pub fn rank_score(&self, user: &super::Client, item: &super::Client) -> f64 {
        self.profile_score(user, item) + self.evidence_score(user, &item.id)
    }

    /// Cosine of two clients' interaction sets (shared interactions over the geometric mean of
    /// their counts).
    pub fn behaviour_similarity(&self, a: usize, b: usize) -> f64 {
        let (Some(x), Some(y)) = (self.clients.get(a), self.clients.get(b)) else { return 0.0 };
        let (hx, hy) = (&x.history, &y.history);
        if hx.is_empty() || hy.is_empty() {
            return 0.0;
        }
        let (mut i, mut j, mut both) = (0, 0, 0usize);
        while i < hx.len() && j < hy.len() {
            match hx[i].cmp(&hy[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    both += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        both as f64 / ((hx.len() * hy.len()) as f64).sqrt()
    }

    /// Every client sharing an interaction with `client`, with their behaviour similarity: found
    /// through the counterparts' own histories, so the cost follows the neighbourhood, not the world.
    pub fn behaviour_neighbours(&self, client: usize) -> super::IxMap<f64> {
        let Some(c) = self.clients.get(client) else { return Default::default() };
        let counterparts = || c.history.iter().filter_map(|&j| self.clients.get(j as usize));
        let walk: usize = counterparts().map(|cp| cp.history.len()).sum();
        let n = c.history.len() as f64;
        let similarity = |f: usize, both: usize| both as f64 / (n * self.clients[f].history.len() as f64).sqrt();
        if walk * 4 < self.clients.len() {
            // A short walk in a large world: a map, rather than an array to zero.
            let mut shared: super::IxMap<usize> = super::IxMap::default();
            for cp in counterparts() {
                for &f in &cp.history {
                    if f as usize != client {
                        *shared.entry(f as usize).or_insert(0) += 1;
                    }
                }
            }
            return shared.into_iter().map(|(f, both)| (f, similarity(f, both))).collect();
        }
        // Counted in an array by client: no hashing per step of a long walk.
        let mut shared = vec![0u32; self.clients.len()];
        let mut met: Vec<usize> = Vec::new();
        for cp in counterparts() {
            for &f in &cp.history {
                let f = f as usize;
                if f != client && f < shared.len() {
                    if shared[f] == 0 {
                        met.push(f);
                    }
                    shared[f] += 1;
                }
            }
        }
        let mut out = super::IxMap::with_capacity_and_hasher(met.len(), Default::default());
        out.extend(met.into_iter().map(|f| (f, similarity(f, shared[f] as usize))));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(item: &str, chooser: &str, router: &str, weight: f64, tick: u64) -> EvidenceEntry {
        EvidenceEntry::new(item.into(), weight, router.into(), chooser.into(), tick, 0.0)
    }

    fn store_test(m: &mut Vec<EvidenceEntry>, e: EvidenceEntry) {
        store(m, e, EVIDENCE_CAP);
    }

    #[test]
    fn a_key_filter_never_misses_a_key_it_was_given_and_passes_few_others() {
        let keys: Vec<(String, String)> = (0..64).map(|k| (format!("i{}", k * 7919 % 1700), format!("u{}", k % 9))).collect();
        let filter = KeyFilter::of(keys.iter().map(|(i, c)| (i.as_str(), c.as_str())));
        assert!(keys.iter().all(|(i, c)| filter.may_hold(i, c)));
        let others = (0..10_000).filter(|k| filter.may_hold(&format!("i{k}"), &format!("u{}", 100 + k % 50))).count();
        // 64 of 512 bits set: about one in eight passes.
        assert!(others < 2_000, "{others} of 10000 passed");
    }

    #[test]
    fn an_entry_read_back_is_looked_up_as_the_one_made() {
        let made: Vec<EvidenceEntry> = (0..300).map(|k| entry(&format!("i{k}"), &format!("u{}", k % 7), "R1", 0.5, k)).collect();
        let read: Vec<EvidenceEntry> = serde_json::from_str(&serde_json::to_string(&made).unwrap()).unwrap();
        assert_eq!(made, read, "the cached bit is not part of an entry's value");
        let filter = KeyFilter::of([("i5", "u5"), ("i9", "u2"), ("i9", "u3")]);
        for (m, r) in made.iter().zip(&read) {
            assert_eq!(filter.may_hold_entry(m), filter.may_hold(&m.item, &m.chooser));
            assert_eq!(filter.may_hold_entry(r), filter.may_hold_entry(m));
        }
        let incoming = vec![entry("i5", "u5", "R2", 0.9, 400), entry("i9", "u3", "R2", 0.1, 400), entry("new", "u1", "R2", 0.7, 400)];
        let (mut a, mut b) = (made, read);
        store_all(&mut a, incoming.clone(), 300);
        store_all(&mut b, incoming, 300);
        assert_eq!(a, b);
        assert_eq!(a.iter().find(|e| e.item == "i5").map(|e| e.weight), Some(0.9));
    }

    #[test]
    fn a_batch_keeps_the_entries_one_by_one_would() {
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut serial = 0u64;
        for round in 0..200 {
            let cap = 1 + next(6) as usize;
            let (mut one, mut batch) = (Vec::new(), Vec::new());
            for tick in 0..4 {
                // As the engine stores: a choice heard again only ever with more trust.
                let mut entries: Vec<EvidenceEntry> = Vec::new();
                for _ in 0..next(8) {
                    let (item, chooser) = (format!("i{}", next(5)), format!("u{}", next(3)));
                    let before = entries.iter().rev().find(|e| e.item == item && e.chooser == chooser).map(|e| e.weight);
                    let from = before.unwrap_or_else(|| held(&one, &item, &chooser));
                    // Distinct weights: between equal ones the order of arrival decides, which a
                    // batch need not repeat.
                    serial += 1;
                    entries.push(entry(&item, &chooser, "R1", from + (1 + next(3)) as f64 / 4.0 + serial as f64 * 1e-9, tick));
                }
                for e in entries.clone() {
                    store(&mut one, e, cap);
                }
                store_all(&mut batch, entries, cap);
                let key = |m: &Vec<EvidenceEntry>| {
                    let mut k: Vec<String> = m.iter().map(|e| format!("{}/{}/{}/{}", e.item, e.chooser, e.weight, e.tick)).collect();
                    k.sort();
                    k
                };
                assert_eq!(key(&one), key(&batch), "round {round}, tick {tick}, cap {cap}");
            }
        }
    }

    #[test]
    fn entries_are_keyed_by_item_and_chooser_and_bounded() {
        let mut m = Vec::new();
        store_test(&mut m, entry("i1", "u1", "R1", 0.2, 1));
        store_test(&mut m, entry("i1", "u2", "R2", 0.3, 1));
        store_test(&mut m, entry("i1", "u1", "R1", 0.5, 2));
        assert_eq!(m.len(), 2, "u1's choice passed on twice is one piece of evidence");
        assert_eq!(held(&m, "i1", "u1"), 0.5);
        let stored: f64 = m.iter().filter(|e| e.item == "i1").map(|e| e.weight).sum();
        assert!((stored - 0.8).abs() < 1e-12, "two choosers of i1, two pieces of evidence");
        for k in 0..EVIDENCE_CAP + 5 {
            store_test(&mut m, entry(&format!("x{k}"), "u3", "R1", 0.4, 10 + k as u64));
        }
        assert_eq!(m.len(), EVIDENCE_CAP);
        assert_eq!(held(&m, "i1", "u1"), 0.5, "the strongest entry survives");
        assert_eq!(held(&m, "x0", "u3"), 0.0, "the weakest, oldest went first");
    }
}
