//! Per time step statistics for the metrics view and the model's accounting, computed up to the
//! current step and cached.

use super::*;
use crate::world::event::EventBody;

impl App {
    /// The per-tick statistics last prepared by `prepare_stats`.
    pub fn stats(&self) -> &[TickStats] {
        &self.stats_cache
    }

    /// The model's calls per stage up to the step last prepared (as `recnet run` summarises them).
    pub fn accounting(&self) -> &crate::reasoner::accounting::Accounting {
        &self.accounting_cache
    }

    /// Per-tick decision counts and credit, and the model's accounting, up to the current step
    /// (scanned incrementally).
    pub fn prepare_stats(&mut self) -> &[TickStats] {
        if self.stats_upto > self.pos {
            self.stats_cache.clear();
            self.accounting_cache = Default::default();
            self.stats_upto = 0;
        }
        let evs = self.branch().timeline.store.range(self.stats_upto, self.pos).unwrap_or_default();
        for e in evs {
            if self.stats_cache.last().is_none_or(|s| s.tick != e.tick) {
                self.stats_cache.push(TickStats { tick: e.tick, ..TickStats::default() });
            }
            self.accounting_cache.observe(&e.body);
            let s = self.stats_cache.last_mut().expect("pushed");
            match &e.body {
                EventBody::FilterDecision { decision, .. } => match decision {
                    crate::world::event::Decision::Accept => s.accepted += 1,
                    crate::world::event::Decision::Hold => s.held += 1,
                    crate::world::event::Decision::Reject => s.rejected += 1,
                },
                EventBody::CreditAssigned { shares, .. } => s.credit += shares.iter().map(|x| x.amount).sum::<f64>(),
                _ => {}
            }
        }
        self.stats_upto = self.pos;
        &self.stats_cache
    }
}
