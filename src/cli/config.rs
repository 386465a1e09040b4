//! The user's config directory (XDG on Linux, the platform's convention elsewhere; RECNET_CONFIG_DIR
//! overrides it): `config.toml` holds engine defaults (the layer under a scenario's own config,
//! `--config` and `--set`) and `[llm] url/model`; `keymap.toml` is the inspector's keymap when
//! `--keys` is not given.

use anyhow::{Context, Result};
use recnet::engine::config::Config;
use std::path::PathBuf;

/// The files a command may read from the config directory (outputs never overwrite them).
pub(crate) const FILES: [&str; 3] = ["config.toml", "keymap.toml", "theme.toml"];

pub(crate) fn dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("RECNET_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().context("no home directory to hold the config directory (set RECNET_CONFIG_DIR)")?;
    Ok(base.config_dir().join("recnet"))
}

#[derive(Default)]
pub(crate) struct UserConfig {
    /// Engine knobs, as a config layer.
    pub(crate) engine: Option<toml::Table>,
    pub(crate) llm_url: Option<String>,
    pub(crate) llm_model: Option<String>,
}

/// `config.toml` from the config directory, checked: a knob the engine does not have or cannot
/// take is an error naming the key and showing the line. A missing file is an empty config.
pub(crate) fn load() -> Result<UserConfig> {
    let path = dir()?.join("config.toml");
    let text = match recnet::util::read_text_limited(&path, recnet::util::TEXT_LIMIT) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserConfig::default()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let name = path.display().to_string();
    // toml's own message shows the line and a caret.
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| anyhow::anyhow!("{name}: {e}"))?;
    let mut user = UserConfig::default();
    if let Some(llm) = table.remove("llm") {
        let toml::Value::Table(llm) = llm else { anyhow::bail!("{}", located(&name, &text, "llm", "must be a table ([llm])")) };
        for (k, v) in llm {
            let key = format!("llm.{k}");
            let toml::Value::String(s) = v else { anyhow::bail!("{}", located(&name, &text, &key, "must be a string")) };
            match k.as_str() {
                "url" => user.llm_url = Some(s),
                "model" => user.llm_model = Some(s),
                _ => anyhow::bail!("{}", located(&name, &text, &key, "unknown key (llm takes url and model)")),
            }
        }
    }
    if table.is_empty() {
        return Ok(user);
    }
    // Each knob on its own over the defaults, so that an error names the one at fault.
    for (key, value) in leaves(&table, "") {
        let single = nest(&key, value);
        if let Err(e) = Config::from_layers(&[single], &[]) {
            anyhow::bail!("{}", located(&name, &text, &key, &e.to_string()));
        }
    }
    Config::from_layers(std::slice::from_ref(&table), &[]).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    user.engine = Some(table);
    Ok(user)
}

/// `a.b.c` leaves of a table with their values.
fn leaves(t: &toml::Table, prefix: &str) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    for (k, v) in t {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(sub) => out.extend(leaves(sub, &key)),
            v => out.push((key, v.clone())),
        }
    }
    out
}

fn nest(key: &str, value: toml::Value) -> toml::Table {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = toml::Table::new();
    t.insert(last.to_string(), value);
    for p in parts.into_iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert(p.to_string(), toml::Value::Table(t));
        t = outer;
    }
    t
}

/// `FILE:LINE:COL: key: message` and the line with a caret under the key, found in the text as
/// `key = …` under its `[section]`, or as a dotted `section.key = …`.
fn located(file: &str, text: &str, key: &str, message: &str) -> String {
    let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(h) = t.strip_prefix('[') {
            current = h.split(']').next().unwrap_or("").trim().to_string();
            if current == key {
                return snippet(file, i, line, line.len() - t.len(), key, message);
            }
            continue;
        }
        let lhs = t.split('=').next().unwrap_or("").trim();
        let full = if current.is_empty() { lhs.to_string() } else { format!("{current}.{lhs}") };
        if t.contains('=') && (full == key || (lhs == leaf && current == section)) {
            return snippet(file, i, line, line.len() - t.len(), key, message);
        }
    }
    format!("{file}: {key}: {message}")
}

fn snippet(file: &str, line_index: usize, line: &str, col: usize, key: &str, message: &str) -> String {
    let shown = recnet::util::text::sanitize(line, 200);
    let n = line_index + 1;
    let width = n.to_string().len();
    format!("{file}:{n}:{}: {key}: {message}\n{:width$} |\n{n} | {shown}\n{:width$} | {}^", col + 1, "", "", " ".repeat(col))
}

/// The keymap file in the config directory, if there is one.
pub(crate) fn keymap() -> Option<PathBuf> {
    let p = dir().ok()?.join("keymap.toml");
    p.exists().then_some(p)
}

/// The theme file in the config directory, if there is one.
pub(crate) fn theme() -> Option<PathBuf> {
    let p = dir().ok()?.join("theme.toml");
    p.exists().then_some(p)
}

pub(crate) fn print_path() -> Result<()> {
    let d = dir()?;
    super::io::write_out(None, &format!("{}\n", d.display()))
}
