//! Relevance and scoring: interned attribute phrases with their similarity table, each client's
//! interest as sparse terms, and the cosine of a message's topics against a client's interests.

use super::{Client, Message, World};
use crate::world::embed::normalize;
use crate::world::event::AttrDelta;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(super) const INLINE_TERMS: usize = 6;

/// A client's interest terms, inline when few (most clients), so scanning a community touches one
/// contiguous array instead of chasing a pointer per client.
#[derive(Debug, Clone, Default)]
pub(super) struct Terms {
    inline: [(u32, f32); INLINE_TERMS],
    len: u8,
    spill: Option<Box<[(u32, f32)]>>,
    pub(super) norm: f32,
}

impl Terms {
    /// Bytes of a whole array of terms: what a keyframe holding its own copy costs.
    pub(super) fn array_bytes(all: &[Terms]) -> usize {
        std::mem::size_of_val(all) + all.iter().map(|t| t.spill.as_ref().map_or(0, |s| std::mem::size_of_val(&**s))).sum::<usize>()
    }

    pub(super) fn new(terms: Vec<(u32, f32)>, norm: f32) -> Terms {
        let mut t = Terms { norm, ..Terms::default() };
        if terms.len() <= INLINE_TERMS {
            t.inline[..terms.len()].copy_from_slice(&terms);
            t.len = terms.len() as u8;
        } else {
            t.spill = Some(terms.into_boxed_slice());
        }
        t
    }
    pub(super) fn as_slice(&self) -> &[(u32, f32)] {
        match &self.spill {
            Some(s) => s,
            None => &self.inline[..self.len as usize],
        }
    }
}

/// Interned attribute phrases with a dense table of their cosine similarities (up to
/// `SIM_TABLE_MAX` phrases; past that, similarities are computed when asked).
#[derive(Debug, Clone, Default)]
pub(super) struct AttrSpace {
    ids: HashMap<String, u32>,
    vecs: Vec<Vec<f32>>,
    sim: Vec<f32>,
    cap: usize,
}

pub(super) const SIM_TABLE_MAX: usize = 4096;

impl AttrSpace {
    /// Rough heap bytes (for keyframe accounting).
    pub(super) fn heap_bytes(&self) -> usize {
        self.ids.keys().map(|k| k.len() + 56).sum::<usize>() + self.vecs.iter().map(|v| 24 + 4 * v.len()).sum::<usize>() + 4 * self.sim.len()
    }

    pub(super) fn intern(&mut self, attr: &str, vec: impl FnOnce() -> Vec<f32>) -> u32 {
        if let Some(id) = self.ids.get(attr) {
            return *id;
        }
        let id = self.vecs.len();
        self.vecs.push(vec());
        self.ids.insert(attr.to_string(), id as u32);
        if id < SIM_TABLE_MAX {
            if id >= self.cap {
                let cap = (self.cap * 2).clamp(64, SIM_TABLE_MAX);
                let mut sim = vec![0.0f32; cap * cap];
                for i in 0..id {
                    sim[i * cap..i * cap + id].copy_from_slice(&self.sim[i * self.cap..i * self.cap + id]);
                }
                self.sim = sim;
                self.cap = cap;
            }
            for j in 0..=id {
                let d = crate::world::embed::dot(&self.vecs[id], &self.vecs[j]);
                self.sim[id * self.cap + j] = d;
                self.sim[j * self.cap + id] = d;
            }
        }
        id as u32
    }

    // Inlined into the scoring loops (left out of line, it cost a call per pair); the rare
    // attribute past the table stays out of line.
    #[inline]
    pub(super) fn sim(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        if a < self.cap && b < self.cap {
            self.sim[a * self.cap + b]
        } else {
            self.sim_past_table(a, b)
        }
    }

    #[cold]
    #[inline(never)]
    fn sim_past_table(&self, a: usize, b: usize) -> f32 {
        crate::world::embed::dot(&self.vecs[a], &self.vecs[b])
    }

    /// Length of Σ wᵢ·vᵢ, from the similarity table.
    pub(super) fn norm(&self, terms: &[(u32, f32)]) -> f32 {
        let mut s = 0.0;
        for (a, wa) in terms {
            for (b, wb) in terms {
                s += wa * wb * self.sim(*a, *b);
            }
        }
        s.max(0.0).sqrt()
    }
}

/// A message's content prepared for relevance against many clients.
pub struct ContentKey {
    pub(super) terms: Vec<(u32, f32)>,
    pub(super) norm: f32,
}

/// Upper bounds of `relevance_to` for one content key over many clients, one lookup per client
/// term: the key's terms are folded into one weight per attribute (Σₐ wₐ·sim(a, b), computed when
/// first needed) instead of a table lookup per pair. Summed in another order, the result may differ
/// from `relevance_to`'s in the last bits, so the bound adds a worst case of that error: it can
/// only rule a client out, never stand for its relevance.
pub struct RelevanceBound<'a> {
    world: &'a World,
    pub(super) key: &'a ContentKey,
    folded: Vec<f32>,
    pub(super) key_sum: f64,
}

impl RelevanceBound<'_> {
    /// Σₐ wₐ·sim(a, b) for the key's terms a, computed the first time attribute `b` is asked.
    #[inline]
    pub(super) fn fold(&mut self, b: u32) -> f32 {
        let q = &mut self.folded[b as usize];
        if q.is_nan() {
            *q = self.key.terms.iter().map(|(a, wa)| wa * self.world.space.sim(*a, b)).sum();
        }
        *q
    }

    pub fn upper(&mut self, client_ix: usize) -> f64 {
        let Some(t) = self.world.client_terms.get(client_ix) else { return 0.0 };
        if t.norm == 0.0 || self.key.norm == 0.0 {
            return 0.0;
        }
        let (mut s, mut sum) = (0.0f32, 0.0f32);
        for &(b, wb) in t.as_slice() {
            s += wb * self.fold(b);
            sum += wb;
        }
        // Both sums carry at most (terms)·2⁻²⁴ of Σ|wₐ·w_b·sim| ≤ Σwₐ·Σw_b (sims are cosines):
        // allowed for three times over, plus the final division's rounding.
        let terms = (self.key.terms.len() * (t.as_slice().len() + 1) + t.as_slice().len() + 4) as f64;
        let err = 4e-7 * terms * self.key_sum * sum as f64 * 1.01;
        let x = (s as f64 + err) / (t.norm as f64 * self.key.norm as f64);
        x + 1e-6 * x.abs() + 1e-5
    }
}

impl World {
    /// Embedding of one attribute phrase (cached for the world's vocabulary).
    pub fn attr_vec(&self, attr: &str) -> Vec<f32> {
        if let Some(v) = self.attr_vecs.get(attr) {
            return v.clone();
        }
        match &self.embedder {
            Some(e) => e.embed(attr),
            None => vec![0.0; self.dim.max(1)],
        }
    }

    pub(super) fn add_attr_scaled(&self, acc: &mut [f32], attr: &str, w: f32) {
        if let Some(v) = self.attr_vecs.get(attr) {
            acc.iter_mut().zip(v).for_each(|(a, x)| *a += w * x);
        } else if let Some(e) = &self.embedder {
            acc.iter_mut().zip(e.embed(attr)).for_each(|(a, x)| *a += w * x);
        }
    }

    /// Unit vector of what a weighted attribute set is about (signs ignored: a dislike is a
    /// topic one cares about too).
    pub fn topic_vec<'a>(&self, attrs: impl Iterator<Item = (&'a str, f64)>) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim.max(1)];
        for (a, w) in attrs {
            self.add_attr_scaled(&mut v, a, w.abs() as f32);
        }
        normalize(&mut v);
        v
    }

    pub(super) fn refresh_interest(&mut self, ix: usize) {
        let attrs: Vec<(String, f64)> = self.clients[ix].attrs.iter().map(|(a, w)| (a.clone(), *w)).collect();
        let mut terms = Vec::with_capacity(attrs.len());
        for (a, w) in attrs {
            let id = self.intern(&a);
            terms.push((id, w.abs() as f32));
        }
        let norm = self.space.norm(&terms);
        let all = Arc::make_mut(&mut self.client_terms);
        if all.len() <= ix {
            all.resize(ix + 1, Terms::default());
        }
        all[ix] = Terms::new(terms, norm);
        self.note_term_change(ix);
    }

    pub(super) fn intern(&mut self, attr: &str) -> u32 {
        if let Some(id) = self.space.ids.get(attr) {
            return *id;
        }
        let (embedder, cached, dim) = (&self.embedder, &self.attr_vecs, self.dim.max(1));
        Arc::make_mut(&mut self.space)
            .intern(attr, || cached.get(attr).cloned().or_else(|| embedder.as_ref().map(|e| e.embed(attr))).unwrap_or_else(|| vec![0.0; dim]))
    }

    /// Prepare a message's content for `relevance_to`. Attributes no client holds (none, as the
    /// engine builds messages) count as unrelated to everything.
    pub fn content_key(&self, content: &[AttrDelta]) -> ContentKey {
        let terms: Vec<(u32, f32)> = content.iter().filter_map(|d| self.space.ids.get(&d.attr).map(|id| (*id, d.delta.abs() as f32))).collect();
        let norm = self.space.norm(&terms);
        ContentKey { terms, norm }
    }

    /// Bounds of `relevance_to` for `key` over about `clients` clients; none when the attribute
    /// vocabulary is so much larger than that that folding the key would cost more than it saves.
    pub fn relevance_bound<'a>(&'a self, key: &'a ContentKey, clients: usize) -> Option<RelevanceBound<'a>> {
        let vocabulary = self.space.vecs.len();
        if vocabulary > 16 * clients + 4096 {
            return None;
        }
        let key_sum = key.terms.iter().map(|(_, w)| *w as f64).sum();
        Some(RelevanceBound { world: self, key, folded: vec![f32::NAN; vocabulary], key_sum })
    }

    /// Cosine between a message's topics and a client's interests (both |weight|-weighted sums of
    /// attribute embeddings).
    pub fn relevance_to(&self, key: &ContentKey, client_ix: usize) -> f64 {
        let Some(t) = self.client_terms.get(client_ix) else { return 0.0 };
        let norm = t.norm;
        if norm == 0.0 || key.norm == 0.0 {
            return 0.0;
        }
        let mut s = 0.0f32;
        for (a, wa) in &key.terms {
            for (b, wb) in t.as_slice() {
                s += wa * wb * self.space.sim(*a, *b);
            }
        }
        (s / (norm * key.norm)) as f64
    }

    pub(super) fn refresh_member_ix(&mut self, ix: usize) {
        let mut v: Vec<usize> = self.routers[ix].members.iter().filter_map(|m| self.client_index.get(m).copied()).collect();
        v.sort_unstable();
        Arc::make_mut(&mut self.routers[ix]).member_ix = v;
    }

    pub(super) fn refresh_centroid(&mut self, ix: usize) {
        let r = &self.routers[ix];
        let v = self.topic_vec(r.attributes.iter().map(|a| (a.as_str(), 1.0)));
        Arc::make_mut(&mut self.routers[ix]).centroid = v;
    }

    /// Relevance of a message's content to a client: cosine of topics.
    pub fn relevance(&self, client: &Client, content: &[AttrDelta]) -> f64 {
        match self.client_ix(&client.id) {
            Some(ix) => self.relevance_to(&self.content_key(content), ix),
            None => 0.0,
        }
    }

    /// Buffered messages agreeing with `message` on topic and polarity, other than itself.
    pub fn support(&self, client: &Client, message: &Message) -> usize {
        client
            .buffer
            .iter()
            .filter(|b| b.message != message.id)
            .filter_map(|b| self.messages.get(&b.message))
            .filter(|m| m.topic == message.topic && m.polarity == message.polarity)
            .count()
    }
}

/// How much a user's weights favour an item: their attribute overlap, normalised by the item's
/// weight so items with many categories are not favoured.
pub fn score(user: &BTreeMap<String, f64>, item: &BTreeMap<String, f64>) -> f64 {
    let norm = item.values().map(|w| w * w).sum::<f64>().sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    item.iter().map(|(a, w)| user.get(a).copied().unwrap_or(0.0) * w).sum::<f64>() / norm
}
