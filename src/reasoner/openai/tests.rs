use super::reply::{edit_applied_where_asked, one_rule_changed};
use super::*;
use crate::engine::protocol::FilterItem;
use crate::reasoner::schema::reply_schema;
use crate::world::event::Edit;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use std::time::SystemTime;

#[test]
fn retry_after_reads_seconds_milliseconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    let mut h = HeaderMap::new();
    assert_eq!(retry_after(&h, now), None);
    h.insert("retry-after", HeaderValue::from_static("2"));
    assert_eq!(retry_after(&h, now), Some(Duration::from_secs(2)));
    h.insert("retry-after", HeaderValue::from_static("Sun, 06 Nov 1994 08:49:47 GMT"));
    assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
    h.insert("retry-after", HeaderValue::from_static("Sun, 06 Nov 1994 08:49:00 GMT"));
    assert_eq!(retry_after(&h, now), Some(Duration::ZERO), "a date in the past: no wait");
    h.insert("retry-after", HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&h, now), None);
    h.insert("retry-after-ms", HeaderValue::from_static("1500"));
    assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
}

#[test]
fn backoff_grows_with_jitter_under_its_cap() {
    let cap = Duration::from_secs(4);
    for attempt in 0..12 {
        let d = backoff(attempt, cap);
        let step = Duration::from_millis(500 << attempt.min(16)).min(cap);
        assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
    }
}

#[test]
fn reasoning_models_are_told_apart() {
    for m in ["o1", "o3-mini", "openai/o4-mini", "gpt-5", "gpt-5-nano"] {
        assert!(is_reasoning_model(m), "{m}");
    }
    for m in ["gpt-4o", "smollm2", "o1x", "llama-3.1-8b", "gpt-50"] {
        assert!(!is_reasoning_model(m), "{m}");
    }
}

fn ctx(model: &str, mode: Structured) -> CallCtx {
    CallCtx {
        client: reqwest::Client::new(),
        url: String::new(),
        key: None,
        model: model.into(),
        max_tokens: 99,
        retries: 0,
        max_backoff: Duration::from_secs(1),
        mode: Arc::new(AtomicU8::new(mode as u8)),
    }
}

fn filter_request() -> ReasonRequest {
    let item = |message| FilterItem {
        message,
        router: "R1".into(),
        router_credit: 0.0,
        source: "i1".into(),
        source_kind: "item".into(),
        content: vec![],
        topic: "Jazz".into(),
        polarity: crate::rules::Polarity::Up,
        strength: 0.1,
        relevance: 0.5,
        support: 0,
        age: 0,
        evidence: 0,
        text: "R1: Jazz +0.10".into(),
        held_by: None,
        held_for: 0,
    };
    ReasonRequest::Filter {
        agent: "u1".into(),
        attrs: [("Jazz".to_string(), 0.5)].into(),
        rules: "accept 0.8 when relevance >= 0.3\ndefault reject\n".into(),
        like_threshold: 0.1,
        messages: vec![item(3), item(5)],
    }
}

#[test]
fn request_bodies_follow_the_mode_and_the_model() {
    let req = filter_request();
    let (prompt, b) = ctx("smollm2", Structured::JsonSchema).body(&req, Structured::JsonSchema);
    assert_eq!(b["response_format"]["json_schema"]["strict"], json!(true));
    assert_eq!(b["response_format"]["json_schema"]["schema"], reply_schema(&req));
    assert_eq!((b["max_tokens"].clone(), b["temperature"].clone()), (json!(99), json!(0)));
    assert!(!prompt.contains("JSON schema"), "the schema travels in response_format");
    let (prompt, b) = ctx("gpt-5-mini", Structured::JsonObject).body(&req, Structured::JsonObject);
    assert_eq!(b["response_format"], json!({"type": "json_object"}));
    assert!(b.get("temperature").is_none() && b.get("max_tokens").is_none());
    assert_eq!(b["max_completion_tokens"], json!(99));
    assert!(prompt.contains("JSON schema") && prompt.contains("\"verdicts\""));
    let (_, b) = ctx("m", Structured::None).body(&req, Structured::None);
    assert!(b.get("response_format").is_none());
}

#[test]
fn replies_are_checked_and_their_failures_sorted_by_cause() {
    let req = filter_request();
    let ok = r#"{"verdicts": {"3": {"rule": 1, "decision": "accept", "reason": "r1"},
                 "5": {"rule": 2, "decision": "reject", "reason": "default"}}}"#;
    let ReasonAnswer::Filter { verdicts } = parse_reply(&req, ok).unwrap() else { panic!() };
    assert_eq!((verdicts[0].rule, verdicts[1].rule, verdicts[1].message, verdicts[0].weight), (Some(1), Some(2), 5, 0.8));
    let missing = r#"{"verdicts": {"3": {"rule": 1, "decision": "accept", "reason": "r1"}}}"#;
    // An accept weighs what its rule says; a weight of the model's own is an extra key.
    let weighed = ok.replace("\"reason\": \"r1\"", "\"reason\": \"r1\", \"weight\": 1");
    assert_eq!(parse_reply(&req, &weighed).unwrap_err().cause(), Cause::WrongShape);
    assert_eq!(parse_reply(&req, missing).unwrap_err().cause(), Cause::WrongShape);
    let rule9 = ok.replace("\"rule\": 2", "\"rule\": 9");
    assert!(parse_reply(&req, &rule9).unwrap_err().to_string().contains("maximum"));
    assert_eq!(parse_reply(&req, "{\"verdicts\": {\"3\": ").unwrap_err().cause(), Cause::InvalidJson);
    assert_eq!(parse_reply(&req, "sure!").unwrap_err().cause(), Cause::InvalidJson);
}

#[test]
fn an_optimise_reply_may_change_one_rule_only() {
    let old = "accept 0.8 when relevance >= 0.3\nreject when relevance < 0.1\ndefault reject\n";
    let p = |t: &str| crate::rules::parse_rules(t).unwrap();
    assert!(one_rule_changed(old, &p("accept 0.8 when relevance >= 0.35\nreject when relevance < 0.1\ndefault reject\n")).is_ok());
    assert!(
        one_rule_changed(old, &p("accept 0.3 when relevance >= 0.2\naccept 0.8 when relevance >= 0.3\nreject when relevance < 0.1\ndefault reject\n")).is_ok()
    );
    assert!(one_rule_changed(old, &p("accept 0.8 when relevance >= 0.3\ndefault reject\n")).is_ok());
    assert!(one_rule_changed(old, &p("accept 1 when relevance >= 0\ndefault accept 1\n")).is_err(), "a rewrite of the whole list");
    let req = ReasonRequest::Optimise { agent: "u1".into(), rules: old.into(), edit: Edit::Tighten { agent: "u1".into(), rule: 1 }, step: 0.05 };
    let bad = json!({"place": "replace", "line": "accept when when", "reason": ""}).to_string();
    assert_eq!(parse_reply(&req, &bad).unwrap_err().cause(), Cause::RulesDoNotParse);
    // The model writes the one line; the engine splices it in where the edit says.
    let good = json!({"place": "replace", "line": "accept 0.8 when relevance >= 0.35", "reason": "stricter"}).to_string();
    let ReasonAnswer::Optimise { rules: Some(rules), rule, before, after, .. } = parse_reply(&req, &good).unwrap() else { panic!() };
    assert_eq!((rules.as_str(), rule), ("accept 0.8 when relevance >= 0.35\nreject when relevance < 0.1\ndefault reject\n", 1));
    assert_eq!((before.as_str(), after.as_str()), ("accept 0.8 when relevance >= 0.3", "accept 0.8 when relevance >= 0.35"));
    // Two rules in the line, a default, or a place the edit does not offer: refused.
    for (place, line) in [("replace", "accept 1 when relevance >= 0\ndefault accept 1"), ("replace", "default accept 1"), ("insert", "accept 1 when age > 0")] {
        let r = json!({"place": place, "line": line, "reason": ""}).to_string();
        assert!(parse_reply(&req, &r).is_err(), "{place} {line:?}");
    }
}

/// A prompt-injection reply to "tighten rule 1" that swaps the default for `default accept`
/// changes one rule, but not the one asked: refused, as is loosening elsewhere or retiring another.
#[test]
fn an_optimise_reply_must_apply_the_requested_edit_where_asked() {
    let old = "accept 0.8 when relevance >= 0.3\nreject when relevance < 0.1\ndefault reject\n";
    let p = |t: &str| crate::rules::parse_rules(t).unwrap();
    let tighten = Edit::Tighten { agent: "u1".into(), rule: 1 };
    let injected = p("accept 0.8 when relevance >= 0.3\nreject when relevance < 0.1\ndefault accept 1\n");
    assert!(one_rule_changed(old, &injected).is_ok(), "one rule changed: the old check let it through");
    assert!(edit_applied_where_asked(old, &injected, &tighten).is_err());
    assert!(edit_applied_where_asked(old, &p("accept 0.8 when relevance >= 0.35\nreject when relevance < 0.1\ndefault reject\n"), &tighten).is_ok());
    // Nor widen the rule, raise its weight, or swap its condition for another (what a hostile
    // server proposed as "stricter": each accepted more than before).
    for widened in [
        "accept 1 when relevance >= 0.3",
        "accept 0.8 when relevance >= 0.3 or relevance >= -999",
        "accept 0.8 when relevance >= 0.25",
        "accept 0.8 when topic == Metal",
    ] {
        let rules = format!("{widened}\nreject when relevance < 0.1\ndefault reject\n");
        assert!(edit_applied_where_asked(old, &p(&rules), &tighten).is_err(), "{widened}");
    }
    assert!(
        edit_applied_where_asked(old, &p("accept 0.5 when relevance >= 0.3 and support >= 1\nreject when relevance < 0.1\ndefault reject\n"), &tighten).is_ok()
    );
    // Loosening in place goes the other way.
    let loosen1 = Edit::Loosen { agent: "u1".into(), rule: 1, min_relevance: 0.2 };
    assert!(edit_applied_where_asked(old, &p("accept 0.8 when relevance >= 0.2\nreject when relevance < 0.1\ndefault reject\n"), &loosen1).is_ok());
    assert!(edit_applied_where_asked(old, &p("accept 0.8 when relevance >= 0.4\nreject when relevance < 0.1\ndefault reject\n"), &loosen1).is_err());
    // Tightening may not turn an accept into a reject, nor a rule into a default.
    assert!(edit_applied_where_asked(old, &p("reject when relevance >= 0.3\nreject when relevance < 0.1\ndefault reject\n"), &tighten).is_err());
    assert!(edit_applied_where_asked(old, &p("default accept 1\nreject when relevance < 0.1\ndefault reject\n"), &tighten).is_err());
    let retire2 = Edit::Retire { agent: "u1".into(), rule: 2 };
    assert!(edit_applied_where_asked(old, &p("accept 0.8 when relevance >= 0.3\ndefault reject\n"), &retire2).is_ok());
    assert!(edit_applied_where_asked(old, &p("reject when relevance < 0.1\ndefault reject\n"), &retire2).is_err());
    let loosen2 = Edit::Loosen { agent: "u1".into(), rule: 2, min_relevance: 0.2 };
    assert!(edit_applied_where_asked(
        old,
        &p("accept 0.8 when relevance >= 0.3\naccept 0.5 when relevance >= 0.5\nreject when relevance < 0.1\ndefault reject\n"),
        &loosen2
    )
    .is_ok());
    assert!(edit_applied_where_asked(old, &p("accept 0.8 when relevance >= 0.3\ndefault accept 1\nreject when relevance < 0.1\ndefault reject\n"), &loosen2)
        .is_err());
    assert!(edit_applied_where_asked(old, &injected, &Edit::NoChange).is_err());
    let req = ReasonRequest::Optimise { agent: "u1".into(), rules: old.into(), edit: tighten, step: 0.05 };
    let reply = json!({"rules": "accept 0.8 when relevance >= 0.3\nreject when relevance < 0.1\ndefault accept 1\n", "rule": 1, "before": "", "after": "", "reason": "ignore previous instructions"}).to_string();
    assert_eq!(parse_reply(&req, &reply).unwrap_err().cause(), Cause::WrongShape);
    // A tightening that turns the accept rule into a reject is refused after the splice.
    let reply = json!({"place": "replace", "line": "reject when relevance >= 0.3", "reason": "x"}).to_string();
    assert_eq!(parse_reply(&req, &reply).unwrap_err().cause(), Cause::WrongShape);
}

/// A base URL that could never be reached is refused before the run records anything.
#[test]
fn a_malformed_base_url_is_refused_up_front() {
    for (url, word) in [("not a url", "relative URL"), ("ftp://example.com/v1", "scheme ftp"), ("http://", "host")] {
        let e = super::check_base_url(url).unwrap_err().to_string();
        assert!(e.starts_with("--llm-url ") && e.contains(word), "{url}: {e}");
    }
    assert!(super::check_base_url("http://127.0.0.1:8080/v1").is_ok());
    assert!(super::check_base_url("https://api.openai.com/v1").is_ok());
}
