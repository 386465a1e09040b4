//! The inspector driven as a user would: keys into the real app, frames from a test backend.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use recnet::engine::config::Config;
use recnet::engine::Engine;
use recnet::reasoner::offline::Offline;
use recnet::tui::app::{App, Popup, View};
use recnet::tui::keymap::Keymap;
use recnet::tui::{live_app, UiOptions};

fn demo_app(rounds: u32) -> App {
    let src = recnet::run::driver::resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    let header = recnet::run::driver::header_for(&src, 7, rounds, &cfg);
    let engine = Engine::new(&src.spec, cfg, 7, rounds);
    live_app("demo", engine, Box::new(Offline::new()), header, UiOptions { keymap: Keymap::default_map(), mono: true })
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| recnet::tui::views::render(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The screen without its status line (a message about the last key, which other keys replace).
fn panes(app: &App, w: u16, h: u16) -> String {
    let full = screen(app, w, h);
    let mut lines: Vec<&str> = full.lines().collect();
    lines.pop();
    lines.join("\n")
}

fn panes_of(full: &str) -> String {
    let mut lines: Vec<&str> = full.lines().collect();
    lines.pop();
    lines.join("\n")
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(key(c));
    }
}

#[test]
fn snapshots_of_every_view() {
    let mut app = demo_app(1);
    insta::assert_snapshot!("inspect_start", screen(&app, 120, 40));
    press(&mut app, ".....");
    press(&mut app, &"l".repeat(30));
    insta::assert_snapshot!("inspect_reception", screen(&app, 120, 40));
    press(&mut app, "2");
    insta::assert_snapshot!("events", screen(&app, 120, 40));
    press(&mut app, "3");
    app.prepare_stats();
    insta::assert_snapshot!("metrics", screen(&app, 120, 40));
    press(&mut app, "4");
    insta::assert_snapshot!("diff_step", screen(&app, 120, 40));
    press(&mut app, "1?");
    insta::assert_snapshot!("help", screen(&app, 120, 40));
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    insta::assert_snapshot!("event_popup", screen(&app, 120, 40));
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    insta::assert_snapshot!("small_terminal", screen(&app, 80, 24));
    insta::assert_snapshot!("large_terminal", screen(&app, 200, 60));
}

/// A model stand-in: the offline reasoner's answers, recorded as model exchanges with fixed tokens
/// and latencies, every fourth reply unusable and every seventh cut at the token limit.
struct Scripted {
    offline: Offline,
    n: u64,
    pending: Vec<recnet::world::event::EventBody>,
}

impl recnet::engine::protocol::Reasoner for Scripted {
    fn answer(&mut self, requests: &[recnet::engine::protocol::ReasonRequest]) -> Vec<recnet::engine::protocol::ReasonAnswer> {
        use recnet::world::event::EventBody;
        for r in requests {
            self.n += 1;
            let stage = r.stage().to_string();
            let cut = self.n.is_multiple_of(7);
            self.pending.push(EventBody::ReasonExchange {
                stage: stage.clone(),
                model: "scripted".into(),
                prompt: String::new(),
                reply: "{}".into(),
                tokens_in: 300 + self.n % 5 * 10,
                tokens_out: if cut { 384 } else { 40 },
                latency_ms: 100 * (self.n % 9 + 1),
                cache_hit: false,
                finish_reason: if cut { "length" } else { "stop" }.into(),
            });
            let cause = if cut {
                Some("cut_off")
            } else if self.n.is_multiple_of(4) {
                Some("wrong_shape")
            } else {
                None
            };
            if let Some(cause) = cause {
                let error = if cut { "cut at max_tokens (384)" } else { "a verdict is missing" };
                self.pending.push(EventBody::ReasonFailed { stage, error: error.into(), fallback: "offline".into(), cause: cause.into() });
            }
        }
        recnet::engine::protocol::Reasoner::answer(&mut self.offline, requests)
    }

    fn take_exchanges(&mut self) -> Vec<recnet::world::event::EventBody> {
        std::mem::take(&mut self.pending)
    }
}

#[test]
fn the_metrics_view_accounts_for_the_models_calls_per_stage() {
    let src = recnet::run::driver::resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    let header = recnet::run::driver::header_for(&src, 7, 1, &cfg);
    let engine = Engine::new(&src.spec, cfg, 7, 1);
    let model = Scripted { offline: Offline::new(), n: 0, pending: Vec::new() };
    let mut app = live_app("demo", engine, Box::new(model), header, UiOptions { keymap: Keymap::default_map(), mono: true });
    press(&mut app, "3");
    app.ensure_events(u64::MAX / 4, true);
    press(&mut app, "G");
    app.prepare_stats();
    let full = screen(&app, 120, 40);
    insta::assert_snapshot!("metrics_model", full);
    let acc = app.accounting();
    let t = acc.total();
    assert!(t.calls > 10 && t.valid() < t.calls && acc.cut_at_limit > 0, "{t:?}");
    for needle in [
        "Model calls per stage",
        "reflect",
        "filter",
        "cut",
        "shape",
        "p95 ms",
        &format!("{} replies · {} valid · {} fell back", t.calls, t.valid(), t.fallbacks.values().sum::<u64>()),
    ] {
        assert!(full.contains(needle), "no {needle:?} on the metrics view:\n{full}");
    }
    // Stepping back counts only what happened up to there.
    press(&mut app, "g");
    app.prepare_stats();
    assert_eq!(app.accounting().total().calls, 0);
}

#[test]
fn five_forward_five_back_is_the_same_screen() {
    let mut app = demo_app(1);
    press(&mut app, "......");
    let before = screen(&app, 120, 40);
    press(&mut app, "lllll");
    assert_ne!(screen(&app, 120, 40), before);
    press(&mut app, "hhhhh");
    assert_eq!(screen(&app, 120, 40), before);
    // Bigger steps come back too.
    let pos = app.cursor.pos;
    press(&mut app, "]]][[[");
    assert!(app.cursor.pos <= pos, "stage steps back did not return");
    // With one round, the next round is the end of the session; with two, the start of round 1.
    // The whole run is loaded first, so that no answer depends on how far the engine has got.
    app.ensure_events(u64::MAX / 4, true);
    press(&mut app, ">");
    assert_eq!(app.cursor.pos, app.len(), "> did not go to the end of a one-round session");
    let mut two = demo_app(2);
    two.ensure_events(u64::MAX / 4, true);
    for _ in 0..4 {
        if two.cursor.world.cursor().round == 1 {
            break;
        }
        press(&mut two, ">");
    }
    assert_eq!(two.cursor.world.cursor().round, 1, "> never reached round 1");
    assert_eq!(two.current_event().map(|e| e.body.kind()), Some("round_started"));
    assert!(two.cursor.pos < two.len());
}

#[test]
fn stepping_by_time_step_lands_on_time_step_starts() {
    let mut app = demo_app(1);
    press(&mut app, ".");
    let e = app.current_event().unwrap();
    assert_eq!(e.body.kind(), "tick_started");
    let t = app.cursor.world.cursor().tick;
    press(&mut app, ".");
    assert_eq!(app.cursor.world.cursor().tick, t + 1);
    press(&mut app, ",");
    assert_eq!(app.cursor.world.cursor().tick, t);
    assert_eq!(app.current_event().unwrap().body.kind(), "tick_started");
}

#[test]
fn a_breakpoint_stops_the_run_at_the_event() {
    let mut app = demo_app(3);
    app.add_breakpoint("kind == filter_decision and agent == u7 and decision == reject").unwrap();
    assert!(app.add_breakpoint("kind == ").is_err());
    app.update(recnet::tui::keymap::Action::RunPause);
    app.run_steps(100_000);
    assert!(!app.running);
    let e = app.current_event().unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["kind"], "filter_decision");
    assert_eq!(json["agent"], "u7");
    assert_eq!(json["decision"], "reject");
    assert!(app.status.contains("breakpoint 1 hit"));
}

#[test]
fn editing_rules_rejects_bad_text_and_forks_on_good() {
    let mut app = demo_app(2);
    press(&mut app, "....");
    press(&mut app, "/");
    for c in "u1".chars() {
        app.on_key(key(c));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.cursor.selected.as_deref(), Some("u1"));
    let rules_before = app.cursor.world.client("u1").unwrap().rules_text.clone();
    press(&mut app, "e");
    assert!(matches!(app.popup, Popup::Rules { .. }));
    // Break the first line: a parse error shows line:col and changes nothing.
    app.on_key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    for c in "zz ".chars() {
        app.on_key(key(c));
    }
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    match &app.popup {
        Popup::Rules { error: Some(e), .. } => assert!(e.starts_with("line 1:1:"), "{e}"),
        _ => panic!("no error shown"),
    }
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("line 1:1:") && shown.contains("nothing changed"));
    assert_eq!(app.cursor.world.client("u1").unwrap().rules_text, rules_before);
    assert_eq!(app.branches.len(), 1);
    // A rule after the default is never reached: the first Ctrl+S says so, as check-rules would.
    app.popup = Popup::None;
    press(&mut app, "e");
    for _ in 0..20 {
        app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    }
    app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    for c in "accept 1.0 when relevance >= 0.9".chars() {
        app.on_key(key(c));
    }
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    match &app.popup {
        Popup::Rules { error: Some(e), .. } => assert!(e.contains("is never reached") && e.contains("Ctrl+S again"), "{e}"),
        _ => panic!("no warning shown"),
    }
    assert_eq!(app.branches.len(), 1, "forked without a second Ctrl+S");
    // Replace everything with a strict rule and apply.
    app.popup = Popup::None;
    app.fork_with_rules("u1", "default reject\n").unwrap();
    assert_eq!(app.branches.len(), 2);
    assert_eq!(app.branches.current, 1);
    assert_eq!(app.view, View::Diff);
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("first divergence at step"), "{shown}");
    assert!(shown.contains("u1 message"), "the diff does not list u1's changed decisions");
    // The branch list opens the parent at the same step, keeping the selection.
    let (pos, sel) = (app.cursor.pos, app.cursor.selected.clone());
    press(&mut app, "B");
    assert!(matches!(app.popup, Popup::Branches { cursor: 1 }));
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("unsaved") && shown.contains("from main at step"), "{shown}");
    press(&mut app, "k");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    // The same event on the parent, one raw step earlier (the branch's edit came before it).
    assert_eq!((app.branches.current, app.cursor.pos), (0, pos - 1));
    assert_eq!(app.cursor.selected, sel);
}

#[test]
fn hostile_titles_are_drawn_safely() {
    let toml = "name = \"evil\"\n[[user]]\nid = \"u1\"\nname = \"\\u001b]52;c;aGVsbG8=\\u0007\\u202eevil\\u200b\"\nattrs = { \"Jazz\" = 0.5 }\n[[item]]\nid = \"i1\"\ntitle = \"\\u001b[2J\\u001b[31mred\"\ncategories = [\"Jazz\"]\n[schedule]\ninteractions = [[\"u1\", \"i1\"]]\n";
    let sc = recnet::inputs::scenario::parse_scenario(toml, "evil.toml", true, 1).unwrap();
    let cfg = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let src = recnet::run::driver::Source {
        spec: sc.spec.clone(),
        source: recnet::store::session::SourceRef { kind: "scenario".into(), name: "evil".into(), path: "evil.toml".into(), digest: String::new() },
        config_tables: vec![],
        dataset: None,
    };
    let header = recnet::run::driver::header_for(&src, 1, 1, &cfg);
    let engine = Engine::new(&sc.spec, cfg, 1, 1);
    let mut app = live_app("evil", engine, Box::new(Offline::new()), header, UiOptions { keymap: Keymap::default_map(), mono: true });
    press(&mut app, "G");
    let shown = screen(&app, 120, 40);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{200b}'] {
        assert!(!shown.contains(bad), "{bad:?} reached the screen");
    }
    assert!(shown.contains("\\e]52"), "the escape is not shown visibly:\n{shown}");
}

/// Wide (CJK) and combining text is cut by the cells it takes: a long CJK title leaves room for
/// what follows it in the pane's title.
#[test]
fn wide_titles_are_cut_by_cells() {
    let title = "千と千尋の神隠し".repeat(4) + "e\\u0301";
    let toml = format!("name = \"wide\"\n[[user]]\nid = \"u1\"\nname = \"{title}\"\nattrs = {{ \"Jazz\" = 0.5 }}\n[[item]]\nid = \"i1\"\ntitle = \"{title}\"\ncategories = [\"Jazz\"]\n[schedule]\ninteractions = [[\"u1\", \"i1\"]]\n");
    let sc = recnet::inputs::scenario::parse_scenario(&toml, "wide.toml", true, 1).unwrap();
    let cfg = Config::from_layers(std::slice::from_ref(&sc.config), &[]).unwrap();
    let src = recnet::run::driver::Source {
        spec: sc.spec.clone(),
        source: recnet::store::session::SourceRef { kind: "scenario".into(), name: "wide".into(), path: "wide.toml".into(), digest: String::new() },
        config_tables: vec![],
        dataset: None,
    };
    let header = recnet::run::driver::header_for(&src, 1, 1, &cfg);
    let engine = Engine::new(&sc.spec, cfg, 1, 1);
    let mut app = live_app("wide", engine, Box::new(Offline::new()), header, UiOptions { keymap: Keymap::default_map(), mono: true });
    app.cursor.selected = Some("u1".into());
    app.cursor.follow = false;
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let shown = screen(&app, w, h);
        let title = shown.lines().find(|l| l.contains("┌ u1 ")).unwrap_or_else(|| panic!("no detail pane:\n{shown}"));
        assert!(title.contains("…” · user"), "{w}×{h}: the title's end is cut off: {title}");
    }
}

#[test]
fn the_event_log_filters() {
    let mut app = demo_app(2);
    press(&mut app, "2/");
    for c in "rejects".chars() {
        app.on_key(key(c));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.log_filter, "rejects");
    let shown = screen(&app, 120, 40);
    let rows: Vec<&str> =
        shown.lines().filter(|l| l.contains("filter_decision") || l.contains(" t")).filter(|l| l.starts_with('│') && !l.contains("what happened")).collect();
    assert!(!rows.is_empty(), "{shown}");
    assert!(rows.iter().all(|r| r.contains("rejects")), "{shown}");
    // j moves to the next matching event.
    let at = app.log_cursor;
    press(&mut app, "j");
    assert!(app.log_cursor > at);
    assert!(app.log_matches(&app.event(app.log_cursor).unwrap()));
}

/// The 2-round demo, whole, where a scan over more than `at_once` events runs as a job.
/// The demo one event in, with u1's rules open in the rule editor.
fn rule_editor_on_u1() -> App {
    let mut app = demo_app(1);
    press(&mut app, ".");
    app.cursor.selected = Some("u1".into());
    press(&mut app, "e");
    app
}

fn demo_app_scanning_past(at_once: u64) -> App {
    let mut app = demo_app(2);
    app.ensure_events(u64::MAX / 4, true);
    app.scan_at_once = at_once;
    app
}

/// A long scan (here: anything over 10 events) is a job: the footer shows it, and when it is
/// done the search, the log filter and the metrics are what scanning at once gives.
#[test]
fn long_scans_are_jobs_with_the_same_results() {
    let run = |at_once: u64| {
        let mut app = demo_app_scanning_past(at_once);
        press(&mut app, "....2/");
        type_line(&mut app, "rejects");
        let scanning = app.scanning() && screen(&app, 120, 40).contains("searching the log for");
        app.finish_jobs().unwrap();
        let filtered = (app.log_cursor, app.search.as_ref().map(|s| s.matches.clone()), panes(&app, 120, 40));
        press(&mut app, "3");
        app.prepare_stats();
        let counting = app.job_line().is_some_and(|l| l.contains("counting the metrics"));
        app.finish_jobs().unwrap();
        app.prepare_stats();
        (scanning, counting, filtered, app.stats().to_vec(), screen(&app, 120, 40))
    };
    let (scanned_at_once, counted_at_once, filtered, stats, metrics) = run(u64::MAX);
    assert!(!scanned_at_once && !counted_at_once);
    let (scanning, counting, filtered_by_job, stats_by_job, metrics_by_job) = run(10);
    assert!(scanning && counting, "no job: {scanning} {counting}");
    assert!(filtered.1.as_ref().is_some_and(|m| !m.is_empty()));
    assert_eq!(filtered, filtered_by_job);
    assert_eq!(stats, stats_by_job);
    assert_eq!(metrics, metrics_by_job);
}

/// A recorded demo session of `rounds` rounds, opened in the replay inspector.
fn replay_demo(dir: &std::path::Path, rounds: u32) -> App {
    let src = recnet::run::driver::resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    let header = recnet::run::driver::header_for(&src, 7, rounds, &cfg);
    let events = Engine::new(&src.spec, cfg, 7, rounds).run_to_end(&mut Offline::new());
    let path = dir.join("demo.jsonl");
    let mut w = recnet::store::session::SessionWriter::create(&path, &header).unwrap();
    for e in &events {
        w.write(e).unwrap();
    }
    w.flush().unwrap();
    recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap()
}

#[test]
fn a_far_jump_replays_a_slice_per_tick_and_esc_stops_it() {
    use recnet::tui::keymap::Action;
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let mut app = replay_demo(dir.path(), 2);
    app.far_seek_events = 40;
    let (len, start) = (app.len(), app.cursor.pos);
    app.update(Action::Last);
    assert!(app.far_seek.is_some(), "a jump of {len} events went at once");
    assert_eq!(app.cursor.pos, start, "the jump moved before replaying");
    assert!(app.status.contains("replaying toward step"), "{}", app.status);
    let mut ticks = 0;
    while app.far_seek.is_some() {
        assert_eq!(app.on_tick(Instant::now()), Some(std::time::Duration::ZERO), "the loop must not sleep mid-jump");
        ticks += 1;
        assert!(ticks < 10_000, "the jump never finished");
    }
    assert_eq!(app.cursor.pos, len);
    assert_eq!(app.status, format!("arrived at step {}", len - 1), "the progress line outlived the jump");
    assert!(ticks >= (len / 20).saturating_sub(2), "{ticks} ticks for {len} events in slices of 20");
    assert!(screen(&app, 120, 40).contains(&format!("step {} of {}", len - 1, len - 1)));

    let mut app = replay_demo(dir.path(), 2);
    app.far_seek_events = 40;
    let start = app.cursor.pos;
    app.update(Action::Last);
    app.on_tick(Instant::now());
    app.update(Action::Close);
    assert!(app.far_seek.is_none());
    assert_eq!(app.cursor.pos, start);
    assert!(app.status.starts_with("stopped replaying"), "{}", app.status);
}

/// A far jump over a session file reaches its target without keyframes and lays them on a
/// thread of its own: the screens around the target are those of a plain replay, before the
/// keyframes arrive and after.
#[test]
fn a_far_jump_then_steps_back_show_what_a_plain_replay_shows() {
    use recnet::tui::keymap::Action;
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let mut plain = replay_demo(dir.path(), 2);
    let mut app = recnet::tui::replay_app(&dir.path().join("demo.jsonl"), UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    app.far_seek_events = 40;
    let len = app.len();
    app.update(Action::Last);
    while app.far_seek.is_some() {
        app.on_tick(Instant::now());
    }
    let mut compare = |app: &mut App, to: u64| {
        plain.goto(to);
        assert_eq!(app.cursor.pos, to);
        assert_eq!(panes(app, 120, 40), panes(&plain, 120, 40), "step {}", to - 1);
    };
    compare(&mut app, len);
    for back in 1..=3 {
        app.update(Action::StepBack);
        compare(&mut app, len - back);
    }
    let waited = Instant::now();
    while app.branch().timeline.building() && waited.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        app.update(Action::StepBack);
        app.update(Action::StepForward);
    }
    for back in 4..=6 {
        app.update(Action::StepBack);
        compare(&mut app, len - back);
    }
    app.goto(len / 3);
    compare(&mut app, len / 3);
}

/// A line that does not parse stops a far jump with its FILE:LINE, not a silent stop.
#[test]
fn a_far_jump_over_a_corrupt_line_names_it() {
    use recnet::tui::keymap::Action;
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let len = replay_demo(dir.path(), 2).len();
    let path = dir.path().join("demo.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = len - 30; // a line number (the header is line 1)
    let garbled: Vec<String> = text.lines().enumerate().map(|(i, l)| if i as u64 + 1 == bad { "{\"step\": oops".into() } else { l.to_string() }).collect();
    std::fs::write(&path, garbled.join("\n") + "\n").unwrap();
    let mut app = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    app.far_seek_events = 40;
    let start = app.cursor.pos;
    app.update(Action::Last);
    while app.far_seek.is_some() {
        app.on_tick(Instant::now());
    }
    assert!(app.status.contains(&format!("demo.jsonl:{bad}:")), "{}", app.status);
    // As far as the lines before it allow (line `bad` holds step `bad - 2`).
    assert!(start < bad - 2);
    assert_eq!(app.cursor.pos, bad - 2, "the jump did not stop just before the line it could not read");
}

fn code(app: &mut App, c: KeyCode) {
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn type_line(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(c));
    }
    code(app, KeyCode::Enter);
}

#[test]
fn the_help_scrolls_and_every_key_is_reachable_at_80x24() {
    let mut app = demo_app(1);
    press(&mut app, "?");
    let first = screen(&app, 80, 24);
    assert!(first.contains("of "), "the help does not say it scrolls:\n{first}");
    // Page through with j, collecting every screen: each key's description must appear.
    let mut seen = first.clone();
    for _ in 0..80 {
        press(&mut app, "j");
        seen.push_str(&screen(&app, 80, 24));
    }
    for (keys, what) in app.keymap.help_rows() {
        assert!(seen.contains(what), "{keys} ({what}) is never on screen at 80×24");
    }
    assert!(seen.contains("graph: ✓ green accepted") && seen.contains("closest members"), "the graph legend is cut off");
    code(&mut app, KeyCode::Home);
    assert_eq!(screen(&app, 80, 24), first, "Home does not return to the top");
    code(&mut app, KeyCode::End);
    insta::assert_snapshot!("help_end_80x24", screen(&app, 80, 24));
    code(&mut app, KeyCode::PageUp);
    assert_ne!(screen(&app, 80, 24), first);
    insta::assert_snapshot!("help_end_120x40", screen(&app, 120, 40));
}

#[test]
fn the_diff_after_a_fork_scrolls_to_its_end() {
    let mut app = demo_app(2);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    let top = screen(&app, 120, 40);
    assert!(top.contains("▸ Diff") && top.contains(" of "), "{top}");
    // Only decisions that changed are listed: the same decision (and weight) by a renumbered
    // rule is not one.
    let listed: Vec<&String> = app.diff_lines.iter().filter(|l| l.contains(" message ") && l.contains(" → B ")).collect();
    assert!(!listed.is_empty());
    for l in listed {
        let (a, b) = l.split_once(" → B ").unwrap();
        let a = a.rsplit(": A ").next().unwrap();
        let decision = |s: &str| s.split(" (rule ").next().unwrap_or("").trim().to_string();
        assert_ne!(decision(a), decision(b), "{l}");
    }
    code(&mut app, KeyCode::End);
    let end = screen(&app, 120, 40);
    assert!(end.contains("profiles that differ") || end.contains("counters"), "{end}");
    assert!(!end.contains("first divergence at step"), "End did not move the diff:\n{end}");
    // The diff ends with the outcome: "did my edit help?" answered where the reading ends.
    assert!(end.contains("outcome:") && end.contains("rewards after the divergence: A ") && end.contains("in short: "), "{end}");
    insta::assert_snapshot!("diff_end_120x40", end);
    screen(&app, 80, 24);
    code(&mut app, KeyCode::End);
    let small = screen(&app, 80, 24);
    assert!(small.contains("in short: "), "{small}");
    insta::assert_snapshot!("diff_end_80x24", small);
    code(&mut app, KeyCode::PageUp);
    code(&mut app, KeyCode::Home);
    assert_eq!(panes(&app, 120, 40), panes_of(&top));
}

#[test]
fn a_too_small_terminal_says_so() {
    let app = demo_app(1);
    let shown = screen(&app, 50, 12);
    assert!(shown.contains("60×16"), "{shown}");
    assert!(!shown.contains('┌'), "empty boxes drawn:\n{shown}");
    insta::assert_snapshot!("too_small", shown);
}

#[test]
fn tab_moves_the_focus_and_the_focused_pane_scrolls() {
    let mut app = demo_app(2);
    app.ensure_events(u64::MAX / 4, true);
    press(&mut app, "G");
    press(&mut app, "/");
    type_line(&mut app, "u7");
    assert_eq!(app.cursor.selected.as_deref(), Some("u7"));
    let before = screen(&app, 80, 24);
    assert!(before.contains("▸ Agent graph"), "the focus is not visible:\n{before}");
    code(&mut app, KeyCode::Tab);
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("▸ u7"), "Tab did not focus the details:\n{shown}");
    assert!(shown.contains(" of "), "the details do not say they scroll:\n{shown}");
    // j scrolls the details, not the selection.
    press(&mut app, "j");
    assert_eq!(app.cursor.selected.as_deref(), Some("u7"));
    assert_ne!(screen(&app, 80, 24), shown);
    code(&mut app, KeyCode::End);
    let end = panes(&app, 80, 24);
    code(&mut app, KeyCode::PageDown);
    assert_eq!(panes(&app, 80, 24), end, "PageDown went past the end");
    code(&mut app, KeyCode::Home);
    assert_eq!(panes(&app, 80, 24), panes_of(&shown));
    // Around the panes and back to the agent list, where j moves the selection again.
    for _ in 0..3 {
        code(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.focus, recnet::tui::app::Focus::Agents);
    code(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, recnet::tui::app::Focus::Rules);
    assert!(screen(&app, 120, 40).contains("▸ Rules"));
    code(&mut app, KeyCode::Tab);
    press(&mut app, "j");
    assert_ne!(app.cursor.selected.as_deref(), Some("u7"));
}

#[test]
fn the_event_popup_scrolls() {
    let mut app = demo_app(1);
    press(&mut app, ".");
    // The first event whose details overflow the popup at 80×24.
    let mut top = String::new();
    for _ in 0..200 {
        code(&mut app, KeyCode::Enter);
        top = screen(&app, 80, 24);
        if top.contains("Esc closes) · 1–") {
            break;
        }
        code(&mut app, KeyCode::Esc);
        press(&mut app, "l");
    }
    assert!(top.contains("Esc closes) · 1–"), "no event overflows the popup:\n{top}");
    press(&mut app, "j");
    assert!(screen(&app, 80, 24).contains("Esc closes) · 2–"));
    code(&mut app, KeyCode::End);
    assert_ne!(screen(&app, 80, 24), top);
    code(&mut app, KeyCode::Home);
    assert_eq!(screen(&app, 80, 24), top);
    code(&mut app, KeyCode::Esc);
    assert!(matches!(app.popup, Popup::None));
}

#[test]
fn search_next_and_previous_count_the_matches() {
    let mut app = demo_app(2);
    app.ensure_events(u64::MAX / 4, true);
    press(&mut app, "/");
    type_line(&mut app, "REJECTS");
    assert!(app.status.starts_with("match 1 of "), "{}", app.status);
    let first = app.cursor.pos;
    let text = app.current_event().map(|e| recnet::analysis::narrate::narrate(&e).to_lowercase()).unwrap();
    assert!(text.contains("rejects"), "{text}");
    press(&mut app, "n");
    assert!(app.status.starts_with("match 2 of "), "{}", app.status);
    assert!(app.cursor.pos > first);
    press(&mut app, "N");
    assert!(app.status.starts_with("match 1 of "), "{}", app.status);
    assert_eq!(app.cursor.pos, first);
    // Before the first match, N wraps to the last.
    press(&mut app, "N");
    assert!(app.status.contains("(wrapped)"), "{}", app.status);
    assert!(screen(&app, 120, 40).contains("match "));
    // The event log uses the same matcher: its filter and n move between the same steps.
    press(&mut app, "2/");
    type_line(&mut app, "rejects");
    let total: String = app.status.split(" of ").nth(1).unwrap().chars().take_while(|c| c.is_ascii_digit()).collect();
    let at = app.log_cursor;
    press(&mut app, "n");
    assert!(app.log_cursor > at && app.log_matches(&app.event(app.log_cursor).unwrap()));
    assert!(app.status.contains(&format!(" of {total}")), "{}", app.status);
}

#[test]
fn an_ambiguous_title_lists_the_candidates() {
    let mut app = demo_app(1);
    press(&mut app, "/");
    type_line(&mut app, "blue");
    let Popup::Pick { items, .. } = &app.popup else { panic!("no pick list") };
    let ids: Vec<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
    assert!(ids.len() >= 3, "{ids:?}");
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("Kind of Blue") && shown.contains("Blue Train"), "{shown}");
    insta::assert_snapshot!("pick_80x24", shown);
    let second = ids[1].to_string();
    press(&mut app, "j");
    code(&mut app, KeyCode::Enter);
    assert!(matches!(app.popup, Popup::None));
    assert_eq!(app.cursor.selected.as_deref(), Some(second.as_str()));
    // An exact id selects without asking, whatever the case.
    press(&mut app, "/");
    type_line(&mut app, "U1");
    assert_eq!(app.cursor.selected.as_deref(), Some("u1"));
}

#[test]
fn a_saved_branch_is_a_session_and_quit_asks_before_losing_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = demo_app(1);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    // q with an unsaved branch asks; any other key forgets the question.
    press(&mut app, "q");
    assert!(!app.quit && app.status.contains("1 unsaved branch"), "{}", app.status);
    press(&mut app, "l");
    press(&mut app, "q");
    assert!(!app.quit);
    press(&mut app, "B");
    insta::assert_snapshot!("branches_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("branches_120x40", screen(&app, 120, 40));
    // In the branch list too: another key forgets the question.
    press(&mut app, "qjq");
    assert!(!app.quit && app.status.contains("1 unsaved branch"), "q, j, q quit from the branch list: {}", app.status);
    let path = app.save_branch_in(1, dir.path()).unwrap();
    assert_eq!(app.unsaved_branches(), 0);
    // The file is a normal session: it opens in the replay inspector with the fork's events.
    let events = app.branches[1].timeline.len();
    let replay = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    assert_eq!(replay.len(), events);
    assert!(screen(&app, 120, 40).contains("recnet-branch-1.jsonl"));
    // Saving again never overwrites.
    let again = app.save_branch_in(1, dir.path()).unwrap();
    assert_ne!(again, path);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn a_branch_can_be_deleted_but_not_main() {
    let mut app = demo_app(1);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    let pos = app.cursor.pos;
    press(&mut app, "B");
    // Unsaved: the first d asks.
    press(&mut app, "dd");
    assert_eq!(app.branches.len(), 1);
    assert_eq!(app.branches.current, 0);
    assert_eq!(app.cursor.pos, pos - 1, "not back at the parent's logical position");
    assert_eq!(app.unsaved_branches(), 0);
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 1);
    assert!(app.status.contains("cannot be deleted"), "{}", app.status);
}

#[test]
fn switching_branches_keeps_the_logical_position() {
    let mut app = demo_app(1);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    let fork = app.branches[1].parent.unwrap().1;
    // In the parent, a few events past the fork step (before the runs diverge in content).
    press(&mut app, "B");
    press(&mut app, "k");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.branches.current, 0);
    app.goto(fork + 3);
    let (pos, sel) = (app.cursor.pos, app.cursor.selected.clone());
    let here = app.current_event().unwrap();
    let cursor = app.cursor.world.cursor().clone();
    press(&mut app, "B");
    press(&mut app, "j");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.branches.current, 1);
    // The same event, one raw step later (the edit was inserted before it).
    assert_eq!(app.cursor.pos, pos + 1);
    let there = app.current_event().unwrap();
    assert_eq!(there.body.kind(), here.body.kind());
    assert_eq!(app.cursor.world.cursor().tick, cursor.tick);
    assert_eq!(app.cursor.selected, sel, "the selection changed with the branch");
    // And back again.
    press(&mut app, "B");
    press(&mut app, "k");
    code(&mut app, KeyCode::Enter);
    assert_eq!((app.branches.current, app.cursor.pos), (0, pos));
}

/// Ctrl+S opens the branch on the event the user was on (the fork's edit, inserted at the start
/// of the time step, shifts every later event by one), and deleting the branch comes back to it.
#[test]
fn a_fork_opens_on_the_event_it_was_made_from() {
    let mut app = demo_app(1);
    press(&mut app, "....");
    // Mid time step, so the fork point (the time step's start) lies behind the shown event.
    press(&mut app, "lllll");
    let (pos, here) = (app.cursor.pos, app.current_event().unwrap());
    // The same rules with a comment: the branch's events are the parent's, plus the edit.
    let rules = app.cursor.world.client("u1").unwrap().rules_text.clone() + "\n# analyst note\n";
    app.fork_with_rules("u1", &rules).unwrap();
    let fork = app.branches[1].parent.unwrap().1;
    assert!(fork < pos - 1, "the fork point {fork} is not behind step {}", pos - 1);
    assert_eq!(app.branches.current, 1);
    assert_eq!(app.cursor.pos, pos + 1, "the branch opened one event off");
    let there = app.current_event().unwrap();
    assert_eq!((there.step, there.body), (here.step + 1, here.body));
    press(&mut app, "B");
    press(&mut app, "d");
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 1);
    assert_eq!((app.branches.current, app.cursor.pos), (0, pos), "back on main at another step");
}

#[test]
fn step_zero_is_shown_once() {
    let mut app = demo_app(1);
    press(&mut app, "g");
    assert_eq!(app.cursor.pos, 1);
    let first = screen(&app, 120, 40);
    assert!(first.contains("step 0 of"), "{first}");
    // Back from the first event stays there and says so, instead of a second "step 0" with
    // nothing to say.
    press(&mut app, "h");
    assert_eq!(app.cursor.pos, 1);
    assert_eq!(app.status, "at the first event (step 0)");
    let again = screen(&app, 120, 40);
    assert!(!again.contains("Nothing has happened yet"), "{again}");
    assert_eq!(again.matches("step 0 of").count(), 1);
}

#[test]
fn follow_selects_the_rule_or_router_a_gradient_is_about() {
    let mut app = demo_app(3);
    app.ensure_events(u64::MAX / 4, true);
    let is_grad = |e: &recnet::world::event::Event, rule: bool| matches!(&e.body, recnet::world::event::EventBody::Gradient { module, .. } if module.contains('#') == rule);
    // A router's gradient selects the router.
    let i = app.find_forward(0, |e| is_grad(e, false)).expect("a router gradient");
    let router = match app.event(i).unwrap().body {
        recnet::world::event::EventBody::Gradient { module, .. } => module,
        _ => unreachable!(),
    };
    app.jump(i + 1);
    assert_eq!(app.cursor.selected.as_deref(), Some(router.as_str()));
    // A rule's gradient selects its agent and highlights the rule in the rules pane.
    let i = app.find_forward(0, |e| is_grad(e, true)).expect("a rule gradient");
    let module = match app.event(i).unwrap().body {
        recnet::world::event::EventBody::Gradient { module, .. } => module,
        _ => unreachable!(),
    };
    let (agent, rule) = recnet::world::parse_rule_module(&module).unwrap();
    // From elsewhere with follow off, then f: the selection moves to what the event is about.
    press(&mut app, "f");
    assert!(!app.cursor.follow);
    app.jump(i + 1);
    press(&mut app, "f");
    assert_eq!(app.cursor.selected.as_deref(), Some(agent));
    // The rule's line is drawn highlighted (reversed, in mono).
    let text = recnet::rules::print_rule(&app.cursor.world.client(agent).unwrap().rules[rule - 1]);
    let needle: String = format!(" {rule:<3}{}", text).chars().take(20).collect();
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
    let buf = t.backend().buffer().clone();
    let rows: Vec<(u16, String)> = (0..buf.area.height).map(|y| (y, (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect())).collect();
    let (y, row) = rows.iter().find(|(_, r)| r.contains(&needle)).unwrap_or_else(|| panic!("rule {rule} not shown: {needle:?}\n{}", screen(&app, 120, 40)));
    let x = row[..row.find(&needle).unwrap()].chars().count() as u16 + 2;
    assert!(buf[(x, *y)].modifier.contains(ratatui::style::Modifier::REVERSED), "rule {rule} is not highlighted");
}

#[test]
fn breakpoints_are_checked_listed_disabled_and_deleted() {
    let mut app = demo_app(3);
    // Each mistake is an error with its column, and sets nothing.
    for (expr, col, says) in [
        ("foo > 3", 1, "unknown field foo"),
        ("kind == filter_decison", 9, "no value filter_decison"),
        ("kind == reward and reward < high", 29, "reward is a number"),
        ("agent == u99", 10, "no agent u99"),
    ] {
        let e = app.add_breakpoint(expr).unwrap_err().to_string();
        assert!(e.starts_with(&format!("col {col}: ")) && e.contains(says), "{expr}: {e}");
    }
    assert!(app.breakpoints.is_empty());
    // Typed in the inspector, the error shows in the input line.
    press(&mut app, "b");
    type_line(&mut app, "kind == rewrd");
    match &app.popup {
        Popup::Input { error: Some(e), .. } => assert!(e.starts_with("col 9:"), "{e}"),
        _ => panic!("no error shown"),
    }
    code(&mut app, KeyCode::Esc);
    app.add_breakpoint("kind == filter_decision and agent == u7 and decision == reject").unwrap();
    app.add_breakpoint("kind == reward").unwrap();
    press(&mut app, "x");
    assert!(matches!(app.popup, Popup::Breakpoints { cursor: 0 }));
    let shown = screen(&app, 80, 24);
    assert!(shown.contains(" 1 ● on  kind == filter_decision") && shown.contains(" 2 ● on  kind == reward"), "{shown}");
    // Disable the first: only the reward breakpoint stops the run.
    code(&mut app, KeyCode::Enter);
    assert!(!app.breakpoints[0].enabled);
    assert!(screen(&app, 80, 24).contains(" 1 ○ off kind == filter_decision"));
    code(&mut app, KeyCode::Esc);
    app.update(recnet::tui::keymap::Action::RunPause);
    app.run_steps(100_000);
    assert_eq!(app.current_event().unwrap().body.kind(), "reward");
    assert!(app.status.contains("breakpoint 2 hit"), "{}", app.status);
    // Delete the second; the first (disabled) stays, so nothing stops a run any more.
    press(&mut app, "xjd");
    assert_eq!(app.breakpoints.len(), 1);
    assert!(app.breakpoints[0].expr.contains("filter_decision"));
    code(&mut app, KeyCode::Esc);
    let before = app.cursor.pos;
    app.update(recnet::tui::keymap::Action::RunPause);
    app.run_steps(100_000);
    assert!(app.cursor.pos > before + 100, "a disabled breakpoint stopped the run");
}

#[test]
fn running_backward_stops_at_the_previous_hit() {
    let mut app = demo_app(3);
    app.add_breakpoint("kind == rule_edited or kind == router_strategy_edited").unwrap();
    let mut hits = Vec::new();
    for _ in 0..3 {
        app.update(recnet::tui::keymap::Action::RunPause);
        app.run_steps(100_000);
        hits.push(app.cursor.pos);
    }
    assert!(hits[0] < hits[1] && hits[1] < hits[2], "{hits:?}");
    // From the third hit back: the second, the first, then nowhere.
    for want in hits[..2].iter().rev() {
        press(&mut app, "p");
        assert_eq!(app.cursor.pos, *want, "{}", app.status);
        assert!(app.status.contains("running backward"), "{}", app.status);
    }
    let pos = app.cursor.pos;
    press(&mut app, "p");
    assert_eq!(app.cursor.pos, pos);
    assert_eq!(app.status, "no earlier breakpoint hit: still here");
}

/// A fork runs as a job: keys go on working while it does, Esc cancels it and nothing is
/// added, and a second one is refused while the first runs.
#[test]
fn a_fork_is_a_job_that_esc_cancels() {
    let mut app = demo_app(2);
    press(&mut app, "....");
    app.start_fork("u1", "default reject\n").unwrap();
    assert!(app.start_fork("u1", "default reject\n").unwrap_err().to_string().contains("still being made"));
    assert!(app.job_line().is_some_and(|l| l.contains("Esc cancels")));
    // A second fork from the rule editor is refused there, with the edit kept.
    app.cursor.selected = Some("u1".into());
    press(&mut app, "e");
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    match &app.popup {
        Popup::Rules { error: Some(e), .. } => assert!(e.contains("still being made"), "{e}"),
        _ => panic!("the editor closed and the second fork was lost"),
    }
    app.popup = Popup::None;
    let pos = app.cursor.pos;
    press(&mut app, "l");
    assert_eq!(app.cursor.pos, pos + 1, "a key moves while the fork runs");
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(app.status.contains("was cancelled: no branch was added"), "{}", app.status);
    assert!(app.job_line().is_none());
    app.on_tick(std::time::Instant::now());
    assert_eq!(app.branches.len(), 1);
    // Quitting while a fork is being made asks first; a second q quits.
    app.start_fork("u1", "default reject\n").unwrap();
    press(&mut app, "q");
    assert!(!app.quit && app.status.contains("a fork is being made"), "{}", app.status);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    app.quit_armed = false;
    // Once done, it opens on the event the fork was asked at: one raw step later on the branch,
    // whose edit comes before it.
    app.start_fork("u1", "default reject\n").unwrap();
    press(&mut app, "l");
    app.finish_jobs().unwrap();
    assert_eq!((app.branches.len(), app.branches.current, app.view), (2, 1, View::Diff));
    assert_eq!(app.cursor.pos, pos + 2);
}

#[test]
fn the_rule_editor_refuses_impossible_words_and_warns_of_no_rules() {
    let mut app = rule_editor_on_u1();
    // Replace the rules with one that can never match.
    app.popup = match std::mem::replace(&mut app.popup, Popup::None) {
        Popup::Rules { agent, .. } => Popup::Rules {
            agent,
            editor: Box::new(ratatui_textarea::TextArea::new(vec!["reject when polarity == sideways".into()])),
            error: None,
            original: Vec::new(),
        },
        _ => panic!("no editor"),
    };
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    match &app.popup {
        Popup::Rules { error: Some(e), .. } => assert!(e.starts_with("line 1:25: `polarity` is up or down"), "{e}"),
        _ => panic!("no error shown"),
    }
    // No rules: the first Ctrl+S warns, the second forks.
    app.popup = match std::mem::replace(&mut app.popup, Popup::None) {
        Popup::Rules { agent, .. } => {
            Popup::Rules { agent, editor: Box::new(ratatui_textarea::TextArea::new(vec!["# none".into()])), error: None, original: Vec::new() }
        }
        _ => panic!("no editor"),
    };
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(screen(&app, 120, 40).contains("warning: no rules"));
    assert_eq!(app.branches.len(), 1);
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    // The fork is a job: the footer says so until the timer takes it in.
    assert!(screen(&app, 120, 40).contains("forking at step"));
    app.finish_jobs().unwrap();
    assert_eq!(app.branches.len(), 2);
}

#[test]
fn the_event_log_is_a_table_whose_cursor_rows_open_and_go() {
    let mut app = demo_app(2);
    press(&mut app, "..");
    press(&mut app, "2");
    let shown = screen(&app, 120, 40);
    // Column headers, and the cursor visible from the start on the step shown.
    let header = shown.lines().nth(2).unwrap();
    assert!(header.contains("step") && header.contains("time") && header.contains("kind") && header.contains("what happened"), "{shown}");
    let cursor_row = shown.lines().find(|l| l.starts_with("│▸")).unwrap_or_else(|| panic!("no cursor row:\n{shown}"));
    assert!(cursor_row.contains(&format!("▶{:>6}", app.cursor.pos - 1)), "{cursor_row}");
    // Filtered: Enter opens the row under the cursor, a row the filter shows.
    press(&mut app, "/");
    type_line(&mut app, "rejects");
    let ev = app.event(app.log_cursor).unwrap();
    assert!(app.log_matches(&ev));
    code(&mut app, KeyCode::Enter);
    assert!(matches!(app.popup, Popup::Event(s) if s == app.log_cursor));
    code(&mut app, KeyCode::Esc);
    // Moving the timeline while filtered leaves the cursor on a shown row, never on the
    // (unshown) event the timeline is at.
    press(&mut app, "l");
    assert!(app.log_matches(&app.event(app.log_cursor).unwrap()));
    // A new filter: Enter opens one of its rows, not the previous filter's.
    press(&mut app, "/");
    type_line(&mut app, "accepts");
    code(&mut app, KeyCode::Enter);
    match app.popup {
        Popup::Event(s) => {
            let text = recnet::analysis::narrate::narrate(&app.event(s).unwrap());
            assert!(text.contains("accepts"), "{text}");
        }
        _ => panic!("nothing opened"),
    }
    code(&mut app, KeyCode::Esc);
    // t takes the timeline to the row.
    press(&mut app, "jj");
    let row = app.log_cursor;
    press(&mut app, "t");
    assert_eq!(app.cursor.pos, row + 1);
    assert_eq!(app.current_event().unwrap().step, row);
    // Long lines scroll sideways: L shifts the text column, H brings it back.
    let before = panes(&app, 80, 24);
    press(&mut app, "L");
    assert!(app.log_hscroll > 0);
    let after = screen(&app, 80, 24);
    assert_ne!(before, after);
    assert!(after.contains("text from column"), "{after}");
    press(&mut app, "H");
    assert_eq!(app.log_hscroll, 0);
    assert_eq!(panes(&app, 80, 24), before);
}

#[test]
fn the_status_line_tells_the_truth() {
    let mut app = demo_app(1);
    app.ensure_events(u64::MAX / 4, true);
    // A message lasts a few seconds on its own…
    press(&mut app, "m");
    assert!(app.status.starts_with("bookmarked"));
    let t0 = std::time::Instant::now();
    app.on_tick(t0);
    app.on_tick(t0 + std::time::Duration::from_secs(2));
    assert!(app.status.starts_with("bookmarked"));
    app.on_tick(t0 + recnet::tui::app::STATUS_TTL + std::time::Duration::from_millis(10));
    assert_eq!(app.status, "");
    assert!(screen(&app, 120, 40).contains("l one event forward · h back · Space runs · ? help · q quit"));
    // …or until the next action: "at the end of the run" goes when you leave the end.
    press(&mut app, "G");
    press(&mut app, "l");
    assert_eq!(app.status, "at the end of the run");
    press(&mut app, "h");
    assert!(!app.status.contains("end of the run"), "{}", app.status);
    // Running past the last event pauses and says so.
    app.jump(app.len() - 3);
    app.update(recnet::tui::keymap::Action::RunPause);
    app.run_steps(10);
    assert!(!app.running);
    assert_eq!(app.status, "paused at the end of the run");
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("⏸ paused") && shown.contains("paused at the end of the run"), "{shown}");
    // The timer that stops a run at the end asks for a frame, or the screen keeps "▶ running".
    app.jump(app.len());
    app.running = true;
    app.dirty = false;
    let t0 = std::time::Instant::now();
    app.on_tick(t0 + std::time::Duration::from_secs(2));
    assert!(!app.running && app.dirty, "stopped at the end without a redraw");
    assert_eq!(app.status, "paused at the end of the run");
    // Space at the very end does not start a run that cannot move.
    press(&mut app, " ");
    assert!(!app.running);
    assert!(app.status.starts_with("at the end of the run: nothing left to run"), "{}", app.status);
    assert!(screen(&app, 120, 40).contains("⏸ paused"));
    // A run stopped by a move says it stopped.
    press(&mut app, "g ");
    assert!(app.running);
    press(&mut app, ".");
    assert!(!app.running);
    assert!(app.status.starts_with("run stopped by a move at step"), "{}", app.status);
}

#[test]
fn the_tour_pauses_at_each_mechanism_once_and_space_goes_on() {
    let mut app = demo_app(3);
    app.start_tour();
    assert!(matches!(app.popup, Popup::Tour));
    insta::assert_snapshot!("tour_intro_80x24", screen(&app, 80, 24));
    press(&mut app, " ");
    assert!(app.running && app.tick_pace);
    assert!(matches!(app.popup, Popup::None));
    // The first stop: the run pauses with the panel over the panes.
    app.run_steps(1_000_000);
    assert!(!app.running);
    assert!(matches!(app.popup, Popup::Tour));
    let first = app.tour.as_ref().unwrap().showing.unwrap();
    assert!((recnet::tui::tour::STOPS[first].matches)(&app.current_event().unwrap()));
    insta::assert_snapshot!("tour_stop_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("tour_stop_120x40", screen(&app, 120, 40));
    // Other keys do not dismiss it; Space does, and the run goes on to the next stop.
    press(&mut app, "l");
    assert!(matches!(app.popup, Popup::Tour));
    let mut shown = vec![first];
    while !app.tour.as_ref().unwrap().done() {
        press(&mut app, " ");
        let at = app.cursor.pos;
        app.run_steps(1_000_000);
        assert!(app.cursor.pos > at, "the run did not move");
        let i = app.tour.as_ref().unwrap().showing.expect("stopped without a panel");
        assert!(!shown.contains(&i), "{} shown twice", recnet::tui::tour::STOPS[i].name);
        assert!((recnet::tui::tour::STOPS[i].matches)(&app.current_event().unwrap()));
        // A stop about the buffer or the rules leaves them in view at 80×24.
        if recnet::tui::tour::STOPS[i].low && app.cursor.selected.as_deref().is_some_and(|a| app.cursor.world.client(a).is_some()) {
            let small = screen(&app, 80, 24);
            assert!(small.contains("Rules (") && small.contains("Buffer "), "{}:\n{small}", recnet::tui::tour::STOPS[i].name);
        }
        shown.push(i);
    }
    assert_eq!(shown.len(), recnet::tui::tour::STOPS.len());
    // Stepping by hand meets the stops as well (a fresh tour).
    let mut by_hand = demo_app(1);
    by_hand.start_tour();
    code(&mut by_hand, KeyCode::Esc);
    for _ in 0..200 {
        if matches!(by_hand.popup, Popup::Tour) {
            break;
        }
        press(&mut by_hand, "l");
    }
    assert!(matches!(by_hand.popup, Popup::Tour), "no stop met by hand");
    let i = by_hand.tour.as_ref().unwrap().showing.unwrap();
    assert!((recnet::tui::tour::STOPS[i].matches)(&by_hand.current_event().unwrap()));
    let panel = screen(&by_hand, 80, 24);
    assert!(panel.contains(&format!("Tour · {} · 1 of", recnet::tui::tour::STOPS[i].name)), "{panel}");
    assert!(panel.contains(recnet::tui::tour::STOPS[i].lines[0]), "{panel}");
    press(&mut app, " ");
    assert!(app.status.starts_with("tour complete"));
    // Lecture pace: one time step per tick of the clock.
    app.update(recnet::tui::keymap::Action::First);
    app.update(recnet::tui::keymap::Action::TickForward);
    app.running = true;
    let t = app.cursor.world.cursor().tick;
    app.run_tick();
    assert_eq!(app.cursor.world.cursor().tick, t + 1);
    assert!(matches!(app.current_event().unwrap().body, recnet::world::event::EventBody::TickStarted { .. }));
}

#[test]
fn a_router_shows_what_its_gates_have_learned() {
    let mut app = demo_app(1);
    press(&mut app, "G");
    let routers: Vec<String> = app.cursor.world.routers().iter().filter(|r| r.gate_precision > 0.0).map(|r| r.id.clone()).collect();
    assert!(!routers.is_empty(), "the demo's gates learned something by its end");
    press(&mut app, "/");
    type_line(&mut app, &routers[0]);
    assert_eq!(app.cursor.selected.as_deref(), Some(routers[0].as_str()));
    let shown = screen(&app, 200, 60);
    assert!(shown.contains("learned so far (precision): gate"), "{shown}");
}

/// A world too large to draw whole: `recnet gen`'s generator, 300 users, 240 items, 12 communities.
fn large_app() -> App {
    let src = recnet::run::driver::resolve_source(Some("demo"), None, 7).unwrap();
    let cfg = Config::from_layers(&src.config_tables, &[]).unwrap();
    let spec = recnet::inputs::gen::generate(300, 240, 3000, 12, 5);
    let header = recnet::run::driver::header_for(&src, 7, 1, &cfg);
    let engine = Engine::new(&spec, cfg, 7, 1);
    live_app("large", engine, Box::new(Offline::new()), header, UiOptions { keymap: Keymap::default_map(), mono: true })
}

/// The large world in its first time step's propagation (messages on the way), u287 selected.
fn large_app_at_u287() -> App {
    let mut app = large_app();
    press(&mut app, "..");
    press(&mut app, &"l".repeat(40));
    press(&mut app, "/");
    type_line(&mut app, "u287");
    assert_eq!(app.cursor.selected.as_deref(), Some("u287"));
    app
}

/// The ids shown in the graph pane (the left part of each row), in screen order.
fn graph_ids(shown: &str, prefix: char) -> Vec<String> {
    shown.split(prefix).skip(1).map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>()).filter(|id| !id.is_empty()).collect()
}

#[test]
fn the_graph_of_a_large_world_shows_the_selections_neighbourhood() {
    let app = large_app_at_u287();
    let me = app.cursor.world.client("u287").unwrap();
    let my_routers: Vec<String> = me.routers.iter().cloned().collect();
    assert!(!my_routers.is_empty());
    for (w, h) in [(120, 40), (80, 24)] {
        let shown = screen(&app, w, h);
        let graph: String = shown.lines().map(|l| l.chars().take(w as usize * 45 / 100).collect::<String>() + "\n").collect();
        assert!(graph.contains("around u287"), "{shown}");
        let users = graph_ids(&graph, '●');
        let routers = graph_ids(&graph, '◆');
        // Not the first ids in order: the selection and its routers are there.
        assert!(users.contains(&"u287".to_string()), "{users:?}\n{shown}");
        for r in &my_routers {
            assert!(routers.contains(r), "router {r} of u287 missing: {routers:?}\n{shown}");
        }
        // The other users shown are the selection's neighbours: members of its routers first.
        let neighbours = users.iter().filter(|u| app.cursor.world.client(u).is_some_and(|c| c.routers.iter().any(|r| my_routers.contains(r)))).count();
        assert!(neighbours * 10 >= users.len() * 8, "{neighbours} of {users:?} share a router with u287\n{shown}");
        // Without the position line, scrubber and status: how far the live engine has got varies.
        let lines: Vec<&str> = shown.lines().collect();
        insta::assert_snapshot!(format!("neighbourhood_{w}x{h}"), lines[..lines.len() - 3].join("\n"));
    }
}

#[test]
fn the_legend_and_message_fates_read_without_colour() {
    let mut app = demo_app(1);
    press(&mut app, ".....");
    press(&mut app, &"l".repeat(30));
    for (w, h) in [(80, 24), (120, 40)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
        let buf = t.backend().buffer().clone();
        // --mono / NO_COLOR: not one cell is coloured, so the fates must be told by glyphs.
        assert!(buf.content().iter().all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset));
        let shown = screen(&app, w, h);
        let legend = shown.lines().find(|l| l.contains("●user ◆router ■item")).unwrap_or_else(|| panic!("no legend:\n{shown}"));
        for fate in ["✓", "‖", "✗", "…", "accepted", "held", "rejected", "waiting", "┈", "▸"] {
            assert!(legend.contains(fate), "{fate} missing from the legend: {legend}");
        }
        // Messages this step have heads at their receivers: an arrow and the fate's glyph.
        assert!(shown.contains("◂✓") || shown.contains("✓▸"), "{shown}");
        assert!(shown.contains("‖▸") || shown.contains("◂‖"), "{shown}");
        insta::assert_snapshot!(format!("legend_mono_{w}x{h}"), shown);
    }
}

#[test]
fn the_charts_have_a_legend_and_a_marker_at_the_current_step() {
    let mut app = demo_app(1);
    press(&mut app, ".....");
    press(&mut app, "3");
    app.prepare_stats();
    let tick = app.cursor.world.cursor().tick;
    for (w, h) in [(120, 40), (80, 24)] {
        let shown = screen(&app, w, h);
        // Without colour each series is named with its mark.
        for entry in ["⠤ accepted", "• held", "▄ rejected", "⠤ credit", &format!("⡇ now: time step {tick}")] {
            assert!(shown.contains(entry), "{entry:?} missing from the legends at {w}×{h}:\n{shown}");
        }
        insta::assert_snapshot!(format!("charts_{w}x{h}"), shown);
    }
}

#[test]
fn the_high_contrast_theme_colours_the_screen_and_mono_overrides_it() {
    let mut app = demo_app(1);
    press(&mut app, ".....");
    press(&mut app, &"l".repeat(30));
    app.mono = false;
    app.theme = recnet::tui::theme::Theme::built_in("high-contrast").unwrap();
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
    let buf = t.backend().buffer().clone();
    use ratatui::style::{Color, Modifier};
    // The selected agent's label is black on bright yellow; nothing is dimmed.
    assert!(buf.content().iter().any(|c| c.bg == Color::LightYellow && c.fg == Color::Black), "no selection drawn in the theme");
    assert!(buf.content().iter().all(|c| !c.modifier.contains(Modifier::DIM)));
    app.mono = true;
    t.draw(|f| recnet::tui::views::render(f, &app)).unwrap();
    assert!(t.backend().buffer().content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
}

/// Poll the app as the timer would until `done` holds (a job's result is taken in).
fn tick_until(app: &mut App, done: impl Fn(&App) -> bool) {
    let start = std::time::Instant::now();
    while !done(app) {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "the job never ended");
        std::thread::sleep(std::time::Duration::from_millis(5));
        app.on_tick(std::time::Instant::now());
    }
}

/// When the re-run is done the branch opens at once, and its comparison with the parent is a
/// job of its own: Esc stops only the comparison, the branch stays and works.
#[test]
fn a_forks_comparison_is_a_second_job_that_esc_stops_without_losing_the_branch() {
    let mut app = demo_app(2);
    press(&mut app, "....");
    app.start_fork("u1", "default reject\n").unwrap();
    tick_until(&mut app, |a| a.branches.len() == 2);
    assert_eq!((app.branches.current, app.view), (1, View::Diff));
    let line = app.job_line().unwrap();
    assert!(line.starts_with("comparing branch 1 with main") && line.ends_with("(Esc cancels)"), "{line}");
    assert!(screen(&app, 120, 40).contains("Comparing this branch with its parent"));
    let pos = app.cursor.pos;
    code(&mut app, KeyCode::Esc);
    assert!(app.status.starts_with("comparison stopped; branch 1 (u1 edited at step") && app.status.contains("is kept"), "{}", app.status);
    assert!(app.job_line().is_none());
    app.on_tick(std::time::Instant::now());
    assert_eq!((app.branches.len(), app.branches.current), (2, 1));
    assert!(app.branches[1].diff.is_none());
    assert!(!screen(&app, 120, 40).contains("Comparing this branch"), "the diff view still promises a comparison");
    // The branch is usable: it steps, and it is listed as unsaved.
    press(&mut app, "l");
    assert_eq!(app.cursor.pos, pos + 1);
    assert_eq!(app.unsaved_branches(), 1);
    // Left alone, a comparison lands in its branch.
    app.start_fork("u1", "default reject\n").unwrap();
    app.finish_jobs().unwrap();
    assert_eq!(app.branches.len(), 3);
    assert!(app.branches[2].diff.as_deref().is_some_and(|d| d.contains("A: branch 1")), "{:?}", app.branches[2].diff);
    assert!(screen(&app, 120, 40).contains("What the edit changed downstream"));
}

/// Two jobs at once: the footer shows both (cut to the width), the most recent is Esc's target,
/// and each Esc names what it stopped.
#[test]
fn every_running_job_is_in_the_footer_and_esc_stops_the_newest() {
    let mut app = demo_app_scanning_past(10);
    press(&mut app, "....");
    app.start_fork("u1", "default reject\n").unwrap();
    press(&mut app, "/");
    type_line(&mut app, "rejects");
    assert!(app.scanning());
    let lines = app.job_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("searching the log") && lines[0].ends_with("(Esc cancels)"), "{lines:?}");
    assert!(lines[1].starts_with("forking at step") && !lines[1].contains("Esc"), "{lines:?}");
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let shown = screen(&app, w, h);
        let status = shown.lines().last().unwrap();
        assert!(status.contains("searching the log") && status.contains("forking at"), "{w}x{h}:\n{shown}");
        assert!(recnet::util::text::cells(status.trim_end()) <= w as usize);
    }
    code(&mut app, KeyCode::Esc);
    assert!(app.status.starts_with("search stopped"), "{}", app.status);
    // The footer says what stopped, beside what goes on.
    for (w, h) in [(80, 24), (120, 40)] {
        let shown = screen(&app, w, h);
        let status = shown.lines().last().unwrap();
        assert!(status.contains("search stopped") && status.contains("forking at"), "{w}x{h}:\n{shown}");
    }
    let lines = app.job_lines();
    assert!(lines.len() == 1 && lines[0].starts_with("forking at step") && lines[0].ends_with("(Esc cancels)"), "{lines:?}");
    code(&mut app, KeyCode::Esc);
    assert!(app.status.contains("the fork of main at step") && app.status.contains("was cancelled"), "{}", app.status);
    assert!(app.job_line().is_none());
    app.on_tick(std::time::Instant::now());
    assert_eq!(app.branches.len(), 1);
}

/// `w` is a job: Esc leaves no file (never a partial one), a save never overwrites a file, and
/// a failure names the path.
#[test]
fn saving_a_branch_is_a_job_that_never_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let mut app = demo_app(3);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    let events = app.branches[1].timeline.len();
    std::fs::write(dir.path().join("recnet-branch-1.jsonl"), "mine").unwrap();
    app.start_save(1, dir.path()).unwrap();
    assert!(app.job_line().is_some_and(|l| l.starts_with("saving branch 1")), "{:?}", app.job_line());
    code(&mut app, KeyCode::Esc);
    if app.status.starts_with("stopped saving branch 1") {
        assert_eq!(files(), ["recnet-branch-1.jsonl"], "a cancelled save left a file");
        assert_eq!(app.unsaved_branches(), 1);
    } else {
        // It had finished before Esc: then the file is whole.
        assert!(app.status.starts_with("too late to stop: saved"), "{}", app.status);
        assert_eq!(files(), ["recnet-branch-1-2.jsonl", "recnet-branch-1.jsonl"]);
        std::fs::remove_file(dir.path().join("recnet-branch-1-2.jsonl")).unwrap();
    }
    assert!(app.job_line().is_none());
    // Saved to the end: under a fresh name, every event, the user's file untouched.
    app.start_save(1, dir.path()).unwrap();
    app.finish_jobs().unwrap();
    assert!(app.status.starts_with("saved") && app.status.contains("recnet-branch-1-2.jsonl"), "{}", app.status);
    assert_eq!(std::fs::read_to_string(dir.path().join("recnet-branch-1.jsonl")).unwrap(), "mine");
    assert_eq!(files(), ["recnet-branch-1-2.jsonl", "recnet-branch-1.jsonl"]);
    let replay = recnet::tui::replay_app(&dir.path().join("recnet-branch-1-2.jsonl"), UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    assert_eq!(replay.len(), events);
    assert_eq!(app.unsaved_branches(), 0);
    // A directory that cannot be written: the message names where it tried.
    let nowhere = dir.path().join("no-such-dir");
    app.start_save(1, &nowhere).unwrap();
    app.finish_jobs().unwrap();
    assert!(app.status.contains("was not saved") && app.status.contains("no-such-dir/recnet-branch-1.jsonl"), "{}", app.status);
    assert!(!nowhere.exists());
}

/// The graph's title names only what it draws: a selection not yet in the world (here: during
/// setup, before it is created) is said to be missing, not "around".
#[test]
fn the_graph_title_names_only_what_is_drawn() {
    let mut app = large_app();
    let start = app.cursor.pos;
    press(&mut app, "/");
    type_line(&mut app, "u287");
    assert_eq!(app.cursor.selected.as_deref(), Some("u287"));
    assert!(screen(&app, 120, 40).contains("around u287"));
    // A step of the setup where many users exist, but not u287 yet.
    let users = |a: &App| a.cursor.world.clients().iter().filter(|c| c.kind == recnet::world::event::ClientKind::User).count();
    let step = (1..start)
        .find(|&k| {
            app.goto(k);
            users(&app) > 60 && app.cursor.world.client("u287").is_none()
        })
        .expect("no such step");
    for (w, h) in [(120, 40), (80, 24), (200, 60)] {
        let shown = screen(&app, w, h);
        assert!(!shown.contains("around u287"), "step {step}, {w}x{h}:\n{shown}");
        assert!(shown.contains("Agent graph · no u287 yet"), "step {step}, {w}x{h}:\n{shown}");
    }
}

/// The event log's rows are read from the log when what they show changes, not at every frame
/// (a running job asks for one ten times a second).
#[test]
fn the_event_logs_rows_are_prepared_only_when_something_changed() {
    let mut app = demo_app(2);
    app.ensure_events(u64::MAX / 4, true);
    press(&mut app, "....2");
    let (before, shown) = (app.log_rows.builds, screen(&app, 120, 40));
    app.start_fork("u1", "default reject\n").unwrap();
    for _ in 0..20 {
        // What the loop does before each frame.
        app.prepare_log();
    }
    assert_eq!(app.log_rows.builds, before, "rows were read again with nothing changed");
    assert_eq!(screen(&app, 120, 40).lines().take(30).collect::<Vec<_>>(), shown.lines().take(30).collect::<Vec<_>>());
    press(&mut app, "j");
    assert_eq!(app.log_rows.builds, before + 1, "a moved cursor needs new rows");
    assert_ne!(panes(&app, 120, 40), panes_of(&shown));
    app.finish_jobs().unwrap();
}

#[test]
fn a_selected_agent_not_yet_in_the_world_is_said_so() {
    let mut app = large_app_at_u287();
    // Back to the start: the selection is kept, but u287 has not joined yet.
    press(&mut app, "g");
    assert_eq!(app.cursor.selected.as_deref(), Some("u287"));
    assert!(app.cursor.world.client("u287").is_none() && app.cursor.world.router("u287").is_none());
    for (w, h) in [(80, 24), (120, 40)] {
        let shown = screen(&app, w, h);
        assert!(!shown.contains("No agent selected"), "{shown}");
        assert!(shown.contains("u287 does not exist yet"), "{shown}");
    }
    // A hostile id is drawn escaped and cut by cells in the pane.
    app.cursor.selected = Some(format!("\u{1b}[31m{}", "宽".repeat(60)));
    let shown = screen(&app, 80, 24);
    assert!(!shown.contains('\u{1b}') && shown.contains("\\e[31m") && shown.contains('…'), "{shown}");
}

#[test]
fn esc_on_the_pick_list_stops_the_search_scan() {
    let mut app = demo_app_scanning_past(10);
    press(&mut app, "/");
    type_line(&mut app, "blue");
    assert!(matches!(app.popup, Popup::Pick { .. }), "no pick list");
    assert!(app.scanning(), "the scan did not start as a job");
    code(&mut app, KeyCode::Esc);
    assert!(matches!(app.popup, Popup::None));
    assert!(!app.scanning(), "the scan goes on after Esc");
    assert!(app.job_line().is_none_or(|l| !l.contains("searching the log")), "{:?}", app.job_line());
    assert!(app.status.contains("no agent picked") && app.status.contains("search stopped"), "{}", app.status);
}

/// At 80×24 a router's inbox line too long for its pane ends in `…` at the edge, so the reader
/// knows text is missing (it was cut mid-word without a sign).
#[test]
fn a_routers_inbox_line_cut_at_80x24_ends_in_an_ellipsis() {
    let mut app = demo_app(1);
    press(&mut app, "/");
    type_line(&mut app, "R1");
    assert_eq!(app.cursor.selected.as_deref(), Some("R1"));
    let shown = screen(&app, 80, 24);
    let inbox = shown.lines().find(|l| l.contains("inbox empty")).unwrap_or_else(|| panic!("no inbox line:\n{shown}"));
    assert!(inbox.ends_with("…│"), "{inbox}");
}

/// `d` on an unsaved branch asks first, as `q` does (a second `d` deletes; any other key
/// forgets the question); a saved one goes at once, its file staying on disk.
#[test]
fn deleting_an_unsaved_branch_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = demo_app(1);
    press(&mut app, "....");
    app.fork_with_rules("u1", "default reject\n").unwrap();
    press(&mut app, "B");
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 2, "an unsaved branch was deleted at the first d");
    assert!(matches!(app.popup, Popup::Branches { .. }));
    assert!(app.status.contains("unsaved") && app.status.contains("d again deletes"), "{}", app.status);
    assert!(screen(&app, 80, 24).contains("d again deletes"), "the question is not on screen");
    press(&mut app, "kj");
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 2, "a d after other keys deleted without asking again");
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 1);
    assert!(app.status.starts_with("deleted branch 1"), "{}", app.status);
    // A saved branch is deleted at once.
    code(&mut app, KeyCode::Esc);
    app.fork_with_rules("u1", "default reject\n").unwrap();
    app.save_branch_in(1, dir.path()).unwrap();
    press(&mut app, "B");
    press(&mut app, "d");
    assert_eq!(app.branches.len(), 1, "{}", app.status);
}

/// Esc in the rule editor with text typed asks before throwing it away (a second Esc does;
/// typing on forgets the question); untouched rules close at once.
#[test]
fn esc_in_the_rule_editor_asks_before_discarding_an_edit() {
    let mut app = rule_editor_on_u1();
    code(&mut app, KeyCode::Esc);
    assert!(matches!(app.popup, Popup::None), "untouched rules asked before closing");
    press(&mut app, "e");
    code(&mut app, KeyCode::Home);
    press(&mut app, "zz ");
    // A parse error, then Esc: the typed text is still there.
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    code(&mut app, KeyCode::Esc);
    match &app.popup {
        Popup::Rules { editor, error: Some(e), .. } => {
            assert!(editor.lines()[0].starts_with("zz "), "{:?}", editor.lines());
            assert!(e.contains("Esc again discards"), "{e}");
        }
        _ => panic!("Esc threw the edit away without asking"),
    }
    assert!(screen(&app, 80, 24).contains("Esc again discards"), "the question is not on screen");
    press(&mut app, "x");
    code(&mut app, KeyCode::Esc);
    assert!(matches!(app.popup, Popup::Rules { .. }), "Esc after typing on discarded without asking again");
    code(&mut app, KeyCode::Esc);
    assert!(matches!(app.popup, Popup::None));
    assert_eq!(app.branches.len(), 1);
}

/// The event log holds the whole session and shows a window of it: its title says which steps,
/// at every width (README: a pane that holds more than it shows says "a–b of N").
#[test]
fn the_event_logs_title_says_which_steps_it_shows() {
    let mut app = demo_app(1);
    press(&mut app, "....2");
    let len = app.len();
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let shown = screen(&app, w, h);
        let title = shown.lines().find(|l| l.contains("Event log")).unwrap_or_else(|| panic!("{shown}"));
        let label = title.split("steps ").nth(1).unwrap_or_else(|| panic!("no steps a–b of N at {w}x{h}: {title}"));
        let (a, rest) = label.split_once('–').unwrap();
        let (b, rest) = rest.split_once(" of ").unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(rest.starts_with(&len.to_string()), "{title}");
        assert!(a <= app.log_cursor && app.log_cursor <= b && b < len, "{a}–{b} around {}", app.log_cursor);
        // The first and last rows are those steps.
        let rows: Vec<&str> = shown.lines().filter(|l| l.contains(" t") && l.starts_with('│') && !l.contains("what happened")).collect();
        assert!(rows.first().unwrap().contains(&format!("{a:>6} t")), "{}", rows[0]);
        assert!(rows.last().unwrap().contains(&format!("{b:>6} t")), "{}", rows[rows.len() - 1]);
    }
}

/// One held step is "1 step", the status names a branch once, and the search hint is whole at
/// 80 and 120 columns.
#[test]
fn words_and_hints_read_right() {
    let mut app = demo_app(1);
    let held_once = (1..app.len()).find(|&n| {
        app.goto(n);
        app.cursor.world.clients().iter().any(|c| c.buffer.iter().any(|b| b.held.as_ref().is_some_and(|h| h.steps == 1)))
    });
    let n = held_once.expect("no message is ever held for one step in the demo");
    app.goto(n);
    let agent = app.cursor.world.clients().iter().find(|c| c.buffer.iter().any(|b| b.held.as_ref().is_some_and(|h| h.steps == 1))).unwrap().id.clone();
    app.cursor.selected = Some(agent);
    let shown = screen(&app, 200, 50);
    assert!(shown.contains("up to 1 step) · ") && !shown.contains("1 steps) ·"), "{shown}");

    app.fork_with_rules("u1", "default reject\n").unwrap();
    press(&mut app, "B");
    press(&mut app, "k");
    code(&mut app, KeyCode::Enter);
    press(&mut app, "B");
    press(&mut app, "j");
    code(&mut app, KeyCode::Enter);
    assert!(app.status.contains("branch 1 (u1 edited") && !app.status.contains("branch branch"), "{}", app.status);

    press(&mut app, "/");
    for (w, h) in [(80, 24), (120, 40)] {
        let inside = popup_text(&app, w, h, "/ search").join(" ");
        assert!(inside.contains("n/N next/previous (in the log: filters; empty clears)"), "the search hint is cut at {w} columns: {inside}");
    }
}

/// The rows inside the bordered pane or popup whose title holds `title`, each trimmed, as
/// drawn at `w`×`h` (the box whose top-left corner is nearest left of the title).
fn popup_text(app: &App, w: u16, h: u16, title: &str) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| recnet::tui::views::render(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let row = |y: u16, from: u16, to: u16| (from..to).map(|x| buf[(x, y)].symbol()).collect::<String>();
    let top = (0..h).find(|&y| row(y, 0, w).contains(title)).unwrap_or_else(|| panic!("no pane titled {title}"));
    let at = (0..w).find(|&x| row(top, x, w).starts_with(title)).unwrap();
    let left = (0..at).rev().find(|&x| buf[(x, top)].symbol() == "┌").unwrap();
    let right = (at..w).find(|&x| buf[(x, top)].symbol() == "┐").unwrap();
    (top + 1..h).take_while(|&y| buf[(left, y)].symbol() != "└").map(|y| row(y, left + 1, right).trim().to_string()).collect()
}

/// Rows as one text, every run of spaces one space: what a reader reads across wrapped rows.
fn flat(rows: &[String]) -> String {
    rows.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A corrupt line in the middle of a session file: what comes before it opens, browses and
/// jumps as in an intact session (the log lists it); a move past it stops at the last readable
/// step and names FILE:LINE; the footer says where reading stops.
#[test]
fn a_corrupt_line_leaves_everything_before_it_readable() {
    use recnet::tui::keymap::Action;
    let dir = tempfile::tempdir().unwrap();
    let intact = replay_demo(dir.path(), 2);
    let len = intact.len();
    let path = dir.path().join("demo.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Line 100 holds step 98 (the header is line 1).
    let garbled: Vec<String> = text.lines().enumerate().map(|(i, l)| if i + 1 == 100 { "{\"step\":99, garbage".into() } else { l.to_string() }).collect();
    std::fs::write(&path, garbled.join("\n") + "\n").unwrap();
    let mut app = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    assert_eq!(app.cursor.pos, intact.cursor.pos, "it did not open where the intact session opens");
    assert!(!app.cursor.world.clients().is_empty());
    let shown = screen(&app, 200, 50);
    assert!(shown.contains(&format!("of {}, line 100 unreadable", len - 1)), "{shown}");
    type_line(&mut app, ":97");
    assert_eq!(app.cursor.pos, 98, "{}", app.status);
    press(&mut app, "2");
    let log = screen(&app, 120, 40);
    assert!(log.contains(&format!("{:>6} t", 97)) && log.contains(&format!("{:>6} t", 85)), "the log is empty:\n{log}");
    type_line(&mut app, ":98");
    assert_eq!(app.cursor.pos, 98);
    assert!(app.status.contains("demo.jsonl:100: key must be a string"), "{}", app.status);
    // The end, near or far: as far as the lines allow, and why not further.
    for far in [u64::MAX, 40] {
        app.far_seek_events = far;
        app.update(Action::First);
        app.update(Action::Last);
        while app.far_seek.is_some() {
            app.on_tick(std::time::Instant::now());
        }
        assert_eq!(app.cursor.pos, 98, "{}", app.status);
        assert!(app.status.contains("demo.jsonl:100:") && app.status.contains("step 97 is the last"), "{}", app.status);
    }
}

/// A long error in the rule editor or the breakpoint prompt wraps instead of losing its end (the
/// list of fields a misspelt one could be, which the user needs to mend it).
#[test]
fn long_errors_in_the_rule_editor_and_the_prompt_are_read_whole() {
    let mut app = rule_editor_on_u1();
    code(&mut app, KeyCode::Home);
    press(&mut app, "accept 1 when foo > 1\n");
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    let Popup::Rules { error: Some(e), .. } = &app.popup else { panic!("no parse error shown") };
    let last_field = e.rsplit(", ").next().unwrap_or("").trim_end_matches(')').to_string();
    assert!(e.contains("unknown field") && !last_field.is_empty(), "{e}");
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&app, w, h);
        let flat: String = s.lines().map(|l| l.trim_matches(|c: char| c == '│' || c == ' ')).collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&last_field) && flat.contains("nothing changed"), "{w}×{h}: the error lost its end:\n{s}");
    }
}

/// A buffer row is cut to its pane; Enter on the focused buffer opens the message at its top
/// whole: the event that sent it (Enter opened the current event, whatever the buffer held).
#[test]
fn enter_on_the_buffer_opens_the_message_waiting_there() {
    let mut app = demo_app(1);
    // Walk until some user holds a message in its buffer.
    let mut found = None;
    for _ in 0..3000 {
        press(&mut app, "l");
        if let Some(c) = app.cursor.world.clients().iter().find(|c| !c.buffer.is_empty() && c.kind == recnet::world::event::ClientKind::User) {
            found = Some((c.id.clone(), c.buffer[0].message));
            break;
        }
    }
    let (agent, message) = found.expect("a buffered message in the demo");
    app.cursor.selected = Some(agent);
    while app.focus != recnet::tui::app::Focus::Buffer {
        code(&mut app, KeyCode::Tab);
    }
    code(&mut app, KeyCode::Enter);
    let Popup::Event(step) = app.popup else { panic!("Enter on the buffer opened nothing") };
    let ev = app.branch().timeline.store.range(step, step + 1).unwrap().remove(0);
    assert!(matches!(ev.body, recnet::world::event::EventBody::MessageSent { message: m, .. } if m == message), "{ev:?}");
}

/// A held message's row starts with what the hold is (its rule and steps) and its age, before
/// the content: at 120×40 the row lost "held by rule 4 (2 steps)" past its edge.
#[test]
fn a_held_messages_row_keeps_its_hold() {
    let mut app = demo_app(1);
    let mut found = None;
    for _ in 0..3000 {
        press(&mut app, "l");
        let held =
            app.cursor.world.clients().iter().find_map(|c| c.buffer.iter().find_map(|b| b.held.as_ref().map(|h| (c.id.clone(), b.message, h.rule, h.steps))));
        if let Some(h) = held {
            found = Some(h);
            break;
        }
    }
    let (agent, message, rule, steps) = found.expect("a held message in the demo");
    app.cursor.selected = Some(agent);
    for (w, h) in [(120, 40), (80, 24)] {
        let rows = popup_text(&app, w, h, "Buffer ");
        let row = rows.iter().find(|r| r.starts_with(&format!("m{message} ←"))).unwrap_or_else(|| panic!("{w}×{h}: no row for m{message}: {rows:?}"));
        assert!(row.contains(&format!("held (rule {rule}, up to {steps} step")), "{w}×{h}: the hold is cut: {row}");
    }
}

/// The agent's profile and the updates heard beside it wrap in the detail pane at 80×24
/// instead of ending in `…` (the likes were cut before the dislikes).
#[test]
fn the_agents_profile_wraps_at_80x24() {
    let mut app = demo_app(2);
    press(&mut app, &".".repeat(16));
    let c = app.cursor.world.client(app.cursor.selected.as_deref().unwrap()).unwrap().clone();
    assert!(!c.heard.is_empty(), "pick a step where the agent heard updates");
    let rows = popup_text(&app, 80, 24, &format!("{} “", c.id));
    let text = flat(&rows);
    let profile = recnet::world::profile_text(&c.attrs, 4);
    assert!(text.contains(&profile), "the profile is not whole at 80×24:\n{}", rows.join("\n"));
    assert!(text.contains("updates beside: ") && !rows.iter().any(|r| r.ends_with('…')), "a detail row is cut:\n{}", rows.join("\n"));
}

/// A rule longer than its column goes on under itself when the pane has the rows; at 80×24,
/// where it has not, rule r stays on row r.
#[test]
fn a_long_rule_wraps_in_the_rules_pane_when_there_is_room() {
    let mut app = demo_app(2);
    press(&mut app, &".".repeat(16));
    let c = app.cursor.world.client(app.cursor.selected.as_deref().unwrap()).unwrap().clone();
    // Each row without its hits and credit columns (a rule's second row has none).
    let rows: Vec<String> = popup_text(&app, 120, 40, "Rules (")
        .iter()
        .map(|r| {
            let mut words: Vec<&str> = r.split_whitespace().collect();
            let n = words.len();
            if n > 2 && words[n - 1].parse::<f64>().is_ok() && words[n - 2].parse::<u64>().is_ok() {
                words.truncate(n - 2);
            }
            words.join(" ")
        })
        .collect();
    let text = flat(&rows);
    for r in c.rules.iter() {
        let rule = recnet::rules::print_rule(r);
        assert!(text.contains(&rule), "rule “{rule}” is not whole at 120×40: {text}");
    }
    let small = popup_text(&app, 80, 24, "Rules (");
    assert!(small[1].starts_with("1 ") && small[2].starts_with("2 "), "{small:?}");
}

/// The diff lists each side's rules one to a line and whole (they were joined by ` | ` and cut
/// at 200 characters); the event popup shows a long line whole; a long branch name ends in `…`.
#[test]
fn the_diff_and_the_event_popup_show_rules_whole() {
    let mut app = demo_app(2);
    press(&mut app, "....");
    let before: Vec<String> = app.cursor.world.client("u1").unwrap().rules.iter().map(recnet::rules::print_rule).collect();
    let long = "reject when relevance < 0.01 and support < 1 and evidence < 1 and age > 3 and relevance < 0.005";
    let new = format!("{long}\naccept 0.9 when relevance >= 0.3 and support >= 1\ndefault reject\n");
    app.fork_with_rules("u1", &new).unwrap();
    tick_until(&mut app, |a| a.branch().diff.is_some());
    app.prepare_diff();
    let mut seen = String::new();
    for _ in 0..30 {
        seen.push(' ');
        seen.push_str(&flat(&popup_text(&app, 80, 24, "Diff (")));
        code(&mut app, KeyCode::PageDown);
    }
    // The session keeps the rules as written ("accept 1.0"), the rules pane prints "accept 1".
    let seen = seen.replace(".0 ", " ");
    for rule in before.iter().map(String::as_str).chain(new.lines()) {
        assert!(seen.contains(rule), "rule “{rule}” is not whole in the diff at 80×24: {seen}");
    }
    let title = screen(&app, 80, 24).lines().next().unwrap().trim_end().to_string();
    assert!(title.contains("branch 1") && title.ends_with('…'), "{title}");
    let step = app.diff_lines.iter().find_map(|l| l.strip_prefix("first divergence at step ")).unwrap().trim_end_matches(':').parse::<u64>().unwrap();
    app.popup = Popup::Event(step);
    let mut popup = String::new();
    for _ in 0..10 {
        popup.push(' ');
        popup.push_str(&flat(&popup_text(&app, 80, 24, &format!("Event {step}"))));
        code(&mut app, KeyCode::PageDown);
    }
    assert!(popup.replace(' ', "").contains(&new.replace('\n', "\\n").replace(' ', "")), "the edit's rules are cut in the event popup: {popup}");
}

/// The totals wrap at 80×24: the edits at their end were cut.
#[test]
fn the_totals_wrap_at_80x24() {
    let mut app = demo_app(2);
    press(&mut app, &".".repeat(16));
    press(&mut app, "3");
    app.prepare_stats();
    let text = flat(&popup_text(&app, 80, 24, "Totals"));
    let c = app.cursor.world.counters();
    let want = format!("{} rejected · {} rule edits · {} router edits", c.rejected, c.rule_edits, c.router_edits);
    assert!(text.contains(&want) && text.contains("no evaluation metrics"), "{text}");
}

/// At 60×16 every description and note of the help is read whole, scrolling with j (each row
/// was cut at the popup's edge, the longest description and the notes with it).
#[test]
fn the_help_wraps_at_60x16_and_every_key_is_read_whole() {
    let mut app = demo_app(1);
    press(&mut app, "?");
    let mut seen = String::new();
    for _ in 0..80 {
        let rows = popup_text(&app, 60, 16, "Help");
        assert!(!rows.iter().any(|r| r.ends_with('…')), "a help row is cut:\n{}", rows.join("\n"));
        seen.push(' ');
        seen.push_str(&flat(&rows));
        press(&mut app, "j");
    }
    for (keys, what) in app.keymap.help_rows() {
        assert!(seen.contains(what), "{keys} ({what}) is never whole at 60×16");
    }
    for note in ["decision == reject", "their closest members", "q asks if unsaved)", "Home End scroll it"] {
        assert!(seen.contains(note), "“{note}” is never on screen at 60×16");
    }
    assert!(screen(&app, 60, 16).contains(" of "), "the help's title lost where it is");
}

/// The footer's time line starts with whether it runs and the step: at 80 columns its end is
/// cut, and "⏸ paused" was there.
#[test]
fn the_footer_says_paused_and_the_step_first() {
    let mut app = demo_app(1);
    press(&mut app, &".".repeat(16));
    let s = screen(&app, 80, 24);
    let line = s.lines().nth(21).unwrap();
    assert!(line.starts_with(&format!(" ⏸ paused · step {} of ", app.cursor.pos - 1)), "{line}");
}

/// At 60×16 the buffer pane has no row inside: its title says its messages are not shown
/// (it said "1–0 of 3").
#[test]
fn a_pane_with_no_room_says_its_lines_are_not_shown() {
    let mut app = demo_app(2);
    press(&mut app, &".".repeat(16));
    let s = screen(&app, 60, 16);
    assert!(!s.contains("1–0 of") && s.contains("Buffer 3/6 · 3 not shown"), "{s}");
}

#[test]
fn a_breakpoint_set_before_the_setup_ends_knows_the_agents_it_will_make() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = replay_demo(dir.path(), 1);
    app.goto(0);
    app.add_breakpoint("kind == filter_decision and agent == u7 and decision == reject").unwrap();
    let e = app.add_breakpoint("agent == u99").unwrap_err().to_string();
    assert!(e.contains("no agent u99"), "{e}");
}

#[test]
fn a_session_cut_mid_line_says_so_in_the_footer_and_at_its_end() {
    use recnet::tui::keymap::Action;
    let dir = tempfile::tempdir().unwrap();
    let len = replay_demo(dir.path(), 1).len();
    let path = dir.path().join("demo.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Cut in the middle of the last line: a write that did not finish.
    std::fs::write(&path, &text[..text.len() - 20]).unwrap();
    let line = len + 1; // the header is line 1, step s is line s + 2
    let mut app = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    assert!(screen(&app, 120, 40).contains(&format!("of {}, line {line} cut short", len - 2)), "{}", screen(&app, 120, 40));
    app.update(Action::Last);
    app.step(1);
    assert!(app.status.contains(&format!("line {line}, cut short")), "{}", app.status);
}

#[test]
fn an_event_the_world_refuses_is_named_by_file_and_line_and_stays_in_the_footer() {
    use recnet::tui::keymap::Action;
    let dir = tempfile::tempdir().unwrap();
    replay_demo(dir.path(), 1);
    let path = dir.path().join("demo.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.lines().position(|l| l.contains("\"kind\":\"profile_updated\"")).unwrap();
    let line = at + 1;
    let bad: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i != at {
                return l.to_string();
            }
            // The first change's weight, out of range: the line parses, the world refuses it.
            let from = l.find("\"to\":").unwrap() + 5;
            let end = from + l[from..].find([',', '}']).unwrap();
            format!("{}1e308{}", &l[..from], &l[end..])
        })
        .collect();
    std::fs::write(&path, bad.join("\n") + "\n").unwrap();
    let mut app = recnet::tui::replay_app(&path, UiOptions { keymap: Keymap::default_map(), mono: true }).unwrap();
    app.update(Action::Last);
    assert!(app.status.contains(&format!("demo.jsonl:{line}:")), "{}", app.status);
    assert_eq!(app.cursor.pos, line as u64 - 2, "not as far as the lines before it allow");
    assert!(screen(&app, 120, 40).contains(&format!("line {line} unreadable")), "{}", screen(&app, 120, 40));
}

#[test]
fn the_last_key_in_a_live_run_follows_the_engine_to_the_end() {
    use recnet::tui::keymap::Action;
    use std::time::{Duration, Instant};
    // A run longer than the engine is asked for at a time (4096 events).
    let mut app = large_app();
    app.update(Action::Last);
    assert!(app.to_the_end && app.status.contains("Esc stops"), "{}", app.status);
    let give_up = Instant::now() + Duration::from_secs(60);
    while app.to_the_end && Instant::now() < give_up {
        app.on_tick(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(app.live_done(), "the run did not end");
    assert_eq!(app.cursor.pos, app.len(), "not at the end");
    assert!(app.status.contains("at the end of the run"), "{}", app.status);
    assert!(app.len() > 4096 * 3, "{}", app.len());
    // Esc stops the following where it is.
    let mut app = large_app();
    app.update(Action::Last);
    app.update(Action::Close);
    assert!(!app.to_the_end && app.status.contains("stopped running to the end"), "{}", app.status);
}

#[test]
fn a_round_that_begins_names_no_time_step_of_the_last() {
    use recnet::world::event::EventBody;
    let mut app = demo_app(2);
    app.ensure_events(100_000, true);
    let at = app.find_forward(0, |e| matches!(e.body, EventBody::RoundStarted { index: 1 })).expect("a second round");
    app.goto(at + 1);
    let shown = screen(&app, 200, 50);
    assert!(shown.contains("round 2/2 · time step – (the round begins)"), "{shown}");
}
