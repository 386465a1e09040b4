//! World setup: the vocabulary, the agents, and routers from seeded k-means++.

use super::WorldSpec;
use crate::engine::config::Config;
use crate::util::{clip, r4, Rng};
use crate::world::embed::{cosine, Embedder};
use crate::world::event::EventBody;
use crate::world::profile_text;
use std::collections::BTreeMap;

/// The events that create a world: vocabulary, agents, and routers from seeded k-means++.
pub fn setup_events(spec: &WorldSpec, cfg: &Config, seed: u64) -> Vec<EventBody> {
    setup_events_unless(spec, cfg, seed, &|| false).unwrap_or_default()
}

/// Asks `stop` every few thousand clients: a world of a million takes seconds to set up, and a
/// signal should not wait for it.
struct StopCheck<'a> {
    stop: &'a dyn Fn() -> bool,
    count: usize,
}

impl StopCheck<'_> {
    fn now(&mut self) -> bool {
        self.count += 1;
        self.count.is_multiple_of(4096) && (self.stop)()
    }
}

/// `setup_events`, or `None` as soon as `stop` says so.
pub fn setup_events_unless(spec: &WorldSpec, cfg: &Config, seed: u64, stop: &dyn Fn() -> bool) -> Option<Vec<EventBody>> {
    let mut check = StopCheck { stop, count: 0 };
    let mut freq: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &spec.clients {
        for a in c.attrs.keys() {
            *freq.entry(a.as_str()).or_insert(0) += 1;
        }
    }
    let vocabulary: Vec<String> = freq.keys().map(|s| s.to_string()).collect();
    let mut out = vec![EventBody::WorldCreated { dim: cfg.embedding.dim, vocabulary: vocabulary.clone(), evidence_memory: cfg.evidence.memory }];
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
        return Some(out);
    }
    let embedder = Embedder::new(cfg.embedding.dim, &vocabulary);
    // An attribute is placed by what it says (its text embedding) and by the company it keeps (the
    // summed profiles of the clients that like it): phrases that share no words but share
    // listeners land in one community.
    let dim = cfg.embedding.dim;
    let text_vecs: BTreeMap<&str, Vec<f32>> = vocabulary.iter().map(|w| (w.as_str(), embedder.embed(w))).collect();
    let mut holders: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
    for c in &spec.clients {
        if check.now() {
            return None;
        }
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
            if check.now() {
                return None;
            }
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
        let profile: BTreeMap<String, f64> = sums.into_iter().map(|(a, (s, n))| (a, r4(clip(s / n as f64)))).filter(|(_, w)| *w != 0.0).collect();
        // A router never shares its id with a client (the world refuses that): a dataset with an
        // item called "R1" gets routers named past it.
        let mut id = format!("R{}", n + 1);
        while spec.clients.iter().any(|c| c.id == id) {
            id.push('\'');
        }
        let summary = format!("{id}: community {} ({} members)", profile_text(&profile, 4), members.len());
        out.push(EventBody::RouterCreated {
            router: id,
            attributes,
            profile,
            members,
            fan_out: cfg.routers.fan_out,
            tau: cfg.routers.tau,
            summary,
            gate: if cfg.evidence.enabled { cfg.evidence.gate_init } else { 0.0 },
            update_gate: cfg.backward.update_gate_init,
        });
    }
    Some(out)
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
            let best =
                centers.iter().enumerate().map(|(c, ctr)| (c, cosine(p, ctr))).fold((0, f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc }).0;
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
