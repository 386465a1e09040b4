//! Layer: cli, the top (a module of the binary, not the library). Owns the command line: the clap
//! types and one function per subcommand. May import every library layer; errors are `anyhow`.

mod args;
mod config;
mod docs;
mod eval;
mod export;
mod io;

use anyhow::{Context, Result};
pub use args::Cli;
use args::{ColorWhen, Command, DiffFormat, EvalFormat, LlmArgs, SourceArgs, Split, UiArgs};
use io::{display_name, input_file, is_std, shown, write_out};
use recnet::engine::config::Config;
use recnet::reasoner::offline::Offline;
use recnet::run::driver::{record, resolve_source, RecordHooks};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A line on stdout that a reader who stopped early (`| head`, `| true`) does not turn into a
/// panic: a closed pipe leaves nothing to tell; any other failure (a full disk) is kept for
/// `dispatch` to report once the command is done.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            io::stdout_failed(e);
        }
    }};
}

fn build_config(tables: Vec<toml::Table>, args: &SourceArgs) -> Result<Config> {
    // The user's defaults lie under the scenario's own config.
    let mut tables: Vec<toml::Table> = config::load()?.engine.into_iter().chain(tables).collect();
    if let Some(path) = &args.config {
        let text = recnet::util::read_text_limited(path, recnet::util::TEXT_LIMIT).with_context(|| format!("{}: cannot read", path.display()))?;
        let t: toml::Table = text.parse().map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {e}", path.display()))?;
        tables.push(t);
    }
    Ok(Config::from_layers(&tables, &args.sets)?)
}

fn run(source: SourceArgs, rounds: u32, out: &Path, llm: &LlmArgs) -> Result<()> {
    // With the session on standard output, the summary goes to stderr.
    let to_stdout = is_std(out);
    macro_rules! say {
        ($($arg:tt)*) => {{
            if to_stdout {
                eprintln!($($arg)*);
            } else {
                use std::io::Write as _;
                if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
                    io::stdout_failed(e);
                }
            }
        }};
    }
    let scenario = source.origin.scenario.as_deref().map(Path::new);
    let inputs: Vec<&Path> = scenario.into_iter().chain(source.origin.dataset.as_deref()).chain(source.config.as_deref()).collect();
    refuse_overwriting_inputs(out, &inputs)?;
    let mut src = resolve_source(source.origin.scenario.as_deref(), source.origin.dataset.as_deref(), source.seed)?;
    let config = build_config(src.config_tables.clone(), &source)?;
    let total = src.spec.schedule.len() as u64 * rounds as u64;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} interactions  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let mut offline = Offline::new();
    let mut model = llm.reasoner()?;
    let reasoner: &mut dyn recnet::engine::protocol::Reasoner = match model.as_mut() {
        Some(m) => m,
        None => &mut offline,
    };
    let progress = |engine: &recnet::engine::Engine, _: &[recnet::world::event::Event]| {
        if let Some(b) = &bar {
            b.set_position(engine.world().counters().interactions);
        }
    };
    let hooks = RecordHooks {
        progress: Some(Box::new(progress)),
        round_metrics: match src.dataset.as_ref().and_then(recnet::analysis::validation_metrics) {
            Some(m) => Some(Box::new(m)),
            None => None,
        },
    };
    // The run takes the agents and schedule (not held twice).
    let spec = std::mem::take(&mut src.spec);
    let result = if to_stdout {
        let header = recnet::run::driver::header_for(&src, source.seed, rounds, &config);
        let writer = recnet::store::session::SessionWriter::to_writer(out, Box::new(std::io::stdout()), &header)?;
        recnet::run::driver::record_to(spec, config, source.seed, rounds, writer, reasoner, hooks)
    } else {
        record(&src, spec, config, source.seed, rounds, out, reasoner, hooks)
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The recorder's error says where the session is, if anywhere.
    let (engine, written) = result?;
    let w = engine.world();
    let c = &w.counters();
    let users = w.clients().iter().filter(|c| c.kind == recnet::world::event::ClientKind::User).count();
    // The scenario's name is data: printed as text, never as terminal commands.
    say!("recnet run: {} ({})", recnet::util::text::sanitize(&src.source.name, 200), recnet::util::text::sanitize(&src.source.path, 0));
    say!("  agents      {} users, {} items, {} routers", users, w.clients().len() - users, w.routers().len());
    say!("  interactions {} over {rounds} round(s), {} time steps", c.interactions, w.cursor().tick + 1);
    say!("  routing     {} attributes routed, {} integrations", c.attributes_routed, c.integrations);
    say!("  messages    {} sent, {} delivered, {} overflowed", c.messages_sent, c.deliveries, c.overflowed);
    say!("  filter      {} accepted, {} held, {} rejected", c.accepted, c.held, c.rejected);
    say!("  backward    {} rewards, {} gradients, {} rule edits, {} router edits", c.rewards, c.gradients, c.rule_edits, c.router_edits);
    if let Some(m) = &model {
        let a = &m.accounting;
        let t = a.total();
        say!(
            "  model       {} ({} calls, {} valid, {} fell back, {} cut at max_tokens; replies {})",
            recnet::util::text::sanitize(m.model(), 80),
            t.calls,
            t.valid(),
            t.fallbacks.values().sum::<u64>(),
            a.cut_at_limit,
            m.structured().as_str()
        );
        for line in a.table() {
            say!("    {line}");
        }
        for note in &a.notes {
            say!("    note: {}", recnet::util::text::sanitize(note, 200));
        }
    }
    let dest = if to_stdout { "standard output".to_string() } else { shown(out) };
    say!("  session     {} events written to {} in {:.2}s", written, dest, started.elapsed().as_secs_f64());
    Ok(())
}

fn ui_options(ui: &UiArgs, color: ColorWhen) -> Result<recnet::tui::UiOptions> {
    let keys = ui.keys.clone().or_else(config::keymap);
    let mut opts = recnet::tui::UiOptions::from_env(keys.as_deref(), ui.mono)?;
    opts.mono = ui.mono || color.mono();
    Ok(opts)
}

/// `--theme` (a built-in name, else a file), else theme.toml in the config directory.
fn ui_theme(ui: &UiArgs) -> Result<recnet::tui::theme::Theme> {
    use recnet::tui::theme::Theme;
    let file = match &ui.theme {
        Some(name) => match Theme::built_in(name) {
            Some(t) => return Ok(t),
            None => PathBuf::from(name),
        },
        None => match config::theme() {
            Some(p) => p,
            None => return Ok(Theme::default()),
        },
    };
    let text = recnet::util::read_text_limited(&file, recnet::util::TEXT_LIMIT)
        .map_err(|e| anyhow::anyhow!("{}: {e} (--theme takes {} or a theme file)", file.display(), recnet::tui::theme::BUILT_IN.join(", ")))?;
    Theme::parse(&text, &file.display().to_string())
}

fn replay(file: &Path, ui: UiArgs, color: ColorWhen) -> Result<()> {
    let opts = ui_options(&ui, color)?;
    let theme = ui_theme(&ui)?;
    need_terminal()?;
    let input = input_file(file)?;
    let mut app = recnet::tui::replay_app(&input.path, opts)?;
    app.theme = theme;
    recnet::tui::run(app)
}

fn need_terminal() -> Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the inspector needs a terminal (use `recnet demo --headless` or `recnet run` to record a session)");
    }
    Ok(())
}

fn inspect(source: SourceArgs, rounds: u32, ui: UiArgs, color: ColorWhen, title: &str, tour: bool) -> Result<()> {
    let opts = ui_options(&ui, color)?;
    let theme = ui_theme(&ui)?;
    need_terminal()?;
    let src = resolve_source(source.origin.scenario.as_deref(), source.origin.dataset.as_deref(), source.seed)?;
    let config = build_config(src.config_tables.clone(), &source)?;
    let header = recnet::run::driver::header_for(&src, source.seed, rounds, &config);
    let engine = recnet::engine::Engine::new(&src.spec, config, source.seed, rounds);
    let mut app = recnet::tui::live_app(title, engine, Box::new(Offline::new()), header, opts);
    app.theme = theme;
    if tour {
        app.start_tour();
    }
    recnet::tui::run(app)
}

fn demo(rounds: u32) -> Result<()> {
    let src = resolve_source(Some("demo"), None, 7)?;
    let config = Config::from_layers(&src.config_tables, &[])?;
    let mut engine = recnet::engine::Engine::new(&src.spec, config, 7, rounds);
    let mut reasoner = Offline::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = recnet::run::driver::drive(&mut engine, &mut reasoner, |evs| {
        for ev in evs {
            use std::io::Write;
            writeln!(out, "[{:>4}] {}", ev.step, recnet::analysis::narrate::narrate(ev))?;
        }
        Ok(())
    });
    // A closed pipe stays what it is (a normal end); any other failure names where it went.
    result.map_err(|e| match e {
        recnet::run::RunError::Io(io) if io.kind() != std::io::ErrorKind::BrokenPipe => {
            anyhow::anyhow!("<stdout>: write failed: {io}{}", recnet::util::atomic::hint(&io))
        }
        other => other.into(),
    })
}

fn gen(users: usize, items: usize, interactions: usize, communities: usize, seed: u64, out: &Path) -> Result<()> {
    let spec = recnet::inputs::gen::generate(users, items, interactions, communities, seed);
    let mut config = toml::Table::new();
    let mut routers = toml::Table::new();
    routers.insert("count".into(), toml::Value::Integer(communities.max(1) as i64));
    config.insert("routers".into(), toml::Value::Table(routers));
    let mut w = io::open_out(Some(out))?;
    // The writer's errors name the file.
    recnet::inputs::scenario::write_json(&spec, "generated: planted communities with drift (recnet gen)", &config, &mut w)?;
    w.finish()?;
    if is_std(out) {
        return Ok(());
    }
    say!("{}: {users} users, {items} items, {interactions} interactions, {communities} communities", shown(out));
    Ok(())
}

fn check(file: &Path) -> Result<bool> {
    let name = display_name(file);
    let result = if is_std(file) { recnet::store::session::check_reader(std::io::stdin().lock()) } else { recnet::store::session::check_session(file) };
    match result {
        Ok(n) => {
            say!("{name}: ok, {n} events");
            Ok(true)
        }
        // Not a problem with the session: it could not be read at all.
        Err(e) if e.line == 0 => anyhow::bail!("{name}: {}", e.reason),
        Err(e) => {
            eprintln!("{name}:{}: {}", e.line, recnet::util::text::sanitize(&e.reason, 300));
            eprintln!("{name}: the {} event(s) before line {} are valid", e.line.saturating_sub(2), e.line);
            Ok(false)
        }
    }
}

/// Refuse an output that would overwrite one of the command's inputs (a file, or a file inside an
/// input folder): no input is ever overwritten.
pub(crate) fn refuse_overwriting_inputs(out: &Path, inputs: &[&Path]) -> Result<()> {
    if is_std(out) {
        return Ok(());
    }
    let Ok(out_real) = std::fs::canonicalize(out) else { return Ok(()) };
    let out_meta = std::fs::metadata(out).ok();
    // The config directory's files are read by every command, named or not.
    let implicit: Vec<PathBuf> = config::dir().map(|d| config::FILES.iter().map(|f| d.join(f)).collect()).unwrap_or_default();
    for input in inputs.iter().copied().chain(implicit.iter().map(PathBuf::as_path)) {
        let Ok(input_real) = std::fs::canonicalize(input) else { continue };
        // The same file under another name (a hard link) is the same file.
        let same_file = match (&out_meta, std::fs::metadata(input).ok()) {
            #[cfg(unix)]
            (Some(o), Some(i)) => {
                use std::os::unix::fs::MetadataExt;
                o.dev() == i.dev() && o.ino() == i.ino()
            }
            _ => false,
        };
        anyhow::ensure!(
            !(same_file || out_real == input_real || (input_real.is_dir() && out_real.starts_with(&input_real))),
            "{}: is an input of this command; refusing to overwrite it (choose another --out)",
            out.display()
        );
    }
    Ok(())
}

/// A session read without its torn last line says so on stderr (only `check` used to: a
/// truncated copy was exported and diffed as if whole).
pub(crate) fn warn_torn(name: &str, line: Option<u64>) {
    if let Some(line) = line {
        let name = io::redact(name);
        eprintln!("{name}:{line}: warning: the last line is cut short (a write that did not finish); read up to the line before it");
    }
}

pub(crate) fn open_timeline(file: &Path, keyframe_every: u64) -> Result<(recnet::store::session::Header, recnet::store::timeline::Timeline)> {
    let f = recnet::store::session::SessionFile::open(file)?;
    warn_torn(&io::display_name(file), f.torn_line());
    let header = f.header.clone();
    // Commands here visit a step or two once: keyframes on disk would only cost writing them.
    let limits = recnet::store::timeline::Limits { disk_every: 0, ..Default::default() };
    Ok((header, recnet::store::timeline::Timeline::with_limits(recnet::store::timeline::EventStore::File(f), keyframe_every, limits)))
}

#[allow(clippy::too_many_arguments)]
fn fork(
    file: &Path,
    at: u64,
    agent: Option<String>,
    rules: Option<PathBuf>,
    router: Option<String>,
    fan_out: Option<usize>,
    tau: Option<f64>,
    sets: Vec<String>,
    out: &Path,
    allow_changed_inputs: bool,
) -> Result<()> {
    use recnet::run::branch::ForkEdit;
    anyhow::ensure!(!is_std(file), "fork needs the parent session as a file: the branch refers to it by path");
    refuse_overwriting_inputs(out, &[Some(file), rules.as_deref()].into_iter().flatten().collect::<Vec<_>>())?;
    let edit = match (agent, rules, router) {
        (Some(agent), Some(path), None) => {
            let text = recnet::util::read_text_limited(&path, recnet::util::TEXT_LIMIT).with_context(|| format!("{}: cannot read rules", path.display()))?;
            recnet::rules::parse_rules(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
            ForkEdit::Rules { agent, rules: text }
        }
        (None, None, Some(router)) => {
            anyhow::ensure!(fan_out.is_some() || tau.is_some(), "--router needs --fan-out and/or --tau");
            ForkEdit::Router { router, fan_out, tau }
        }
        (None, None, None) if !sets.is_empty() => ForkEdit::Config { sets },
        _ => anyhow::bail!("give one edit: --agent ID --rules FILE, or --router ID --fan-out N --tau X, or --set KEY=VALUE"),
    };
    // One state visited once: keyframes would only be copies of the world held in memory.
    let (header, mut tl) = open_timeline(file, 0)?;
    anyhow::ensure!(at < tl.len(), "--at {at}: the session's last step is {}", tl.len().saturating_sub(1));
    let mut reasoner = Offline::new();
    // The branch goes to its file as it is made (a temporary file, put in place by `finish`): an
    // error or a signal before the end leaves nothing at `out`.
    let mut writer: Option<recnet::store::session::SessionWriter> = None;
    let mut branch: Option<recnet::store::session::Header> = None;
    let mut written = 0u64;
    recnet::run::branch::fork_streamed(&header, file, &mut tl, at, &edit, allow_changed_inputs, &mut reasoner, &mut |piece| {
        use recnet::run::branch::Piece;
        match piece {
            Piece::Header(b) => {
                if b.source.digest != header.source.digest && !header.source.digest.is_empty() {
                    eprintln!(
                        "recnet: warning: {} changed since {} was recorded: the branch re-runs it as it is now",
                        recnet::util::text::sanitize(&header.source.path, 200),
                        recnet::util::text::sanitize(&file.display().to_string(), 200)
                    );
                }
                writer = Some(if is_std(out) {
                    recnet::store::session::SessionWriter::to_writer(out, Box::new(std::io::stdout()), b)?
                } else {
                    recnet::store::session::SessionWriter::create_atomic(out, b)?
                });
                branch = Some(b.clone());
            }
            Piece::Events(evs) => {
                let w = writer.as_mut().expect("the header comes first");
                for e in evs {
                    w.write(e)?;
                }
                written += evs.len() as u64;
            }
        }
        Ok(())
    })?;
    let (Some(w), Some(branch)) = (writer, branch) else { anyhow::bail!("fork: no branch was made") };
    // A signal since the re-run's last stage leaves no output either.
    anyhow::ensure!(!recnet::run::signals::interrupted(), "interrupted: no branch was written");
    w.finish()?;
    let point = branch.parent.as_ref().map(|p| p.fork_step).unwrap_or(0);
    if is_std(out) {
        return Ok(());
    }
    say!(
        "{}: branch of {} from step {point} ({}): {} events ({} shared)",
        shown(out),
        shown(file),
        recnet::util::text::sanitize(&edit.describe(), 300),
        written,
        point
    );
    Ok(())
}

/// Returns whether the two sides are the same.
fn diff(a: &Path, b: Option<&Path>, steps: Option<Vec<u64>>, format: DiffFormat) -> Result<bool> {
    // Each side is visited at one or two states, in order (the second replays on from the first,
    // which the timeline's cache holds): keyframes would only be copies of the world in memory.
    let every = 0;
    let ia = input_file(a)?;
    let report = match (b, steps) {
        (Some(b), None) => {
            let ib = input_file(b)?;
            let (ha, mut ta) = open_timeline(&ia.path, every)?;
            let (hb, mut tb) = open_timeline(&ib.path, every)?;
            // A branch and its parent, or runs of one world, line up step by step; others do not.
            if (&ha.source.digest, &ha.source.name, ha.seed) != (&hb.source.digest, &hb.source.name, hb.seed) {
                let world = |h: &recnet::store::session::Header| format!("{} (seed {})", recnet::util::text::sanitize(&h.source.name, 80), h.seed);
                eprintln!(
                    "recnet: warning: {} and {} were recorded from different worlds, {} and {}: their steps do not line up",
                    display_name(a),
                    display_name(b),
                    world(&ha),
                    world(&hb)
                );
            }
            recnet::analysis::diff::diff_sessions(&display_name(a), &display_name(b), &mut ta, &mut tb)?
        }
        (None, Some(s)) => {
            let (_, mut t) = open_timeline(&ia.path, every)?;
            anyhow::ensure!(s.iter().all(|x| *x < t.len()), "--steps: the session's last step is {}", t.len().saturating_sub(1));
            recnet::analysis::diff::diff_steps(&display_name(a), &mut t, s[0], s[1])?
        }
        _ => anyhow::bail!("give two sessions, or one session and --steps FROM TO"),
    };
    let text = match format {
        DiffFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        DiffFormat::Text => recnet::analysis::diff::render(&report, 20),
    };
    write_out(None, &text)?;
    let r = &report;
    Ok(r.first_divergence.is_none()
        && r.a_events == r.b_events
        && r.decisions.is_empty()
        && r.profiles.is_empty()
        && r.rules.is_empty()
        && r.routers.is_empty()
        && r.counters.is_empty())
}

fn check_rules(file: &Path) -> Result<bool> {
    let name = display_name(file);
    let bytes = if is_std(file) {
        recnet::util::read_limited(std::io::stdin().lock(), recnet::util::TEXT_LIMIT).context("<stdin>: read failed")?
    } else {
        recnet::util::read_file_limited(file, recnet::util::TEXT_LIMIT).with_context(|| format!("{name}: cannot read"))?
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let col = String::from_utf8_lossy(valid.rsplit(|b| *b == b'\n').next().unwrap_or(&[])).chars().count() + 1;
            // Report the lines before the bad bytes too.
            let head = String::from_utf8_lossy(valid).to_string();
            let (_, errors) = recnet::rules::parse_rules_all(&head[..head.rfind('\n').map(|i| i + 1).unwrap_or(0)]);
            for e in errors {
                eprintln!("{name}:{e}");
            }
            eprintln!("{name}:{line}:{col}: not valid UTF-8");
            return Ok(false);
        }
    };
    let (rules, errors) = recnet::rules::parse_rules_all(&text);
    for e in &errors {
        eprintln!("{name}:{e}");
    }
    if errors.is_empty() {
        // lint counts rules; blank and comment lines are not rules, so map back to lines.
        let rule_lines: Vec<usize> =
            text.lines().enumerate().filter(|(i, l)| matches!(recnet::rules::parse_rule_line(l, i + 1), Ok(Some(_)))).map(|(i, _)| i + 1).collect();
        for (i, warning) in recnet::rules::lint(&rules) {
            match rule_lines.get(i) {
                Some(line) => eprintln!("{name}:{line}: warning: {warning}"),
                None => eprintln!("{name}: warning: {warning}"),
            }
        }
        say!("{name}: {} rule(s) ok", rules.len());
    }
    Ok(errors.is_empty())
}

/// The command line, parsed with clap's own help and errors coloured as `--color` says (clap
/// alone would only look at the terminal and NO_COLOR): the flag is found before parsing.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut when = None;
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        let value = match a.strip_prefix("--color=") {
            Some(v) => Some(v.to_string()),
            None if a == "--color" => args.get(i + 1).map(|v| v.to_string_lossy().into_owned()),
            None => None,
        };
        when = value.or(when);
    }
    let choice = match when.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ if ColorWhen::Auto.mono() => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    };
    let args_seen = args.clone();
    let matches = Cli::command().color(choice).try_get_matches_from(args).unwrap_or_else(|e| {
        // Help and version go to stdout, which can fail (a full disk): clap would exit 0 anyway.
        if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
            use std::io::Write;
            if let Err(w) = e.print().and_then(|_| std::io::stdout().flush()) {
                if w.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("recnet: <stdout>: write failed: {w}{}", recnet::util::atomic::hint(&w));
                    std::process::exit(2);
                }
            }
            std::process::exit(0);
        }
        if let Some(hint) = replay_hint(&args_seen) {
            eprintln!("{hint}");
            std::process::exit(2);
        }
        e.exit()
    });
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `recnet inspect FILE` (a bare file, which clap refuses): what to type instead, with `replay`
/// for a recorded session.
fn replay_hint(args: &[std::ffi::OsString]) -> Option<String> {
    if args.get(1).is_none_or(|a| a != "inspect") {
        return None;
    }
    let file = args.iter().skip(2).map(|a| a.to_string_lossy()).find(|a| !a.starts_with('-') && std::path::Path::new(a.as_ref()).is_file())?;
    let shown = recnet::util::text::sanitize(&file, 200);
    Some(format!(
        "recnet: inspect runs a world live: `recnet inspect --scenario FILE|demo` or `--dataset DIR`; a recorded session opens with `recnet replay {shown}`"
    ))
}

/// Runs one parsed command line. Exit codes: 0 ok, 1 problems found, 2 a usage or I/O error
/// (clap exits 2 itself on a bad command line), 128+N on signal N (130 SIGINT, 143 SIGTERM).
pub fn dispatch(cli: Cli) -> ExitCode {
    recnet::run::signals::install_interrupt_handler();
    let color = cli.color;
    let result = match cli.command {
        Command::Run { source, rounds, out, llm } => run(source, rounds, &out, &llm).map(|_| true),
        Command::Demo { rounds, headless: true, .. } => demo(rounds).map(|_| true),
        Command::Demo { rounds, headless: false, ui, tour } => {
            let source = SourceArgs { origin: args::Origin { scenario: Some("demo".into()), dataset: None }, seed: 7, sets: Vec::new(), config: None };
            inspect(source, rounds, ui, color, if tour { "demo · tour" } else { "demo" }, tour).map(|_| true)
        }
        Command::Inspect { source, rounds, ui } => {
            let title = source.origin.scenario.clone().unwrap_or_else(|| source.origin.dataset.as_ref().map(|d| d.display().to_string()).unwrap_or_default());
            inspect(source, rounds, ui, color, &title, false).map(|_| true)
        }
        Command::Replay { file, ui } => replay(&file, ui, color).map(|_| true),
        Command::CheckRules { file } => check_rules(&file),
        Command::Check { file } => check(&file),
        Command::Export { file, at, format, events, kind, metrics, keyframe_every, out } => {
            let what = if events {
                export::What::Events { kind }
            } else if metrics {
                export::What::Metrics
            } else {
                export::What::State { at, keyframe_every }
            };
            export::export(&file, what, format, out.as_deref()).map(|_| true)
        }
        Command::Query { file, expr, format } => export::query(&file, &expr, format).map(|_| true),
        Command::Fork { file, at, agent, rules, router, fan_out, tau, sets, out, allow_changed_inputs } => {
            fork(&file, at, agent, rules, router, fan_out, tau, sets, &out, allow_changed_inputs).map(|_| true)
        }
        Command::Diff { a, b, steps, format, exit_code } => diff(&a, b.as_deref(), steps, format).map(|same| same || !exit_code),
        Command::Eval { dataset, format, seed, seeds, rounds, split, models, sets, users, out, llm } => {
            if llm.llm_url.is_some() || users.is_some() || out.is_some() {
                let single = seeds == 1 && models.is_empty();
                let opts = eval::LlmEval { seed, rounds, split, users: users.unwrap_or(20) as usize, out: out.as_deref(), single };
                eval::eval_llm(&dataset, format, &sets, &opts, &llm).map(|_| true)
            } else {
                eval::eval(&dataset, format, seed, seeds, rounds, split, &models, &sets).map(|_| true)
            }
        }
        Command::Gen { users, items, interactions, communities, seed, out } => gen(users, items, interactions, communities, seed, &out).map(|_| true),
        Command::Completions { shell } => docs::completions(shell).map(|_| true),
        Command::Man => docs::man().map(|_| true),
        Command::Schema { what: args::SchemaWhat::Events } => write_out(None, &recnet::analysis::export::events_schema()).map(|_| true),
        Command::Config(args::ConfigCmd::Path) => config::print_path().map(|_| true),
    };
    // A report line that could not be written (stdout on a full disk) fails the command.
    let result = match (result, io::take_stdout_failure()) {
        (Ok(_), Some(e)) => Err(anyhow::anyhow!("<stdout>: write failed: {e}{}", recnet::util::atomic::hint(&e))),
        (r, _) => r,
    };
    match result {
        // Left because of a signal (the inspector quits cleanly on SIGTERM): 128+N all the same.
        Ok(_) if recnet::run::signals::signal().is_some() => ExitCode::from((128 + recnet::run::signals::signal().unwrap_or(15).clamp(1, 127)) as u8),
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // The reader of our output stopped early (`| head`): a normal end.
        Err(e) if io::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = io::redact(&format!("{e:#}"));
            eprintln!("recnet: {}", recnet::util::text::sanitize(&msg, 2000).replace("\\n", "\n"));
            match recnet::run::signals::signal() {
                Some(n) => ExitCode::from((128 + n.clamp(1, 127)) as u8),
                None => ExitCode::from(2),
            }
        }
    }
}
