//! A reasoner over an OpenAI-compatible chat completions API (OpenAI, Ollama, llama.cpp's server,
//! vLLM). Every exchange becomes a `reason_exchange` event; a reply that cannot be used becomes a
//! `reason_failed` event and the offline reasoner's answer; past the call budget the offline
//! reasoner answers. Answers are cached by a hash of the request. The API key is read from
//! RECNET_API_KEY or OPENAI_API_KEY and is never written anywhere.

use super::offline::Offline;
use crate::engine::protocol::{ReasonAnswer, ReasonRequest, ReasonStage, Reasoner};
use crate::world::event::EventBody;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct OpenAiConfig {
    /// e.g. `http://127.0.0.1:8080/v1`
    pub base_url: String,
    /// Model name; empty asks the server's first listed model.
    pub model: String,
    /// Model calls allowed in this run (None: unlimited).
    pub budget: Option<u64>,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    pub max_tokens: u32,
    /// The API key; `None` reads RECNET_API_KEY or OPENAI_API_KEY.
    pub api_key: Option<String>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: String::new(),
            model: String::new(),
            budget: None,
            timeout: Duration::from_secs(60),
            retries: 2,
            concurrency: 2,
            max_tokens: 384,
            api_key: None,
        }
    }
}

pub fn api_key() -> Option<String> {
    ["RECNET_API_KEY", "OPENAI_API_KEY"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// Keeps secrets out of anything we print or record.
pub fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 => text.replace(k, "[redacted]"),
        _ => text.to_string(),
    }
}

pub fn prompt_for(stage: ReasonStage) -> &'static str {
    match stage {
        ReasonStage::Reflect => include_str!("../../assets/prompts/reflect.md"),
        ReasonStage::Filter => include_str!("../../assets/prompts/filter.md"),
        ReasonStage::Integrate => include_str!("../../assets/prompts/integrate.md"),
        ReasonStage::Credit => include_str!("../../assets/prompts/credit.md"),
        ReasonStage::Gradient => include_str!("../../assets/prompts/gradient.md"),
        ReasonStage::Optimise => include_str!("../../assets/prompts/optimise.md"),
    }
}

/// A JSON schema for each stage's reply (servers that support `response_format` constrain the
/// model with it; others ignore it and we validate anyway).
fn schema_for(stage: ReasonStage) -> Value {
    let weights = json!({"type": "object", "additionalProperties": {"type": "number"}});
    match stage {
        ReasonStage::Reflect => json!({"type": "object", "properties": {"user": weights, "item": weights, "reason": {"type": "string"}}, "required": ["user", "item", "reason"]}),
        ReasonStage::Filter => json!({"type": "object", "properties": {"verdicts": {"type": "array", "items": {"type": "object", "properties": {
            "message": {"type": "integer"}, "rule": {"type": "integer"}, "decision": {"type": "string", "enum": ["accept", "hold", "reject"]},
            "weight": {"type": "number"}, "reason": {"type": "string"}}, "required": ["message", "decision", "weight", "reason"]}}}, "required": ["verdicts"]}),
        ReasonStage::Integrate => json!({"type": "object", "properties": {"profile": weights, "message": {"type": "array", "items": {"type": "object",
            "properties": {"attr": {"type": "string"}, "delta": {"type": "number"}}, "required": ["attr", "delta"]}}, "summary": {"type": "string"}},
            "required": ["profile", "message", "summary"]}),
        ReasonStage::Credit => json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
            "shares": {"type": "array", "items": {"type": "object", "properties": {"module": {"type": "string"}, "amount": {"type": "number"}}, "required": ["module", "amount"]}},
            "reason": {"type": "string"}}, "required": ["shares", "reason"]}}}, "required": ["items"]}),
        ReasonStage::Gradient => json!({"type": "object", "properties": {"direction": {"type": "string"}, "edit": {"type": "object"}}, "required": ["direction", "edit"]}),
        ReasonStage::Optimise => json!({"type": "object", "properties": {"rules": {"type": "string"}, "rule": {"type": "integer"}, "before": {"type": "string"},
            "after": {"type": "string"}, "reason": {"type": "string"}}, "required": ["rules", "rule", "before", "after", "reason"]}),
    }
}

/// What is wrong with a model's reply (recorded in a `reason_failed` event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the reply holds no JSON object")]
    NoJson,
    #[error("the reply's JSON object is cut short")]
    CutShort,
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("the reply is not a JSON object")]
    NotObject,
    #[error("wrong schema: no \"rules\"")]
    NoRules,
    #[error("wrong schema for {stage}: {error}")]
    WrongSchema { stage: ReasonStage, error: String },
    /// Well-formed, but not an answer to this request.
    #[error("{0}")]
    Unfit(String),
}

/// Why the reasoner could not start: no runtime or HTTP client, or no model to talk to.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Runtime(#[from] std::io::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("{url}: cannot list models after {tries} tries: {error}")]
    NoModels { url: String, tries: u32, error: String },
    #[error("{url}: the server lists no model; pass --llm-model")]
    NoModel { url: String },
}

/// Why a call to the endpoint gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A client error, which retrying will not mend.
    #[error("HTTP {status}: {body}")]
    Refused { status: reqwest::StatusCode, body: String },
    #[error("the server's response is not JSON: {0}")]
    NotJson(String),
    /// The call's task died (a panic in the HTTP stack).
    #[error("task failed: {0}")]
    Task(String),
    #[error("no usable response after {tries} tries: {last}")]
    GaveUp { tries: u32, last: String },
}

/// Turn a model's reply into an answer for `req`, or say what is wrong with it.
pub fn parse_reply(req: &ReasonRequest, reply: &str) -> Result<ReasonAnswer, ReplyError> {
    let stage = req.stage();
    let start = reply.find('{').ok_or(ReplyError::NoJson)?;
    let end = reply.rfind('}').filter(|e| *e > start).ok_or(ReplyError::CutShort)?;
    let mut v: Value = serde_json::from_str(&reply[start..=end]).map_err(|e| ReplyError::BadJson(e.to_string()))?;
    let obj = v.as_object_mut().ok_or(ReplyError::NotObject)?;
    if stage == ReasonStage::Optimise && !obj.contains_key("rules") {
        return Err(ReplyError::NoRules);
    }
    obj.insert("stage".into(), json!(stage.as_str()));
    let answer: ReasonAnswer =
        serde_json::from_value(v).map_err(|e| ReplyError::WrongSchema { stage, error: e.to_string() })?;
    validate(req, &answer)?;
    Ok(answer)
}

fn finite(w: &std::collections::BTreeMap<String, f64>) -> bool {
    w.values().all(|x| x.is_finite())
}

fn validate(req: &ReasonRequest, a: &ReasonAnswer) -> Result<(), ReplyError> {
    match (req, a) {
        (ReasonRequest::Reflect { .. }, ReasonAnswer::Reflect { user, item, .. }) if finite(user) && finite(item) => Ok(()),
        (ReasonRequest::Filter { messages, rules, .. }, ReasonAnswer::Filter { verdicts }) => {
            let n = crate::rules::parse_rules(rules).map(|r| r.len()).unwrap_or(0);
            for v in verdicts {
                if !messages.iter().any(|m| m.message == v.message) {
                    return Err(ReplyError::Unfit(format!("verdict for message {} that is not in the buffer", v.message)));
                }
                if v.rule.is_some_and(|r| r == 0 || r > n) {
                    return Err(ReplyError::Unfit(format!("rule {} does not exist (the agent has {n})", v.rule.unwrap_or(0))));
                }
                if !v.weight.is_finite() || !(0.0..=1.0).contains(&v.weight) {
                    return Err(ReplyError::Unfit(format!("weight {} outside 0..1", v.weight)));
                }
            }
            if verdicts.len() != messages.len() {
                return Err(ReplyError::Unfit(format!("{} verdicts for {} messages", verdicts.len(), messages.len())));
            }
            Ok(())
        }
        (ReasonRequest::Integrate { .. }, ReasonAnswer::Integrate { profile, message, .. })
            if finite(profile) && message.iter().all(|d| d.delta.is_finite()) =>
        {
            Ok(())
        }
        (ReasonRequest::Credit { items, .. }, ReasonAnswer::Credit { items: answers }) => {
            if answers.len() != items.len() {
                return Err(ReplyError::Unfit(format!("{} credit answers for {} rewards", answers.len(), items.len())));
            }
            Ok(())
        }
        (ReasonRequest::Gradient { .. }, ReasonAnswer::Gradient { .. }) => Ok(()),
        (ReasonRequest::Optimise { .. }, ReasonAnswer::Optimise { rules, .. }) => match rules {
            Some(r) => crate::rules::parse_rules(r).map(|_| ()).map_err(|e| ReplyError::Unfit(format!("the proposed rules do not parse: line {e}"))),
            None => Ok(()),
        },
        _ => Err(ReplyError::Unfit("the answer does not fit the request".into())),
    }
}

struct Reply {
    text: String,
    tokens_in: u64,
    tokens_out: u64,
}

pub struct OpenAi {
    cfg: OpenAiConfig,
    key: Option<String>,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    cache: HashMap<u64, (String, ReasonAnswer)>,
    offline: Offline,
    calls: u64,
    budget_noted: bool,
    exchanges: Vec<EventBody>,
    fatal: Option<String>,
    /// Per stage: calls, tokens in, tokens out, total latency (ms).
    pub usage: std::collections::BTreeMap<String, (u64, u64, u64, u64)>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "OpenAi {{ base_url: {:?}, model: {:?}, calls: {} }}", self.cfg.base_url, self.cfg.model, self.calls)
    }
}

impl OpenAi {
    pub fn new(mut cfg: OpenAiConfig) -> Result<OpenAi, ConnectError> {
        cfg.base_url = cfg.base_url.trim_end_matches('/').to_string();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let client = reqwest::Client::builder().timeout(cfg.timeout).connect_timeout(Duration::from_secs(10)).build()?;
        let key = cfg.api_key.clone().filter(|k| !k.is_empty()).or_else(api_key);
        let mut me = OpenAi {
            cfg,
            key,
            client,
            rt,
            cache: HashMap::new(),
            offline: Offline::new(),
            calls: 0,
            budget_noted: false,
            exchanges: Vec::new(),
            fatal: None,
            usage: Default::default(),
        };
        if me.cfg.model.is_empty() {
            me.cfg.model = me.first_model()?;
        }
        Ok(me)
    }

    pub fn model(&self) -> &str {
        &self.cfg.model
    }

    fn first_model(&self) -> Result<String, ConnectError> {
        let url = format!("{}/models", self.cfg.base_url);
        let (client, key) = (self.client.clone(), self.key.clone());
        let retries = self.cfg.retries;
        let url_in = url.clone();
        let v: Value = self.rt.block_on(async move {
            let url = url_in;
            let mut last = String::new();
            for attempt in 0..=retries {
                let mut rb = client.get(&url);
                if let Some(k) = &key {
                    rb = rb.bearer_auth(k);
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => return r.json::<Value>().await.map_err(|e| e.to_string()),
                    Ok(r) => last = format!("HTTP {}", r.status()),
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(300 << attempt)).await;
            }
            Err(last)
        })
        .map_err(|e| ConnectError::NoModels { url: url.clone(), tries: self.cfg.retries + 1, error: redact(&e, self.key.as_deref()) })?;
        v["data"][0]["id"]
            .as_str()
            .or_else(|| v["models"][0]["name"].as_str())
            .map(|s| s.to_string())
            .ok_or(ConnectError::NoModel { url })
    }

    fn request_body(&self, req: &ReasonRequest) -> (String, Value) {
        let stage = req.stage();
        let user = format!(
            "Request ({stage}):\n{}\nReply with the JSON object only.",
            serde_json::to_string_pretty(req).unwrap_or_default()
        );
        let body = json!({
            "model": self.cfg.model,
            "messages": [
                {"role": "system", "content": prompt_for(stage)},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": self.cfg.max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {"name": stage.as_str(), "schema": schema_for(stage)}},
        });
        (user, body)
    }
}

async fn call(client: reqwest::Client, url: String, key: Option<String>, body: Value, retries: u32) -> Result<Reply, CallError> {
    let mut last = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(400 << (attempt - 1))).await;
        }
        let mut rb = client.post(&url).json(&body);
        if let Some(k) = &key {
            rb = rb.bearer_auth(k);
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                last = if e.is_timeout() { "timed out".into() } else { format!("connection failed: {e}") };
                continue;
            }
        };
        let status = resp.status();
        if status.is_server_error() || status.as_u16() == 429 {
            last = format!("HTTP {status}");
            continue;
        }
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                last = format!("reading the reply failed: {e}");
                continue;
            }
        };
        if !status.is_success() {
            // A client error will not improve by retrying.
            return Err(CallError::Refused { status, body: crate::util::text::sanitize(&text, 200) });
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| CallError::NotJson(e.to_string()))?;
        let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("").to_string();
        return Ok(Reply {
            text: content,
            tokens_in: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            tokens_out: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        });
    }
    Err(CallError::GaveUp { tries: retries + 1, last })
}

impl Reasoner for OpenAi {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
        let mut answers: Vec<Option<ReasonAnswer>> = vec![None; requests.len()];
        let mut to_call = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let h = crate::util::fnv1a(serde_json::to_string(req).unwrap_or_default().as_bytes());
            if let Some((reply, a)) = self.cache.get(&h) {
                self.exchanges.push(EventBody::ReasonExchange {
                    stage: req.stage().to_string(),
                    model: self.cfg.model.clone(),
                    prompt: self.request_body(req).0,
                    reply: reply.clone(),
                    tokens_in: 0,
                    tokens_out: 0,
                    latency_ms: 0,
                    cache_hit: true,
                });
                answers[i] = Some(a.clone());
            } else if self.cfg.budget.is_some_and(|b| self.calls + to_call.len() as u64 >= b) {
                if !self.budget_noted {
                    self.budget_noted = true;
                    self.exchanges.push(EventBody::ReasonFailed {
                        stage: req.stage().to_string(),
                        error: format!("the budget of {} model calls is spent", self.cfg.budget.unwrap_or(0)),
                        fallback: "the offline reasoner answers from here on".into(),
                    });
                }
                answers[i] = Some(self.offline.answer_one(req));
            } else {
                to_call.push((i, h));
            }
        }
        if !to_call.is_empty() {
            let url = format!("{}/chat/completions", self.cfg.base_url);
            let sem = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
            let jobs: Vec<_> = to_call
                .iter()
                .map(|(i, _)| {
                    let (prompt, body) = self.request_body(&requests[*i]);
                    let (client, url, key, sem, retries) = (self.client.clone(), url.clone(), self.key.clone(), sem.clone(), self.cfg.retries);
                    (prompt, async move {
                        let _permit = sem.acquire().await;
                        let t = Instant::now();
                        let r = call(client, url, key, body, retries).await;
                        (r, t.elapsed())
                    })
                })
                .collect();
            let (prompts, futs): (Vec<String>, Vec<_>) = jobs.into_iter().unzip();
            let results = self.rt.block_on(async move {
                let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await.unwrap_or_else(|e| (Err(CallError::Task(e.to_string())), Duration::ZERO)));
                }
                out
            });
            // Record in request order, whatever order the calls finished in.
            for (((i, h), prompt), (result, latency)) in to_call.into_iter().zip(prompts).zip(results) {
                let req = &requests[i];
                let stage = req.stage().to_string();
                match result {
                    Err(e) => {
                        // Transport failure after the retries: stop the run with a clear error.
                        let e = redact(&e.to_string(), self.key.as_deref());
                        self.fatal = Some(format!("{}: {stage} request failed: {e}", self.cfg.base_url));
                        answers[i] = Some(self.offline.answer_one(req));
                    }
                    Ok(reply) => {
                        self.calls += 1;
                        let u = self.usage.entry(stage.clone()).or_default();
                        *u = (u.0 + 1, u.1 + reply.tokens_in, u.2 + reply.tokens_out, u.3 + latency.as_millis() as u64);
                        self.exchanges.push(EventBody::ReasonExchange {
                            stage: stage.clone(),
                            model: self.cfg.model.clone(),
                            prompt,
                            reply: reply.text.clone(),
                            tokens_in: reply.tokens_in,
                            tokens_out: reply.tokens_out,
                            latency_ms: latency.as_millis() as u64,
                            cache_hit: false,
                        });
                        match parse_reply(req, &reply.text) {
                            Ok(a) => {
                                self.cache.insert(h, (reply.text, a.clone()));
                                answers[i] = Some(a);
                            }
                            Err(e) => {
                                self.exchanges.push(EventBody::ReasonFailed {
                                    stage,
                                    error: crate::util::text::sanitize(&e.to_string(), 300),
                                    fallback: "the offline reasoner's decision was used".into(),
                                });
                                answers[i] = Some(self.offline.answer_one(req));
                            }
                        }
                    }
                }
            }
        }
        answers.into_iter().zip(requests).map(|(a, r)| a.unwrap_or_else(|| self.offline.answer_one(r))).collect()
    }

    fn take_exchanges(&mut self) -> Vec<EventBody> {
        std::mem::take(&mut self.exchanges)
    }

    fn fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }
}
