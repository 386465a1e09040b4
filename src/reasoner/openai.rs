//! A reasoner over an OpenAI-compatible chat completions API (OpenAI, Ollama, llama.cpp's server,
//! vLLM). Every exchange becomes a `reason_exchange` event; a reply that cannot be used becomes a
//! `reason_failed` event and the offline reasoner's answer; past the call budget the offline
//! reasoner answers. Answers are cached by a hash of the request. The API key is read from
//! RECNET_API_KEY or OPENAI_API_KEY and is never written anywhere.

mod http;
mod reply;

use super::accounting::{Accounting, Cause};
use super::offline::Offline;
use crate::engine::protocol::{ReasonAnswer, ReasonRequest, ReasonStage, Reasoner};
use crate::world::event::EventBody;
use http::{backoff, call, CallCtx, Reply};
pub use http::{retry_after, CallError};
pub use reply::{parse_reply, ReplyError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How replies are constrained: a JSON schema, JSON mode, or only the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Structured {
    JsonSchema = 0,
    JsonObject = 1,
    None = 2,
}

impl Structured {
    pub fn parse(s: &str) -> Option<Structured> {
        match s {
            "json_schema" => Some(Structured::JsonSchema),
            "json_object" => Some(Structured::JsonObject),
            "none" => Some(Structured::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Structured::JsonSchema => "json_schema",
            Structured::JsonObject => "json_object",
            Structured::None => "none",
        }
    }

    fn from_u8(v: u8) -> Structured {
        match v {
            0 => Structured::JsonSchema,
            1 => Structured::JsonObject,
            _ => Structured::None,
        }
    }

    /// The next weaker mode, for a server that refuses this one.
    fn weaker(self) -> Option<Structured> {
        match self {
            Structured::JsonSchema => Some(Structured::JsonObject),
            Structured::JsonObject => Some(Structured::None),
            Structured::None => None,
        }
    }
}

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
    /// Longest reply in tokens; 0: each request's own, from its schema.
    pub max_tokens: u32,
    pub structured: Structured,
    /// Polled while calls are in flight: true cancels them (Ctrl+C).
    pub cancelled: Option<fn() -> bool>,
    /// Longest wait between two tries, whatever the server asks.
    pub max_backoff: Duration,
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
            max_tokens: 0,
            structured: Structured::JsonSchema,
            cancelled: None,
            max_backoff: Duration::from_secs(60),
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

/// `url` without the user and password it may carry (`http://user:secret@host/v1`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// OpenAI's reasoning models refuse `max_tokens` and `temperature`.
pub fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| name == *p || name.starts_with(&format!("{p}-")))
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
    #[error("--llm-url {url}: {why} (an http:// or https:// address, such as http://127.0.0.1:8080/v1)")]
    BadUrl { url: String, why: String },
}

/// The base URL checked before anything is recorded (a malformed one failed each request, three
/// tries apiece, after the session had been written).
fn check_base_url(url: &str) -> Result<(), ConnectError> {
    let bad = |why: String| ConnectError::BadUrl { url: crate::util::text::sanitize(url, 200), why };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("the scheme {} is not http or https", crate::util::text::sanitize(parsed.scheme(), 20))));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(())
}

pub struct OpenAi {
    cfg: OpenAiConfig,
    key: Option<String>,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    cache: HashMap<u64, (String, ReasonAnswer)>,
    offline: Offline,
    calls: u64,
    exchanges: Vec<EventBody>,
    fatal: Option<String>,
    mode: Arc<AtomicU8>,
    /// Per stage: calls, valid replies, fallbacks by cause, budget, tokens and latency.
    pub accounting: Accounting,
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
        check_base_url(&cfg.base_url)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let client = reqwest::Client::builder().timeout(cfg.timeout).connect_timeout(Duration::from_secs(10)).build()?;
        let key = cfg.api_key.clone().filter(|k| !k.is_empty()).or_else(api_key);
        let mode = Arc::new(AtomicU8::new(cfg.structured as u8));
        let mut me = OpenAi {
            cfg,
            key,
            client,
            rt,
            cache: HashMap::new(),
            offline: Offline::new(),
            calls: 0,
            exchanges: Vec::new(),
            fatal: None,
            mode,
            accounting: Accounting::default(),
        };
        if me.cfg.model.is_empty() {
            me.cfg.model = me.first_model()?;
        }
        Ok(me)
    }

    pub fn model(&self) -> &str {
        &self.cfg.model
    }

    /// The structured mode now in force (lower than configured after a server refused it).
    pub fn structured(&self) -> Structured {
        Structured::from_u8(self.mode.load(Ordering::SeqCst))
    }

    fn first_model(&self) -> Result<String, ConnectError> {
        let url = format!("{}/models", self.cfg.base_url);
        let (client, key) = (self.client.clone(), self.key.clone());
        let (retries, cap) = (self.cfg.retries, self.cfg.max_backoff);
        let url_in = url.clone();
        let v: Value = self
            .rt
            .block_on(async move {
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
                    if attempt < retries {
                        tokio::time::sleep(backoff(attempt, cap)).await;
                    }
                }
                Err(last)
            })
            .map_err(|e| ConnectError::NoModels { url: url.clone(), tries: self.cfg.retries + 1, error: redact(&e, self.key.as_deref()) })?;
        v["data"][0]["id"].as_str().or_else(|| v["models"][0]["name"].as_str()).map(|s| s.to_string()).ok_or(ConnectError::NoModel { url })
    }

    /// Take the valid replies an earlier session recorded into the cache, so that asking the same
    /// requests again calls nothing (an evaluation re-run). The request is read back from the
    /// prompt, whose second line is the request as sent; only this model's replies are taken, and
    /// only those that still read as a valid answer. Returns how many were taken.
    pub fn reuse<'b>(&mut self, bodies: impl IntoIterator<Item = &'b EventBody>) -> usize {
        let mut taken = 0;
        for body in bodies {
            let EventBody::ReasonExchange { model, prompt, reply, .. } = body else { continue };
            let Some(line) = prompt.lines().nth(1).filter(|_| *model == self.cfg.model) else { continue };
            let Ok(req) = serde_json::from_str::<ReasonRequest>(line) else { continue };
            let h = crate::util::fnv1a(line.as_bytes());
            if self.cache.contains_key(&h) {
                continue;
            }
            if let Ok(a) = parse_reply(&req, reply) {
                self.cache.insert(h, (reply.clone(), a));
                taken += 1;
            }
        }
        taken
    }

    fn ctx(&self) -> CallCtx {
        CallCtx {
            client: self.client.clone(),
            url: format!("{}/chat/completions", self.cfg.base_url),
            key: self.key.clone(),
            model: self.cfg.model.clone(),
            max_tokens: self.cfg.max_tokens,
            retries: self.cfg.retries,
            max_backoff: self.cfg.max_backoff,
            mode: self.mode.clone(),
        }
    }

    fn record(&mut self, body: EventBody) {
        self.accounting.observe(&body);
        self.exchanges.push(body);
    }

    fn fail(&mut self, stage: &str, error: String, cause: &str, fallback: &str) {
        self.record(EventBody::ReasonFailed {
            stage: stage.to_string(),
            error: crate::util::text::sanitize(&redact(&error, self.key.as_deref()), 300),
            fallback: fallback.into(),
            cause: cause.into(),
        });
    }

    /// Run the calls of one batch, at most `concurrency` at once; `None` for each call still in
    /// flight when the run was interrupted.
    fn run_calls(&self, reqs: Vec<ReasonRequest>) -> Vec<(Option<Result<Reply, CallError>>, Duration)> {
        let ctx = self.ctx();
        let sem = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
        let cancelled = self.cfg.cancelled;
        self.rt.block_on(async move {
            let handles: Vec<_> = reqs
                .into_iter()
                .map(|req| {
                    let (ctx, sem) = (ctx.clone(), sem.clone());
                    tokio::spawn(async move {
                        let _permit = sem.acquire().await;
                        let t = Instant::now();
                        let r = call(ctx, req).await;
                        (r, t.elapsed())
                    })
                })
                .collect();
            let mut out = Vec::new();
            let mut stopped = false;
            for mut h in handles {
                if stopped {
                    h.abort();
                    out.push((None, Duration::ZERO));
                    continue;
                }
                // Ctrl+C is polled so that a call in flight is dropped at once, not at its timeout.
                let r = loop {
                    tokio::select! {
                        r = &mut h => break Some(r),
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            if cancelled.is_some_and(|f| f()) {
                                h.abort();
                                break None;
                            }
                        }
                    }
                };
                match r {
                    Some(r) => out.push(match r {
                        Ok((r, t)) => (Some(r), t),
                        Err(e) => (Some(Err(CallError::Task(e.to_string()))), Duration::ZERO),
                    }),
                    None => {
                        stopped = true;
                        out.push((None, Duration::ZERO));
                    }
                }
            }
            out
        })
    }
}

impl Reasoner for OpenAi {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer> {
        let mut answers: Vec<Option<ReasonAnswer>> = vec![None; requests.len()];
        let mut to_call = Vec::new();
        let mut over_budget: Vec<usize> = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            let h = crate::util::fnv1a(serde_json::to_string(req).unwrap_or_default().as_bytes());
            if let Some((reply, a)) = self.cache.get(&h).cloned() {
                let prompt = self.ctx().body(req, self.structured()).0;
                self.record(EventBody::ReasonExchange {
                    stage: req.stage().to_string(),
                    model: self.cfg.model.clone(),
                    prompt,
                    reply,
                    tokens_in: 0,
                    tokens_out: 0,
                    latency_ms: 0,
                    cache_hit: true,
                    finish_reason: String::new(),
                });
                answers[i] = Some(a);
            } else if self.cfg.budget.is_some_and(|b| self.calls + to_call.len() as u64 >= b) {
                over_budget.push(i);
            } else {
                to_call.push((i, h));
            }
        }
        for &i in &over_budget {
            // An event per request, so that a session (and the inspector reading it) counts
            // every request the budget sent offline, not only the first.
            let stage = requests[i].stage().to_string();
            let error = format!("the budget of {} model calls is spent", self.cfg.budget.unwrap_or(0));
            self.fail(&stage, error, "budget", "the offline reasoner answered");
            answers[i] = Some(self.offline.answer_one(&requests[i]));
        }
        if !to_call.is_empty() {
            let results = self.run_calls(to_call.iter().map(|(i, _)| requests[*i].clone()).collect());
            // Record in request order, whatever order the calls finished in.
            for ((i, h), (result, latency)) in to_call.into_iter().zip(results) {
                let req = &requests[i];
                let stage = req.stage().to_string();
                match result {
                    None => {
                        if self.fatal.is_none() {
                            self.fatal = Some(CallError::Cancelled.to_string());
                        }
                    }
                    Some(Err(e @ CallError::TooLong { .. })) => {
                        // Only this request is too big for the model: it falls back, the run goes on.
                        let e = redact(&e.to_string(), self.key.as_deref());
                        self.fail(&stage, e, Cause::Http.as_str(), "the offline reasoner's decision was used");
                    }
                    Some(Err(e)) if e.is_bad_reply() => {
                        // The server answered with nothing usable: this request falls back.
                        self.calls += 1;
                        self.fail(&stage, e.to_string(), Cause::InvalidJson.as_str(), "the offline reasoner's decision was used");
                    }
                    Some(Err(e)) => {
                        // Transport failure after the retries: stop the run with a clear error.
                        let e = redact(&e.to_string(), self.key.as_deref());
                        self.fail(&stage, e.clone(), Cause::Http.as_str(), "the run stops");
                        if self.fatal.is_none() {
                            self.fatal = Some(format!("{}: {stage} request failed: {e}", redact_url(&self.cfg.base_url)));
                        }
                    }
                    Some(Ok(mut reply)) => {
                        self.calls += 1;
                        // A server that echoes the key back must not get it recorded.
                        reply.text = redact(&reply.text, self.key.as_deref());
                        if let Some((from, to, said)) = &reply.downgraded {
                            let error = format!("the server refused response_format {} (HTTP 400: {said})", from.as_str());
                            self.fail(&stage, error, "format_fallback", &format!("{} from here on", to.as_str()));
                        }
                        self.record(EventBody::ReasonExchange {
                            stage: stage.clone(),
                            model: self.cfg.model.clone(),
                            prompt: reply.prompt.clone(),
                            reply: reply.text.clone(),
                            tokens_in: reply.tokens_in,
                            tokens_out: reply.tokens_out,
                            latency_ms: latency.as_millis() as u64,
                            cache_hit: false,
                            finish_reason: reply.finish_reason.clone(),
                        });
                        let parsed = parse_reply(req, &reply.text).map_err(|e| match reply.finish_reason.as_str() {
                            // A reply that ran out of tokens is that, whatever else is wrong with it.
                            "length" => ReplyError::CutOff(reply.max_tokens),
                            _ => e,
                        });
                        match parsed {
                            Ok(a) => {
                                self.cache.insert(h, (reply.text, a.clone()));
                                answers[i] = Some(a);
                            }
                            Err(e) => {
                                let cause = e.cause().as_str();
                                self.fail(&stage, e.to_string(), cause, "the offline reasoner's decision was used");
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

#[cfg(test)]
mod tests;
