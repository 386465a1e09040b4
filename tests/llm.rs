//! The model seam against servers we control: a fake OpenAI-compatible server on loopback that
//! answers well, badly, slowly or not at all; and (ignored unless asked) a real local model.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the fake server answers chat completions.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Alternate: garbage, a valid integrate answer shape, a cut-short JSON.
    Mixed,
    /// HTTP 500 to every completion.
    Errors,
    /// Never answer completions.
    Hang,
    /// 429 with `Retry-After: 1` to the first completion, then a reply.
    RateLimited,
    /// 400 to a json_schema response_format; a reply to anything else.
    RefuseSchema,
    /// The offline answer to the first N completions, then no answer for a minute.
    StallAfter(usize),
    /// 400 to every completion: the prompt exceeds the context (llama.cpp's words).
    TooLong,
    /// What the offline reasoner would answer, in the reply schema's wire form: a model that
    /// agrees with it exactly.
    Offline,
}

/// The offline reasoner's answer to the request a completion's prompt carries (its user
/// message's second line), written as a model following the reply schema would.
fn offline_reply(body: &str) -> String {
    use recnet::engine::protocol::ReasonRequest;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let prompt = v["messages"][1]["content"].as_str().unwrap();
    let req: ReasonRequest = serde_json::from_str(prompt.lines().nth(1).unwrap()).unwrap();
    let answer = recnet::reasoner::offline::Offline::new().answer_one(&req);
    recnet::reasoner::schema::to_wire(&req, &answer).to_string()
}

fn serve(mode: Mode) -> (String, Arc<AtomicUsize>) {
    let (url, hits, _) = serve_timed(mode);
    (url, hits)
}

/// The server, its completion count and when each completion request arrived.
#[allow(clippy::type_complexity)]
fn serve_timed(mode: Mode) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<(Instant, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let h = h.clone();
            let seen = seen_in.clone();
            std::thread::spawn(move || {
                let Some(common::Request { first, body, .. }) = common::read_request(&s) else { return };
                let reply_with = |status: &str, extra: &str, json: String| common::http_reply(status, extra, "application/json", &json);
                let reply = |status: &str, json: String| reply_with(status, "", json);
                let body = String::from_utf8_lossy(&body).to_string();
                let answer = |content: &str| {
                    let v = serde_json::json!({"choices":[{"message":{"role":"assistant","content":content},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":20}});
                    reply("200 OK", v.to_string())
                };
                let out = if first.contains("/models") {
                    reply("200 OK", r#"{"data":[{"id":"fake-model"}]}"#.into())
                } else {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().push((Instant::now(), body.clone()));
                    match mode {
                        Mode::RateLimited if n == 0 => reply_with("429 Too Many Requests", "retry-after: 1\r\n", r#"{"error":"slow down"}"#.into()),
                        Mode::RateLimited => answer("{}"),
                        Mode::RefuseSchema if body.contains("json_schema") => {
                            reply("400 Bad Request", r#"{"error":{"message":"response_format json_schema is not supported"}}"#.into())
                        }
                        Mode::RefuseSchema => answer("{}"),
                        Mode::Offline => answer(&offline_reply(&body)),
                        Mode::StallAfter(k) if n < k => answer(&offline_reply(&body)),
                        Mode::StallAfter(_) => {
                            std::thread::sleep(Duration::from_secs(60));
                            return;
                        }
                        Mode::TooLong => reply(
                            "400 Bad Request",
                            r#"{"error":{"code":400,"message":"request (6588 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error"}}"#.into(),
                        ),
                        Mode::Hang => {
                            std::thread::sleep(Duration::from_secs(30));
                            return;
                        }
                        Mode::Errors => reply("500 Internal Server Error", r#"{"error":"boom"}"#.into()),
                        Mode::Mixed => {
                            let content = match n % 3 {
                                0 => "I think you should like jazz!".to_string(),
                                1 => "{\"profile\": {\"Jazz\": 0.5}, \"message\": [{\"attr\": \"Jazz\", \"delta\": 0.1}], \"summary\": \"\\u001b[31mjazz up\"}".to_string(),
                                _ => "{\"verdicts\": [{\"message\": 1, \"decision\": \"acc".to_string(),
                            };
                            // The cut-short one ran to the token limit, as a real server says.
                            let finish = if n % 3 == 2 { "length" } else { "stop" };
                            let v = serde_json::json!({"choices":[{"message":{"role":"assistant","content":content},"finish_reason":finish}],"usage":{"prompt_tokens":100,"completion_tokens":20}});
                            reply("200 OK", v.to_string())
                        }
                    }
                };
                let _ = s.write_all(out.as_bytes());
            });
        }
    });
    (format!("http://127.0.0.1:{port}/v1"), hits, seen)
}

fn recnet(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recnet")).args(args).current_dir(dir).env("RECNET_API_KEY", "sk-test-SECRET-4242").output().unwrap()
}

fn kinds(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn malformed_replies_fall_back_and_the_session_replays_without_the_server() {
    let (url, hits) = serve(Mode::Mixed);
    let d = tempfile::tempdir().unwrap();
    let o = recnet(
        &["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-budget", "9", "--llm-max-tokens", "384", "--out", "s.jsonl"],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hits.load(Ordering::SeqCst), 9, "the budget was not honoured");
    let evs = kinds(&d.path().join("s.jsonl"));
    let exchanges: Vec<_> = evs.iter().filter(|e| e["kind"] == "reason_exchange").collect();
    let failures: Vec<_> = evs.iter().filter(|e| e["kind"] == "reason_failed").collect();
    assert_eq!(exchanges.len(), 9);
    assert!(exchanges.iter().all(|e| e["tokens_in"] == 100 && e["tokens_out"] == 20 && e["model"] == "fake-model"));
    assert!(failures.iter().any(|e| e["error"].as_str().unwrap().contains("no JSON object")));
    assert!(failures.iter().any(|e| e["error"] == "cut at max_tokens (384)" && e["cause"] == "cut_off"));
    assert!(exchanges.iter().any(|e| e["finish_reason"] == "length"));
    assert!(failures.iter().any(|e| e["error"].as_str().unwrap().contains("budget of 9")));
    // Every request past the budget is an event of its own, apart from the model's failures, and
    // the summary's budget column (as the inspector's, read from the session) counts them all.
    let budget = failures.iter().filter(|e| e["cause"] == "budget").count();
    assert!(budget > 1, "one event per request the budget sent offline: {budget}");
    let summary = String::from_utf8_lossy(&o.stdout);
    let all = summary.lines().map(str::trim_start).find(|l| l.starts_with("all ")).unwrap_or_default();
    assert_eq!(all.split_whitespace().nth(9), Some(budget.to_string().as_str()), "{summary}");
    let (_, events) = recnet::store::session::read_session(&d.path().join("s.jsonl")).unwrap();
    let acc = recnet::reasoner::accounting::Accounting::from_events(events.iter().map(|e| &e.body));
    assert_eq!((acc.total().budget, acc.total().fallbacks.values().sum::<u64>() as usize), (budget as u64, failures.len() - budget));
    // The run still completed every stage (fallbacks decided).
    assert!(evs.iter().any(|e| e["kind"] == "filter_decision"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("calls") && out.contains("tok in") && out.contains("0 valid") && out.contains("p95 ms"), "{out}");
    // No server now: check, export and replay-from-header work from the file alone.
    let chk = recnet(&["check", "s.jsonl"], d.path());
    assert!(chk.status.success(), "{}", String::from_utf8_lossy(&chk.stderr));
    let n = evs.len() - 1;
    let ex = recnet(&["export", "s.jsonl", "--at", &n.to_string(), "--format", "json"], d.path());
    assert!(ex.status.success());
    // The key never reaches the session or the output.
    let all = std::fs::read_to_string(d.path().join("s.jsonl")).unwrap();
    assert!(!all.contains("SECRET"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("SECRET") && !String::from_utf8_lossy(&o.stderr).contains("SECRET"));
}

#[test]
fn a_dead_endpoint_is_a_clear_error_and_loses_nothing() {
    // Bind then drop: nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let d = tempfile::tempdir().unwrap();
    let o = recnet(&["run", "--scenario", "demo", "--llm-url", &url, "--llm-model", "m", "--llm-retries", "1", "--out", "s.jsonl"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&url) && err.contains("connection failed"), "{err}");
    assert!(err.contains("session up to the last completed stage"), "{err}");
    assert!(!err.contains("SECRET"));
    let chk = recnet(&["check", "s.jsonl"], d.path());
    assert!(chk.status.success(), "the partial session is not valid: {}", String::from_utf8_lossy(&chk.stderr));
    assert!(kinds(&d.path().join("s.jsonl")).iter().any(|e| e["kind"] == "router_created"), "setup was lost");
}

#[test]
fn server_errors_and_hangs_stop_the_run_after_retries() {
    let (url, hits) = serve(Mode::Errors);
    let d = tempfile::tempdir().unwrap();
    let o = recnet(&["run", "--scenario", "demo", "--llm-url", &url, "--llm-retries", "2", "--out", "s.jsonl"], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HTTP 500"));
    assert_eq!(hits.load(Ordering::SeqCst), 3, "one call and two retries");
    assert!(recnet(&["check", "s.jsonl"], d.path()).status.success());

    let (url, _) = serve(Mode::Hang);
    let o = recnet(&["run", "--scenario", "demo", "--llm-url", &url, "--llm-retries", "0", "--llm-timeout", "1", "--out", "h.jsonl"], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("timed out"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(recnet(&["check", "h.jsonl"], d.path()).status.success());
}

#[test]
fn a_request_longer_than_the_context_falls_back_and_the_run_goes_on() {
    let (url, hits) = serve(Mode::TooLong);
    let d = tempfile::tempdir().unwrap();
    let o = recnet(&["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-budget", "5", "--out", "s.jsonl"], d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(hits.load(Ordering::SeqCst) >= 5, "refusals are not retried, but every request is asked");
    let evs = kinds(&d.path().join("s.jsonl"));
    let refused: Vec<_> = evs.iter().filter(|e| e["kind"] == "reason_failed" && e["cause"] == "http_error").collect();
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|e| e["error"].as_str().unwrap().contains("longer than the model's context")), "{refused:?}");
    assert!(evs.iter().any(|e| e["kind"] == "filter_decision"), "the run did not go on");
    assert!(recnet(&["check", "s.jsonl"], d.path()).status.success());
}

/// Ctrl+C while a model call is in flight: the call is dropped at once (not at its timeout), the
/// run exits 130, and the session holds every reply completed before it, valid for `check`.
#[cfg(unix)]
#[test]
fn sigint_during_a_model_call_cancels_it_at_once_and_keeps_a_valid_session() {
    signal_during_a_model_call("-INT", 130);
}

/// The same for SIGTERM (a service manager or `timeout` stopping the run): exit 143.
#[cfg(unix)]
#[test]
fn sigterm_during_a_model_call_cancels_it_at_once_and_keeps_a_valid_session() {
    signal_during_a_model_call("-TERM", 143);
}

#[cfg(unix)]
fn signal_during_a_model_call(signal: &str, code: i32) {
    let (url, hits) = serve(Mode::StallAfter(3));
    let d = tempfile::tempdir().unwrap();
    let args = ["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-timeout", "120", "--llm-concurrency", "1", "--out", "s.jsonl"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_recnet"))
        .args(args)
        .current_dir(d.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while hits.load(Ordering::SeqCst) < 4 {
        assert!(t.elapsed() < Duration::from_secs(60), "the fourth call never came");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its fourth call");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The fourth call is now waiting on a server that will not answer for a minute.
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 10 s after SIG{}: the call in flight was not cancelled", &signal[1..]);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    assert!(err.contains("interrupted") && err.contains("s.jsonl"), "{err}");
    let chk = recnet(&["check", "s.jsonl"], d.path());
    assert!(chk.status.success(), "the session is not valid: {}", String::from_utf8_lossy(&chk.stdout));
    let evs = kinds(&d.path().join("s.jsonl"));
    let replies = evs.iter().filter(|e| e["kind"] == "reason_exchange").count();
    assert_eq!(replies, 3, "the replies completed before the signal are kept");
    assert!(evs.iter().any(|e| e["kind"] == "router_created"), "setup was lost");
}

#[test]
fn a_rate_limit_is_waited_out_as_the_server_asks() {
    let (url, hits, seen) = serve_timed(Mode::RateLimited);
    let d = tempfile::tempdir().unwrap();
    let o = recnet(&["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-budget", "1", "--llm-retries", "0", "--out", "s.jsonl"], d.path());
    assert!(o.status.success(), "a 429 is retried even with no retries for errors: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let seen = seen.lock().unwrap();
    let waited = seen[1].0 - seen[0].0;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After: 1");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn a_server_refusing_the_schema_format_falls_back_to_json_object_once() {
    let (url, hits, seen) = serve_timed(Mode::RefuseSchema);
    let d = tempfile::tempdir().unwrap();
    let o =
        recnet(&["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-budget", "3", "--llm-concurrency", "1", "--out", "s.jsonl"], d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // One refusal, then every call in JSON mode with the schema in the prompt.
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    let seen = seen.lock().unwrap();
    assert!(seen[0].1.contains("\"json_schema\""));
    assert!(seen[1..].iter().all(|(_, b)| b.contains("\"json_object\"") && b.contains("JSON schema")));
    let evs = kinds(&d.path().join("s.jsonl"));
    let notes: Vec<_> = evs.iter().filter(|e| e["kind"] == "reason_failed" && e["cause"] == "format_fallback").collect();
    assert_eq!(notes.len(), 1, "one event for the fallback");
    assert!(notes[0]["error"].as_str().unwrap().contains("json_schema") && notes[0]["fallback"].as_str().unwrap().contains("json_object"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("replies json_object"));
    assert!(recnet(&["check", "s.jsonl"], d.path()).status.success());
}

/// The two rows of an LLM evaluation's JSON report: (name, NDCG@10) for offline and the model.
fn rows(report: &[u8]) -> Vec<(String, f64)> {
    let v: serde_json::Value = serde_json::from_slice(report).unwrap();
    v["rows"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap().to_string(), r["ndcg@10"].as_f64().unwrap())).collect()
}

#[test]
fn an_llm_evaluation_compares_with_offline_on_the_same_users_and_a_rerun_reuses_the_replies() {
    let (url, hits) = serve(Mode::Offline);
    let d = tempfile::tempdir().unwrap();
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-cds");
    let dataset = dataset.to_str().unwrap();
    let args = ["eval", "--dataset", dataset, "--llm-url", &url, "--users", "4", "--seed", "3", "--out", "e.jsonl"];
    let o = recnet(&args, d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = hits.load(Ordering::SeqCst);
    assert!(first > 0, "the model was never asked");
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains("4 of 12 users (seed 3)"), "{table}");
    // A model that answers as the offline reasoner does reaches the same world: equal rows.
    let line = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} row: {table}")).to_string();
    let (offline, model) = (line("recnet, offline"), line("recnet, fake-model"));
    assert_eq!(offline.split_whitespace().skip(2).collect::<Vec<_>>(), model.split_whitespace().skip(2).collect::<Vec<_>>(), "{table}");
    assert!(table.contains(&format!("{first} replies, {first} valid, 0 fell back")), "{table}");
    for stage in ["reflect", "filter", "credit", "p95 ms", "NDCG@10"] {
        assert!(table.contains(stage), "no {stage} in {table}");
    }
    // The model's run is a normal session.
    assert!(recnet(&["check", "e.jsonl"], d.path()).status.success());
    let exchanges = kinds(&d.path().join("e.jsonl")).iter().filter(|e| e["kind"] == "reason_exchange").count();
    assert_eq!(exchanges, first);

    // Again with the same session: every request is answered from it, none reaches the model.
    let json = ["--format", "json"];
    let o = recnet(&[&args[..], &json[..]].concat(), d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hits.load(Ordering::SeqCst), first, "a re-run called the model again");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["reused"], first as u64);
    let all = report["accounting"].as_array().unwrap().iter().find(|r| r["stage"] == "all").unwrap().clone();
    assert_eq!((all["calls"].as_u64(), all["cached"].as_u64()), (Some(0), Some(first as u64)));
    let r = rows(&o.stdout);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].1, r[1].1, "{r:?}");
    assert_eq!(report["users"].as_array().unwrap().len(), 4);
}

#[test]
fn an_llm_evaluation_needs_a_model_and_one_seed() {
    let d = tempfile::tempdir().unwrap();
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-cds");
    let o = Command::new(env!("CARGO_BIN_EXE_recnet"))
        .args(["eval", "--dataset", dataset.to_str().unwrap(), "--users", "3"])
        .current_dir(d.path())
        .env_remove("RECNET_LLM_URL")
        .env_remove("OPENAI_BASE_URL")
        .env("RECNET_CONFIG_DIR", d.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--llm-url"), "{}", String::from_utf8_lossy(&o.stderr));
    let (url, hits) = serve(Mode::Offline);
    let o = recnet(&["eval", "--dataset", dataset.to_str().unwrap(), "--llm-url", &url, "--seeds", "3"], d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seeds"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// The real-model tests share one local server, and one of them takes it down to check replays
/// without it: they take turns.
static THE_LOCAL_MODEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// This test's turn on the local model, the repository root, and the server's URL (started if it
/// is not running).
fn local_model() -> (std::sync::MutexGuard<'static, ()>, &'static Path, String) {
    let turn = THE_LOCAL_MODEL.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let up = Command::new(root.join("scripts/local-llm.sh")).arg("up").output().unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let url = String::from_utf8(up.stdout).unwrap().lines().last().unwrap().trim().to_string();
    (turn, root, url)
}

#[test]
#[ignore = "needs the local model: scripts/local-llm.sh up (CI runs it)"]
fn a_real_local_model_answers() {
    let (_turn, root, url) = local_model();
    let d = tempfile::tempdir().unwrap();
    let o = recnet(&["run", "--scenario", "demo", "--rounds", "1", "--llm-url", &url, "--llm-budget", "40", "--out", "r.jsonl"], d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let evs = kinds(&d.path().join("r.jsonl"));
    let real: Vec<_> = evs.iter().filter(|e| e["kind"] == "reason_exchange" && e["cache_hit"] == false).collect();
    assert_eq!(real.len(), 40, "the budget of 40 is used");
    assert!(real.iter().all(|e| e["tokens_out"].as_u64().unwrap() > 0 && !e["reply"].as_str().unwrap().is_empty()));
    // With a schema built per request even a 135M model answers: ≥ 90 % valid, none cut short.
    let failed = evs.iter().filter(|e| e["kind"] == "reason_failed" && e["cause"] != "budget" && e["cause"] != "format_fallback").count();
    assert!(failed * 10 <= real.len(), "{failed} of {} replies fell back: {}", real.len(), String::from_utf8_lossy(&o.stdout));
    assert!(real.iter().all(|e| e["finish_reason"] != "length"), "a reply was cut at the token limit");
    let _ = Command::new(root.join("scripts/local-llm.sh")).arg("down").output();
    // Replays and exports with the server down.
    assert!(recnet(&["check", "r.jsonl"], d.path()).status.success());
    assert!(recnet(&["export", "r.jsonl", "--format", "json"], d.path()).status.success());
}

#[test]
#[ignore = "needs the local model: scripts/local-llm.sh up (CI runs it)"]
fn a_real_local_model_runs_an_evaluation_and_a_rerun_reuses_its_valid_replies() {
    let (_turn, root, url) = local_model();
    let d = tempfile::tempdir().unwrap();
    let dataset = root.join("fixtures/tiny-cds");
    let args =
        ["eval", "--dataset", dataset.to_str().unwrap(), "--llm-url", &url, "--users", "2", "--llm-timeout", "300", "--out", "e.jsonl", "--format", "json"];
    let all = |o: &std::process::Output| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["accounting"].as_array().unwrap().iter().find(|r| r["stage"] == "all").unwrap().clone()
    };
    let o = recnet(&args, d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = all(&o);
    assert!(first["calls"].as_u64().unwrap() > 0, "{first}");
    // Bounded replies: none cut at the token limit, at least 90 % valid.
    assert_eq!(first["fell_back"]["cut_off"], 0, "{first}");
    assert!(first["valid"].as_u64().unwrap() * 10 >= first["calls"].as_u64().unwrap() * 9, "{first}");
    assert_eq!(rows(&o.stdout).len(), 2);
    assert!(recnet(&["check", "e.jsonl"], d.path()).status.success());
    // The valid replies answer the same requests again; only the ones that fell back are re-asked.
    let o = recnet(&args, d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // (Two equal requests in one batch are two calls but one reply to keep.)
    let reused = report["reused"].as_u64().unwrap();
    assert!(reused > 0 && reused <= first["valid"].as_u64().unwrap(), "{report}");
    assert!(all(&o)["cached"].as_u64().unwrap() > 0, "{report}");
}
