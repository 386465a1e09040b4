//! Layer: analysis. Owns reading results out of sessions and runs: differences (`diff`), headless
//! exports (`export`), one sentence an event (`narrate`), the breakpoint language (`breakpoint`)
//! and the AgentCF evaluation (`eval`). May import `store`, `inputs`, `reasoner`, `engine`,
//! `world`, `rules` and `util`.

pub mod breakpoint;
pub mod diff;
pub mod eval;
pub mod export;
pub mod narrate;
