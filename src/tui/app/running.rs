//! Every job under way, as the footer lists them and as Esc picks one: the most recently
//! started job is Esc's target (marked in the footer), and its own message names it when it
//! stops.

use super::jobs::Job;
use super::*;

/// Which job, to stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fork,
    /// A comparison, by its job's number (several can run).
    Compare(u64),
    Save,
    Search,
    Stats,
}

/// What marks Esc's target in the footer.
pub const ESC_MARK: &str = " (Esc cancels)";

impl App {
    /// (start order, which, progress line) of every job under way, the most recent first.
    fn running(&self) -> Vec<(u64, Kind, String)> {
        let line = |j: &dyn JobLine| (j.seq(), j.line());
        let mut v: Vec<(u64, Kind, String)> = Vec::new();
        let mut add = |j: &dyn JobLine, k: Kind| {
            let (seq, text) = line(j);
            v.push((seq, k, text));
        };
        if let Some(f) = self.fork_job.as_ref().map(|f| &f.job) {
            add(f, Kind::Fork);
        }
        for c in &self.compare_jobs {
            add(&c.job, Kind::Compare(c.job.seq()));
        }
        if let Some(s) = &self.save_job {
            add(&s.job, Kind::Save);
        }
        if let Some(j) = self.search_job() {
            add(j, Kind::Search);
        }
        if let Some(j) = self.stats_job.as_ref().map(|j| &j.job) {
            add(j, Kind::Stats);
        }
        v.sort_by_key(|j| std::cmp::Reverse(j.0));
        v
    }

    /// The progress lines of the jobs under way, the most recent first, marked as Esc's target.
    pub fn job_lines(&self) -> Vec<String> {
        self.running().into_iter().enumerate().map(|(k, (_, _, line))| if k == 0 { line + ESC_MARK } else { line }).collect()
    }

    /// Every job under way on one line (uncut; the footer cuts each to its share of the width).
    pub fn job_line(&self) -> Option<String> {
        let lines = self.job_lines();
        (!lines.is_empty()).then(|| lines.join(JOB_SEPARATOR))
    }

    /// Esc with jobs under way: the most recently started one stops. Whether one did.
    pub(super) fn cancel_newest_job(&mut self) -> bool {
        let Some((_, kind, _)) = self.running().into_iter().next() else { return false };
        match kind {
            Kind::Fork => self.cancel_fork(),
            Kind::Compare(seq) => self.cancel_compare(seq),
            Kind::Save => self.cancel_save(),
            Kind::Search => self.stop_search(),
            Kind::Stats => self.stop_stats(),
        }
    }
}

/// Between two jobs in the footer.
pub const JOB_SEPARATOR: &str = " │ ";

/// A job of any result type, as the footer sees it.
trait JobLine {
    fn seq(&self) -> u64;
    fn line(&self) -> String;
}

impl<T: Send + 'static> JobLine for Job<T> {
    fn seq(&self) -> u64 {
        Job::seq(self)
    }
    fn line(&self) -> String {
        Job::line(self)
    }
}
