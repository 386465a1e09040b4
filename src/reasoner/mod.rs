//! Layer: reasoners. Owns the implementations of the engine's `Reasoner` trait: `offline` (the
//! deterministic policy, with its backward-phase arithmetic in `policy`), `openai` (any
//! OpenAI-compatible endpoint, falling back to `offline` on a bad reply) and `subset` (a model for
//! some users' requests, offline for the rest). May import `engine` (for the protocol types),
//! `world`, `rules` and `util`.

pub mod accounting;
pub mod offline;
pub mod openai;
pub mod policy;
pub mod schema;
pub mod subset;
