//! One call to a chat completions endpoint: the request body for the structured mode in force,
//! retries that honour what the server asks, and a once-only fallback when it refuses the
//! response_format.

use super::super::schema::{reply_schema, reply_tokens, schema_text};
use super::{is_reasoning_model, prompt_for, Structured};
use crate::engine::protocol::ReasonRequest;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Why a call to the endpoint gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A client error, which retrying will not mend.
    #[error("HTTP {status}: {body}")]
    Refused { status: reqwest::StatusCode, body: String },
    #[error("the server's response is not JSON: {0}")]
    NotJson(String),
    /// A body past `REPLY_LIMIT`: refused unread, so a hostile server cannot fill the session.
    #[error("the server's response is larger than {} MiB", REPLY_LIMIT >> 20)]
    TooLarge,
    /// The call's task died (a panic in the HTTP stack).
    #[error("task failed: {0}")]
    Task(String),
    #[error("no usable response after {tries} tries: {last}")]
    GaveUp { tries: u32, last: String },
    #[error("interrupted: the model calls in flight were cancelled")]
    Cancelled,
    /// The request does not fit the model's context: a failure of this request, not the server.
    #[error("the request is longer than the model's context (HTTP {status}: {body})")]
    TooLong { status: reqwest::StatusCode, body: String },
}

/// The largest response body read (a reply is a few kilobytes of JSON).
pub const REPLY_LIMIT: usize = 1 << 20;

impl CallError {
    /// A failure of this one reply (the server answered, with nothing usable): the request falls
    /// back offline and the run goes on, where a dead endpoint stops it.
    pub fn is_bad_reply(&self) -> bool {
        matches!(self, CallError::NotJson(_) | CallError::TooLarge)
    }
}

/// The body, read up to `REPLY_LIMIT` bytes.
/// The inner error is the transport's, when the body broke off part-way.
async fn body_text(mut resp: reqwest::Response) -> Result<Result<String, reqwest::Error>, CallError> {
    if resp.content_length().is_some_and(|n| n > REPLY_LIMIT as u64) {
        return Err(CallError::TooLarge);
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Err(e) => return Ok(Err(e)),
            Ok(None) => break,
            Ok(Some(c)) => {
                if bytes.len() + c.len() > REPLY_LIMIT {
                    return Err(CallError::TooLarge);
                }
                bytes.extend_from_slice(&c);
            }
        }
    }
    Ok(Ok(String::from_utf8_lossy(&bytes).into_owned()))
}

pub(super) struct Reply {
    pub(super) text: String,
    pub(super) prompt: String,
    pub(super) tokens_in: u64,
    pub(super) tokens_out: u64,
    pub(super) finish_reason: String,
    /// The reply's token limit, sent with the request.
    pub(super) max_tokens: u32,
    /// The mode a 400 made this call fall back from, and the server's words.
    pub(super) downgraded: Option<(Structured, Structured, String)>,
}

/// What a call needs, shared by the calls of one batch.
#[derive(Clone)]
pub(super) struct CallCtx {
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    pub(super) key: Option<String>,
    pub(super) model: String,
    /// 0: each request's own, enough for the longest reply its schema allows.
    pub(super) max_tokens: u32,
    pub(super) retries: u32,
    pub(super) max_backoff: Duration,
    /// The structured mode now in force (a refusal lowers it for every later call).
    pub(super) mode: Arc<AtomicU8>,
}

impl CallCtx {
    /// The token limit for `req`'s reply.
    pub(super) fn max_tokens(&self, req: &ReasonRequest) -> u32 {
        match self.max_tokens {
            0 => reply_tokens(&reply_schema(req)),
            n => n,
        }
    }

    pub(super) fn body(&self, req: &ReasonRequest, mode: Structured) -> (String, Value) {
        let stage = req.stage();
        let mut user = format!("Request ({stage}):\n{}\n", serde_json::to_string(req).unwrap_or_default());
        if mode != Structured::JsonSchema {
            // Without a schema in response_format the model reads it here.
            user.push_str(&format!("The reply must match this JSON schema:\n{}\n", schema_text(req)));
        }
        user.push_str("Reply with the JSON object only.");
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt_for(stage)},
                {"role": "user", "content": user},
            ],
        });
        let max_tokens = self.max_tokens(req);
        if is_reasoning_model(&self.model) {
            // A reasoning model spends tokens thinking before it answers: room for that too.
            body["max_completion_tokens"] = json!(if self.max_tokens == 0 { max_tokens.saturating_add(2048) } else { max_tokens });
        } else {
            body["max_tokens"] = json!(max_tokens);
            body["temperature"] = json!(0);
        }
        match mode {
            Structured::JsonSchema => {
                body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": stage.as_str(), "strict": true, "schema": reply_schema(req)}});
            }
            Structured::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            Structured::None => {}
        }
        (user, body)
    }
}

/// How long a server asks us to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP
/// date. `None` if it does not say.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0) {
        return Some(Duration::from_millis(ms as u64));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0) as u64));
    }
    let at = http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 says servers send.
fn http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|x| x == month)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, sec] = hms.as_slice() else { return None };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs).ok().map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// Exponential backoff with jitter: half the step fixed, half random, capped.
pub(super) fn backoff(attempt: u32, cap: Duration) -> Duration {
    let step = Duration::from_millis(500u64.saturating_mul(1u64 << attempt.min(16))).min(cap);
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0);
    let jitter = crate::util::Rng::new(seed ^ attempt as u64).next_f64();
    step.mul_f64(0.5 + 0.5 * jitter)
}

/// Whether a refusal's body says the prompt is longer than the context (llama.cpp, OpenAI, vLLM
/// and Ollama word it differently).
fn too_long(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    ["context size", "context length", "context window", "context_length", "exceed_context", "too many tokens", "prompt is too long"]
        .iter()
        .any(|w| b.contains(w))
}

/// Whether a 400's body is about the response_format (and not, say, a prompt too long).
fn refuses_format(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    ["response_format", "json_schema", "json_object", "schema", "grammar"].iter().any(|w| b.contains(w))
}

pub(super) async fn call(ctx: CallCtx, req: ReasonRequest) -> Result<Reply, CallError> {
    let mut downgraded = None;
    // Rate limits clear with time, so they get a longer budget than server errors.
    let (mut tries, mut tries_429) = (0u32, 0u32);
    let limit_429 = ctx.retries.saturating_mul(2).max(ctx.retries + 3);
    loop {
        let mode = Structured::from_u8(ctx.mode.load(Ordering::SeqCst));
        let (prompt, body) = ctx.body(&req, mode);
        let mut rb = ctx.client.post(&ctx.url).json(&body);
        if let Some(k) = &ctx.key {
            rb = rb.bearer_auth(k);
        }
        let mut wait = None;
        let failure = match rb.send().await {
            Err(e) if e.is_timeout() => "timed out".to_string(),
            Err(e) => format!("connection failed: {e}"),
            Ok(resp) => {
                let status = resp.status();
                wait = retry_after(resp.headers(), SystemTime::now());
                if status.as_u16() == 429 {
                    tries_429 += 1;
                    if tries_429 > limit_429 {
                        return Err(CallError::GaveUp { tries: tries + tries_429, last: format!("HTTP {status}") });
                    }
                    tokio::time::sleep(wait.unwrap_or_else(|| backoff(tries_429, ctx.max_backoff)).min(ctx.max_backoff)).await;
                    continue;
                }
                if status.is_server_error() {
                    format!("HTTP {status}")
                } else {
                    match body_text(resp).await? {
                        Err(e) => format!("reading the reply failed: {e}"),
                        Ok(text) => {
                            if matches!(status.as_u16(), 400 | 413) && too_long(&text) {
                                return Err(CallError::TooLong { status, body: crate::util::text::sanitize(&text, 200) });
                            }
                            if status.as_u16() == 400 && refuses_format(&text) {
                                if let Some(weaker) = mode.weaker() {
                                    // Weaken it for every later call too (unless another call did).
                                    let _ = ctx.mode.compare_exchange(mode as u8, weaker as u8, Ordering::SeqCst, Ordering::SeqCst);
                                    if downgraded.is_none() {
                                        downgraded = Some((mode, weaker, crate::util::text::sanitize(&text, 160)));
                                    }
                                    continue;
                                }
                            }
                            if !status.is_success() {
                                // A client error will not improve by retrying.
                                return Err(CallError::Refused { status, body: crate::util::text::sanitize(&text, 200) });
                            }
                            let v: Value = serde_json::from_str(&text).map_err(|e| CallError::NotJson(e.to_string()))?;
                            let choice = &v["choices"][0];
                            return Ok(Reply {
                                text: choice["message"]["content"].as_str().unwrap_or("").to_string(),
                                prompt,
                                tokens_in: usage(&v, "prompt_tokens"),
                                tokens_out: usage(&v, "completion_tokens"),
                                finish_reason: crate::util::text::sanitize(choice["finish_reason"].as_str().unwrap_or(""), 40),
                                max_tokens: ctx.max_tokens(&req),
                                downgraded,
                            });
                        }
                    }
                }
            }
        };
        tries += 1;
        if tries > ctx.retries {
            return Err(CallError::GaveUp { tries, last: failure });
        }
        tokio::time::sleep(wait.unwrap_or_else(|| backoff(tries - 1, ctx.max_backoff)).min(ctx.max_backoff)).await;
    }
}

/// The most tokens one reply may claim to have used: a server's `usage` is counted up to it, so
/// a hostile 2^64-1 cannot wrap the run's totals (it still exhausts a `--llm-budget`).
pub const USAGE_CEILING: u64 = 1 << 32;

fn usage(reply: &Value, field: &str) -> u64 {
    reply["usage"][field].as_u64().unwrap_or(0).min(USAGE_CEILING)
}

#[cfg(test)]
#[test]
fn a_reply_claiming_absurd_usage_is_counted_up_to_the_ceiling() {
    let v = serde_json::json!({"usage": {"prompt_tokens": u64::MAX, "completion_tokens": 7}});
    assert_eq!((usage(&v, "prompt_tokens"), usage(&v, "completion_tokens")), (USAGE_CEILING, 7));
    assert_eq!(usage(&serde_json::json!({"usage": {"prompt_tokens": -3}}), "prompt_tokens"), 0);
}
