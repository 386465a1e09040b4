//! recnet: RecNet — self-evolving preference propagation for LLM-agent recommender systems — as a
//! deterministic, event-sourced engine, with the tools to run, record, replay and inspect it.

pub mod backward;
pub mod branch;
pub mod breakpoint;
pub mod config;
pub mod dataset;
pub mod diff;
pub mod embed;
pub mod driver;
pub mod engine;
pub mod eval;
pub mod event;
pub mod export;
pub mod gen;
pub mod hardening;
pub mod narrate;
pub mod reasoner;
pub mod rules;
pub mod scenario;
pub mod session;
pub mod spill;
pub mod text;
pub mod timeline;
pub mod tui;
pub mod util;
pub mod world;
