//! Reasoning requests the engine asks and the answers it takes back. The engine never calls a
//! model: it hands out a batch of `ReasonRequest`s and waits for `ReasonAnswer`s in the same order.
//! Each request carries everything needed to answer it, so an answer depends on nothing else.

use crate::world::event::{AttrDelta, Decision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights(pub BTreeMap<String, f64>);

/// One buffered message as the filter sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterItem {
    pub message: u64,
    pub router: String,
    pub router_credit: f64,
    pub source: String,
    pub source_kind: String,
    pub content: Vec<AttrDelta>,
    pub topic: String,
    pub polarity: crate::rules::Polarity,
    pub strength: f64,
    pub relevance: f64,
    pub support: usize,
    pub age: u64,
    pub text: String,
    /// Rule (1-based) and its hold length, if a hold rule holds it.
    pub held_by: Option<(usize, u32)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum ReasonRequest {
    /// AgentCF-style reflection: the user chose `item` over `negative`; update both profiles.
    Reflect {
        user: String,
        user_attrs: BTreeMap<String, f64>,
        item: String,
        item_attrs: BTreeMap<String, f64>,
        negative: Option<String>,
        negative_attrs: BTreeMap<String, f64>,
        user_rate: f64,
        item_rate: f64,
        margin: f64,
    },
    /// Decide each buffered message with the receiver's filter rules.
    Filter {
        agent: String,
        attrs: BTreeMap<String, f64>,
        rules: String,
        like_threshold: f64,
        messages: Vec<FilterItem>,
    },
    /// Integrate a router's inbox into its profile and write its update message.
    Integrate {
        router: String,
        profile: BTreeMap<String, f64>,
        inbox: Vec<AttrDelta>,
        decay: f64,
        max_attributes: usize,
    },
    /// Spread each reward over the modules on its path.
    Credit { items: Vec<CreditItem>, router_share: f64 },
    /// Turn one module's credit evidence into a direction and a structured edit.
    Gradient {
        module: String,
        /// The rule's text, or the router's knobs, as the model should read them.
        description: String,
        evidence: Vec<crate::world::event::Evidence>,
        threshold: f64,
        step: f64,
    },
    /// Apply a rule edit: the new rule list.
    Optimise { agent: String, rules: String, edit: crate::world::event::Edit, step: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditItem {
    pub agent: String,
    pub message: u64,
    pub router: String,
    pub rule: Option<usize>,
    pub rule_text: String,
    pub decision: Decision,
    pub relevance: f64,
    pub reward: f64,
}

impl ReasonRequest {
    pub fn stage(&self) -> &'static str {
        match self {
            ReasonRequest::Reflect { .. } => "reflect",
            ReasonRequest::Filter { .. } => "filter",
            ReasonRequest::Integrate { .. } => "integrate",
            ReasonRequest::Credit { .. } => "credit",
            ReasonRequest::Gradient { .. } => "gradient",
            ReasonRequest::Optimise { .. } => "optimise",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterVerdict {
    pub message: u64,
    /// 1-based matching rule, if any.
    pub rule: Option<usize>,
    pub decision: Decision,
    pub weight: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum ReasonAnswer {
    Reflect {
        /// New weights for the attributes that change.
        user: BTreeMap<String, f64>,
        item: BTreeMap<String, f64>,
        reason: String,
    },
    Filter { verdicts: Vec<FilterVerdict> },
    Integrate {
        profile: BTreeMap<String, f64>,
        message: Vec<AttrDelta>,
        summary: String,
    },
    Credit { items: Vec<CreditAnswer> },
    Gradient { direction: String, edit: crate::world::event::Edit },
    Optimise {
        /// The whole new rule list; `None` when the edit does not apply.
        rules: Option<String>,
        rule: usize,
        before: String,
        after: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditAnswer {
    pub shares: Vec<crate::world::event::CreditShare>,
    pub reason: String,
}

/// Anything that answers a batch of requests, in order.
pub trait Reasoner {
    fn answer(&mut self, requests: &[ReasonRequest]) -> Vec<ReasonAnswer>;
    /// What was asked and answered since the last call, to be recorded as events.
    fn take_exchanges(&mut self) -> Vec<crate::world::event::EventBody> {
        Vec::new()
    }
    /// A failure that must stop the run (e.g. a dead endpoint after retries).
    fn fatal(&mut self) -> Option<String> {
        None
    }
}

impl ReasonAnswer {
    pub fn stage(&self) -> &'static str {
        match self {
            ReasonAnswer::Reflect { .. } => "reflect",
            ReasonAnswer::Filter { .. } => "filter",
            ReasonAnswer::Integrate { .. } => "integrate",
            ReasonAnswer::Credit { .. } => "credit",
            ReasonAnswer::Gradient { .. } => "gradient",
            ReasonAnswer::Optimise { .. } => "optimise",
        }
    }
}
