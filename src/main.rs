use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use recnet::config::Config;
use recnet::driver::{record, resolve_source};
use recnet::reasoner::offline::Offline;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "recnet", version, about = "RecNet preference propagation: run, record, replay and inspect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct SourceArgs {
    /// A scenario file (TOML or JSON), or `demo` for the built-in teaching scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// A folder of RecBole atomic files.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Seed for k-means++ and negative sampling.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Override a config knob, e.g. `--set routers.count=6` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// A TOML file of config overrides.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run RecNet headless and record the session.
    Run {
        #[command(flatten)]
        source: SourceArgs,
        /// Passes over all interactions.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// The built-in teaching scenario, narrated.
    Demo {
        #[arg(long, default_value_t = 2)]
        rounds: u32,
    },
    /// Parse and lint a rule file: FILE:LINE:COL: message, exit 1 on error.
    CheckRules { file: PathBuf },
    /// Write a synthetic scenario (JSON) with planted communities and drift.
    Gen {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 500)]
        items: usize,
        #[arg(long, default_value_t = 5000)]
        interactions: usize,
        #[arg(long, default_value_t = 8)]
        communities: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

fn build_config(tables: Vec<toml::Table>, args: &SourceArgs) -> Result<Config> {
    let mut tables = tables;
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let t: toml::Table = text.parse().map_err(|e: toml::de::Error| anyhow::anyhow!("{}: {e}", path.display()))?;
        tables.push(t);
    }
    Config::from_layers(&tables, &args.sets)
}

fn run(source: SourceArgs, rounds: u32, out: &Path) -> Result<()> {
    let src = resolve_source(source.scenario.as_deref(), source.dataset.as_deref(), source.seed)?;
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
    let mut reasoner = Offline::new();
    let (engine, written) = record(&src, config, source.seed, rounds, out, &mut reasoner, |engine, _| {
        if let Some(b) = &bar {
            b.set_position(engine.world().counters.interactions);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let w = engine.world();
    let c = &w.counters;
    let users = w.clients.iter().filter(|c| c.kind == recnet::event::ClientKind::User).count();
    println!("recnet run: {} ({})", src.source.name, src.source.path);
    println!("  agents      {} users, {} items, {} routers", users, w.clients.len() - users, w.routers.len());
    println!("  interactions {} over {rounds} round(s), {} time steps", c.interactions, w.cursor.tick + 1);
    println!("  routing     {} attributes routed, {} integrations", c.attributes_routed, c.integrations);
    println!("  messages    {} sent, {} delivered, {} overflowed", c.messages_sent, c.deliveries, c.overflowed);
    println!("  filter      {} accepted, {} held, {} rejected", c.accepted, c.held, c.rejected);
    println!("  session     {} events written to {} in {:.2}s", written, out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn demo(rounds: u32) -> Result<()> {
    let src = resolve_source(Some("demo"), None, 7)?;
    let config = Config::from_layers(&src.config_tables, &[])?;
    let mut engine = recnet::engine::Engine::new(&src.spec, config, 7, rounds);
    let mut reasoner = Offline::new();
    let mut shadow = recnet::world::World::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = recnet::driver::drive(&mut engine, &mut reasoner, |evs| {
        for ev in evs {
            use std::io::Write;
            writeln!(out, "[{:>4}] {}", ev.step, recnet::narrate::narrate(ev, &shadow))?;
            shadow.apply(ev).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    });
    match result {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => Ok(()),
        r => r,
    }
}

fn gen(users: usize, items: usize, interactions: usize, communities: usize, seed: u64, out: &Path) -> Result<()> {
    let spec = recnet::gen::generate(users, items, interactions, communities, seed);
    let mut config = toml::Table::new();
    let mut routers = toml::Table::new();
    routers.insert("count".into(), toml::Value::Integer(communities.max(1) as i64));
    config.insert("routers".into(), toml::Value::Table(routers));
    let file = std::fs::File::create(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    recnet::scenario::write_json(&spec, "generated: planted communities with drift (recnet gen)", &config, &mut w)
        .with_context(|| format!("{}: write failed", out.display()))?;
    use std::io::Write;
    w.flush().with_context(|| format!("{}: write failed", out.display()))?;
    println!("{}: {users} users, {items} items, {interactions} interactions, {communities} communities", out.display());
    Ok(())
}

fn check_rules(file: &Path) -> Result<bool> {
    let name = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| format!("{name}: cannot read"))?;
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
        for (i, warning) in recnet::rules::lint(&rules) {
            let _ = i;
            eprintln!("{name}: warning: {warning}");
        }
        println!("{name}: {} rule(s) ok", rules.len());
    }
    Ok(errors.is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { source, rounds, out } => run(source, rounds, &out).map(|_| true),
        Command::Demo { rounds } => demo(rounds).map(|_| true),
        Command::CheckRules { file } => check_rules(&file),
        Command::Gen { users, items, interactions, communities, seed, out } => {
            gen(users, items, interactions, communities, seed, &out).map(|_| true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("recnet: {}", recnet::text::sanitize(&format!("{e:#}"), 2000));
            ExitCode::from(1)
        }
    }
}
