//! The inspector: a terminal UI over a live run or a recorded session.

pub mod app;
pub mod keymap;
pub mod live;
pub mod theme;
pub mod tour;
pub mod views;

use anyhow::Result;
use app::{App, Branch};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Minimum time between two frames (~60 fps at most).
const FRAME: Duration = Duration::from_millis(16);
/// How long the inspector gets to leave on its own after a signal before the watchdog restores
/// the terminal and exits.
const GRACE: Duration = Duration::from_secs(2);

/// Options shared by every inspector entry point.
pub struct UiOptions {
    pub keymap: keymap::Keymap,
    /// No colours: NO_COLOR set, or asked for.
    pub mono: bool,
}

impl UiOptions {
    pub fn from_env(keys: Option<&std::path::Path>, mono: bool) -> Result<UiOptions> {
        let keymap = match keys {
            Some(p) => {
                let text = crate::util::read_text_limited(p, crate::util::TEXT_LIMIT).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                keymap::Keymap::with_overrides(&text, &p.display().to_string())?
            }
            None => keymap::Keymap::default_map(),
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ok(UiOptions { keymap, mono: mono || no_color })
    }
}

/// A live run of `engine` (offline reasoner unless one is given), inspectable as it goes.
pub fn live_app(
    title: &str,
    engine: crate::engine::Engine,
    reasoner: Box<dyn crate::engine::protocol::Reasoner + Send>,
    header: crate::store::session::Header,
    opts: UiOptions,
) -> App {
    let live = live::Live::start(engine, reasoner);
    let branch = Branch {
        name: "main".into(),
        timeline: crate::store::timeline::Timeline::new(crate::store::timeline::EventStore::memory(Vec::new()), crate::store::timeline::DEFAULT_KEYFRAME_EVERY),
        header: Some(header),
        parent_path: PathBuf::from("(live run)"),
        parent: None,
        live: Some(live),
        diff: None,
        saved: None,
        unreadable: Default::default(),
    };
    App::new(title.to_string(), branch, opts.keymap, opts.mono)
}

/// A recorded session: no engine, no model calls.
pub fn replay_app(path: &std::path::Path, opts: UiOptions) -> Result<App> {
    let f = crate::store::session::SessionFile::open(path)?;
    let header = f.header.clone();
    let branch = Branch {
        name: "main".into(),
        timeline: crate::store::timeline::Timeline::new(crate::store::timeline::EventStore::File(f), crate::store::timeline::DEFAULT_KEYFRAME_EVERY),
        header: Some(header),
        parent_path: path.to_path_buf(),
        parent: None,
        live: None,
        diff: None,
        saved: Some(path.to_path_buf()),
        unreadable: Default::default(),
    };
    Ok(App::new(format!("replay {}", path.display()), branch, opts.keymap, opts.mono))
}

/// Keep the panic hook installed last (ratatui's: restore the terminal, then report) for panics
/// of this thread, the UI's. A job or the live engine that panics on its own thread is caught and
/// reported by its owner while the UI goes on: restoring the terminal then would pull the screen
/// from under a running inspector.
pub fn ui_thread_panics_only() {
    let ui = std::thread::current().id();
    let restore_and_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui {
            restore_and_report(info);
        }
    }));
}

/// Run the app in the terminal until it quits. The terminal is restored on every exit path,
/// panics included (ratatui's hook restores raw mode and the alternate screen; we enable no mouse
/// or paste modes that would need more).
pub fn run(mut app: App) -> Result<()> {
    let mut terminal = ratatui::init();
    ui_thread_panics_only();
    let active = Arc::new(AtomicBool::new(true));
    let watched = active.clone();
    crate::run::signals::set_watchdog(Some(Arc::new(move || {
        // When the terminal hangs up, crossterm 0.29 spins on the dead tty inside `poll` and
        // never returns to our loop (crossterm-rs/crossterm#793), so the inspector would burn a
        // core forever. Sessions are flushed stage by stage, so leaving here loses nothing.
        std::thread::sleep(GRACE);
        if watched.load(Ordering::SeqCst) {
            // Not `ratatui::restore`: on a dead terminal it fails and prints that to a dead
            // stderr, which panics, and this thread would never reach the exit.
            let _ = ratatui::try_restore();
            std::process::exit(128 + crate::run::signals::signal().unwrap_or(2));
        }
    })));
    let result = run_loop(&mut app, &mut terminal);
    if let Err(e) = ratatui::try_restore() {
        use std::io::Write;
        // Not eprintln: a closed stderr must not turn the exit into a panic.
        let _ = writeln!(std::io::stderr(), "recnet: could not restore the terminal: {e}");
    }
    active.store(false, Ordering::SeqCst);
    crate::run::signals::set_watchdog(None);
    result
}

fn run_loop(app: &mut App, terminal: &mut ratatui::DefaultTerminal) -> Result<()> {
    use ratatui::crossterm::{
        execute,
        terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate},
    };
    let mut last_frame = Instant::now() - FRAME;
    loop {
        if app.quit {
            return Ok(());
        }
        let wait = app.on_tick(Instant::now());
        if app.dirty {
            let since = last_frame.elapsed();
            if since < FRAME {
                std::thread::sleep(FRAME - since);
            }
            if app.view == app::View::Metrics {
                app.prepare_stats();
            }
            if app.view == app::View::Events {
                app.prepare_log();
            }
            // One frame, written atomically where the terminal supports it.
            let _ = execute!(std::io::stdout(), BeginSynchronizedUpdate);
            terminal.draw(|f| views::render(f, app))?;
            let _ = execute!(std::io::stdout(), EndSynchronizedUpdate);
            app.dirty = false;
            last_frame = Instant::now();
        }
        // Idle: block until input; busy: wake for the next run step or live batch.
        if crate::run::signals::interrupted() {
            // SIGTERM (Ctrl+C arrives as a key in raw mode): leave cleanly.
            return Ok(());
        }
        // Idle wakes once a second only to notice a termination signal.
        let timeout = wait.unwrap_or(Duration::from_secs(1));
        if event::poll(timeout)? {
            // Drain everything queued, then draw once.
            loop {
                match event::read()? {
                    TermEvent::Key(k) if k.kind == KeyEventKind::Press => app.on_key(k),
                    TermEvent::Resize(..) => app.dirty = true,
                    _ => {}
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    }
}
