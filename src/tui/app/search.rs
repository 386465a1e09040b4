//! Search: one matcher for every view (ids, titles, the event's kind and its narration — what
//! the screen shows, not the raw JSON), the list of matching steps for n/N with "match k of N",
//! the event log's filter, and a pick list when a query names several agents. A long log is
//! scanned as a job (the footer shows how far; Esc stops it), a short one at once.

use super::jobs::{Job, JobCtl, Poll};
use super::*;
use crate::store::timeline::EventStore;
use crate::world::event::Event;
use std::sync::{Arc, Mutex};

/// Scans up to this long are done at once (tens of milliseconds); longer ones in a job.
pub const SEARCH_AT_ONCE: u64 = 50_000;

/// Matches a scan found that the app has not yet taken in.
type Found = Arc<Mutex<Vec<u64>>>;

pub struct Search {
    /// Lower-cased query.
    pub query: String,
    /// Matching steps among the first `scanned` events, ascending.
    pub matches: Vec<u64>,
    pub scanned: u64,
    /// The branch whose log this is (another branch is scanned afresh).
    branch: usize,
    /// The scan of a long log under way, and the matches it found that are not yet taken in.
    scan: Option<(Job<()>, Found)>,
    /// Where the scan under way ends.
    scan_to: u64,
    /// Esc stopped the scan: n/N go on over what it covered.
    stopped: bool,
}

impl Search {
    pub fn new(query: String, branch: usize) -> Search {
        Search { query, matches: Vec::new(), scanned: 0, branch, scan: None, scan_to: 0, stopped: false }
    }

    /// Whether these are branch `b`'s matches.
    pub fn on(&self, b: usize) -> bool {
        self.branch == b
    }

    /// Whether every event of a log `len` long has been looked at.
    pub fn counted(&self, len: u64) -> bool {
        self.scanned >= len
    }
}

/// Does an event match a lower-cased query, titles looked up in `world`?
fn matches_in(world: &World, e: &Event, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    if e.body.kind().contains(q) || crate::analysis::narrate::narrate(e).to_lowercase().contains(q) {
        return true;
    }
    let (agent, router, _) = crate::analysis::export::event_refs(e);
    agent
        .into_iter()
        .chain(router)
        .any(|id| id.to_lowercase().contains(q) || world.client(id).and_then(|c| c.title.as_deref()).is_some_and(|t| t.to_lowercase().contains(q)))
}

/// Scan `from..to` of `store` for `q`, a chunk at a time, handing matches to `found`.
fn scan(store: &EventStore, world: &World, q: &str, from: u64, to: u64, ctl: Option<&JobCtl>, found: &mut dyn FnMut(Vec<u64>)) -> u64 {
    let mut i = from;
    while i < to && !ctl.is_some_and(|c| c.cancelled()) {
        // Up to a line that cannot be read: the scan ends there.
        let chunk = super::nav::readable_range(store, i, (i + 4096).min(to)).0;
        if chunk.is_empty() {
            break;
        }
        found(chunk.iter().filter(|e| matches_in(world, e, q)).map(|e| e.step).collect());
        i += chunk.len() as u64;
        if let Some(c) = ctl {
            c.progress(i, to);
        }
    }
    i
}

impl App {
    /// Does an event match a lower-cased query? The same test in the inspect view, the event log
    /// filter and n/N.
    pub fn event_matches(&self, e: &Event, q: &str) -> bool {
        matches_in(&self.cursor.world, e, q)
    }

    /// Agents whose id or title contains the query: (id, title).
    fn agent_candidates(&self, q: &str) -> Vec<(String, String)> {
        let clients = self.cursor.world.clients().iter().filter_map(|c| {
            let title = c.title.clone().unwrap_or_default();
            (c.id.to_lowercase().contains(q) || title.to_lowercase().contains(q)).then(|| (c.id.clone(), title))
        });
        let routers = self.cursor.world.routers().iter().filter(|r| r.id.to_lowercase().contains(q)).map(|r| (r.id.clone(), "router".to_string()));
        clients.chain(routers).collect()
    }

    /// Take in what the scan found, and scan what it has not yet: the live run may have
    /// produced more since the search began. A long stretch goes to a job.
    pub(super) fn extend_matches(&mut self) {
        let (current, len, at_once) = (self.branches.current, self.len(), self.scan_at_once);
        let Some(s) = &mut self.search else { return };
        if s.branch != current {
            *s = Search::new(std::mem::take(&mut s.query), current);
        }
        if let Some((job, found)) = &s.scan {
            // Progress first: the matches before it are in by then (a chunk's matches go before
            // its progress).
            let (state, done) = (job.poll(), job.done());
            if let Ok(mut f) = found.lock() {
                s.matches.append(&mut f);
            }
            if let Poll::Running = state {
                s.scanned = s.scanned.max(done);
                return;
            }
            if let Poll::Lost = state {
                // Only what it reached was searched; stop there rather than start it again.
                s.scanned = s.scanned.max(done);
                s.stopped = true;
                s.scan = None;
                return;
            }
            // The job's last chunk was taken in above: it covered everything up to its end.
            s.scanned = s.scan_to;
            s.scan = None;
        }
        if s.stopped || s.scanned >= len {
            return;
        }
        let store = &self.branches[current].timeline.store;
        if len - s.scanned <= at_once {
            let mut found = Vec::new();
            s.scanned = scan(store, &self.cursor.world, &s.query, s.scanned, len, None, &mut |m| found.extend(m));
            s.matches.extend(found);
            return;
        }
        let Ok(store) = store.handle() else { return };
        let (world, q, from, shared) = (self.cursor.world.clone(), s.query.clone(), s.scanned, Arc::new(Mutex::new(Vec::new())));
        let theirs = shared.clone();
        let job = Job::spawn(format!("searching the log for “{}”", crate::util::text::sanitize(&q, 30)), move |ctl| {
            scan(&store, &world, &q, from, len, Some(ctl), &mut |m| {
                if let Ok(mut f) = theirs.lock() {
                    f.extend(m);
                }
            });
        });
        s.scan_to = len;
        s.scan = Some((job, shared));
    }

    /// The timer's look at a search scan: takes in its matches, and when it is done, the jump the
    /// search was asked for. Whether one runs.
    pub(super) fn poll_search(&mut self) -> bool {
        if !self.scanning() && !self.search_pending {
            return false;
        }
        self.extend_matches();
        let running = self.search.as_ref().is_some_and(|s| s.scan.is_some());
        if !running && std::mem::take(&mut self.search_pending) {
            self.search_step(true);
        }
        if self.view == View::Events {
            // The filtered log's rows are among the matches just taken in.
            self.prepare_log();
        }
        self.dirty = true;
        running
    }

    /// Esc during a scan: it stops where it got to; n/N go on over that.
    pub(super) fn stop_search(&mut self) -> bool {
        let Some(s) = &mut self.search else { return false };
        let Some((job, found)) = s.scan.take() else { return false };
        job.cancel();
        let done = job.done();
        if let Ok(mut f) = found.lock() {
            // Matches past `done` (a chunk in flight) are kept out, so the count is of `done`.
            s.matches.extend(f.drain(..).filter(|m| *m < done));
        }
        s.scanned = s.scanned.max(done);
        s.stopped = true;
        self.search_pending = false;
        self.status = format!("search stopped: {} match(es) in the first {} events", s.matches.len(), s.scanned);
        true
    }

    /// Block until the scan under way ends (scripted use: `finish_jobs`).
    pub(super) fn wait_search(&self) {
        if let Some((job, _)) = self.search.as_ref().and_then(|s| s.scan.as_ref()) {
            job.wait_end();
        }
    }

    /// The search scan under way, if one runs.
    pub(super) fn search_job(&self) -> Option<&Job<()>> {
        self.search.as_ref().and_then(|s| s.scan.as_ref()).map(|(job, _)| job)
    }

    pub(super) fn search(&mut self, q: &str) -> anyhow::Result<()> {
        if q.is_empty() {
            anyhow::bail!("type something to find");
        }
        let ql = q.to_lowercase();
        self.search = Some(Search::new(ql.clone(), self.branches.current));
        self.extend_matches();
        let exact = self
            .cursor
            .world
            .clients()
            .iter()
            .map(|c| &c.id)
            .chain(self.cursor.world.routers().iter().map(|r| &r.id))
            .find(|id| id.to_lowercase() == ql)
            .cloned();
        let candidates = if exact.is_some() { Vec::new() } else { self.agent_candidates(&ql) };
        if let Some(id) = exact.or_else(|| (candidates.len() == 1).then(|| candidates[0].0.clone())) {
            self.pick_agent(id);
            return Ok(());
        }
        if candidates.len() > 1 {
            self.scroll.popup.top();
            self.popup = Popup::Pick { query: q.to_string(), items: candidates, cursor: 0 };
            return Ok(());
        }
        self.view = if self.view == View::Events { View::Events } else { View::Inspect };
        if self.scanning() {
            // The jump waits for the scan (a long log): the timer makes it when it is done.
            self.search_pending = true;
            return Ok(());
        }
        if self.search_step(true) {
            Ok(())
        } else {
            Err(anyhow::anyhow!("nothing matches {}", crate::util::text::sanitize(q, 40)))
        }
    }

    pub(super) fn pick_agent(&mut self, id: String) {
        self.status = format!("selected {}{}", crate::util::text::sanitize(&id, 40), self.match_summary());
        self.select(Some(id));
        self.cursor.follow = false;
        self.view = View::Inspect;
        self.focus = Focus::Agents;
    }

    fn match_summary(&self) -> String {
        match &self.search {
            Some(s) if !s.matches.is_empty() => format!(" · {} event(s) match: n/N go to them", s.matches.len()),
            _ => String::new(),
        }
    }

    /// n / N: the next or previous matching event after the one shown (or, in the event log,
    /// after the cursor), wrapping around. Returns whether there was one.
    /// Whether a search scan is under way.
    pub fn scanning(&self) -> bool {
        self.search.as_ref().is_some_and(|s| s.scan.is_some())
    }

    pub(super) fn search_step(&mut self, forward: bool) -> bool {
        if self.search.is_none() {
            self.status = "no search yet: / starts one".into();
            return false;
        }
        self.extend_matches();
        let here = if self.view == View::Events { self.log_cursor } else { self.cursor.pos.saturating_sub(1) };
        let s = self.search.as_ref().expect("checked above");
        let counted = s.counted(self.len());
        let m = &s.matches;
        let at = if forward { m.partition_point(|&x| x <= here) } else { m.partition_point(|&x| x < here) };
        let found = if forward { m.get(at).copied().map(|x| (at, x)) } else { at.checked_sub(1).map(|k| (k, m[k])) };
        let wrapped = if forward { s.matches.first().map(|&x| (0, x)) } else { s.matches.last().map(|&x| (s.matches.len() - 1, x)) };
        let more = if counted { "" } else { "+" };
        let (label, step) = match (found, wrapped) {
            (Some((k, x)), _) => (format!("match {} of {}{more}", k + 1, s.matches.len()), x),
            (None, Some((k, x))) => (format!("match {} of {}{more} (wrapped)", k + 1, s.matches.len()), x),
            _ if s.scan.is_some() => {
                self.status = format!("no match yet for {}: still searching", crate::util::text::sanitize(&s.query, 40));
                return false;
            }
            _ => {
                self.status = format!("no event matches {}", crate::util::text::sanitize(&s.query, 40));
                return false;
            }
        };
        if self.view == View::Events {
            self.log_cursor = step;
        } else {
            self.jump(step + 1);
        }
        self.status = format!("{label} · step {step}");
        true
    }
}
