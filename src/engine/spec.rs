//! What a run starts from: the clients and the schedule of real interactions, as a scenario or
//! a dataset describes them.

use crate::world::event::ClientKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One real interaction of the schedule: `user` chose `item` (over `negative`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    pub user: String,
    pub item: String,
    pub negative: Option<String>,
}

/// A client as a scenario or dataset describes it before the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    pub id: String,
    pub kind: ClientKind,
    pub title: Option<String>,
    pub attrs: BTreeMap<String, f64>,
    pub rules: Option<String>,
}

/// Everything needed to start a run.
#[derive(Debug, Clone, Default)]
pub struct WorldSpec {
    pub name: String,
    pub clients: Vec<ClientSpec>,
    pub schedule: Vec<Scheduled>,
}
