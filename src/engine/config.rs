//! Engine configuration: the embedded defaults, merged with scenario and command-line overrides.

use crate::rules::RuleError;
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG: &str = include_str!("../../assets/default-config.toml");

/// Knobs read once, when the world is made (communities, embeddings, memories, each router's and
/// client's starting strategy and rules), with what to do instead once it exists: a fork (which
/// re-runs from a time step, never the setup) that changed them would silently change nothing.
pub const SET_AT_SETUP: &[(&str, &str)] = &[
    ("embedding.dim", "record a new session with it (`recnet run … --set`)"),
    ("evidence.memory", "record a new session with it (`recnet run … --set`)"),
    ("filter.default_rules", "replace an agent's rules instead (`--agent ID --rules FILE`)"),
    ("routers.count", "record a new session with it (`recnet run … --set`)"),
    ("routers.kmeans_iterations", "record a new session with it (`recnet run … --set`)"),
    ("routers.cooccurrence_weight", "record a new session with it (`recnet run … --set`)"),
    ("routers.fan_out", "edit a router instead (`--router ID --fan-out N`)"),
    ("routers.tau", "edit a router instead (`--router ID --tau X`)"),
];

/// What to do instead, when `set` (`key=value`) changes a knob read only when the world is made.
pub fn set_at_setup(set: &str) -> Option<(&'static str, &'static str)> {
    let key = set.split_once('=').map_or(set, |(k, _)| k).trim();
    SET_AT_SETUP.iter().find(|(k, _)| *k == key).copied()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub time: TimeConfig,
    pub embedding: EmbeddingConfig,
    pub reflection: ReflectionConfig,
    pub routers: RouterConfig,
    pub buffer: BufferConfig,
    pub filter: FilterConfig,
    pub backward: BackwardConfig,
    /// Missing from sessions recorded before evidence existed: off, as they ran.
    #[serde(default = "EvidenceConfig::off")]
    pub evidence: EvidenceConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    pub enabled: bool,
    pub gate_init: f64,
    pub gate_rate: f64,
    pub gate_max: f64,
    pub learn_gate: bool,
    pub gate_decay: f64,
    pub window: usize,
    /// Missing from sessions recorded before digests: none sent, as they ran.
    #[serde(default)]
    pub digest: bool,
    /// Missing from sessions recorded before it was a setting: re-sent, as they ran.
    #[serde(default = "crate::world::event::yes")]
    pub resend_window: bool,
    /// Missing from sessions recorded before it was a setting: the 64 they kept.
    #[serde(default = "crate::world::evidence::old_memory")]
    pub memory: usize,
    /// Under the Bayesian gate rule, the precision of the gates' prior (centred on `gate_init`).
    #[serde(default)]
    pub gate_prior: f64,
    /// Missing from sessions recorded before it: digests drawn from the router's window.
    #[serde(default)]
    pub digest_scope: DigestScope,
    /// Under the `neighbours` scope, the most (item, chooser) pairs one digest names.
    #[serde(default = "default_digest_entries")]
    pub digest_entries: usize,
    /// Missing from sessions recorded before co-choices: none sent, as they ran.
    #[serde(default)]
    pub co_choice: bool,
}

fn default_digest_entries() -> usize {
    64
}

/// Where a chooser's digest draws its neighbours' choices from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestScope {
    /// The router's window of recent choices, from the choosers in it.
    #[default]
    Window,
    /// The chooser's nearest users by shared behaviour, and everything they chose.
    Neighbours,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    pub batch_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    pub dim: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectionConfig {
    pub user_rate: f64,
    pub item_rate: f64,
    pub margin: f64,
    pub change_epsilon: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    pub enabled: bool,
    pub count: usize,
    pub kmeans_iterations: usize,
    pub cooccurrence_weight: f64,
    pub profile_decay: f64,
    pub message_attributes: usize,
    pub fan_out: usize,
    pub tau: f64,
    // The next three are missing from older sessions' headers: the behaviour they ran with.
    #[serde(default)]
    pub behaviour_weight: f64,
    #[serde(default = "ItemUpdates::all")]
    pub items: ItemUpdates,
    #[serde(default)]
    pub placebo: bool,
}

impl EvidenceConfig {
    /// Evidence switched off (what sessions recorded before it existed ran with).
    pub fn off() -> EvidenceConfig {
        EvidenceConfig {
            enabled: false,
            gate_init: 0.0,
            gate_rate: 0.0,
            gate_max: 0.0,
            learn_gate: false,
            gate_decay: 0.0,
            window: 0,
            digest: false,
            resend_window: true,
            memory: crate::world::evidence::EVIDENCE_CAP,
            gate_prior: 0.0,
            digest_scope: DigestScope::Window,
            digest_entries: default_digest_entries(),
            co_choice: false,
        }
    }
}

impl ItemUpdates {
    fn all() -> ItemUpdates {
        ItemUpdates::All
    }
}

/// Which item agents a router's update may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemUpdates {
    /// Any relevant item member.
    All,
    /// Only items the update would turn (the topic absent, or held with the opposite sign):
    /// raising what an item already holds moves its score by almost nothing.
    Direction,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Evict the oldest buffered message to make room.
    DropOldest,
    /// Refuse the arriving message.
    DropNew,
    /// Activate the receiver: drain the buffer through its filter, then buffer the message.
    Drain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    pub enabled: bool,
    pub capacity: usize,
    pub overflow: OverflowPolicy,
    /// Missing from older sessions' headers, which ended with their buffers unread.
    #[serde(default)]
    pub read_when_ranked: bool,
    /// Missing from older sessions' headers, whose users read their buffers after each choice.
    #[serde(default)]
    pub read_before_choice: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    pub enabled: bool,
    pub like_threshold: f64,
    pub default_rules: String,
    /// Missing from older sessions' headers, which wrote accepted updates into the profile.
    #[serde(default)]
    pub assimilate_into: crate::world::event::AssimilatedInto,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackwardConfig {
    pub enabled: bool,
    pub probe_weight: f64,
    pub router_share: f64,
    pub min_evidence: usize,
    pub threshold: f64,
    pub step: f64,
    pub max_edits_per_step: usize,
    pub retire_after_ticks: u64,
    pub max_fan_out: usize,
    #[serde(default)]
    pub negatives: usize,
    // Missing from sessions recorded before update gates: updates counted fully, nothing learned.
    #[serde(default = "crate::world::event::full_gate")]
    pub update_gate_init: f64,
    #[serde(default)]
    pub learn_update_gate: bool,
    #[serde(default)]
    pub update_gate_rate: f64,
    #[serde(default)]
    pub update_gate_decay: f64,
    /// Missing from older headers: every interaction weighed the same.
    #[serde(default)]
    pub gates_per_user: bool,
    /// Missing from sessions recorded before it: gradient steps with a decay, as they ran.
    #[serde(default)]
    pub gate_rule: GateRule,
    /// Under the Bayesian rule, the precision of the update gates' prior (centred on
    /// `update_gate_init`): how much evidence it takes to move them.
    #[serde(default)]
    pub update_gate_prior: f64,
    /// How many standard errors a module's mean reward must stand from zero before a gradient is
    /// computed for it (0: as soon as it has `min_evidence`, as sessions before it ran).
    #[serde(default)]
    pub confidence: f64,
    /// A module whose mean reward is still within `confidence` standard errors of zero at this
    /// many decisions is kept as it is, and its evidence starts again (0: sessions before it).
    #[serde(default)]
    pub max_evidence: usize,
}

/// How the backward phase learns a router's gates from the receivers' real interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateRule {
    /// A fixed-size gradient step, less a decay toward 0 at every step.
    #[default]
    Sgd,
    /// A posterior mean and precision: each interaction adds its likelihood's curvature to the
    /// precision and moves the mean by its gradient over that precision, so early interactions
    /// move a gate and later ones refine it, and the prior counts once, not at every step.
    Bayes,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_layers(&[], &[]).expect("embedded default config is valid")
    }
}

/// Why a config cannot be built: the message names the knob or the `--set` at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("embedded default config: {0}")]
    Default(String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("config filter.default_rules:{0}")]
    DefaultRules(RuleError),
    #[error("--set {set:?}: {problem}")]
    Set { set: String, problem: String },
}

impl Config {
    /// Build a config from the embedded defaults, then each TOML table in `tables` (e.g. a
    /// scenario's `[config]`), then `key=value` overrides (`routers.count=6`).
    pub fn from_layers(tables: &[toml::Table], sets: &[String]) -> Result<Config, ConfigError> {
        let mut base: toml::Table = DEFAULT_CONFIG.parse().map_err(|e: toml::de::Error| ConfigError::Default(e.to_string()))?;
        for t in tables {
            merge(&mut base, t);
        }
        for s in sets {
            apply_set(&mut base, s)?;
        }
        let cfg: Config = match toml::Value::Table(base.clone()).try_into() {
            Ok(c) => c,
            Err(e) => return Err(explain(&base, &e)),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Every knob against its bounds, by key: the one check `--set`, config files, scenarios and
    /// session headers all pass through (a header is a config like any other, and forks re-run it).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out = |key: &str, bounds: String| ConfigError::Invalid(format!("{key} must be {bounds}"));
        // Counts: a lower bound the engine needs (0 loops or indexes nothing), and an upper bound
        // that keeps memory and time proportional to the world rather than to a typo.
        let (r, b, f, e) = (&self.routers, &self.backward, &self.filter, &self.evidence);
        let counts: [(&str, usize, usize, usize); 13] = [
            ("time.batch_size", self.time.batch_size, 1, 1 << 20),
            ("embedding.dim", self.embedding.dim, 8, 4096),
            ("routers.count", r.count, 1, 4096),
            ("routers.kmeans_iterations", r.kmeans_iterations, 0, 10_000),
            ("routers.message_attributes", r.message_attributes, 1, 1024),
            ("routers.fan_out", r.fan_out, 1, crate::world::FAN_OUT_LIMIT),
            ("buffer.capacity", self.buffer.capacity, 1, 1 << 16),
            ("backward.min_evidence", b.min_evidence, 0, 1 << 20),
            ("backward.max_edits_per_step", b.max_edits_per_step, 0, 1 << 16),
            ("backward.max_fan_out", b.max_fan_out, 1, crate::world::FAN_OUT_LIMIT),
            ("backward.negatives", b.negatives, 0, 64),
            ("backward.max_evidence", b.max_evidence, 0, 1 << 16),
            ("evidence.digest_entries", e.digest_entries, 1, 4096),
        ];
        for (key, value, lo, hi) in counts {
            if !(lo..=hi).contains(&value) {
                return Err(out(key, format!("between {lo} and {hi}, not {value}")));
            }
        }
        if e.memory < 1 || e.memory > crate::world::evidence::MEMORY_LIMIT {
            return Err(out("evidence.memory", format!("from 1 to {}, not {}", crate::world::evidence::MEMORY_LIMIT, e.memory)));
        }
        if e.window > 256 {
            return Err(out("evidence.window", format!("at most 256, not {}", e.window)));
        }
        if b.retire_after_ticks > 1 << 40 {
            return Err(out("backward.retire_after_ticks", format!("at most {}, not {}", 1u64 << 40, b.retire_after_ticks)));
        }
        // Reals: all finite (a NaN would be written as null and no reader could load the session
        // again), each in the range its meaning allows.
        let unit = (0.0, 1.0);
        let reals: [(&str, f64, (f64, f64)); 23] = [
            ("reflection.user_rate", self.reflection.user_rate, unit),
            ("reflection.item_rate", self.reflection.item_rate, unit),
            ("reflection.margin", self.reflection.margin, (0.0, 1e6)),
            ("reflection.change_epsilon", self.reflection.change_epsilon, (0.0, 1e6)),
            ("routers.cooccurrence_weight", r.cooccurrence_weight, unit),
            ("routers.profile_decay", r.profile_decay, unit),
            ("routers.tau", r.tau, unit),
            ("routers.behaviour_weight", r.behaviour_weight, unit),
            ("filter.like_threshold", f.like_threshold, (-1e6, 1e6)),
            ("backward.probe_weight", b.probe_weight, (0.0, 1e6)),
            ("backward.router_share", b.router_share, unit),
            ("backward.threshold", b.threshold, (0.0, 1e6)),
            ("backward.confidence", b.confidence, (0.0, 100.0)),
            ("backward.step", b.step, unit),
            ("backward.update_gate_init", b.update_gate_init, unit),
            ("backward.update_gate_rate", b.update_gate_rate, (0.0, 1e6)),
            ("backward.update_gate_decay", b.update_gate_decay, unit),
            ("backward.update_gate_prior", b.update_gate_prior, (0.0, 1e6)),
            ("evidence.gate_prior", e.gate_prior, (0.0, 1e6)),
            ("evidence.gate_init", e.gate_init, (0.0, crate::world::GATE_LIMIT)),
            ("evidence.gate_rate", e.gate_rate, (0.0, 1e6)),
            ("evidence.gate_max", e.gate_max, (0.0, crate::world::GATE_LIMIT)),
            ("evidence.gate_decay", e.gate_decay, unit),
        ];
        for (key, value, (lo, hi)) in reals {
            if !(value.is_finite() && (lo..=hi).contains(&value)) {
                return Err(out(key, format!("a finite number in [{lo}, {hi}], not {value}")));
            }
        }
        if b.confidence > 0.0 && b.max_evidence < b.min_evidence.max(1) {
            // Else a module that stays undecided would gather evidence without end.
            return Err(ConfigError::Invalid(format!(
                "backward.max_evidence ({}) must be at least backward.min_evidence ({}) and 1 when backward.confidence is set",
                b.max_evidence, b.min_evidence
            )));
        }
        if e.gate_init > e.gate_max {
            return Err(ConfigError::Invalid(format!("evidence.gate_init ({}) is above evidence.gate_max ({})", e.gate_init, e.gate_max)));
        }
        if f.default_rules.len() > 1 << 16 {
            return Err(out("filter.default_rules", "at most 64 KiB of text".into()));
        }
        crate::rules::parse_rules(&self.filter.default_rules).map_err(ConfigError::DefaultRules)?;
        Ok(())
    }
}

/// Which key holds a value that will not deserialize, and what it may be: serde's own message
/// names neither the key nor, for a number where a name belongs, the names allowed. Each value
/// that differs from the default is tried alone over the defaults; the first that fails is the
/// culprit.
fn explain(base: &toml::Table, error: &toml::de::Error) -> ConfigError {
    let bare = || ConfigError::Invalid(error.message().to_string());
    let Ok(default) = DEFAULT_CONFIG.parse::<toml::Table>() else { return bare() };
    let mut leaves = Vec::new();
    leaf_paths(base, &mut Vec::new(), &mut leaves);
    let fails = |t: toml::Table| toml::Value::Table(t).try_into::<Config>().err();
    for (path, value) in leaves {
        if lookup(&default, &path) == Some(value) {
            continue;
        }
        let mut probe = default.clone();
        put(&mut probe, &path, value.clone());
        let Some(e) = fails(probe.clone()) else { continue };
        let key = path.join(".");
        let shown = crate::util::text::sanitize(&value.to_string(), 100);
        // A string that is no variant makes serde list the variants of a named choice.
        put(&mut probe, &path, toml::Value::String("\u{1}".into()));
        let allowed = fails(probe).and_then(|p| {
            let m = p.message();
            m.starts_with("unknown variant").then(|| m.split_once("expected ").map(|(_, list)| list.to_string())).flatten()
        });
        return ConfigError::Invalid(match allowed {
            Some(list) => format!("{key} must be {list}, not {shown}"),
            None => format!("{key} = {shown}: {}", e.message()),
        });
    }
    bare()
}

fn leaf_paths<'a>(t: &'a toml::Table, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a toml::Value)>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(sub) => leaf_paths(sub, prefix, out),
            _ => out.push((prefix.clone(), v)),
        }
        prefix.pop();
    }
}

fn lookup<'a>(t: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, dirs) = path.split_last()?;
    let mut t = t;
    for d in dirs {
        t = t.get(d)?.as_table()?;
    }
    t.get(last)
}

/// Set the value at `path`, making the tables on the way as needed.
fn put(t: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, dirs)) = path.split_last() else { return };
    let mut t = t;
    for d in dirs {
        let entry = t.entry(d.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        t = entry.as_table_mut().expect("made a table above");
    }
    t.insert(last.clone(), value);
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `section.key=value`; the value is parsed as TOML, falling back to a bare string.
fn apply_set(base: &mut toml::Table, set: &str) -> Result<(), ConfigError> {
    let fail = |problem: String| ConfigError::Set { set: set.to_string(), problem };
    let (path, raw) = set.split_once('=').ok_or_else(|| fail("expected section.key=value".into()))?;
    let parts: Vec<&str> = path.trim().split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(fail("expected section.key=value".into()));
    }
    let value: toml::Value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut table = base;
    for p in &parts[..parts.len() - 1] {
        table = match table.get_mut(*p) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(fail(format!("no config section {p:?}"))),
        };
    }
    let key = parts[parts.len() - 1];
    if !table.contains_key(key) {
        return Err(fail(format!("no config key {key:?}")));
    }
    table.insert(key.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_overrides_apply() {
        let c = Config::from_layers(&[], &["routers.count=7".into(), "buffer.overflow=drop_new".into()]).unwrap();
        assert_eq!(c.routers.count, 7);
        assert_eq!(c.buffer.overflow, OverflowPolicy::DropNew);
    }

    #[test]
    fn a_header_from_before_the_bayesian_gates_keeps_the_rule_it_ran_with() {
        let mut header = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(Config::default().backward.gate_rule, GateRule::Bayes, "new runs learn gates the Bayesian way");
        header["backward"].as_object_mut().unwrap().retain(|k, _| k != "gate_rule" && k != "update_gate_prior");
        header["evidence"].as_object_mut().unwrap().remove("gate_prior");
        let old: Config = serde_json::from_value(header).unwrap();
        assert_eq!(old.backward.gate_rule, GateRule::Sgd);
        let err = Config::from_layers(&[], &["backward.gate_rule=newton".into()]).unwrap_err().to_string();
        assert!(err.contains("backward.gate_rule") && err.contains("bayes"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_layers(&[], &["routers.cuont=7".into()]).unwrap_err();
        assert!(err.to_string().contains("cuont"), "{err}");
        let t: toml::Table = "[routers]\nfanout = 2".parse().unwrap();
        assert!(Config::from_layers(&[t], &[]).is_err());
    }

    #[test]
    fn significance_gated_edits_need_a_bound_on_their_evidence() {
        let err = Config::from_layers(&[], &["backward.confidence=2".into(), "backward.max_evidence=0".into()]).unwrap_err().to_string();
        assert!(err.contains("backward.max_evidence") && err.contains("backward.confidence"), "{err}");
        assert!(Config::from_layers(&[], &["backward.confidence=2".into()]).is_ok(), "the default bound (64) is enough");
    }

    /// Every real knob refuses NaN and infinities, and every count refuses 0 and absurd sizes,
    /// each naming its key (`--set`, and a header's config, which goes through `validate` too).
    #[test]
    fn every_knob_is_bounded_and_named() {
        let base: toml::Table = DEFAULT_CONFIG.parse().unwrap();
        let mut tried = 0;
        for (section, table) in &base {
            let toml::Value::Table(table) = table else { continue };
            for (key, value) in table {
                let name = format!("{section}.{key}");
                let bad: &[&str] = match value {
                    toml::Value::Float(_) => &["nan", "inf", "-inf", "1e308"],
                    toml::Value::Integer(_) => &["10000000000000000"],
                    _ => continue,
                };
                for v in bad {
                    let err = Config::from_layers(&[], &[format!("{name}={v}")]).expect_err(&format!("{name}={v} accepted"));
                    assert!(err.to_string().contains(&name), "{name}={v}: {err}");
                    tried += 1;
                }
            }
        }
        assert!(tried > 30, "{tried}");
        for zero in ["time.batch_size", "buffer.capacity", "routers.count", "routers.fan_out", "embedding.dim"] {
            let err = Config::from_layers(&[], &[format!("{zero}=0")]).unwrap_err();
            assert!(err.to_string().contains(zero), "{err}");
        }
    }
}
