//! Scenario files (TOML or JSON): users, items, their profiles and rules, a time-ordered
//! interaction list and config overrides. See docs/scenario-format.md.

use crate::engine::{ClientSpec, Scheduled, WorldSpec};
use crate::util::{fnv1a, Rng};
use crate::world::event::ClientKind;

/// Why a scenario cannot be loaded: each message names the file and line, or the client or
/// interaction at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read scenario")]
    Read { path: String, source: std::io::Error },
    /// Not TOML or JSON, or not text: `FILE:LINE[:COL]: message`.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed, but not a world: names what is wrong.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

type Result<T> = std::result::Result<T, ScenarioError>;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

pub const DEMO: &str = include_str!("../../fixtures/demo.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    config: toml::Table,
    #[serde(default, rename = "user")]
    users: Vec<ClientFile>,
    #[serde(default, rename = "item")]
    items: Vec<ClientFile>,
    #[serde(default)]
    schedule: ScheduleFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    id: String,
    #[serde(default, alias = "name")]
    title: Option<String>,
    #[serde(default)]
    attrs: BTreeMap<String, f64>,
    /// Shorthand for attributes of weight `category_weight`.
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    rules: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    /// `[user, item]` or `[user, item, negative]`, in time order.
    #[serde(default)]
    interactions: Vec<Vec<String>>,
}

/// Weight given to an item's plain categories.
pub const CATEGORY_WEIGHT: f64 = 0.8;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The scenario's `[config]` overrides.
    pub config: toml::Table,
    pub spec: WorldSpec,
    /// Where it came from: `builtin:demo` or a path.
    pub source: String,
    /// FNV-1a of the file's bytes, so a fork can tell the source changed under it.
    pub digest: String,
}

/// `demo` names the built-in teaching scenario unless a file of that name exists.
pub fn load_scenario(arg: &str, seed: u64) -> Result<Scenario> {
    if arg == "demo" && !Path::new(arg).exists() {
        return parse_scenario(DEMO, "builtin:demo", true, seed);
    }
    if is_session(Path::new(arg)) {
        let shown = crate::util::text::sanitize(arg, 200);
        return Err(ScenarioError::Invalid(format!("{shown}:1: a recorded session, not a scenario: open it with `recnet replay {shown}`")));
    }
    let bytes = crate::util::read_file_limited(std::path::Path::new(arg), crate::util::DATA_LIMIT)
        .map_err(|source| ScenarioError::Read { path: arg.to_string(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        ScenarioError::Syntax(format!("{arg}:{line}: not valid UTF-8"))
    })?;
    // JSON by extension or by content (generated scenarios may have no extension).
    let is_toml = !(arg.ends_with(".json") || text.trim_start().starts_with('{'));
    parse_scenario(&text, arg, is_toml, seed)
}

/// Whether `path` starts as a session file does (its header's first field), read from its first
/// bytes only: a session may be gigabytes.
fn is_session(path: &Path) -> bool {
    use std::io::Read;
    // Only a regular file is peeked at: reading a pipe's first bytes would take them from the parse.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 40];
    let Ok(n) = std::fs::File::open(path).and_then(|f| f.take(head.len() as u64).read(&mut head)) else { return false };
    head[..n].starts_with(br#"{"format":"recnet-session""#)
}

pub fn parse_scenario(text: &str, source: &str, is_toml: bool, seed: u64) -> Result<Scenario> {
    let file: ScenarioFile = if is_toml {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
                    format!("{line}:{col}")
                })
                .unwrap_or_else(|| "1".into());
            ScenarioError::Syntax(format!("{source}:{at}: {}", e.message()))
        })?
    } else {
        serde_json::from_str(text).map_err(|e| ScenarioError::Syntax(format!("{source}:{}:{}: {e}", e.line(), e.column())))?
    };
    let mut clients = Vec::new();
    let mut kinds: HashMap<String, ClientKind> = HashMap::new();
    for (list, kind) in [(&file.users, ClientKind::User), (&file.items, ClientKind::Item)] {
        for c in list {
            let what = format!("{source}: {} {}", kind.name(), crate::util::text::sanitize(&c.id, 40));
            if c.id.is_empty() || c.id.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(ScenarioError::Invalid(format!("{what}: an id must be non-empty, without spaces or control characters")));
            }
            if kinds.insert(c.id.clone(), kind).is_some() {
                return Err(ScenarioError::Invalid(format!("{what}: the id is used twice")));
            }
            let mut attrs = c.attrs.clone();
            for cat in &c.categories {
                attrs.entry(cat.clone()).or_insert(CATEGORY_WEIGHT);
            }
            if attrs.len() > crate::world::MAX_ATTRS {
                return Err(ScenarioError::Invalid(format!(
                    "{what}: {} attributes (categories included), more than the limit of {}",
                    attrs.len(),
                    crate::world::MAX_ATTRS
                )));
            }
            for (a, w) in &attrs {
                // An empty name is no attribute: no message could name it, no rule match it.
                if a.trim().is_empty() {
                    return Err(ScenarioError::Invalid(format!("{what}: an attribute (or category) name is empty")));
                }
                if !w.is_finite() || !(-1.0..=1.0).contains(w) {
                    return Err(ScenarioError::Invalid(format!("{what}: attribute {:?} has weight {w}, outside [-1, 1]", crate::util::text::sanitize(a, 40))));
                }
            }
            if let Some(r) = &c.rules {
                crate::rules::parse_rules(r).map_err(|e| ScenarioError::Invalid(format!("{what}: rules line {e}")))?;
            }
            clients.push(ClientSpec { id: c.id.clone(), kind, title: c.title.clone(), attrs, rules: c.rules.clone() });
        }
    }
    let items: Vec<&String> = file.items.iter().map(|c| &c.id).collect();
    let mut schedule = Vec::new();
    let mut rng = Rng::new(seed ^ fnv1a(file.name.as_bytes()));
    let mut seen: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for row in &file.schedule.interactions {
        seen.entry(row.first().map(|s| s.as_str()).unwrap_or("")).or_default().extend(row.get(1).map(|s| s.as_str()));
    }
    for (n, row) in file.schedule.interactions.iter().enumerate() {
        let what = format!("{source}: schedule.interactions[{n}]");
        if row.len() < 2 || row.len() > 3 {
            return Err(ScenarioError::Invalid(format!("{what}: expected [user, item] or [user, item, negative], found {} values", row.len())));
        }
        let check = |id: &str, want: ClientKind, role: &str| -> Result<()> {
            match kinds.get(id) {
                Some(k) if *k == want => Ok(()),
                Some(k) => {
                    Err(ScenarioError::Invalid(format!("{what}: {role} {} is a {}, not a {}", crate::util::text::sanitize(id, 40), k.name(), want.name())))
                }
                None => Err(ScenarioError::Invalid(format!("{what}: unknown {role} {}", crate::util::text::sanitize(id, 40)))),
            }
        };
        check(&row[0], ClientKind::User, "user")?;
        check(&row[1], ClientKind::Item, "item")?;
        let negative = match row.get(2) {
            Some(n) => {
                check(n, ClientKind::Item, "negative")?;
                // The chosen item cannot also be what the user passed over.
                if *n == row[1] {
                    return Err(ScenarioError::Invalid(format!("{what}: the negative {} is the chosen item", crate::util::text::sanitize(n, 40))));
                }
                Some(n.clone())
            }
            None => sample_negative(&mut rng, &items, &seen[row[0].as_str()]),
        };
        schedule.push(Scheduled { user: row[0].clone(), item: row[1].clone(), negative });
    }
    Ok(Scenario {
        name: file.name.clone(),
        description: file.description,
        config: file.config,
        spec: WorldSpec { name: file.name, clients, schedule },
        source: source.to_string(),
        digest: format!("{:016x}", fnv1a(text.as_bytes())),
    })
}

/// Write a world as a JSON scenario (what `recnet gen` produces).
pub fn write_json(spec: &WorldSpec, description: &str, config: &toml::Table, out: &mut dyn std::io::Write) -> Result<()> {
    let client = |c: &ClientSpec| {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), c.id.clone().into());
        if let Some(t) = &c.title {
            o.insert("title".into(), t.clone().into());
        }
        o.insert("attrs".into(), serde_json::to_value(&c.attrs).unwrap_or_default());
        if let Some(r) = &c.rules {
            o.insert("rules".into(), r.clone().into());
        }
        serde_json::Value::Object(o)
    };
    let users: Vec<_> = spec.clients.iter().filter(|c| c.kind == ClientKind::User).map(client).collect();
    let items: Vec<_> = spec.clients.iter().filter(|c| c.kind == ClientKind::Item).map(client).collect();
    let interactions: Vec<Vec<&str>> = spec
        .schedule
        .iter()
        .map(|s| {
            let mut row = vec![s.user.as_str(), s.item.as_str()];
            if let Some(n) = &s.negative {
                row.push(n.as_str());
            }
            row
        })
        .collect();
    let doc = serde_json::json!({
        "name": spec.name,
        "description": description,
        "config": config,
        "user": users,
        "item": items,
        "schedule": { "interactions": interactions },
    });
    serde_json::to_writer(&mut *out, &doc)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// An item the user never chose, drawn with the seeded RNG (bounded tries, then none).
pub fn sample_negative(rng: &mut Rng, items: &[&String], exclude: &BTreeSet<&str>) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    for _ in 0..64 {
        let cand = items[rng.below(items.len())];
        if !exclude.contains(cand.as_str()) {
            return Some(cand.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_loads() {
        let s = load_scenario("demo", 1).unwrap();
        let users = s.spec.clients.iter().filter(|c| c.kind == ClientKind::User).count();
        let items = s.spec.clients.len() - users;
        assert!((8..=12).contains(&users), "{users} users");
        assert!((15..=25).contains(&items), "{items} items");
        assert!(!s.spec.schedule.is_empty());
        assert!(s.spec.schedule.iter().all(|x| x.negative.is_some()));
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse_scenario("name = \"x\"\n[[user]]\nid = \"u1\"\nattrs = { a = 2.0 }\n", "s.toml", true, 1).unwrap_err().to_string();
        assert!(e.contains("s.toml: user u1") && e.contains("outside [-1, 1]"), "{e}");
        let wide: Vec<String> = (0..50_000).map(|i| format!("a{i} = 0.01")).collect();
        let e =
            parse_scenario(&format!("name = \"x\"\n[[user]]\nid = \"u1\"\nattrs = {{ {} }}\n", wide.join(", ")), "s.toml", true, 1).unwrap_err().to_string();
        assert!(e.contains("s.toml: user u1: 50000 attributes") && e.contains("limit of 1024"), "{e}");
        let e = parse_scenario("name = \"x\"\n[[user]]\nid = 3\n", "s.toml", true, 1).unwrap_err().to_string();
        assert!(e.starts_with("s.toml:3:6:"), "{e}");
        let e =
            parse_scenario("name = \"x\"\n[[user]]\nid = \"u1\"\n[[item]]\nid = \"i1\"\n[schedule]\ninteractions = [[\"u1\", \"i9\"]]\n", "s.toml", true, 1)
                .unwrap_err()
                .to_string();
        assert!(e.contains("interactions[0]: unknown item i9"), "{e}");
        let e = parse_scenario("{\"name\": \"x\", \"user\": [{\"id\": \"u1\", \"rules\": \"hold when\"}]}", "s.json", false, 1).unwrap_err().to_string();
        assert!(e.contains("s.json: user u1: rules line 1:6"), "{e}");
        let e = parse_scenario("{\"name\": \"x\",\n \"usr\": []}", "s.json", false, 1).unwrap_err().to_string();
        assert!(e.starts_with("s.json:2:"), "{e}");
        let e = parse_scenario("name = \"x\"\n[[user]]\nid = \"u1\"\nattrs = { \"\" = 0.5 }\n", "s.toml", true, 1).unwrap_err().to_string();
        assert!(e.contains("s.toml: user u1: an attribute (or category) name is empty"), "{e}");
        let two_items = "name = \"x\"\n[[user]]\nid = \"u1\"\n[[item]]\nid = \"i1\"\n[[item]]\nid = \"i2\"\n[schedule]\n";
        let e = parse_scenario(&format!("{two_items}interactions = [[\"u1\", \"i1\", \"i1\"]]\n"), "s.toml", true, 1).unwrap_err().to_string();
        assert!(e.contains("interactions[0]: the negative i1 is the chosen item"), "{e}");
        assert!(parse_scenario(&format!("{two_items}interactions = [[\"u1\", \"i1\", \"i2\"]]\n"), "s.toml", true, 1).is_ok());
    }
}
