//! Headless views of a session: the world at a step as JSON or Graphviz DOT, the events as CSV.

use crate::world::event::{Event, EventBody};
use crate::world::World;
use std::fmt::Write;

pub fn world_json(w: &World) -> String {
    let mut out = Vec::new();
    let _ = write_world_json(w, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `world_json` written as it is made: a million-agent world never exists as one string (or two,
/// with its safe copy), so memory stays at the world's own size.
pub fn write_world_json(w: &World, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut safe = JsonSafeWriter { out, carry: Vec::new() };
    // Buffered before the filter: serde writes many tiny pieces.
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut safe);
    serde_json::to_writer_pretty(&mut buffered, w)?;
    buffered.flush()?;
    drop(buffered);
    // Whole JSON ends on a whole character; anything held back would be invalid bytes: kept.
    let rest = std::mem::take(&mut safe.carry);
    safe.out.write_all(&rest)?;
    safe.out.write_all(b"\n")
}

/// `json_safe` over a stream: bytes are filtered as they pass, a character split between two
/// writes held back until it is whole.
struct JsonSafeWriter<'a> {
    out: &'a mut dyn std::io::Write,
    carry: Vec<u8>,
}

impl std::io::Write for JsonSafeWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.carry.extend_from_slice(buf);
        let whole = match std::str::from_utf8(&self.carry) {
            Ok(_) => self.carry.len(),
            // Only an unfinished character at the end waits; invalid bytes pass as they are.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.carry.len(),
        };
        let text = String::from_utf8_lossy(&self.carry[..whole]);
        self.out.write_all(json_safe(&text).as_bytes())?;
        self.carry.drain(..whole);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// JSON with every character that could act on a terminal or reorder text written as a `\uXXXX`
/// escape: the same data, safe to print. (serde_json already escapes C0 controls.)
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '\u{7f}'..='\u{9f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn dot_str(s: &str) -> String {
    let clean = crate::util::text::sanitize(s, 60);
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The agent graph laid out in three ranks, users │ routers │ items: memberships drawn router →
/// member (the edges that set the ranks), the messages still in a buffer as router → receiver
/// edges that do not move the ranks (`constraint=false`), parallel ones merged with a count.
pub fn world_dot(w: &World) -> String {
    use crate::world::event::ClientKind;
    use std::collections::BTreeMap;
    let mut o = String::from("digraph recnet {\n  rankdir=LR;\n  newrank=true;\n  ranksep=1.5;\n  node [fontsize=10];\n");
    for (kind, label, shape, rank) in [(ClientKind::User, "users", "ellipse", "min"), (ClientKind::Item, "items", "note", "max")] {
        let _ = writeln!(o, "  subgraph cluster_{label} {{\n    label={};\n    {{ rank={rank};", dot_str(label));
        for c in w.clients().iter().filter(|c| c.kind == kind) {
            let title = c.title.as_deref().map(|t| format!("\\n{}", crate::util::text::sanitize(t, 30))).unwrap_or_default();
            let _ = writeln!(o, "      {} [shape={shape}, label={}];", dot_str(&c.id), dot_str(&format!("{}{}", c.id, title)).replace("\\\\n", "\\n"));
        }
        o.push_str("    }\n  }\n");
    }
    o.push_str("  subgraph cluster_routers {\n    label=\"routers\";\n    { rank=same;\n");
    for r in w.routers() {
        let attrs: Vec<&str> = r.attributes.iter().take(3).map(|s| s.as_str()).collect();
        let _ = writeln!(o, "      {} [shape=box, style=bold, label={}];", dot_str(&r.id), dot_str(&format!("{} ({})", r.id, attrs.join(", "))));
    }
    o.push_str("    }\n  }\n");
    let kinds: BTreeMap<&str, ClientKind> = w.clients().iter().map(|c| (c.id.as_str(), c.kind)).collect();
    for r in w.routers() {
        for m in r.members.iter() {
            // A user sits left of its router: the edge runs user → router (keeping the ranks) and
            // is drawn backwards, so every membership arrow points from the router to the member.
            if kinds.get(m.as_str()) == Some(&ClientKind::User) {
                let _ = writeln!(o, "  {} -> {} [dir=back, color=gray70];", dot_str(m), dot_str(&r.id));
            } else {
                let _ = writeln!(o, "  {} -> {} [color=gray70];", dot_str(&r.id), dot_str(m));
            }
        }
    }
    // (router, receiver, fate) → how many messages.
    let mut flows: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for c in w.clients() {
        for b in &c.buffer {
            let Some(m) = w.messages().get(&b.message) else { continue };
            let fate = if b.held.is_some() { "held" } else { "buffered" };
            *flows.entry((&*m.router, c.id.as_str(), fate)).or_default() += 1;
        }
    }
    for ((router, to, fate), n) in flows {
        let color = if fate == "held" { "orange" } else { "blue" };
        let label = if n == 1 { format!("1 {fate}") } else { format!("{n} {fate}") };
        // To a user: written backwards and drawn forwards, as memberships are, so the edge runs
        // left of its router instead of looping around it.
        let (tail, head, dir) = match kinds.get(to) {
            Some(ClientKind::User) => (to, router, ", dir=back"),
            _ => (router, to, ""),
        };
        let _ = writeln!(
            o,
            "  {} -> {} [constraint=false{dir}, color={color}, penwidth={:.1}, label={}];",
            dot_str(tail),
            dot_str(head),
            1.0 + (n as f64).ln(),
            dot_str(&label)
        );
    }
    o.push_str("}\n");
    o
}

fn csv_field(s: &str) -> String {
    let clean = crate::util::text::sanitize(s, 500);
    if clean.contains([',', '"']) {
        format!("\"{}\"", clean.replace('"', "\"\""))
    } else {
        clean
    }
}

/// The agent, router and message an event concerns, where it has them.
pub fn event_refs(e: &Event) -> (Option<&str>, Option<&str>, Option<u64>) {
    use EventBody::*;
    match &e.body {
        AgentCreated { agent, .. } | ProfileUpdated { agent, .. } | AttributesExtracted { agent, .. } | Activated { agent, .. } => (Some(agent), None, None),
        RouterCreated { router, .. } | RouterIntegrated { router, .. } | RouterStrategyEdited { router, .. } | RouterEdited { router, .. } => {
            (None, Some(router), None)
        }
        Interaction { user, .. } => (Some(user), None, None),
        MembershipChanged { router, agent, .. } | AttributeRouted { agent, router, .. } => (Some(agent), Some(router), None),
        MessageSent { message, router, .. } => (None, Some(router), Some(*message)),
        MessageBuffered { agent, message, .. } | BufferOverflow { agent, message, .. } | Assimilated { agent, message, .. } => {
            (Some(agent), None, Some(*message))
        }
        FilterDecision { agent, message, router, .. } | Reward { agent, message, router, .. } => (Some(agent), Some(router), Some(*message)),
        CreditAssigned { agent, message, .. } => (Some(agent), None, Some(*message)),
        RuleEdited { agent, .. } | RulesReplaced { agent, .. } => (Some(agent), None, None),
        // A module is a rule (`u7#2`: about agent u7) or a router.
        Gradient { module, .. } => match crate::world::parse_rule_module(module) {
            Some((agent, _)) => (Some(agent), None, None),
            None => (None, Some(module), None),
        },
        _ => (None, None, None),
    }
}

/// The filter rule an event is about, as (agent, 1-based rule): the rule that decided, was
/// rewarded, credited, given a gradient or edited.
pub fn event_rule(e: &Event) -> Option<(&str, usize)> {
    use EventBody::*;
    match &e.body {
        FilterDecision { agent, rule: Some(r), .. } | Reward { agent, rule: Some(r), .. } | RuleEdited { agent, rule: r, .. } => Some((agent, *r)),
        CreditAssigned { agent, shares, .. } => shares.iter().find_map(|s| crate::world::parse_rule_module(&s.module).filter(|(a, _)| a == agent)),
        Gradient { module, .. } => crate::world::parse_rule_module(module),
        _ => None,
    }
}

pub fn events_csv_header() -> &'static str {
    "step,round,tick,phase,stage,kind,agent,router,message,text\n"
}

pub fn event_csv_row(e: &Event) -> String {
    let (agent, router, message) = event_refs(e);
    let stage = e.body.stage();
    let text = crate::analysis::narrate::narrate(e);
    format!(
        "{},{},{},{},{},{},{},{},{},{}\n",
        e.step,
        e.round,
        e.tick,
        stage.phase(),
        stage.name(),
        e.body.kind(),
        csv_field(agent.unwrap_or("")),
        csv_field(router.unwrap_or("")),
        message.map(|m| m.to_string()).unwrap_or_default(),
        csv_field(&text)
    )
}

/// The columns of one event kind as a table: the fields of its events in the order they are
/// written, gathered over every event of that kind (optional fields appear where first seen).
#[derive(Debug, Default, Clone)]
pub struct KindColumns {
    pub names: Vec<String>,
}

impl KindColumns {
    /// Take in one event (as its JSON object); `kind` itself is not a column.
    pub fn add(&mut self, event: &serde_json::Value) {
        if let Some(o) = event.as_object() {
            for k in o.keys().filter(|k| *k != "kind") {
                if !self.names.iter().any(|n| n == k) {
                    self.names.push(k.clone());
                }
            }
        }
    }

    pub fn csv_header(&self) -> String {
        self.names.iter().map(|n| csv_field(n)).collect::<Vec<_>>().join(",") + "\n"
    }

    /// One event as a row: numbers and booleans as they are, text cleaned for a terminal, lists and
    /// objects as compact JSON in one cell, a field the event lacks as an empty cell.
    pub fn csv_row(&self, event: &serde_json::Value) -> String {
        use serde_json::Value;
        let cells: Vec<String> = self
            .names
            .iter()
            .map(|n| match event.get(n) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(t)) => csv_field(t),
                Some(Value::Number(x)) => x.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => {
                    let json = json_safe(&other.to_string());
                    format!("\"{}\"", json.replace('"', "\"\""))
                }
            })
            .collect();
        cells.join(",") + "\n"
    }
}

/// The JSON Schema of one session line after the header (an event), generated from the event
/// types, so it cannot drift from what a run writes.
pub fn events_schema() -> String {
    let schema = schemars::schema_for!(crate::world::event::Event);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// Written a byte at a time (every character split across writes), the filter gives exactly
    /// what `json_safe` gives the whole text.
    #[test]
    fn the_streamed_filter_equals_the_whole_one() {
        use std::io::Write as _;
        let text = "{\"t\": \"a\u{1b}[2J \u{9b} \u{202e}rtl\u{200b} é λ 😀 \u{feff}\u{2066}\"}";
        let mut out = Vec::new();
        let mut w = JsonSafeWriter { out: &mut out, carry: Vec::new() };
        for b in text.as_bytes() {
            w.write_all(std::slice::from_ref(b)).unwrap();
        }
        assert!(w.carry.is_empty());
        assert_eq!(String::from_utf8(out).unwrap(), json_safe(text));
    }
}
