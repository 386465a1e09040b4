//! recnet: RecNet — self-evolving preference propagation for LLM-agent recommender systems — as a
//! deterministic, event-sourced engine, with the tools to run, record, replay and inspect it.
//!
//! Layers, bottom up; each imports only the ones below it:
//! `util` → `rules` → `world` → `engine` → `reasoner` → `inputs` → `store` → `run`, `analysis` →
//! `tui`. The binary's `cli` sits on top of them all.

pub mod analysis;
pub mod engine;
#[cfg(feature = "fuzzing")]
pub mod hardening;
pub mod inputs;
pub mod reasoner;
pub mod rules;
pub mod run;
pub mod store;
pub mod tui;
pub mod util;
pub mod world;
