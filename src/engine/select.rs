//! Choosing a message's receivers: the router's `fan_out` most relevant members at or over its
//! `tau`, most relevant first, ties by creation order (the index).
//!
//! The plain way scores every member. The pruned way gives the same receivers with the same
//! relevances: it scores in full the members who share behaviour with the message's choosers (the
//! likely receivers, who raise the bar early), and of the rest, who can only score by content,
//! only those whose cheap upper bound reaches the bar. A bound never decides who is chosen, only
//! who provably is not.

use super::Engine;
use crate::util::{fnv1a, fnv1a_extend};
use crate::world::{Changed, ContentKey, IxMap, MemberTerms, Router};
use std::cmp::Ordering;

/// How far under the bar a bound must be to rule a member out: relevance is rounded to four
/// decimals (`r4`), which raises it by at most 5e-5, and the bound already allows for its own float
/// error. (1e-3 before: every member within it of the bar was scored, many in a dense community.)
const MARGIN: f64 = 1e-4;

/// Receivers' order: most relevant first, ties by index.
pub(super) fn by_relevance(a: &(f64, usize), b: &(f64, usize)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Whether a bound reaches `floor`: a NaN bound rules nobody out.
fn reaches(up: f64, floor: f64) -> bool {
    up.partial_cmp(&floor) != Some(Ordering::Less)
}

/// The best `k` members offered so far, in receivers' order.
struct TopK {
    k: usize,
    tau: f64,
    best: Vec<(f64, usize)>,
}

impl TopK {
    /// What a member must reach to be chosen now: `tau`, or the k-th best once there are k.
    fn bar(&self) -> f64 {
        if self.best.len() == self.k {
            self.best[self.k - 1].0
        } else {
            self.tau
        }
    }

    fn offer(&mut self, rel: f64, ix: usize) {
        // NaN is refused, as `retain(rel >= tau)` refuses it.
        if rel.partial_cmp(&self.tau).is_none_or(|o| o == Ordering::Less) {
            return;
        }
        let at = self.best.partition_point(|x| by_relevance(x, &(rel, ix)) == Ordering::Less);
        if at < self.k {
            self.best.insert(at, (rel, ix));
            self.best.truncate(self.k);
        }
    }
}

impl Engine {
    /// Score every member of `r` for every message instead of pruning (the reference the pruned
    /// way must equal; tests and benches compare the two).
    pub fn set_full_scan(&mut self, on: bool) {
        self.full_scan = on;
    }

    /// Bring the member table of router `rix` up to date (made if it has none), and the rows of
    /// the other tables whose clients' terms changed since.
    pub(super) fn sync_member_terms(&mut self, rix: usize) {
        let routers = self.world.routers().len();
        if self.member_terms.len() < routers {
            self.member_terms.resize(routers, None);
        }
        match self.world.take_term_changes() {
            Changed::All => self.member_terms.iter_mut().for_each(|t| *t = None),
            Changed::Clients(changed, memberships) => {
                let world = &self.world;
                // Rows are made from the terms as they are now, so the order of the two kinds of
                // change does not matter.
                for (r, ix, joined) in memberships {
                    if let Some(t) = &mut self.member_terms[r as usize] {
                        world.member_joined(t, ix as usize, joined);
                    }
                }
                for ix in changed {
                    for r in &world.clients()[ix as usize].routers {
                        let Some(i) = world.router_ix(r) else { continue };
                        if let Some(t) = &mut self.member_terms[i] {
                            world.refresh_member_terms(t, ix as usize);
                        }
                    }
                }
            }
        }
        let world = &self.world;
        let members = &world.routers()[rix].member_ix;
        let table = &mut self.member_terms[rix];
        if !table.as_ref().is_some_and(|t| t.is_for(members)) {
            *table = Some(world.member_terms(members));
        }
    }

    /// The receivers of a message of router `r`: `keep` says who may receive it, `rank` a member's
    /// relevance, `behaviour` the members sharing behaviour with its choosers (everyone else has
    /// behaviour 0), `key` its content (none for a message of choices alone), `table` its
    /// members' terms (`sync_member_terms`) if made, `seeds` members likely to be chosen (scored
    /// first to raise the bar; who they are never changes the result, only how fast it is found).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn top_members(
        &self,
        r: &Router,
        behaviour: &IxMap<f64>,
        key: Option<&ContentKey>,
        table: Option<&MemberTerms>,
        seeds: &[usize],
        keep: impl Fn(usize) -> bool,
        rank: impl Fn(usize) -> f64,
    ) -> Vec<(f64, usize)> {
        let (tau, k, members) = (r.tau, r.fan_out, &r.member_ix);
        if k == 0 {
            return Vec::new();
        }
        let w = self.cfg.routers.behaviour_weight;
        // Without content, a member sharing no behaviour scores r4(0) = 0 (see below).
        let prunable = !self.full_scan && tau.is_finite() && (0.0..=1.0).contains(&w);
        if !prunable {
            let mut scored: Vec<(f64, usize)> = members.iter().copied().filter(|ix| keep(*ix)).map(|ix| (rank(ix), ix)).collect();
            scored.retain(|(rel, _)| *rel >= tau);
            if scored.len() > k {
                scored.select_nth_unstable_by(k - 1, by_relevance);
            }
            scored.truncate(k);
            scored.sort_by(by_relevance);
            return scored;
        }
        let mut near: Vec<usize> = if behaviour.len() < members.len() {
            behaviour.keys().copied().filter(|ix| members.binary_search(ix).is_ok()).collect()
        } else {
            members.iter().copied().filter(|ix| behaviour.contains_key(ix)).collect()
        };
        near.sort_unstable();
        let mut top = TopK { k, tau, best: Vec::with_capacity(k + 1) };
        for &ix in &near {
            if keep(ix) {
                top.offer(rank(ix), ix);
            }
        }
        let Some(key) = key else {
            // Without content everyone else scores r4(0) = 0: nobody under a positive tau, else
            // ties broken by index, so only the first k kept in member (index) order can be chosen.
            if tau <= 0.0 {
                let mut next_near = near.iter().peekable();
                let mut offered = 0;
                for &ix in members {
                    if offered == k {
                        break;
                    }
                    if next_near.peek() == Some(&&ix) {
                        next_near.next();
                    } else if keep(ix) {
                        top.offer(rank(ix), ix);
                        offered += 1;
                    }
                }
            }
            return top.best;
        };
        // The others score w·0 + (1 − w)·content, exactly (1 − w)·content.
        let Some(mut bound) = self.world.relevance_bound(key, members.len()) else {
            let mut next_near = near.iter().peekable();
            for &ix in members {
                if next_near.peek() == Some(&&ix) {
                    next_near.next();
                } else if keep(ix) {
                    top.offer(rank(ix), ix);
                }
            }
            return top.best;
        };
        // Bounds of all the others first (cheap, and close to their relevance); then the k with
        // the highest are scored, which sets the bar about where it ends, and of the rest only
        // those whose bound still reaches it. The order of offers does not change the result.
        // The seeds, scored now, give a bar the k-th best can only be over (they are k members
        // who may receive it, none of them near), so the bound scan keeps far fewer members.
        let mut seeded = TopK { k, tau, best: top.best.clone() };
        let mut seed_scores: Vec<(f64, usize)> = Vec::with_capacity(seeds.len());
        for &ix in seeds {
            if members.binary_search(&ix).is_ok() && near.binary_search(&ix).is_err() && keep(ix) {
                let rel = rank(ix);
                seed_scores.push((rel, ix));
                seeded.offer(rel, ix);
            }
        }
        let floor = seeded.bar() - MARGIN;
        let mut likely: Vec<(f64, usize)> = Vec::new();
        let mut next_near = near.iter().peekable();
        let mut consider = |ix: usize, upper: f64| {
            // Members come in index order, but not all of them (those surely under the floor
            // are left out): the near ones passed over meanwhile are skipped.
            while next_near.next_if(|near| **near < ix).is_some() {}
            if next_near.peek() == Some(&&ix) {
                next_near.next();
                return;
            }
            let up = (1.0 - w) * upper;
            if reaches(up, floor) {
                likely.push((up, ix));
            }
        };
        match table {
            Some(t) => {
                // What a bound must reach, in the bound's own units (all reach it without content).
                let least = if w < 1.0 { floor / (1.0 - w) } else { f64::NEG_INFINITY };
                bound.each_upper_at(t, least, |at, upper| consider(members[at], upper))
            }
            None => members.iter().for_each(|&ix| consider(ix, bound.upper(ix))),
        }
        if likely.len() > k {
            likely.select_nth_unstable_by(k - 1, by_relevance);
        }
        for (i, &(up, ix)) in likely.iter().enumerate() {
            if i < k || reaches(up, top.bar() - MARGIN) {
                // A seed was kept and scored already (one not kept is not among the scores).
                match seed_scores.iter().find(|(_, seed)| *seed == ix) {
                    Some(&(rel, _)) => top.offer(rel, ix),
                    None if keep(ix) => top.offer(rank(ix), ix),
                    None => {}
                }
            }
        }
        top.best
    }

    /// The placebo's receivers: as many members as relevance would have chosen (at or over `tau`,
    /// at most `fan_out`), drawn by a stable hash of the message (`salt`) and each member's index.
    pub(super) fn placebo_members(&self, r: &Router, salt: u64, keep: impl Fn(usize) -> bool, rank: impl Fn(usize) -> f64) -> Vec<(f64, usize)> {
        let (tau, k) = (r.tau, r.fan_out);
        if self.full_scan {
            let mut scored: Vec<(f64, usize)> = r.member_ix.iter().copied().filter(|ix| keep(*ix)).map(|ix| (rank(ix), ix)).collect();
            let matched = scored.iter().filter(|(rel, _)| *rel >= tau).count().min(k);
            scored.sort_by_key(|(_, ix)| fnv1a(format!("{salt}/{ix}").as_bytes()));
            scored.truncate(matched);
            return scored;
        }
        // Each kept member's draw, hashed once (not once per comparison), with its place in
        // index order: (draw, place) orders them as a stable sort by draw does.
        let prefix = fnv1a(format!("{salt}/").as_bytes());
        let mut kept: Vec<(u64, usize, usize)> =
            r.member_ix.iter().copied().filter(|ix| keep(*ix)).enumerate().map(|(at, ix)| (draw(prefix, ix), at, ix)).collect();
        // Relevance only as far as it counts: up to `fan_out` members at or over tau.
        let mut matched = 0;
        for &(_, _, ix) in &kept {
            if matched == k {
                break;
            }
            if rank(ix) >= tau {
                matched += 1;
            }
        }
        if matched == 0 {
            return Vec::new();
        }
        if matched < kept.len() {
            kept.select_nth_unstable_by_key(matched - 1, |(d, at, _)| (*d, *at));
            kept.truncate(matched);
        }
        kept.sort_unstable_by_key(|(d, at, _)| (*d, *at));
        kept.into_iter().map(|(_, _, ix)| (rank(ix), ix)).collect()
    }
}

/// `fnv1a` of "{salt}/{ix}" from `prefix`, the hash of "{salt}/": the digits written without a
/// string.
fn draw(prefix: u64, ix: usize) -> u64 {
    let (mut buf, mut at, mut n) = ([0u8; 20], 20, ix);
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    fnv1a_extend(prefix, &buf[at..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_draw_is_the_hash_of_salt_slash_index() {
        for (salt, ix) in [(1u64, 0usize), (7, 9), (42, 10), (123456, 987654321), (u64::MAX, usize::MAX)] {
            let prefix = super::fnv1a(format!("{salt}/").as_bytes());
            assert_eq!(super::draw(prefix, ix), super::fnv1a(format!("{salt}/{ix}").as_bytes()), "{salt}/{ix}");
        }
    }
}
