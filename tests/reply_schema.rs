//! The reply schemas against every request a real run asks: the offline reasoner's own answer,
//! written in the wire form, matches the schema built for its request and reads back as written;
//! an extra key, a missing verdict or an out-of-range number does not.

use recnet::engine::config::Config;
use recnet::engine::protocol::{ReasonAnswer, ReasonRequest, ReasonStage, Reasoner};
use recnet::engine::Engine;
use recnet::reasoner::offline::Offline;
use recnet::reasoner::openai::parse_reply;
use recnet::reasoner::schema::{reply_schema, to_wire};
use recnet::util::jsonschema::check;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The offline reasoner, keeping every request and its answer.
struct Keep(Offline, Vec<(ReasonRequest, ReasonAnswer)>);

impl Reasoner for Keep {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
        let answers = self.0.answer(requests);
        self.1.extend(requests.iter().cloned().zip(answers.iter().cloned()));
        answers
    }
}

fn demo_exchanges() -> Vec<(ReasonRequest, ReasonAnswer)> {
    let sc = recnet::inputs::scenario::load_scenario("demo", 7).unwrap();
    let config = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let mut engine = Engine::new(&sc.spec, config, 7, 3);
    let mut keep = Keep(Offline::new(), Vec::new());
    engine.run_to_end(&mut keep);
    keep.1
}

#[test]
fn every_stage_schema_accepts_the_offline_answer_and_reads_it_back() {
    let exchanges = demo_exchanges();
    let stages: BTreeSet<ReasonStage> = exchanges.iter().map(|(r, _)| r.stage()).collect();
    assert_eq!(stages.len(), 6, "the demo asks every stage: {stages:?}");
    for (req, answer) in &exchanges {
        let schema = reply_schema(req);
        let wire = to_wire(req, answer);
        if let Err(e) = check(&schema, &wire) {
            panic!("{} schema refuses the offline answer: {e}\nwire {wire}\nschema {schema}", req.stage());
        }
        let back = parse_reply(req, &wire.to_string()).unwrap_or_else(|e| panic!("{}: {e}\n{wire}", req.stage()));
        // Numbers travel in hundredths and text is cut to its bound, so the answer reads back as
        // its wire form says, and writes the same wire form again.
        assert_eq!(to_wire(req, &back), wire, "{} does not read back", req.stage());
        assert_eq!(back.stage(), answer.stage());
        // Closed all the way down: every object says additionalProperties false and requires all.
        assert_closed(&schema, req.stage());
    }
}

fn assert_closed(schema: &Value, stage: ReasonStage) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        assert_eq!(schema["additionalProperties"], json!(false), "{stage}: open object {schema}");
        let required: BTreeSet<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(required, props.keys().map(String::as_str).collect(), "{stage}: not all required");
        props.values().for_each(|p| assert_closed(p, stage));
    }
    if let Some(s) = schema.get("type").and_then(Value::as_str) {
        if s == "string" && schema.get("enum").is_none() {
            assert!(schema.get("maxLength").is_some(), "{stage}: unbounded text {schema}");
        }
        if s == "array" {
            assert!(schema.get("maxItems").is_some(), "{stage}: unbounded array {schema}");
        }
    }
    for key in ["items"] {
        if let Some(s) = schema.get(key) {
            assert_closed(s, stage);
        }
    }
    for v in schema.get("anyOf").and_then(Value::as_array).into_iter().flatten() {
        assert_closed(v, stage);
    }
}

/// The first number in `v` (depth first), to push out of range.
fn first_number(v: &mut Value) -> Option<&mut Value> {
    match v {
        Value::Number(_) => Some(v),
        Value::Object(o) => o.values_mut().find_map(first_number),
        Value::Array(a) => a.iter_mut().find_map(first_number),
        _ => None,
    }
}

#[test]
fn every_stage_schema_rejects_an_extra_key_and_an_out_of_range_number() {
    let exchanges = demo_exchanges();
    let mut seen = BTreeSet::new();
    for (req, answer) in &exchanges {
        let schema = reply_schema(req);
        let wire = to_wire(req, answer);
        let mut extra = wire.clone();
        extra["user_rate_attrs_json"] = json!(1);
        assert!(check(&schema, &extra).unwrap_err().to_string().contains("unexpected key"), "{}", req.stage());
        assert!(parse_reply(req, &extra.to_string()).is_err());
        let mut far = wire.clone();
        if let Some(n) = first_number(&mut far) {
            *n = json!(1.0e6);
            let e = check(&schema, &far).unwrap_err().to_string();
            assert!(e.contains("maximum") || e.contains("none of"), "{}: {e}", req.stage());
            assert!(parse_reply(req, &far.to_string()).is_err());
            seen.insert(req.stage());
        } else if req.stage() == ReasonStage::Optimise {
            // An optimise reply carries no number: its place is bounded by an enum instead.
            far["place"] = json!("everywhere");
            assert!(check(&schema, &far).is_err() && parse_reply(req, &far.to_string()).is_err());
            seen.insert(req.stage());
        }
    }
    assert_eq!(seen.len(), 6, "a bound broken in every stage: {seen:?}");
}

#[test]
fn a_filter_reply_needs_exactly_one_verdict_per_message() {
    let exchanges = demo_exchanges();
    let (req, answer) =
        exchanges.iter().find(|(r, _)| matches!(r, ReasonRequest::Filter { messages, .. } if messages.len() >= 2)).expect("a filter request with two messages");
    let schema = reply_schema(req);
    let mut wire = to_wire(req, answer);
    let ids: Vec<String> = wire["verdicts"].as_object().unwrap().keys().cloned().collect();
    wire["verdicts"].as_object_mut().unwrap().remove(&ids[0]);
    assert!(check(&schema, &wire).unwrap_err().to_string().contains("missing"));
    assert!(parse_reply(req, &wire.to_string()).is_err());
    // A verdict for a message that is not in the buffer is an extra key.
    let mut wire = to_wire(req, answer);
    wire["verdicts"]["999999"] = wire["verdicts"][&ids[0]].clone();
    assert!(check(&schema, &wire).unwrap_err().to_string().contains("unexpected key"));
}
