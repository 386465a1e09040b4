//! Search: one matcher for every view (ids, titles, the event's kind and its narration — what
//! the screen shows, not the raw JSON), the list of matching steps for n/N with "match k of N",
//! and a pick list when a query names several agents.

use super::*;
use crate::world::event::Event;

/// Steps scanned to count matches; past this (huge sessions) n/N search on without a count.
pub const SEARCH_SCAN: u64 = 200_000;

pub struct Search {
    /// Lower-cased query.
    pub query: String,
    /// Matching steps among the first `scanned` events, ascending.
    pub matches: Vec<u64>,
    pub scanned: u64,
}

impl App {
    /// Does an event match a lower-cased query? The same test in the inspect view, the event log
    /// filter and n/N.
    pub fn event_matches(&self, e: &Event, q: &str) -> bool {
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
            .any(|id| id.to_lowercase().contains(q) || self.world.client(id).and_then(|c| c.title.as_deref()).is_some_and(|t| t.to_lowercase().contains(q)))
    }

    /// Agents whose id or title contains the query: (id, title).
    fn agent_candidates(&self, q: &str) -> Vec<(String, String)> {
        let clients = self.world.clients().iter().filter_map(|c| {
            let title = c.title.clone().unwrap_or_default();
            (c.id.to_lowercase().contains(q) || title.to_lowercase().contains(q)).then(|| (c.id.clone(), title))
        });
        let routers = self.world.routers().iter().filter(|r| r.id.to_lowercase().contains(q)).map(|r| (r.id.clone(), "router".to_string()));
        clients.chain(routers).collect()
    }

    /// Scan events not yet scanned (the live run may have produced more since the search began).
    fn extend_matches(&mut self) {
        let Some(mut s) = self.search.take() else { return };
        let end = self.len().min(SEARCH_SCAN);
        let mut i = s.scanned;
        while i < end {
            let chunk = self.branch().timeline.store.range(i, (i + 512).min(end)).unwrap_or_default();
            if chunk.is_empty() {
                break;
            }
            s.matches.extend(chunk.iter().filter(|e| self.event_matches(e, &s.query)).map(|e| e.step));
            i += chunk.len() as u64;
        }
        s.scanned = i;
        self.search = Some(s);
    }

    pub(super) fn search(&mut self, q: &str) -> anyhow::Result<()> {
        if q.is_empty() {
            anyhow::bail!("type something to find");
        }
        let ql = q.to_lowercase();
        self.search = Some(Search { query: ql.clone(), matches: Vec::new(), scanned: 0 });
        self.extend_matches();
        let exact = self.world.clients().iter().map(|c| &c.id).chain(self.world.routers().iter().map(|r| &r.id)).find(|id| id.to_lowercase() == ql).cloned();
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
        if self.search_step(true) {
            Ok(())
        } else {
            Err(anyhow::anyhow!("nothing matches {}", crate::util::text::sanitize(q, 40)))
        }
    }

    pub(super) fn pick_agent(&mut self, id: String) {
        self.status = format!("selected {}{}", crate::util::text::sanitize(&id, 40), self.match_summary());
        self.select(Some(id));
        self.follow = false;
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
    pub(super) fn search_step(&mut self, forward: bool) -> bool {
        if self.search.is_none() {
            self.status = "no search yet: / starts one".into();
            return false;
        }
        self.extend_matches();
        let here = if self.view == View::Events { self.log_cursor } else { self.pos.saturating_sub(1) };
        let s = self.search.as_ref().expect("checked above");
        let counted = s.scanned >= self.len();
        let m = &s.matches;
        let at = if forward { m.partition_point(|&x| x <= here) } else { m.partition_point(|&x| x < here) };
        let found = if forward { m.get(at).copied().map(|x| (at, x)) } else { at.checked_sub(1).map(|k| (k, m[k])) };
        // Past the counted stretch of a huge session: search on without a count.
        let beyond = if found.is_none() && !counted {
            let q = s.query.clone();
            if forward {
                self.find_forward((here + 1).max(SEARCH_SCAN), |e| self.event_matches(e, &q))
            } else {
                None
            }
        } else {
            None
        };
        let s = self.search.as_ref().expect("checked above");
        let wrapped = if forward { s.matches.first().map(|&x| (0, x)) } else { s.matches.last().map(|&x| (s.matches.len() - 1, x)) };
        let (label, step) = match (found, beyond, wrapped) {
            (Some((k, x)), _, _) => (format!("match {} of {}{}", k + 1, s.matches.len(), if counted { "" } else { "+" }), x),
            (None, Some(x), _) => (format!("a match past the first {} events (not counted)", SEARCH_SCAN), x),
            (None, None, Some((k, x))) => (format!("match {} of {} (wrapped)", k + 1, s.matches.len()), x),
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
