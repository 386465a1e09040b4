//! What the model did, per stage: calls, valid replies, fallbacks by cause, budget exhaustion,
//! tokens and latency. Built from the events a model reasoner records, so a live run and a
//! replayed session count the same way.

use crate::world::event::EventBody;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a model's reply was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// The reply ran to the token limit.
    CutOff,
    /// No JSON object, or one that does not parse.
    InvalidJson,
    /// JSON of the wrong shape, or an answer that does not fit its request.
    WrongShape,
    /// An optimise reply whose rules do not parse.
    RulesDoNotParse,
    /// The endpoint refused or failed the call.
    Http,
}

impl Cause {
    pub const ALL: [Cause; 5] = [Cause::CutOff, Cause::InvalidJson, Cause::WrongShape, Cause::RulesDoNotParse, Cause::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::CutOff => "cut_off",
            Cause::InvalidJson => "invalid_json",
            Cause::WrongShape => "wrong_shape",
            Cause::RulesDoNotParse => "rules_do_not_parse",
            Cause::Http => "http_error",
        }
    }

    /// Column heading in the summary.
    pub fn label(self) -> &'static str {
        match self {
            Cause::CutOff => "cut",
            Cause::InvalidJson => "json",
            Cause::WrongShape => "shape",
            Cause::RulesDoNotParse => "rules",
            Cause::Http => "http",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageStats {
    /// Replies received (cache hits not included).
    pub calls: u64,
    pub cached: u64,
    pub fallbacks: BTreeMap<Cause, u64>,
    /// Requests the offline reasoner answered because the call budget was spent.
    pub budget: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latencies_ms: Vec<u64>,
}

impl StageStats {
    /// Replies that were used: every reply minus those that fell back (an HTTP error has no reply).
    pub fn valid(&self) -> u64 {
        let bad: u64 = self.fallbacks.iter().filter(|(c, _)| **c != Cause::Http).map(|(_, n)| n).sum();
        self.calls.saturating_sub(bad)
    }

    /// Nearest-rank percentile of the call latencies (0 with no calls).
    pub fn latency_percentile(&self, p: f64) -> u64 {
        if self.latencies_ms.is_empty() {
            return 0;
        }
        let mut v = self.latencies_ms.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    fn add(&mut self, o: &StageStats) {
        self.calls += o.calls;
        self.cached += o.cached;
        for (c, n) in &o.fallbacks {
            *self.fallbacks.entry(*c).or_default() += n;
        }
        self.budget += o.budget;
        self.tokens_in = self.tokens_in.saturating_add(o.tokens_in);
        self.tokens_out = self.tokens_out.saturating_add(o.tokens_out);
        self.latencies_ms.extend(&o.latencies_ms);
    }
}

/// One stage's accounting as a report carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub calls: u64,
    pub valid: u64,
    pub cached: u64,
    /// Replies that fell back, by cause (`Cause::as_str`).
    pub fell_back: BTreeMap<&'static str, u64>,
    pub budget: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accounting {
    pub stages: BTreeMap<String, StageStats>,
    /// Replies cut at the token limit (also in `fallbacks` when they could not be used).
    pub cut_at_limit: u64,
    /// Notes that are not failures of a reply: the budget running out, a response_format downgrade.
    pub notes: Vec<String>,
}

impl Accounting {
    /// Count one recorded event (others are ignored).
    pub fn observe(&mut self, body: &EventBody) {
        match body {
            EventBody::ReasonExchange { stage, tokens_in, tokens_out, latency_ms, cache_hit, finish_reason, .. } => {
                let s = self.stages.entry(stage.clone()).or_default();
                if *cache_hit {
                    s.cached += 1;
                    return;
                }
                s.calls += 1;
                s.tokens_in = s.tokens_in.saturating_add(*tokens_in);
                s.tokens_out = s.tokens_out.saturating_add(*tokens_out);
                s.latencies_ms.push(*latency_ms);
                if finish_reason == "length" {
                    self.cut_at_limit += 1;
                }
            }
            EventBody::ReasonFailed { stage, error, cause, .. } => match cause.as_str() {
                // One event per request the offline reasoner answered because the budget was
                // spent: counted apart from the model's failures, noted once.
                "budget" => {
                    self.stages.entry(stage.clone()).or_default().budget += 1;
                    if !self.notes.contains(error) {
                        self.notes.push(error.clone());
                    }
                }
                "format_fallback" => self.notes.push(error.clone()),
                c => {
                    // Sessions from before causes were recorded: sort by the error's wording.
                    let cause = Cause::parse(c).unwrap_or(if error.contains("JSON") || error.contains("cut short") {
                        Cause::InvalidJson
                    } else if error.contains("do not parse") {
                        Cause::RulesDoNotParse
                    } else {
                        Cause::WrongShape
                    });
                    *self.stages.entry(stage.clone()).or_default().fallbacks.entry(cause).or_default() += 1;
                }
            },
            _ => {}
        }
    }

    pub fn from_events<'a>(bodies: impl IntoIterator<Item = &'a EventBody>) -> Accounting {
        let mut a = Accounting::default();
        for b in bodies {
            a.observe(b);
        }
        a
    }

    pub fn total(&self) -> StageStats {
        let mut t = StageStats::default();
        for s in self.stages.values() {
            t.add(s);
        }
        t
    }

    /// One row per stage and the total (`all`), for a JSON report.
    pub fn rows(&self) -> Vec<StageRow> {
        let row = |stage: &str, s: &StageStats| StageRow {
            stage: stage.to_string(),
            calls: s.calls,
            valid: s.valid(),
            cached: s.cached,
            fell_back: Cause::ALL.iter().map(|c| (c.as_str(), s.fallbacks.get(c).copied().unwrap_or(0))).collect(),
            budget: s.budget,
            tokens_in: s.tokens_in,
            tokens_out: s.tokens_out,
            p50_ms: s.latency_percentile(50.0),
            p95_ms: s.latency_percentile(95.0),
        };
        self.stages.iter().map(|(k, s)| row(k, s)).chain(std::iter::once(row("all", &self.total()))).collect()
    }

    /// The table for a summary: a header and one line per stage, then the total.
    pub fn table(&self) -> Vec<String> {
        table(&self.rows())
    }
}

/// Rows laid out as a table: a header, then one line per row, fallbacks in `Cause::ALL` order.
pub fn table(rows: &[StageRow]) -> Vec<String> {
    let mut head = format!("{:<10} {:>5} {:>5} {:>6}", "stage", "calls", "valid", "cached");
    for c in Cause::ALL {
        head.push_str(&format!(" {:>5}", c.label()));
    }
    head.push_str(&format!(" {:>6} {:>8} {:>7} {:>7} {:>7}", "budget", "tok in", "tok out", "p50 ms", "p95 ms"));
    let mut out = vec![head];
    for r in rows {
        let mut l = format!("{:<10} {:>5} {:>5} {:>6}", r.stage, r.calls, r.valid, r.cached);
        for c in Cause::ALL {
            l.push_str(&format!(" {:>5}", r.fell_back.get(c.as_str()).copied().unwrap_or(0)));
        }
        l.push_str(&format!(" {:>6} {:>8} {:>7} {:>7} {:>7}", r.budget, r.tokens_in, r.tokens_out, r.p50_ms, r.p95_ms));
        out.push(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(stage: &str, ms: u64, finish: &str, cache_hit: bool) -> EventBody {
        EventBody::ReasonExchange {
            stage: stage.into(),
            model: "m".into(),
            prompt: String::new(),
            reply: String::new(),
            tokens_in: 10,
            tokens_out: 5,
            latency_ms: ms,
            cache_hit,
            finish_reason: finish.into(),
        }
    }

    fn failed(stage: &str, cause: &str, error: &str) -> EventBody {
        EventBody::ReasonFailed { stage: stage.into(), error: error.into(), fallback: "offline".into(), cause: cause.into() }
    }

    #[test]
    fn accounting_separates_causes_budget_and_cache() {
        let evs = vec![
            exchange("filter", 100, "stop", false),
            exchange("filter", 300, "length", false),
            failed("filter", "cut_off", "cut at max_tokens (64)"),
            exchange("filter", 200, "stop", false),
            exchange("filter", 0, "", true),
            failed("filter", "budget", "the budget of 3 model calls is spent"),
            failed("credit", "budget", "the budget of 3 model calls is spent"),
            failed("credit", "budget", "the budget of 3 model calls is spent"),
            exchange("optimise", 50, "stop", false),
            failed("optimise", "", "the proposed rules do not parse: line 1"),
        ];
        let a = Accounting::from_events(&evs);
        let f = &a.stages["filter"];
        assert_eq!((f.calls, f.valid(), f.cached, f.tokens_in), (3, 2, 1, 30));
        assert_eq!(f.fallbacks[&Cause::CutOff], 1);
        assert_eq!((f.latency_percentile(50.0), f.latency_percentile(95.0)), (200, 300));
        assert_eq!(a.cut_at_limit, 1);
        assert_eq!(a.notes.len(), 1, "the budget notice is a note, not a failure, noted once");
        assert_eq!((f.budget, a.stages["credit"].budget, a.stages["credit"].valid()), (1, 2, 0));
        assert!(a.stages["credit"].fallbacks.is_empty(), "past the budget is not a model failure");
        assert_eq!(a.stages["optimise"].fallbacks[&Cause::RulesDoNotParse], 1, "old sessions sorted by wording");
        let t = a.table();
        assert_eq!(t.len(), 5);
        assert!(t[4].starts_with("all"), "{t:?}");
    }
}
