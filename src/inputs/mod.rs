//! Layer: inputs. Owns turning the outside world into a `WorldSpec` and its schedule: scenario files
//! (`scenario`), RecBole datasets (`dataset`) and synthetic worlds (`gen`). May import `engine`
//! (for the spec types), `world`, `rules` and `util`.

pub mod dataset;
pub mod gen;
pub mod scenario;
