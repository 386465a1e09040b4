//! The state of a RecNet world, changed only by `World::apply(&Event)`.
//!
//! Layer: world. Owns the state (clients, routers, messages, counters), the event vocabulary
//! (`event`) that is the only way it changes, relevance (`embed`) and scoring. May import `rules` and
//! `util`; never the engine, reasoners, files or the terminal.

mod apply;
mod apply_evidence;
pub mod embed;
pub mod event;
pub mod evidence;
mod heap;
mod reach;
mod relevance;
#[cfg(test)]
mod tests;

pub use apply::FAN_OUT_LIMIT;
pub use apply_evidence::GATE_LIMIT;
pub use heap::HeapSize;
pub use reach::{Changed, MemberTerms};
pub use relevance::{score, ContentKey, RelevanceBound};
use relevance::{AttrSpace, Terms};

use crate::rules::{Polarity, Rule};
use crate::world::embed::Embedder;
use crate::world::event::{AttrDelta, ClientKind, Decision, Evidence};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub kind: ClientKind,
    pub title: Option<String>,
    pub attrs: BTreeMap<String, f64>,
    pub rules_text: String,
    /// Parsed `rules_text`, shared between clients with the same text (most have the default),
    /// so a world and its keyframes do not hold a parse tree per client.
    #[serde(skip)]
    pub rules: Arc<Vec<Rule>>,
    /// How often each rule matched (parallel to `rules`).
    pub rule_hits: Vec<u64>,
    /// Credit each rule has earned from the backward phase (parallel to `rules`).
    pub rule_credit: Vec<f64>,
    /// Tick of the last rule edit (rules unused since long ago may be retired).
    pub rules_since_tick: u64,
    /// Decisions awaiting their outcome (the client's next real interaction).
    /// Behind `Arc`s: a client copied on write shares its (up to 64) pending decisions.
    pub feedback: Vec<Arc<Pending>>,
    pub buffer: Vec<Buffered>,
    pub routers: BTreeSet<String>,
    /// What this client's last reflection changed (shown by the inspector).
    pub last_extracted: Vec<AttrDelta>,
    pub interactions: u64,
    /// Counterparts of this client's real interactions (a user's items, an item's users) as client
    /// indices, sorted: relevance by shared behaviour reads them.
    #[serde(default)]
    pub history: Vec<u32>,
    /// Items its community chose, as evidence beside the profile (see `evidence`).
    #[serde(default)]
    pub evidence: Vec<evidence::EvidenceEntry>,
    /// What accepted updates added, per sending router, kept beside `attrs`: ranking adds each
    /// router's layer scaled by its update gate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub heard: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Buffered {
    pub message: u64,
    pub arrived_tick: u64,
    pub relevance: f64,
    pub held: Option<Held>,
}

/// A decision whose reward is not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub message: u64,
    pub router: Arc<str>,
    pub rule: Option<usize>,
    pub decision: Decision,
    pub relevance: f64,
    /// Accepted: what assimilation changed. Rejected: the message's content, shared with the
    /// message (three in four pending decisions are rejections, up to 64 a client).
    pub deltas: Arc<[AttrDelta]>,
    /// Accepted: the evidence weight it added, per item (for the counterfactual without it).
    #[serde(default)]
    pub evidence: Vec<(String, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// 1-based rule that holds it.
    pub rule: usize,
    pub steps: u32,
    pub since_tick: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Routed {
    pub agent: String,
    pub attr: String,
    pub delta: f64,
    pub similarity: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub attributes: BTreeSet<String>,
    pub profile: BTreeMap<String, f64>,
    /// Shared until membership changes (routers are copied on every delivery).
    pub members: Arc<BTreeSet<String>>,
    pub fan_out: usize,
    pub tau: f64,
    pub credit: f64,
    pub inbox: Vec<Routed>,
    /// Real choices routed here: this step's, and the most recent earlier ones the router keeps
    /// (`evidence.window`), passed on as evidence with its next message.
    #[serde(default)]
    pub choices: Vec<event::Choice>,
    /// Trust receivers' scores give this router's evidence, learned in the backward phase.
    #[serde(default)]
    pub gate: f64,
    /// How much what its accepted updates added beside receivers' profiles counts when ranking,
    /// learned in the backward phase.
    #[serde(default = "event::full_gate")]
    pub update_gate: f64,
    /// What the interactions seen so far have taught about each gate (the curvature of their
    /// likelihood, summed): with the prior's, how far one more interaction may move it.
    #[serde(default)]
    pub gate_precision: f64,
    #[serde(default)]
    pub update_gate_precision: f64,
    /// Trust receivers' scores give the co-choices it passed on ("fans of this item also chose
    /// that one"), learned like `gate`; routers from before co-choices start it at their gate.
    #[serde(default)]
    pub co_choice_gate: f64,
    #[serde(default)]
    pub co_choice_gate_precision: f64,
    pub summary: String,
    pub messages_sent: u64,
    #[serde(skip)]
    pub centroid: Vec<f32>,
    /// `members` as client indices, sorted: the propagation scan avoids string lookups.
    #[serde(skip)]
    pub member_ix: Vec<usize>,
}

/// A message still referred to. Whom it went to is told by its `message_sent` event and each
/// delivery: nothing in the world reads it, and a list per message was a sixth of a 100k-user
/// run's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub router: Arc<str>,
    pub sources: Vec<String>,
    pub source_kind: ClientKind,
    pub content: Arc<[AttrDelta]>,
    pub topic: String,
    pub polarity: Polarity,
    pub text: String,
    #[serde(default)]
    pub evidence: Vec<event::Choice>,
    pub tick: u64,
    /// Buffer entries and pending rewards that still refer to this message; at zero the message is
    /// forgotten, so a long run's state does not grow with every message ever sent.
    pub refs: u32,
}

/// Decisions kept awaiting a reward per client; older ones are dropped unrewarded.
pub const FEEDBACK_CAP: usize = 64;

/// The most attributes an agent may start with (a scenario's, a dataset item's categories, a
/// session's `agent_created`). Interest norms are quadratic in an agent's attributes: 50,000 of
/// them took over a minute before the first interaction. Real profiles hold tens.
pub const MAX_ATTRS: usize = 1024;

impl Message {
    pub fn strength(&self) -> f64 {
        self.content.iter().find(|d| d.attr == self.topic).map(|d| d.delta.abs()).unwrap_or(0.0)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Deserialize)]
pub struct Counters {
    pub interactions: u64,
    pub profile_updates: u64,
    pub attributes_routed: u64,
    pub integrations: u64,
    pub messages_sent: u64,
    pub deliveries: u64,
    pub accepted: u64,
    pub held: u64,
    pub rejected: u64,
    pub overflowed: u64,
    pub rewards: u64,
    pub gradients: u64,
    pub rule_edits: u64,
    pub router_edits: u64,
    pub model_calls: u64,
    pub model_failures: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// Where the run stands in simulated time.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Deserialize)]
pub struct Cursor {
    pub round: u32,
    pub tick: u64,
    /// Index in the round's interaction list of the next interaction.
    pub next_index: usize,
    pub started: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct World {
    /// Number of events applied (the `step` the next event must carry).
    steps: u64,
    cursor: Cursor,
    dim: usize,
    /// Clients and routers behind `Arc`s: cloning a world (a keyframe) copies pointers, and an
    /// event copies only the agents it changes (copy on write).
    clients: Vec<Arc<Client>>,
    routers: Vec<Arc<Router>>,
    /// Messages behind `Arc`s, like agents: a keyframe shares the unchanged ones.
    messages: BTreeMap<u64, Arc<Message>>,
    /// Id the next message gets.
    next_message: u64,
    counters: Counters,
    /// Credit evidence per module (`u7#2`, `R1`) since its last gradient.
    evidence: BTreeMap<String, Arc<Vec<Evidence>>>,
    /// Evaluation metrics recorded during the run: (step, split, values).
    metrics: Vec<(u64, String, BTreeMap<String, f64>)>,
    #[serde(skip)]
    client_index: Arc<IdIndex>,
    #[serde(skip)]
    router_index: Arc<IdIndex>,
    #[serde(skip)]
    embedder: Option<Arc<Embedder>>,
    #[serde(skip)]
    attr_vecs: Arc<HashMap<String, Vec<f32>>>,
    /// Attribute ids, vectors and their pairwise similarities (derived, rebuilt by replay).
    #[serde(skip)]
    space: Arc<AttrSpace>,
    /// Each client's interest as sparse (attribute id, |weight|) terms, and the length of the
    /// vector they stand for: relevance is then a handful of table lookups per client instead of a
    /// dense dot product, which is what makes propagation over large communities fast. One
    /// contiguous array (the propagation scan reads many in a row), shared with keyframes until
    /// changed.
    #[serde(skip)]
    client_terms: Arc<Vec<Terms>>,
    /// Clients whose terms changed, listed only for an engine that asked (`track_term_changes`).
    #[serde(skip)]
    term_changes: Option<reach::TermChanges>,
    /// Parsed rule lists by their text.
    #[serde(skip)]
    rule_sets: Arc<HashMap<String, Arc<Vec<Rule>>>>,
    /// Entries each client's evidence memory keeps, as `world_created` set it (0 before it:
    /// read through `evidence_memory()`).
    #[serde(default)]
    evidence_memory: usize,
}

/// Index of agent ids: a fast hash with a fixed seed (lookups stay deterministic; iteration order
/// is never relied on).
pub type IdIndex = crate::util::FastMap<String, usize>;

/// A map keyed by agent index in a hot loop, with the same fast hash.
pub type IxMap<V> = crate::util::FastMap<usize, V>;

/// Why an event could not be applied: names the event and what it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);

impl World {
    pub fn new() -> World {
        World::default()
    }

    // Read-only views: fields are private so that `apply` is the only way a world changes.

    /// Number of events applied (the `step` the next event must carry).
    pub fn steps(&self) -> u64 {
        self.steps
    }
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }
    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Entries each client's evidence memory keeps.
    pub fn evidence_memory(&self) -> usize {
        if self.evidence_memory == 0 {
            evidence::EVIDENCE_CAP
        } else {
            self.evidence_memory
        }
    }
    pub fn clients(&self) -> &[Arc<Client>] {
        &self.clients
    }
    pub fn routers(&self) -> &[Arc<Router>] {
        &self.routers
    }
    /// Messages still referred to by a buffer or a pending reward.
    pub fn messages(&self) -> &BTreeMap<u64, Arc<Message>> {
        &self.messages
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Credit evidence per module (`u7#2`, `R1`) since its last gradient.
    pub fn evidence(&self) -> &BTreeMap<String, Arc<Vec<Evidence>>> {
        &self.evidence
    }
    /// Evaluation metrics recorded during the run: (step, split, values).
    pub fn metrics(&self) -> &[(u64, String, BTreeMap<String, f64>)] {
        &self.metrics
    }

    pub fn client_ix(&self, id: &str) -> Option<usize> {
        self.client_index.get(id).copied()
    }
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.client_ix(id).map(|i| &*self.clients[i])
    }
    pub fn router_ix(&self, id: &str) -> Option<usize> {
        self.router_index.get(id).copied()
    }
    pub fn router(&self, id: &str) -> Option<&Router> {
        self.router_ix(id).map(|i| &*self.routers[i])
    }

    pub fn next_message_id(&self) -> u64 {
        self.next_message.max(1)
    }
}

/// The credit module of an agent's rule (1-based): `u7#2`. Credit and gradients address it.
pub fn rule_module(agent: &str, rule: usize) -> String {
    format!("{agent}#{rule}")
}

/// `u7#2` → (`u7`, 2).
pub fn parse_rule_module(module: &str) -> Option<(&str, usize)> {
    let (a, r) = module.rsplit_once('#')?;
    Some((a, r.parse().ok()?))
}

/// Render weights as the profile text both reasoners read: "likes Jazz 0.80, Bebop 0.50;
/// dislikes Metal -0.40".
pub fn profile_text(attrs: &BTreeMap<String, f64>, max_each: usize) -> String {
    let mut likes: Vec<(&String, f64)> = attrs.iter().filter(|(_, w)| **w > 0.0).map(|(a, w)| (a, *w)).collect();
    let mut dislikes: Vec<(&String, f64)> = attrs.iter().filter(|(_, w)| **w < 0.0).map(|(a, w)| (a, *w)).collect();
    likes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    dislikes.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    let fmt = |v: &[(&String, f64)]| -> String { v.iter().take(max_each).map(|(a, w)| format!("{a} {w:.2}")).collect::<Vec<_>>().join(", ") };
    match (likes.is_empty(), dislikes.is_empty()) {
        (true, true) => "no known preferences yet".into(),
        (false, true) => format!("likes {}", fmt(&likes)),
        (true, false) => format!("dislikes {}", fmt(&dislikes)),
        (false, false) => format!("likes {}; dislikes {}", fmt(&likes), fmt(&dislikes)),
    }
}
