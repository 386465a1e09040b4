//! Synthetic worlds with planted structure, for benches and demos at any size.
//!
//! C communities each own four attribute phrases. Every user likes two or three phrases of one
//! home community; every item carries two phrases of one community. Interactions pick a user at
//! random and, 85% of the time, an item of the user's current community (else any item); the
//! negative comes from another community. Drift: after the halfway point, one user in ten moves to
//! the next community, so its preferences change mid-run and propagation has news to carry.

use crate::engine::{ClientSpec, Scheduled, WorldSpec};
use crate::util::Rng;
use crate::world::event::ClientKind;
use std::collections::BTreeMap;

const STYLES: &[&str] = &["core", "roots", "fusion", "modern"];

pub fn community_attr(c: usize, style: usize) -> String {
    format!("genre{c} {}", STYLES[style % STYLES.len()])
}

pub fn generate(users: usize, items: usize, interactions: usize, communities: usize, seed: u64) -> WorldSpec {
    let communities = communities.max(1);
    let mut rng = Rng::new(seed);
    let mut clients = Vec::with_capacity(users + items);
    let mut home = Vec::with_capacity(users);
    for u in 0..users {
        let c = rng.below(communities);
        home.push(c);
        let mut attrs = BTreeMap::new();
        attrs.insert(community_attr(c, 0), 0.5 + 0.4 * rng.next_f64());
        for _ in 0..1 + rng.below(2) {
            attrs.insert(community_attr(c, 1 + rng.below(3)), 0.2 + 0.5 * rng.next_f64());
        }
        let attrs = attrs.into_iter().map(|(a, w)| (a, crate::util::r4(w))).collect();
        clients.push(ClientSpec { id: format!("u{}", u + 1), kind: ClientKind::User, title: None, attrs, rules: None });
    }
    let mut by_community: Vec<Vec<usize>> = vec![Vec::new(); communities];
    for i in 0..items {
        let c = rng.below(communities);
        by_community[c].push(i);
        let mut attrs = BTreeMap::new();
        attrs.insert(community_attr(c, 0), 0.8);
        attrs.insert(community_attr(c, 1 + rng.below(3)), 0.8);
        clients.push(ClientSpec {
            id: format!("i{}", i + 1),
            kind: ClientKind::Item,
            title: Some(format!("Record {} ({})", i + 1, community_attr(c, 0))),
            attrs,
            rules: None,
        });
    }
    let mut schedule = Vec::with_capacity(interactions);
    if users > 0 && items > 0 {
        for k in 0..interactions {
            let u = rng.below(users);
            let drifted = k >= interactions / 2 && u.is_multiple_of(10);
            let c = if drifted { (home[u] + 1) % communities } else { home[u] };
            let pick = |rng: &mut Rng, c: usize| -> usize {
                if by_community[c].is_empty() {
                    rng.below(items)
                } else {
                    by_community[c][rng.below(by_community[c].len())]
                }
            };
            let item = if rng.next_f64() < 0.85 { pick(&mut rng, c) } else { rng.below(items) };
            let other = if communities > 1 { (c + 1 + rng.below(communities - 1)) % communities } else { c };
            let negative = pick(&mut rng, other);
            schedule.push(Scheduled {
                user: format!("u{}", u + 1),
                item: format!("i{}", item + 1),
                negative: (negative != item).then(|| format!("i{}", negative + 1)),
            });
        }
    }
    WorldSpec { name: format!("gen-{users}u-{items}i-{communities}c-s{seed}"), clients, schedule }
}
