//! Reasoning requests the engine asks and the answers it takes back. The engine never calls a
//! model: it hands out a batch of `ReasonRequest`s and waits for `ReasonAnswer`s in the same order.
//! Each request carries everything needed to answer it, so an answer depends on nothing else.

use crate::world::event::{AttrDelta, Decision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reasoning stages: one a request kind, each with its own prompt and answer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonStage {
    Reflect,
    Filter,
    Integrate,
    Credit,
    Gradient,
    Optimise,
}

impl ReasonStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonStage::Reflect => "reflect",
            ReasonStage::Filter => "filter",
            ReasonStage::Integrate => "integrate",
            ReasonStage::Credit => "credit",
            ReasonStage::Gradient => "gradient",
            ReasonStage::Optimise => "optimise",
        }
    }
}

impl std::fmt::Display for ReasonStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// How many real choices the message carries as evidence.
    #[serde(default)]
    pub evidence: usize,
    pub text: String,
    /// Rule (1-based) and its hold length, if a hold rule holds it.
    pub held_by: Option<(usize, u32)>,
    /// Time steps since that hold began (0 when not held): a hold counts from when it was
    /// decided, not from the message's arrival.
    #[serde(default)]
    pub held_for: u64,
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
    Filter { agent: String, attrs: BTreeMap<String, f64>, rules: String, like_threshold: f64, messages: Vec<FilterItem> },
    /// Integrate a router's inbox into its profile and write its update message.
    Integrate { router: String, profile: BTreeMap<String, f64>, inbox: Vec<AttrDelta>, decay: f64, max_attributes: usize },
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
    pub fn stage(&self) -> ReasonStage {
        match self {
            ReasonRequest::Reflect { .. } => ReasonStage::Reflect,
            ReasonRequest::Filter { .. } => ReasonStage::Filter,
            ReasonRequest::Integrate { .. } => ReasonStage::Integrate,
            ReasonRequest::Credit { .. } => ReasonStage::Credit,
            ReasonRequest::Gradient { .. } => ReasonStage::Gradient,
            ReasonRequest::Optimise { .. } => ReasonStage::Optimise,
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
    Filter {
        verdicts: Vec<FilterVerdict>,
    },
    Integrate {
        profile: BTreeMap<String, f64>,
        message: Vec<AttrDelta>,
        summary: String,
    },
    Credit {
        items: Vec<CreditAnswer>,
    },
    Gradient {
        direction: String,
        edit: crate::world::event::Edit,
    },
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
    /// Whether it answers at once, waiting on nothing outside the process: then a recorder need
    /// not write out what it holds before each question (a model may take long, or never answer).
    fn answers_at_once(&self) -> bool {
        false
    }
}

impl ReasonAnswer {
    pub fn stage(&self) -> ReasonStage {
        match self {
            ReasonAnswer::Reflect { .. } => ReasonStage::Reflect,
            ReasonAnswer::Filter { .. } => ReasonStage::Filter,
            ReasonAnswer::Integrate { .. } => ReasonStage::Integrate,
            ReasonAnswer::Credit { .. } => ReasonStage::Credit,
            ReasonAnswer::Gradient { .. } => ReasonStage::Gradient,
            ReasonAnswer::Optimise { .. } => ReasonStage::Optimise,
        }
    }
}

/// Why `Engine::answer` refused a batch of answers. The engine's state is unchanged: the same
/// requests are still waiting, and the driver decides what answers them instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("no reasoning request is waiting for answers")]
    NotAwaiting,
    #[error("{got} answer(s) for {expected} request(s)")]
    Count { expected: usize, got: usize },
    #[error("answer {index} is for the {got} stage, its request for {expected}")]
    Stage { index: usize, expected: ReasonStage, got: ReasonStage },
}

/// Whether `answers` answer `requests`: one each, in order, of the same stage.
pub fn check_answers(requests: &[ReasonRequest], answers: &[ReasonAnswer]) -> Result<(), AnswerError> {
    if answers.len() != requests.len() {
        return Err(AnswerError::Count { expected: requests.len(), got: answers.len() });
    }
    for (index, (req, a)) in requests.iter().zip(answers).enumerate() {
        if req.stage() != a.stage() {
            return Err(AnswerError::Stage { index, expected: req.stage(), got: a.stage() });
        }
    }
    Ok(())
}
