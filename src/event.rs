//! Events: every state change of a world is one of these, and `World::apply` is the only way a
//! world changes. A session file is a header line followed by one event per line.

use crate::rules::Polarity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of a session: `step` is the event's position (0, 1, 2, …), `round` and `tick` say
/// where in simulated time it happened, `kind` names the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub step: u64,
    pub round: u32,
    pub tick: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub attr: String,
    pub from: f64,
    pub to: f64,
}

/// One attribute and a signed amount (a change, or a message's content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDelta {
    pub attr: String,
    pub delta: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub agent: String,
    pub relevance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The world's vocabulary and embedding size; always the first event.
    WorldCreated { dim: usize, vocabulary: Vec<String> },
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
    AttributeRouted { agent: String, attr: String, delta: f64, router: String, similarity: f64 },
    RouterIntegrated {
        router: String,
        /// How many routed attributes were integrated.
        inbox: usize,
        changes: Vec<AttrChange>,
        #[serde(default)]
        new_attributes: Vec<String>,
        summary: String,
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
    Assimilated { agent: String, message: u64, weight: f64, changes: Vec<AttrChange> },
}

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
            EventBody::RouterIntegrated { .. } => "router_integrated",
            EventBody::MessageSent { .. } => "message_sent",
            EventBody::MessageBuffered { .. } => "message_buffered",
            EventBody::BufferOverflow { .. } => "buffer_overflow",
            EventBody::Activated { .. } => "activated",
            EventBody::FilterDecision { .. } => "filter_decision",
            EventBody::Assimilated { .. } => "assimilated",
        }
    }

    /// The stage of the RecNet loop this event belongs to (for stepping by stage).
    pub fn stage(&self) -> Stage {
        match self {
            EventBody::WorldCreated { .. } | EventBody::AgentCreated { .. } | EventBody::RouterCreated { .. } => {
                Stage::Setup
            }
            EventBody::RoundStarted { .. } | EventBody::TickStarted { .. } | EventBody::Interaction { .. } => {
                Stage::Interaction
            }
            EventBody::Activated { .. } | EventBody::FilterDecision { .. } | EventBody::Assimilated { .. } => {
                Stage::Reception
            }
            EventBody::ProfileUpdated { .. } | EventBody::MembershipChanged { .. } => Stage::Reflection,
            EventBody::AttributesExtracted { .. } => Stage::Extraction,
            EventBody::AttributeRouted { .. } => Stage::Routing,
            EventBody::RouterIntegrated { .. } => Stage::Integration,
            EventBody::MessageSent { .. } | EventBody::MessageBuffered { .. } | EventBody::BufferOverflow { .. } => {
                Stage::Propagation
            }
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
        }
    }
    pub fn phase(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            _ => "forward",
        }
    }
}
