//! Layer: run. Owns running an engine for real: resolving a source (scenario or dataset), driving
//! it with a reasoner while recording the session (`driver`), and forks of a recorded session
//! (`branch`), termination signals (`signals`), and the session written on a thread of its own (`writer`). May import `store`, `inputs`, `reasoner`, `engine`, `world`, `rules` and `util`.

pub mod branch;
pub mod driver;
pub mod signals;
mod writer;
