//! The guided tour (`recnet demo --tour`): the run pauses at the first occurrence of each RecNet
//! mechanism and a short panel says what it is and where to look on screen.

use crate::world::event::{Decision, Event, EventBody};

/// One stop: the mechanism's name, the events that show it, and what to say (3–5 lines).
pub struct Stop {
    pub name: &'static str,
    pub matches: fn(&Event) -> bool,
    pub lines: &'static [&'static str],
    /// What it points at is low on the screen (the buffer, the rules): its panel goes at the
    /// top, where at 80×24 it would otherwise cover them.
    pub low: bool,
}

fn decision(e: &Event, d: Decision) -> bool {
    matches!(&e.body, EventBody::FilterDecision { decision, .. } if *decision == d)
}

/// The stops in the order the loop usually meets them; each is shown once, when first met.
pub const STOPS: &[Stop] = &[
    Stop {
        name: "Reflection",
        low: false,
        matches: |e| matches!(e.body, EventBody::ProfileUpdated { .. }),
        lines: &[
            "After a real interaction the user's and the item's agents reflect on it and",
            "rewrite their own preference profiles: the forward phase starts here. Look",
            "right: the agent's weights, this time step's changes highlighted; the footer",
            "says in one sentence what moved and why.",
        ],
    },
    Stop {
        name: "Attribute extraction",
        low: false,
        matches: |e| matches!(e.body, EventBody::AttributesExtracted { .. }),
        lines: &[
            "Only attributes whose weight moved by more than a small ε leave the agent.",
            "RecNet propagates these changes, not whole profiles, so a message stays",
            "small and says what is new.",
        ],
    },
    Stop {
        name: "Routing",
        low: false,
        matches: |e| matches!(e.body, EventBody::AttributeRouted { .. }),
        lines: &[
            "Each changed attribute goes to a router: the one whose community it belongs",
            "to, or else the router closest in meaning. Routers (◆, middle column of the",
            "graph) stand for communities of users and items with shared tastes.",
        ],
    },
    Stop {
        name: "Router integration",
        low: false,
        matches: |e| matches!(e.body, EventBody::RouterIntegrated { .. }),
        lines: &[
            "A router folds the changes it received into its community profile and",
            "summary, then decides what is worth passing on. Select a router (j/k) to see",
            "its inbox, profile and strategy (how many members it reaches, above which",
            "relevance τ).",
        ],
    },
    Stop {
        name: "Propagation",
        low: false,
        matches: |e| matches!(e.body, EventBody::MessageSent { .. }),
        lines: &[
            "The router sends a message to the members it is most relevant to: this is",
            "how a preference change reaches agents who never saw the interaction. The",
            "graph draws this time step's messages from the router to each receiver.",
        ],
    },
    Stop {
        name: "Buffering",
        low: true,
        matches: |e| matches!(e.body, EventBody::MessageBuffered { .. }),
        lines: &[
            "A message does not change its receiver at once: it waits in the receiver's",
            "buffer (blue on the graph) until the receiver is next active. The Buffer",
            "pane lists what waits, with relevance and age; a full buffer drops messages.",
        ],
    },
    Stop {
        name: "Filter: accept",
        low: true,
        matches: |e| decision(e, Decision::Accept),
        lines: &[
            "When active, the receiver reads its buffer through its own rules, first",
            "match wins. This one accepts (green): the change will be taken in at the",
            "rule's weight. The Rules pane highlights the rule that decided, with its",
            "hits and credit.",
        ],
    },
    Stop {
        name: "Filter: hold",
        low: true,
        matches: |e| decision(e, Decision::Hold),
        lines: &[
            "A hold (yellow) keeps the message in the buffer for a few more steps,",
            "waiting for corroboration by other messages on the same topic. A hold that",
            "waits its full length without support ends as a rejection.",
        ],
    },
    Stop {
        name: "Filter: reject",
        low: true,
        matches: |e| decision(e, Decision::Reject),
        lines: &[
            "A reject (red) drops the message: the receiver's profile stays as it is.",
            "Rejections are not final knowledge: the backward phase will ask whether",
            "taking the message in would have helped.",
        ],
    },
    Stop {
        name: "Assimilation",
        low: false,
        matches: |e| matches!(e.body, EventBody::Assimilated { .. }),
        lines: &[
            "An accepted message is taken in: its attribute changes, scaled by the rule's",
            "weight, are added for the receiver. The agent pane shows the weights that",
            "moved; the evidence of real choices a message carries is kept beside the",
            "profile.",
        ],
    },
    Stop {
        name: "Reward",
        low: true,
        matches: |e| matches!(e.body, EventBody::Reward { .. }),
        lines: &[
            "The backward phase: at the receiver's next real interaction, RecNet compares",
            "how well the profile ranks the real choice with and without the message (a",
            "declined one imagined taken in). The difference is what it was worth: gained",
            "if accepted; if declined, lost when positive, spared when negative.",
        ],
    },
    Stop {
        name: "Credit",
        low: true,
        matches: |e| matches!(e.body, EventBody::CreditAssigned { .. }),
        lines: &[
            "The reward is shared out along the message's path: the receiver's rule that",
            "decided and the router that sent it. The Rules pane's credit column and a",
            "router's credit add these shares up.",
        ],
    },
    Stop {
        name: "Gradient",
        low: true,
        matches: |e| matches!(e.body, EventBody::Gradient { .. }),
        lines: &[
            "With enough credit gathered, a module gets a textual gradient: what should",
            "change in it and why (tighten a rule, loosen it, reach more or fewer",
            "members, or keep it). Follow (f) selects the rule or router it is about.",
        ],
    },
    Stop {
        name: "Rule edit",
        low: true,
        matches: |e| matches!(e.body, EventBody::RuleEdited { .. }),
        lines: &[
            "The gradient is applied: the receiver's rule is rewritten, within bounds,",
            "and the rules pane shows the new text. This is how each agent's filter",
            "evolves from what its decisions earned.",
        ],
    },
    Stop {
        name: "Router edit",
        low: false,
        matches: |e| matches!(e.body, EventBody::RouterStrategyEdited { .. }),
        lines: &[
            "Routers evolve too: a router whose messages helped reaches more members (or",
            "a lower τ); one whose messages hurt reaches fewer. Select the router to see",
            "its strategy change.",
        ],
    },
];

/// Where the tour is: which stops were shown, and the one on screen.
#[derive(Debug, Default)]
pub struct Tour {
    pub seen: Vec<bool>,
    /// The stop whose panel is shown (`None` while running between stops).
    pub showing: Option<usize>,
    /// The opening panel, before the first stop.
    pub intro: bool,
}

impl Tour {
    pub fn new() -> Tour {
        Tour { seen: vec![false; STOPS.len()], showing: None, intro: true }
    }

    /// The first unseen stop this event shows, marked seen.
    pub fn stop_at(&mut self, e: &Event) -> Option<usize> {
        let i = STOPS.iter().enumerate().position(|(i, s)| !self.seen[i] && (s.matches)(e))?;
        self.seen[i] = true;
        Some(i)
    }

    pub fn done(&self) -> bool {
        self.seen.iter().all(|s| *s)
    }
}

pub const INTRO: &[&str] = &[
    "RecNet passes preference changes between LLM agents. A forward phase sends",
    "them through community routers to the agents they matter to; a backward",
    "phase learns which messages helped and evolves each agent's rules and",
    "routers. The run pauses the first time each mechanism happens. Space goes",
    "on.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_says_three_to_five_lines_that_fit_80_columns() {
        for s in STOPS.iter().map(|s| (s.name, s.lines)).chain([("intro", INTRO)]).map(|(name, lines)| Stop { name, matches: |_| false, lines, low: false }) {
            assert!((3..=5).contains(&s.lines.len()), "{}", s.name);
            for l in s.lines {
                assert!(l.chars().count() <= 76, "{}: {l}", s.name);
            }
        }
    }

    #[test]
    fn a_stop_is_shown_once() {
        let mut t = Tour::new();
        let e = Event { step: 3, round: 0, tick: 0, body: EventBody::AttributesExtracted { agent: "u1".into(), changed: vec![] } };
        assert_eq!(t.stop_at(&e), Some(1));
        assert_eq!(t.stop_at(&e), None);
        assert!(!t.done());
    }
}
