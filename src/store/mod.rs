//! Layer: store. Owns the recorded log: the session file (`session`), time travel over it with
//! keyframes (`timeline`) and keyframes on disk (`spill`). May import `engine` (its config, for the
//! header), `world`, `rules` and `util`; never the reasoners or the terminal.

pub mod session;
pub mod spill;
pub mod timeline;
