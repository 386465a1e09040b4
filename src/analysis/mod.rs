//! Layer: analysis. Owns reading results out of sessions and runs: differences (`diff`), headless
//! exports (`export`), one sentence an event (`narrate`), the breakpoint language (`breakpoint`)
//! the counters over time (`timeseries`) and the AgentCF evaluation (`eval`). May import `store`, `inputs`, `reasoner`, `engine`,
//! `world`, `rules` and `util`.

pub mod breakpoint;
pub mod diff;
pub mod eval;
pub mod export;
pub mod narrate;
pub mod timeseries;

use crate::inputs::dataset::Dataset;
use crate::world::World;
use std::collections::BTreeMap;

/// Per-round metrics for a recorded dataset run: the evaluation on the validation split, when the
/// dataset has one (the hook `run::driver::record` takes).
pub fn validation_metrics(ds: &Dataset) -> Option<impl Fn(&World) -> BTreeMap<String, f64>> {
    let cases = eval::cases(ds, "valid").ok()?;
    Some(move |w: &World| eval::world_metrics(w, &cases))
}
