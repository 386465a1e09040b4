//! The selection's neighbourhood, for a world too large to draw whole: its routers, their most
//! relevant members and where those lead, nearest first — a shortest-path search over the
//! membership and message edges around the selection.

use crate::tui::app::TickMessages;
use crate::world::event::ClientKind;
use crate::world::World;
use petgraph::graph::{NodeIndex, UnGraph};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Edge lengths: a message (this step's, or one waiting in a buffer) ties an agent to a router
/// more closely than membership alone.
const MEMBERSHIP: f64 = 1.0;
const MESSAGE: f64 = 0.5;

/// A member's claim to a place: messages from the router, interactions, then the smaller id.
/// Reversed, so a heap of them drops the weakest first.
type Claim<'a> = Reverse<(usize, u64, Reverse<&'a str>)>;

struct Builder<'a> {
    graph: UnGraph<&'a str, f64>,
    index: HashMap<&'a str, NodeIndex>,
}

impl<'a> Builder<'a> {
    fn node(&mut self, id: &'a str) -> NodeIndex {
        *self.index.entry(id).or_insert_with(|| self.graph.add_node(id))
    }

    fn edge(&mut self, a: &'a str, b: &'a str, length: f64) {
        let (x, y) = (self.node(a), self.node(b));
        // Two edges between a pair (a member that was also messaged): the shorter one counts.
        match self.graph.find_edge(x, y) {
            Some(e) if self.graph[e] <= length => {}
            Some(e) => self.graph[e] = length,
            None => {
                self.graph.add_edge(x, y, length);
            }
        }
    }
}

/// How many messages `router` has for `agent`: delivered this step, or waiting in its buffer.
fn messages_between(world: &World, tick: &TickMessages, router: &str, agent: &str) -> usize {
    let now = tick.deliveries().iter().filter(|d| d.router == router && d.agent == agent).count();
    let waiting =
        world.client(agent).map(|c| c.buffer.iter().filter(|b| world.messages().get(&b.message).is_some_and(|m| &*m.router == router)).count()).unwrap_or(0);
    now + waiting
}

/// The agents near `selected`, each with its place in the order (1 = nearest; the selection
/// itself is not listed). At most `per_router` users and as many items are taken from each of the
/// selection's routers: the ones with the most messages from it, then the most interactions. Costs a pass over
/// those routers' members, never over the world.
pub(super) fn neighbourhood<'a>(world: &'a World, tick: &'a TickMessages, selected: &'a str, per_router: usize) -> HashMap<&'a str, u32> {
    let mut b = Builder { graph: UnGraph::default(), index: HashMap::new() };
    let start = b.node(selected);
    let seeds: Vec<&'a str> = match (world.client(selected), world.router(selected)) {
        (Some(c), _) => c.routers.iter().map(String::as_str).collect(),
        (None, Some(r)) => vec![r.id.as_str()],
        _ => Vec::new(),
    };
    for &r in &seeds {
        if r != selected {
            let length = if messages_between(world, tick, r, selected) > 0 { MESSAGE } else { MEMBERSHIP };
            b.edge(selected, r, length);
        }
        let Some(router) = world.router(r) else { continue };
        // The most relevant members of each kind (users and items have a column each), kept in
        // bounded heaps: a router of a huge world has thousands.
        let mut top: [BinaryHeap<Claim<'a>>; 2] = Default::default();
        for m in router.members.iter().map(String::as_str).filter(|m| *m != selected) {
            let Some(c) = world.client(m) else { continue };
            let heap = &mut top[usize::from(c.kind == ClientKind::Item)];
            let key = Reverse((messages_between(world, tick, r, m), c.interactions, Reverse(m)));
            if heap.len() < per_router {
                heap.push(key);
            } else if heap.peek().is_some_and(|worst| key < *worst) {
                heap.pop();
                heap.push(key);
            }
        }
        for Reverse((messages, _, Reverse(m))) in top.into_iter().flatten() {
            b.edge(r, m, if messages > 0 { MESSAGE } else { MEMBERSHIP });
            // Where the member leads: its other communities.
            for other in world.client(m).into_iter().flat_map(|c| c.routers.iter()) {
                b.edge(m, other, MEMBERSHIP);
            }
        }
    }
    // This step's messages that touch the neighbourhood.
    for d in tick.deliveries() {
        if b.index.contains_key(d.router.as_str()) || b.index.contains_key(d.agent.as_str()) {
            b.edge(&d.router, &d.agent, MESSAGE);
        }
    }
    let distance = petgraph::algo::dijkstra(&b.graph, start, None, |e| *e.weight());
    let mut near: Vec<(f64, &'a str)> = distance.into_iter().filter(|(n, _)| *n != start).map(|(n, d)| (d, b.graph[n])).collect();
    near.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(y.1)));
    near.into_iter().enumerate().map(|(k, (_, id))| (id, k as u32 + 1)).collect()
}
