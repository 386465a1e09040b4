//! Where the inspector stands in the shown branch: the step, the state there and at the start
//! of its time step, this step's messages, and the selected agent. `nav` moves it.

use super::TickMessages;
use crate::world::World;

pub struct Cursor {
    /// Events applied: the world shown is the state after events 0..pos.
    pub pos: u64,
    pub world: World,
    /// The state at the start of the current time step (to highlight what this step changed).
    pub tick_start_world: World,
    pub tick_start: u64,
    /// This time step's messages up to `pos`, for the graph (kept up to date by `goto`).
    pub tick: TickMessages,
    pub selected: Option<String>,
    /// The selection follows the events.
    pub follow: bool,
}

impl Default for Cursor {
    fn default() -> Cursor {
        Cursor { pos: 0, world: World::new(), tick_start_world: World::new(), tick_start: 0, tick: TickMessages::default(), selected: None, follow: true }
    }
}
