//! The command line as clap types: subcommands, the argument groups they share, and the closed
//! sets of values (`ValueEnum`), so that clap itself refuses a bad value with exit 2 and lists the
//! allowed ones.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    problems found (check, check-rules; diff --exit-code with differences)
  2    usage error, unreadable input or failed output
  130  interrupted (SIGINT); 143 terminated (SIGTERM); 129 hung up (SIGHUP)

A FILE of `-` is standard input; an --out of `-` is standard output.";

#[derive(clap::Parser)]
#[command(
    name = "recnet",
    version,
    about = "RecNet preference propagation: run, record, replay and inspect",
    long_about = "RecNet (self-evolving preference propagation for LLM-agent recommenders): run it headless \
                  and record a session, replay and inspect it in the terminal, fork it with an edit, \
                  compare, export and query it.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// When to use colours (the inspector, help); `auto` honours NO_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColorWhen {
    /// Colours unless NO_COLOR is set (to anything but empty).
    Auto,
    /// Colours even if NO_COLOR is set.
    Always,
    /// No colours.
    Never,
}

impl ColorWhen {
    /// Whether colours are off for this run.
    pub(crate) fn mono(self) -> bool {
        match self {
            ColorWhen::Always => false,
            ColorWhen::Never => true,
            ColorWhen::Auto => std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// What `export` writes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// The world at a step (or the events as JSON Lines, with --events).
    Json,
    /// The agent graph at a step, for Graphviz.
    Dot,
    /// The events (with --events), one row each.
    Csv,
}

/// How `query` prints the matching events.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryFormat {
    /// Each event as recorded, one JSON object a line.
    Jsonl,
    /// One row an event: step, round, tick, phase, stage, kind, agent, router, message, text.
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiffFormat {
    /// A report to read.
    Text,
    /// The whole report as JSON.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EvalFormat {
    /// A table to read.
    Table,
    /// The whole report as JSON.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// The held-out test interactions (report these).
    Test,
    /// The validation interactions (choose knobs here).
    Valid,
}

impl Split {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Valid => "valid",
        }
    }
}

/// Where the world comes from: exactly one of the two.
#[derive(clap::Args, Clone)]
#[group(id = "source", required = true, multiple = false)]
pub(crate) struct Origin {
    /// A scenario file (TOML or JSON), or `demo` for the built-in teaching scenario.
    #[arg(long, value_name = "FILE|demo")]
    pub(crate) scenario: Option<String>,
    /// A folder of RecBole atomic files (NAME.inter, NAME.item, …).
    #[arg(long, value_name = "DIR")]
    pub(crate) dataset: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub(crate) struct SourceArgs {
    #[command(flatten)]
    pub(crate) origin: Origin,
    /// Seed for k-means++ and negative sampling.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Override a config knob, e.g. `--set routers.count=6` (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// A TOML file of config overrides (applied over the scenario's own).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(clap::Args, Clone, Default)]
pub(crate) struct LlmArgs {
    /// An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; OPENAI_BASE_URL is read when
    /// RECNET_LLM_URL is unset. Without one the offline reasoner answers.
    #[arg(long, env = "RECNET_LLM_URL", value_name = "URL")]
    pub(crate) llm_url: Option<String>,
    /// Model name (default: the server's first model).
    #[arg(long, env = "RECNET_LLM_MODEL", default_value = "", hide_default_value = true, value_name = "NAME")]
    pub(crate) llm_model: String,
    /// The endpoint's API key. Prefer the environment variable (OPENAI_API_KEY is read too): a
    /// flag's value shows in the process list. Never printed or recorded.
    #[arg(long, env = "RECNET_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub(crate) api_key: Option<String>,
    /// At most this many model calls; the offline reasoner answers past it.
    #[arg(long, value_name = "CALLS")]
    pub(crate) llm_budget: Option<u64>,
    /// Seconds to wait for one reply.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub(crate) llm_timeout: u64,
    /// Retries of a failed call (with backoff) before the run stops.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub(crate) llm_retries: u32,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub(crate) llm_concurrency: usize,
    /// Longest reply, in tokens (a reply cut there is reported as such). 0: each request's own,
    /// enough for the longest reply its schema allows.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) llm_max_tokens: u32,
    /// How replies are constrained: json_schema (a schema built per request), json_object, or
    /// none. A server that answers 400 to it falls back to the next, once, with an event.
    #[arg(long, default_value = "json_schema", value_parser = ["json_schema", "json_object", "none"])]
    pub(crate) llm_structured: String,
}

impl LlmArgs {
    pub(crate) fn reasoner(&self) -> Result<Option<recnet::reasoner::openai::OpenAi>> {
        let mut url = self.llm_url.clone().or_else(|| std::env::var("OPENAI_BASE_URL").ok().filter(|u| !u.is_empty()));
        let mut model = self.llm_model.clone();
        // The config file's [llm] comes last: flags and the environment win.
        if url.is_none() || model.is_empty() {
            let user = super::config::load()?;
            url = url.or(user.llm_url);
            if model.is_empty() {
                model = user.llm_model.unwrap_or_default();
            }
        }
        let Some(url) = url else { return Ok(None) };
        if let Some(key) = &self.api_key {
            super::io::add_secret(key);
        }
        // Credentials in the URL (`https://user:secret@host/v1`) are printed nowhere.
        if let Some((_, rest)) = url.split_once("://") {
            if let Some((userinfo, _)) = rest[..rest.find('/').unwrap_or(rest.len())].rsplit_once('@') {
                super::io::add_secret(userinfo);
                if let Some((_, password)) = userinfo.split_once(':') {
                    super::io::add_secret(password);
                }
            }
        }
        let cfg = recnet::reasoner::openai::OpenAiConfig {
            base_url: url,
            model,
            budget: self.llm_budget,
            timeout: std::time::Duration::from_secs(self.llm_timeout.max(1)),
            retries: self.llm_retries,
            concurrency: self.llm_concurrency.max(1),
            max_tokens: self.llm_max_tokens,
            structured: recnet::reasoner::openai::Structured::parse(&self.llm_structured).unwrap_or(recnet::reasoner::openai::Structured::JsonSchema),
            cancelled: Some(recnet::run::signals::interrupted),
            api_key: self.api_key.clone(),
            ..Default::default()
        };
        Ok(Some(recnet::reasoner::openai::OpenAi::new(cfg)?))
    }
}

#[derive(clap::Args, Clone)]
pub(crate) struct UiArgs {
    /// A TOML keymap laid over the default (see assets/keymap.toml); default: keymap.toml in the
    /// config directory, if there is one.
    #[arg(long, value_name = "FILE")]
    pub(crate) keys: Option<PathBuf>,
    /// No colours: the same as --color never.
    #[arg(long)]
    pub(crate) mono: bool,
    /// The colours: a built-in theme (`default`, `high-contrast`) or a theme TOML file; default:
    /// theme.toml in the config directory, if there is one.
    #[arg(long, value_name = "NAME|FILE")]
    pub(crate) theme: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SchemaWhat {
    /// One line of a session after the header: an event, tagged by `kind`.
    Events,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCmd {
    /// Print the config directory (XDG_CONFIG_HOME/recnet on Linux, the platform's place elsewhere).
    Path,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run RecNet headless and record the session.
    #[command(
        after_help = "Examples:\n  recnet run --scenario demo --out run.jsonl\n  recnet run --dataset data/ml-100k --rounds 2 --set routers.count=6 --out run.jsonl\n  recnet run --scenario demo --out - | recnet check -"
    )]
    Run {
        #[command(flatten)]
        source: SourceArgs,
        /// Passes over all interactions.
        #[arg(long, default_value_t = 1, value_name = "N")]
        rounds: u32,
        /// The session file to write (`-`: standard output; the summary then goes to stderr).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// The inspector on the built-in teaching scenario (offline reasoner).
    #[command(after_help = "Examples:\n  recnet demo\n  recnet demo --headless --rounds 1 | less")]
    Demo {
        /// Passes over all interactions.
        #[arg(long, default_value_t = 3, value_name = "N")]
        rounds: u32,
        /// Print the narrated run instead of opening the inspector.
        #[arg(long, conflicts_with = "tour")]
        headless: bool,
        /// A guided tour: pause at the first occurrence of each mechanism with a short
        /// explanation, at one time step a second (Space goes on).
        #[arg(long)]
        tour: bool,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The inspector over a live run.
    #[command(after_help = "Example:\n  recnet inspect --scenario fixtures/demo.toml --rounds 2")]
    Inspect {
        #[command(flatten)]
        source: SourceArgs,
        /// Passes over all interactions.
        #[arg(long, default_value_t = 1, value_name = "N")]
        rounds: u32,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The inspector over a recorded session (no engine, no model calls).
    #[command(after_help = "Example:\n  recnet replay run.jsonl")]
    Replay {
        /// The session to replay (`-`: standard input).
        file: PathBuf,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// Parse and lint a rule file: FILE:LINE:COL: message, exit 1 on error.
    #[command(after_help = "Example:\n  recnet check-rules my.rules")]
    CheckRules {
        /// The rule file (`-`: standard input).
        file: PathBuf,
    },
    /// Validate a session: exit 0, or FILE:LINE: reason and exit 1.
    #[command(after_help = "Examples:\n  recnet check run.jsonl\n  zcat run.jsonl.gz | recnet check -")]
    Check {
        /// The session to validate (`-`: standard input).
        file: PathBuf,
    },
    /// The world at a step (json | dot), every event (--events), or the counters per time step (--metrics).
    #[command(
        after_help = "Examples:\n  recnet export run.jsonl --at 400 --format dot | dot -Tsvg > graph.svg\n  recnet export run.jsonl --events --format csv --out events.csv\n  recnet export run.jsonl --metrics --format csv > steps.csv"
    )]
    Export {
        /// The session (`-`: standard input).
        file: PathBuf,
        /// The step whose state to export (after that event is applied); default: the last.
        #[arg(long, value_name = "STEP", conflicts_with_all = ["events", "metrics"])]
        at: Option<u64>,
        /// The output format: json or dot for a state; csv or json (JSON Lines) for --events and --metrics.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Export the events instead of a state (streamed: memory stays flat).
        #[arg(long, conflicts_with = "metrics")]
        events: bool,
        /// Only events of this kind; with --format csv, one typed column per field of the kind
        /// (filter_decision: step, round, tick, agent, message, router, rule, rule_text, decision, …).
        #[arg(long, requires = "events", value_name = "KIND", value_parser = clap::builder::PossibleValuesParser::new(recnet::analysis::breakpoint::KINDS))]
        kind: Option<String>,
        /// Export one row per time step: interactions, messages, accepted/held/rejected, rewards,
        /// credit, rule and router edits, model calls, and evaluation metrics where recorded.
        #[arg(long)]
        metrics: bool,
        /// Keep a full state every K events while replaying (0, the default: none, as an export
        /// visits one state once and copies would only cost memory; results never depend on it).
        #[arg(long, default_value_t = 0, value_name = "K")]
        keyframe_every: u64,
        /// Write here instead of standard output (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The events of a session that satisfy a condition (the breakpoint language), as JSON Lines or CSV.
    #[command(
        after_help = "Fields are an event's as recorded (kind, agent, router, message, rule, decision, reward, edit.op, …);\n`target` and `target.kind` are the agents an event is about. Operators: == != < <= > >=, and, or, not, ( ).\n\nExamples:\n  recnet query run.jsonl 'kind == filter_decision and agent == u7 and rule == 2 and decision == reject'\n  recnet query run.jsonl 'kind == reward and reward < -0.05' --format csv\n  recnet query run.jsonl 'kind == message_sent and target.kind == item' | wc -l"
    )]
    Query {
        /// The session (`-`: standard input).
        file: PathBuf,
        /// The condition, e.g. `kind == filter_decision and decision == reject`.
        #[arg(value_name = "EXPR")]
        expr: String,
        /// How to print the matching events.
        #[arg(long, value_enum, default_value_t = QueryFormat::Jsonl)]
        format: QueryFormat,
    },
    /// Re-run a session from a step with an edit, writing a branch session.
    #[command(
        after_help = "Examples:\n  recnet fork run.jsonl --at 300 --agent u1 --rules strict.rules --out branch.jsonl\n  recnet fork run.jsonl --at 300 --router R2 --fan-out 1 --out branch.jsonl\n  recnet fork run.jsonl --at 300 --set filter.enabled=false --out branch.jsonl"
    )]
    Fork {
        /// The parent session (a file: the branch refers to it by path).
        file: PathBuf,
        /// The step to branch from: the branch re-runs from the start of its time step (the
        /// step it says) and shares the parent's events before that.
        #[arg(long, value_name = "STEP")]
        at: u64,
        /// The agent whose rules --rules replaces.
        #[arg(long, value_name = "ID", requires = "rules", conflicts_with = "router")]
        agent: Option<String>,
        /// The new rule file for --agent.
        #[arg(long, value_name = "FILE", requires = "agent")]
        rules: Option<PathBuf>,
        /// A router whose knobs to change (with --fan-out and/or --tau).
        #[arg(long, value_name = "ID")]
        router: Option<String>,
        /// The router's new fan-out (recipients per message).
        #[arg(long, value_name = "N", requires = "router")]
        fan_out: Option<usize>,
        /// The router's new relevance threshold.
        #[arg(long, value_name = "X", requires = "router")]
        tau: Option<f64>,
        /// Config knobs for the rest of the run, e.g. `--set filter.enabled=false` (knobs read only when the world was made, such as `routers.tau`, are refused: use `--router`, `--agent --rules` or a new run).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// The branch session to write (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Re-run even when the session's scenario or dataset changed since it was recorded
        /// (warns; the branch records the new digest).
        #[arg(long)]
        allow_changed_inputs: bool,
    },
    /// Compare two sessions (e.g. a branch and its parent), or two steps of one (--steps A B).
    #[command(
        after_help = "Examples:\n  recnet diff run.jsonl branch.jsonl\n  recnet diff run.jsonl --steps 100 400 --format json\n  recnet diff a.jsonl b.jsonl --exit-code >/dev/null || echo differ"
    )]
    Diff {
        /// The first session (`-`: standard input).
        a: PathBuf,
        /// The second session.
        #[arg(required_unless_present = "steps", conflicts_with = "steps")]
        b: Option<PathBuf>,
        /// Compare two steps of the first session instead.
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        steps: Option<Vec<u64>>,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Exit 1 when there are differences (0 when there are none).
        #[arg(long)]
        exit_code: bool,
    },
    /// Evaluate with the AgentCF protocol: baselines, RecNet and its ablations; or, with --llm-url,
    /// RecNet with a model reasoning for a seeded subset of users against the offline reasoner.
    #[command(
        after_help = "Examples:\n  recnet eval --dataset data/ml-100k --seeds 3 --format json\n  recnet eval --dataset DIR --llm-url http://127.0.0.1:8080/v1 --users 20 --out llm-eval.jsonl"
    )]
    Eval {
        /// A folder of RecBole atomic files.
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
        format: EvalFormat,
        /// The first seed (k-means++, negative sampling, BPR initialisation).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run seeds SEED, SEED+1, …: means over users and seeds, paired intervals over users.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000), value_name = "N")]
        seeds: u64,
        /// Passes over the training interactions.
        #[arg(long, default_value_t = 1, value_name = "N")]
        rounds: u32,
        /// The split to score.
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        /// Only these models (comma-separated; `recnet` is always run, as every interval's
        /// reference; naming any baseline runs the baselines).
        #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
        models: Vec<String>,
        /// Override a config knob, e.g. `--set routers.count=6` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// With --llm-url: how many users (chosen with --seed) the model reasons for (default 20).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        users: Option<u64>,
        /// With --llm-url: record the model's run as a session here. When the file exists, the
        /// replies it recorded answer the same requests again without calling the model.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// Write a synthetic scenario (JSON) with planted communities and drift.
    #[command(after_help = "Example:\n  recnet gen --users 200 --items 100 --interactions 2000 --out big.json")]
    Gen {
        /// Users to make.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        users: usize,
        /// Items to make.
        #[arg(long, default_value_t = 500, value_name = "N")]
        items: usize,
        /// Interactions in the schedule.
        #[arg(long, default_value_t = 5000, value_name = "N")]
        interactions: usize,
        /// Planted communities (also the scenario's router count).
        #[arg(long, default_value_t = 8, value_name = "N")]
        communities: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The scenario file to write (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  recnet completions bash > ~/.local/share/bash-completion/completions/recnet\n  recnet completions zsh > ~/.zfunc/_recnet\n  recnet completions fish > ~/.config/fish/completions/recnet.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The config directory: `config.toml` (engine defaults, `[llm] url/model`) and `keymap.toml`.
    #[command(
        subcommand,
        after_help = "Example:\n  recnet config path\n  $EDITOR \"$(recnet config path)/config.toml\"\n\nRECNET_CONFIG_DIR overrides the directory."
    )]
    Config(ConfigCmd),
    /// Print the JSON Schema of a session's events, generated from the event types.
    #[command(after_help = "Example:\n  recnet schema events > recnet-events.schema.json")]
    Schema {
        /// What to describe.
        #[arg(value_enum)]
        what: SchemaWhat,
    },
    /// Print the manual page (roff).
    #[command(after_help = "Example:\n  recnet man > ~/.local/share/man/man1/recnet.1 && man recnet")]
    Man,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if a.get_help().is_none() && !matches!(a.get_id().as_str(), "help" | "version") {
                missing.push(format!("{path} {}", a.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {}", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn every_subcommand_and_argument_has_help() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "recnet", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
