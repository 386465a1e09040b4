//! recnet: RecNet — self-evolving preference propagation for LLM-agent recommender systems — as a
//! deterministic, event-sourced engine, with the tools to run, record, replay and inspect it.

pub mod backward;
pub mod config;
pub mod dataset;
pub mod embed;
pub mod driver;
pub mod engine;
pub mod event;
pub mod gen;
pub mod narrate;
pub mod reasoner;
pub mod rules;
pub mod scenario;
pub mod session;
pub mod text;
pub mod util;
pub mod world;
