//! Events: every state change of a world is one of these, and `World::apply` is the only way a
//! world changes. A session file is a header line followed by one event per line.

use crate::rules::Polarity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of a session: `step` is the event's position (0, 1, 2, …), `round` and `tick` say
/// where in simulated time it happened, `kind` names the body.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Event {
    pub step: u64,
    pub round: u32,
    pub tick: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

mod read;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    User,
    Item,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::User => "user",
            ClientKind::Item => "item",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Hold,
    Reject,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Hold => "hold",
            Decision::Reject => "reject",
        }
    }
}

/// One attribute's weight moving from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttrChange {
    pub attr: String,
    pub from: f64,
    pub to: f64,
}

/// One attribute and a signed amount (a change, or a message's content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttrDelta {
    pub attr: String,
    pub delta: f64,
}

/// A real choice a router passes on as evidence: `user` chose `item` at `tick`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Choice {
    pub user: String,
    pub item: String,
    pub tick: u64,
}

/// One evidence entry a receiver stored or reinforced: its trust in the item moved `from` → `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceChange {
    pub item: String,
    pub chooser: String,
    pub from: f64,
    pub to: f64,
    /// The accept weight: with the receiver's current behaviour similarity to the chooser, what
    /// the entry counts for when ranking.
    #[serde(default)]
    pub trust: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recipient {
    pub agent: String,
    pub relevance: f64,
}

/// Defines `EventBody` and, from the same text, `ByKind`: the same variants externally tagged, as
/// `Event`'s reader uses them once it has read `kind` (see `Deserialize for Event`). One
/// definition keeps the two from drifting: a field, default or rename is written once.
macro_rules! event_bodies {
    (
        $(#[$outer:meta])*
        pub enum EventBody {
            $( $(#[$vattr:meta])* $variant:ident { $( $(#[$fattr:meta])* $field:ident : $ty:ty ),* $(,)? } ),* $(,)?
        }
    ) => {
        $(#[$outer])*
        pub enum EventBody {
            $( $(#[$vattr])* $variant { $( $(#[$fattr])* $field: $ty ),* } ),*
        }

        #[derive(Deserialize)]
        #[serde(remote = "EventBody", rename_all = "snake_case")]
        #[allow(dead_code)] // only its derived reader is used
        enum ByKind {
            $( $(#[$vattr])* $variant { $( $(#[$fattr])* $field: $ty ),* } ),*
        }
    };
}

event_bodies! {
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The world's vocabulary and embedding size; always the first event.
    WorldCreated {
        dim: usize,
        vocabulary: Vec<String>,
        /// Entries each client's evidence memory keeps (sessions recorded before it was a
        /// setting kept 64).
        #[serde(default = "crate::world::evidence::old_memory")]
        evidence_memory: usize,
    },
    AgentCreated {
        agent: String,
        agent_kind: ClientKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        attrs: BTreeMap<String, f64>,
        rules: String,
    },
    RouterCreated {
        router: String,
        /// The attribute phrases of this router's community.
        attributes: Vec<String>,
        profile: BTreeMap<String, f64>,
        members: Vec<String>,
        fan_out: usize,
        tau: f64,
        summary: String,
        /// How much receivers' scores trust this router's evidence (learned in the backward phase).
        #[serde(default)]
        gate: f64,
        /// How much receivers' scores count what its accepted updates added (learned).
        #[serde(default = "full_gate")]
        update_gate: f64,
    },
    RoundStarted { index: u32 },
    TickStarted { index: u64, interactions: usize },
    /// A real interaction: `user` chose `item` over the sampled `negative`.
    Interaction {
        user: String,
        item: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        negative: Option<String>,
        /// Position in the round's interaction list.
        index: usize,
    },
    /// An agent's weights changed by reflection on an interaction.
    ProfileUpdated { agent: String, changes: Vec<AttrChange>, reason: String, text: String },
    /// The attributes whose weight moved more than ε: what goes to routing.
    AttributesExtracted { agent: String, changed: Vec<AttrDelta> },
    MembershipChanged { router: String, agent: String, joined: bool },
    AttributeRouted {
        agent: String,
        attr: String,
        delta: f64,
        router: String,
        similarity: f64,
        /// The attribute is one of the router's community, so it went there whatever the
        /// embedding says (`similarity` is then 1 by convention, not a measured cosine).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        community: bool,
    },
    /// A real choice goes to the router of the chosen item's community, to be passed on as evidence.
    ChoiceRouted { user: String, item: String, router: String },
    RouterIntegrated {
        router: String,
        /// How many routed attributes were integrated.
        inbox: usize,
        changes: Vec<AttrChange>,
        #[serde(default)]
        new_attributes: Vec<String>,
        summary: String,
        /// How many of its most recent choices the router keeps to pass on again.
        #[serde(default)]
        keep_choices: usize,
    },
    MessageSent {
        message: u64,
        router: String,
        /// The clients whose changes this message carries.
        sources: Vec<String>,
        source_kind: ClientKind,
        content: Vec<AttrDelta>,
        topic: String,
        polarity: Polarity,
        text: String,
        recipients: Vec<Recipient>,
        /// The community's choices this message carries as evidence.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Choice>,
    },
    MessageBuffered { agent: String, message: u64, relevance: f64 },
    /// A message lost to a full buffer (policy drop_oldest or drop_new).
    BufferOverflow { agent: String, message: u64, policy: String },
    /// A client's buffered messages are read, because it interacted or its buffer filled.
    Activated { agent: String, reason: String, buffered: usize },
    FilterDecision {
        agent: String,
        message: u64,
        router: String,
        /// 1-based index of the matching rule; none when no rule matched or the filter is off.
        #[serde(default)]
        rule: Option<usize>,
        rule_text: String,
        decision: Decision,
        #[serde(default)]
        weight: f64,
        relevance: f64,
        support: usize,
        age: u64,
        reason: String,
    },
    /// An accepted message's attribute moves, written where `into` says: `changes` are that
    /// layer's weights before and after.
    Assimilated {
        agent: String,
        message: u64,
        weight: f64,
        changes: Vec<AttrChange>,
        #[serde(default)]
        into: AssimilatedInto,
    },
    /// An accepted message's choices enter the receiver's evidence memory (beside its profile),
    /// each trusted by the accept weight times the receiver's similarity to the chooser.
    EvidenceStored { agent: String, message: u64, router: String, entries: Vec<EvidenceChange> },
    /// Backward phase: the receiver's next real interaction scores a message it accepted (or
    /// rejected): the true item's margin with and without the message's contribution.
    Reward {
        agent: String,
        message: u64,
        router: String,
        #[serde(default)]
        rule: Option<usize>,
        decision: Decision,
        /// The interaction that revealed the outcome.
        item: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        negative: Option<String>,
        with: f64,
        without: f64,
        reward: f64,
    },
    /// The reward spread over the path: the rule that decided and the router that sent.
    CreditAssigned {
        agent: String,
        message: u64,
        decision: Decision,
        relevance: f64,
        reward: f64,
        shares: Vec<CreditShare>,
        reason: String,
    },
    /// What should change in one module and why, from the credit gathered since its last edit.
    Gradient { module: String, direction: String, edit: Edit, evidence: Vec<Evidence> },
    RuleEdited {
        agent: String,
        /// 1-based rule the edit is about (for an insertion, its new position).
        rule: usize,
        before: String,
        after: String,
        /// The whole rule list after the edit.
        rules: String,
        reason: String,
        evidence: Vec<u64>,
    },
    /// An analyst replaced an agent's whole rule list (a fork's edit).
    RulesReplaced { agent: String, rules: String, reason: String },
    /// An analyst changed a router's knobs (a fork's edit).
    RouterEdited { router: String, fan_out: usize, tau: f64, reason: String },
    RouterStrategyEdited {
        router: String,
        fan_out_from: usize,
        fan_out_to: usize,
        tau_from: f64,
        tau_to: f64,
        reason: String,
        evidence: Vec<u64>,
    },
    /// Backward phase: a router's gate (how much its evidence counts in receivers' scores) moved,
    /// learned from whether its evidence would have ranked a receiver's real choice higher.
    GateUpdated {
        router: String,
        agent: String,
        item: String,
        from: f64,
        to: f64,
        /// Mean over the negatives of (1 − P(choice wins)) × (what the channel adds to the choice's
        /// score − to the negative's).
        gradient: f64,
        /// Which of the router's gates: its evidence, or its attribute updates.
        #[serde(default)]
        channel: GateChannel,
        /// Under the Bayesian gate rule, the data precision the gate holds after this step (the
        /// summed curvature of the interactions it learned from); absent under the older rule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        precision: Option<f64>,
    },
    /// A model exchange: what was asked and answered, so replays never call the model again.
    ReasonExchange {
        stage: String,
        model: String,
        prompt: String,
        reply: String,
        tokens_in: u64,
        tokens_out: u64,
        latency_ms: u64,
        cache_hit: bool,
        /// Why the model stopped (`stop`, `length` = cut at max_tokens, …); empty in sessions from
        /// before it was recorded, and for cache hits.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        finish_reason: String,
    },
    /// A model's answer could not be used; the offline reasoner decided instead. `cause` sorts it
    /// for the accounting (`cut_off`, `invalid_json`, `wrong_shape`, `rules_do_not_parse`,
    /// `http_error`, `budget`, `format_fallback`); empty in sessions from before it was recorded.
    ReasonFailed {
        stage: String,
        error: String,
        fallback: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        cause: String,
    },
    /// Evaluation metrics at a point of the run (the inspector plots them).
    Metrics { split: String, values: BTreeMap<String, f64> },
}
}

/// A share of a reward given to one module (`u7#2` = rule 2 of u7, `R1` = router R1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditShare {
    pub module: String,
    pub amount: f64,
}

/// One piece of evidence behind a gradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    pub message: u64,
    pub agent: String,
    pub decision: Decision,
    pub reward: f64,
    pub relevance: f64,
}

/// A structured edit a gradient proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Make an accepting rule match less (raise its relevance bar).
    Tighten {
        agent: String,
        rule: usize,
    },
    /// Make a rejecting/holding rule match less, or let helpful messages in before it.
    Loosen {
        agent: String,
        rule: usize,
        min_relevance: f64,
    },
    /// Remove a rule that has not matched for long.
    Retire {
        agent: String,
        rule: usize,
    },
    /// Change a router's reach.
    Router {
        router: String,
        fan_out_delta: i64,
        tau_delta: f64,
    },
    NoChange,
}

/// Every event kind, as written in a session (`EventBody::kind`).
pub const KINDS: &[&str] = &[
    "world_created",
    "agent_created",
    "router_created",
    "round_started",
    "tick_started",
    "interaction",
    "profile_updated",
    "attributes_extracted",
    "membership_changed",
    "attribute_routed",
    "choice_routed",
    "router_integrated",
    "message_sent",
    "message_buffered",
    "buffer_overflow",
    "activated",
    "filter_decision",
    "assimilated",
    "evidence_stored",
    "reward",
    "credit_assigned",
    "gradient",
    "rule_edited",
    "rules_replaced",
    "router_edited",
    "router_strategy_edited",
    "gate_updated",
    "reason_exchange",
    "reason_failed",
    "metrics",
];

impl EventBody {
    /// The snake_case kind, as written in the session.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::WorldCreated { .. } => "world_created",
            EventBody::AgentCreated { .. } => "agent_created",
            EventBody::RouterCreated { .. } => "router_created",
            EventBody::RoundStarted { .. } => "round_started",
            EventBody::TickStarted { .. } => "tick_started",
            EventBody::Interaction { .. } => "interaction",
            EventBody::ProfileUpdated { .. } => "profile_updated",
            EventBody::AttributesExtracted { .. } => "attributes_extracted",
            EventBody::MembershipChanged { .. } => "membership_changed",
            EventBody::AttributeRouted { .. } => "attribute_routed",
            EventBody::ChoiceRouted { .. } => "choice_routed",
            EventBody::RouterIntegrated { .. } => "router_integrated",
            EventBody::MessageSent { .. } => "message_sent",
            EventBody::MessageBuffered { .. } => "message_buffered",
            EventBody::BufferOverflow { .. } => "buffer_overflow",
            EventBody::Activated { .. } => "activated",
            EventBody::FilterDecision { .. } => "filter_decision",
            EventBody::Assimilated { .. } => "assimilated",
            EventBody::EvidenceStored { .. } => "evidence_stored",
            EventBody::Reward { .. } => "reward",
            EventBody::CreditAssigned { .. } => "credit_assigned",
            EventBody::Gradient { .. } => "gradient",
            EventBody::RuleEdited { .. } => "rule_edited",
            EventBody::RulesReplaced { .. } => "rules_replaced",
            EventBody::RouterEdited { .. } => "router_edited",
            EventBody::RouterStrategyEdited { .. } => "router_strategy_edited",
            EventBody::GateUpdated { .. } => "gate_updated",
            EventBody::ReasonExchange { .. } => "reason_exchange",
            EventBody::ReasonFailed { .. } => "reason_failed",
            EventBody::Metrics { .. } => "metrics",
        }
    }

    /// The stage of the RecNet loop this event belongs to (for stepping by stage).
    pub fn stage(&self) -> Stage {
        match self {
            EventBody::WorldCreated { .. } | EventBody::AgentCreated { .. } | EventBody::RouterCreated { .. } => Stage::Setup,
            EventBody::RoundStarted { .. } | EventBody::TickStarted { .. } | EventBody::Interaction { .. } => Stage::Interaction,
            EventBody::Activated { .. } | EventBody::FilterDecision { .. } | EventBody::Assimilated { .. } | EventBody::EvidenceStored { .. } => {
                Stage::Reception
            }
            EventBody::ProfileUpdated { .. } | EventBody::MembershipChanged { .. } => Stage::Reflection,
            EventBody::AttributesExtracted { .. } => Stage::Extraction,
            EventBody::AttributeRouted { .. } | EventBody::ChoiceRouted { .. } => Stage::Routing,
            EventBody::RouterIntegrated { .. } => Stage::Integration,
            EventBody::MessageSent { .. } | EventBody::MessageBuffered { .. } | EventBody::BufferOverflow { .. } => Stage::Propagation,
            EventBody::Reward { .. } => Stage::Reward,
            EventBody::CreditAssigned { .. } | EventBody::GateUpdated { .. } => Stage::Credit,
            EventBody::Gradient { .. } => Stage::Gradient,
            EventBody::RuleEdited { .. } | EventBody::RouterStrategyEdited { .. } => Stage::Optimisation,
            // An analyst's edit on a fork: made mid-session by a person, not part of building the world.
            EventBody::RulesReplaced { .. } | EventBody::RouterEdited { .. } => Stage::Edit,
            EventBody::ReasonExchange { .. } | EventBody::ReasonFailed { .. } => Stage::Reasoning,
            EventBody::Metrics { .. } => Stage::Evaluation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Setup,
    Interaction,
    Reception,
    Reflection,
    Extraction,
    Routing,
    Integration,
    Propagation,
    Reward,
    Credit,
    Gradient,
    Optimisation,
    Reasoning,
    Evaluation,
    /// An analyst's edit recorded on a branch (a fork's rules or router knobs).
    Edit,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Interaction => "interaction",
            Stage::Reception => "reception",
            Stage::Reflection => "reflection",
            Stage::Extraction => "extraction",
            Stage::Routing => "routing",
            Stage::Integration => "integration",
            Stage::Propagation => "propagation",
            Stage::Reward => "reward",
            Stage::Credit => "credit",
            Stage::Gradient => "gradient",
            Stage::Optimisation => "optimisation",
            Stage::Reasoning => "reasoning",
            Stage::Evaluation => "evaluation",
            Stage::Edit => "edit",
        }
    }
    pub fn phase(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Reward | Stage::Credit | Stage::Gradient | Stage::Optimisation => "backward",
            Stage::Reasoning | Stage::Evaluation => "other",
            // Neither pass of the loop: a person changed the world between them.
            Stage::Edit => "edit",
            _ => "forward",
        }
    }
}

/// The gate a session recorded before update gates existed ran with: updates counted fully.
/// Serde default `true` (for a switch older sessions ran with on).
pub fn yes() -> bool {
    true
}

pub fn full_gate() -> f64 {
    1.0
}

/// A router's learned gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateChannel {
    /// How much its evidence (the choices it passed on) counts in receivers' scores.
    #[default]
    Evidence,
    /// How much what its accepted attribute updates added to receivers' profiles counts.
    Updates,
    /// How much the co-choices it passed on (items chosen by the fans of what a user chose) count.
    CoChoice,
}

/// Where an accepted update goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssimilatedInto {
    /// Into the profile itself (sessions recorded before update layers).
    #[default]
    Profile,
    /// Into the receiver's layer for the sending router, beside the profile: ranking adds it
    /// scaled by the router's update gate; reflection and membership read the profile alone.
    Updates,
}

#[cfg(test)]
mod tests;
