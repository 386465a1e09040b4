//! Engine configuration: the embedded defaults, merged with scenario and command-line overrides.

use crate::rules::RuleError;
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG: &str = include_str!("../../assets/default-config.toml");

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
        EvidenceConfig { enabled: false, gate_init: 0.0, gate_rate: 0.0, gate_max: 0.0, learn_gate: false, gate_decay: 0.0, window: 0 }
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
    /// A knob outside its range: `time.batch_size must be at least 1`.
    #[error("config {0}")]
    OutOfRange(&'static str),
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
        let cfg: Config = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.time.batch_size == 0 {
            return Err(ConfigError::OutOfRange("time.batch_size must be at least 1"));
        }
        if self.embedding.dim < 8 {
            return Err(ConfigError::OutOfRange("embedding.dim must be at least 8"));
        }
        if self.routers.count == 0 {
            return Err(ConfigError::OutOfRange("routers.count must be at least 1"));
        }
        // A router that reaches nobody, or a relevance bar that no number passes, silently
        // switches propagation off.
        if self.routers.fan_out == 0 {
            return Err(ConfigError::OutOfRange("routers.fan_out must be at least 1"));
        }
        if !self.routers.tau.is_finite() {
            return Err(ConfigError::OutOfRange("routers.tau must be a finite number"));
        }
        if self.buffer.capacity == 0 {
            return Err(ConfigError::OutOfRange("buffer.capacity must be at least 1"));
        }
        let e = &self.evidence;
        for (key, value) in [("evidence.gate_init", e.gate_init), ("evidence.gate_rate", e.gate_rate), ("evidence.gate_max", e.gate_max), ("evidence.gate_decay", e.gate_decay)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Invalid(format!("{key} must be a finite number ≥ 0, not {value}")));
            }
        }
        if e.gate_max > crate::world::GATE_LIMIT {
            return Err(ConfigError::Invalid(format!("evidence.gate_max must be at most {}", crate::world::GATE_LIMIT)));
        }
        if e.gate_init > e.gate_max {
            return Err(ConfigError::Invalid(format!("evidence.gate_init ({}) is above evidence.gate_max ({})", e.gate_init, e.gate_max)));
        }
        let b = &self.backward;
        for (key, value) in [("backward.update_gate_rate", b.update_gate_rate), ("backward.update_gate_decay", b.update_gate_decay)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Invalid(format!("{key} must be a finite number ≥ 0, not {value}")));
            }
        }
        if !(b.update_gate_init.is_finite() && (0.0..=1.0).contains(&b.update_gate_init)) {
            return Err(ConfigError::Invalid(format!("backward.update_gate_init must be in [0, 1], not {}", b.update_gate_init)));
        }
        let w = self.routers.behaviour_weight;
        if !(w.is_finite() && (0.0..=1.0).contains(&w)) {
            return Err(ConfigError::Invalid(format!("routers.behaviour_weight must be in [0, 1], not {w}")));
        }
        if e.window > 256 {
            return Err(ConfigError::Invalid("evidence.window must be at most 256".into()));
        }
        if self.backward.negatives > 64 {
            return Err(ConfigError::Invalid("backward.negatives must be at most 64".into()));
        }
        crate::rules::parse_rules(&self.filter.default_rules).map_err(ConfigError::DefaultRules)?;
        Ok(())
    }
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
        let c = Config::from_layers(&[], &["routers.count=7".into(), "buffer.overflow=drop_new".into()])
            .unwrap();
        assert_eq!(c.routers.count, 7);
        assert_eq!(c.buffer.overflow, OverflowPolicy::DropNew);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_layers(&[], &["routers.cuont=7".into()]).unwrap_err();
        assert!(err.to_string().contains("cuont"), "{err}");
        let t: toml::Table = "[routers]\nfanout = 2".parse().unwrap();
        assert!(Config::from_layers(&[t], &[]).is_err());
    }
}
