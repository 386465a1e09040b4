//! The event log's rows, prepared around the cursor before drawing (the view reads no events),
//! and the filtered log's moves, looked up in the filter's matches instead of scanning.

use super::*;
use crate::world::event::Event;

/// Rows prepared on each side of the cursor: more than any terminal is tall.
pub const LOG_ROWS: u64 = 160;

/// How far a filtered move scans when the filter's matches are not at hand.
const NEAR: u64 = 50_000;

/// The rows around the cursor, and how many of them are at or before it.
#[derive(Default)]
pub struct LogRows {
    pub rows: Vec<Event>,
    pub upto_cursor: usize,
    /// What they were prepared from: the same again needs no new rows (the loop prepares
    /// before every frame, and a running job asks for a frame ten times a second).
    from: Option<RowsKey>,
    /// How many times rows were read from the log (what the key saves, for tests).
    pub builds: u64,
}

/// (branch, log length, cursor, filter, matches found, events searched).
type RowsKey = (usize, u64, u64, String, usize, u64);

impl App {
    /// The filter's matching steps, when the search holds them (a filter is a search).
    fn log_index(&self) -> Option<&[u64]> {
        self.search.as_ref().filter(|s| !self.log_filter.is_empty() && s.query == self.log_filter && s.on(self.branches.current)).map(|s| s.matches.as_slice())
    }

    /// Where step `step` stands among the filter's matches (1-based), how many were found, and
    /// whether the whole log was searched; `None` while the matches are not at hand.
    pub fn log_match_rank(&self, step: u64) -> Option<(usize, usize, bool)> {
        let m = self.log_index()?;
        let complete = self.search.as_ref().is_some_and(|s| s.counted(self.len()));
        Some((m.partition_point(|&x| x < step) + 1, m.len(), complete))
    }

    /// The filtered log's first shown row at or after `from` (`forward`), or at or before it.
    pub(super) fn log_match(&self, from: u64, forward: bool) -> Option<u64> {
        if self.log_filter.is_empty() {
            return (from < self.len()).then_some(from);
        }
        match self.log_index() {
            Some(m) if forward => m.get(m.partition_point(|&x| x < from)).copied(),
            Some(m) => m.partition_point(|&x| x <= from).checked_sub(1).map(|k| m[k]),
            None if forward => self.find_forward_until(from, (from + NEAR).min(self.len()), |e| self.log_matches(e)),
            None => self.find_back_until(from, from.saturating_sub(NEAR), |e| self.log_matches(e)),
        }
    }

    /// Prepare the rows the event log shows, up to `LOG_ROWS` each side of the cursor.
    pub fn prepare_log(&mut self) {
        let (len, c) = (self.len(), self.log_cursor);
        if !self.log_filter.is_empty() && !self.scanning() {
            // New events of a live run (a scan under way is taken in by the timer).
            self.extend_matches();
        }
        let found = self.search.as_ref().map_or((0, 0), |s| (s.matches.len(), s.scanned));
        let key = (self.branches.current, len, c, self.log_filter.clone(), found.0, found.1);
        if self.log_rows.from.as_ref() == Some(&key) {
            return;
        }
        let builds = self.log_rows.builds + 1;
        self.log_rows = LogRows { from: Some(key), builds, ..self.log_rows_now(len, c) };
    }

    /// The shown branch changed under the same index (deleted, or a fork opened): rows are read
    /// again whatever the key says.
    pub(super) fn forget_log_rows(&mut self) {
        self.log_rows.from = None;
    }

    fn log_rows_now(&self, len: u64, c: u64) -> LogRows {
        if self.log_filter.is_empty() {
            let first = c.saturating_sub(LOG_ROWS).min(len.saturating_sub(2 * LOG_ROWS));
            let rows = self.readable(first, (first + 2 * LOG_ROWS).min(len));
            let upto_cursor = rows.iter().take_while(|e| e.step <= c).count();
            return LogRows { rows, upto_cursor, from: None, builds: 0 };
        }
        let mut steps: Vec<u64> = Vec::new();
        let mut at = Some(c);
        while let Some(i) = at.filter(|_| (steps.len() as u64) < LOG_ROWS) {
            let Some(j) = self.log_match(i, false) else { break };
            steps.push(j);
            at = j.checked_sub(1);
        }
        steps.reverse();
        let upto_cursor = steps.len();
        let mut next = c + 1;
        while (steps.len() as u64) < 2 * LOG_ROWS {
            let Some(j) = self.log_match(next, true) else { break };
            steps.push(j);
            next = j + 1;
        }
        let rows: Vec<Event> = steps.iter().filter_map(|j| self.event(*j)).collect();
        LogRows { upto_cursor: upto_cursor.min(rows.len()), rows, from: None, builds: 0 }
    }
}
