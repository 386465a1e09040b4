//! The command line as clap types: subcommands and the argument groups they share.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(clap::Parser)]
#[command(name = "recnet", version, about = "RecNet preference propagation: run, record, replay and inspect")]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(clap::Args, Clone)]
pub(crate) struct SourceArgs {
    /// A scenario file (TOML or JSON), or `demo` for the built-in teaching scenario.
    #[arg(long)]
    pub(crate) scenario: Option<String>,
    /// A folder of RecBole atomic files.
    #[arg(long)]
    pub(crate) dataset: Option<PathBuf>,
    /// Seed for k-means++ and negative sampling.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Override a config knob, e.g. `--set routers.count=6` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// A TOML file of config overrides.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(clap::Args, Clone, Default)]
pub(crate) struct LlmArgs {
    /// An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (key from RECNET_API_KEY or
    /// OPENAI_API_KEY). Without it the offline reasoner answers.
    #[arg(long)]
    pub(crate) llm_url: Option<String>,
    /// Model name (default: the server's first model).
    #[arg(long, default_value = "")]
    pub(crate) llm_model: String,
    /// At most this many model calls; the offline reasoner answers past it.
    #[arg(long)]
    pub(crate) llm_budget: Option<u64>,
    /// Seconds to wait for one reply.
    #[arg(long, default_value_t = 60)]
    pub(crate) llm_timeout: u64,
    /// Retries of a failed call (with backoff) before the run stops.
    #[arg(long, default_value_t = 2)]
    pub(crate) llm_retries: u32,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 2)]
    pub(crate) llm_concurrency: usize,
    /// Longest reply, in tokens (a reply cut there is reported as such).
    #[arg(long, default_value_t = 384)]
    pub(crate) llm_max_tokens: u32,
    /// How replies are constrained: json_schema (a schema built per request), json_object, or
    /// none. A server that answers 400 to it falls back to the next, once, with an event.
    #[arg(long, default_value = "json_schema", value_parser = ["json_schema", "json_object", "none"])]
    pub(crate) llm_structured: String,
}

impl LlmArgs {
    pub(crate) fn reasoner(&self) -> Result<Option<recnet::reasoner::openai::OpenAi>> {
        let Some(url) = &self.llm_url else { return Ok(None) };
        let cfg = recnet::reasoner::openai::OpenAiConfig {
            base_url: url.clone(),
            model: self.llm_model.clone(),
            budget: self.llm_budget,
            timeout: std::time::Duration::from_secs(self.llm_timeout.max(1)),
            retries: self.llm_retries,
            concurrency: self.llm_concurrency.max(1),
            max_tokens: self.llm_max_tokens.max(1),
            structured: recnet::reasoner::openai::Structured::parse(&self.llm_structured).unwrap_or(recnet::reasoner::openai::Structured::JsonSchema),
            cancelled: Some(recnet::run::signals::interrupted),
            ..Default::default()
        };
        Ok(Some(recnet::reasoner::openai::OpenAi::new(cfg)?))
    }
}

#[derive(clap::Args, Clone)]
pub(crate) struct UiArgs {
    /// A TOML keymap laid over the default (see assets/keymap.toml).
    #[arg(long)]
    pub(crate) keys: Option<PathBuf>,
    /// No colours (also when NO_COLOR is set).
    #[arg(long)]
    pub(crate) mono: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run RecNet headless and record the session.
    Run {
        #[command(flatten)]
        source: SourceArgs,
        /// Passes over all interactions.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// The inspector on the built-in teaching scenario (offline reasoner).
    Demo {
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Print the narrated run instead of opening the inspector.
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The inspector over a live run.
    Inspect {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The inspector over a recorded session (no engine, no model calls).
    Replay {
        file: PathBuf,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// Parse and lint a rule file: FILE:LINE:COL: message, exit 1 on error.
    CheckRules { file: PathBuf },
    /// Validate a session: exit 0, or FILE:LINE: reason and exit 1.
    Check { file: PathBuf },
    /// The world at a step (json | dot), or every event (--events --format csv).
    Export {
        file: PathBuf,
        /// The step whose state to export (after that event is applied); default: the last.
        #[arg(long)]
        at: Option<u64>,
        #[arg(long, default_value = "json")]
        format: String,
        /// Export the events instead of a state.
        #[arg(long)]
        events: bool,
        /// Keep a full state every K events (0: none; results never depend on it).
        #[arg(long, default_value_t = recnet::store::timeline::DEFAULT_KEYFRAME_EVERY)]
        keyframe_every: u64,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-run a session from a step with an edit, writing a branch session.
    Fork {
        file: PathBuf,
        #[arg(long)]
        at: u64,
        /// The agent whose rules --rules replaces.
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        rules: Option<PathBuf>,
        /// A router whose knobs to change (with --fan-out and/or --tau).
        #[arg(long)]
        router: Option<String>,
        #[arg(long)]
        fan_out: Option<usize>,
        #[arg(long)]
        tau: Option<f64>,
        /// Config knobs for the rest of the run, e.g. `--set filter.enabled=false`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare two sessions (e.g. a branch and its parent), or two steps of one (--steps A B).
    Diff {
        a: PathBuf,
        b: Option<PathBuf>,
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        steps: Option<Vec<u64>>,
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Evaluate with the AgentCF protocol: baselines, RecNet and its ablations.
    Eval {
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long, default_value = "table")]
        format: String,
        /// The first seed (k-means++, negative sampling, BPR initialisation).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run seeds SEED, SEED+1, …: means over users and seeds, paired intervals over users.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
        seeds: u64,
        /// Passes over the training interactions.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// test (report) or valid (choose knobs here).
        #[arg(long, default_value = "test")]
        split: String,
        /// Only these models (comma-separated; `recnet` is always run, as every interval's
        /// reference; naming any baseline runs the baselines).
        #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
        models: Vec<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
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
