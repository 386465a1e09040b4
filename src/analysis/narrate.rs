//! One plain sentence per event, for teaching and for headless runs.

use crate::world::event::{AssimilatedInto, Decision, Event, EventBody, GateChannel};

/// `Jazz 0.80→0.81, …`: at most `max` changes, then how many more.
fn changes(c: &[crate::world::event::AttrChange], max: usize) -> String {
    let mut s = c.iter().take(max).map(|x| format!("{} {:.2}→{:.2}", x.attr, x.from, x.to)).collect::<Vec<_>>().join(", ");
    if c.len() > max {
        s.push_str(&format!(" and {} more", c.len() - max));
    }
    s
}

fn deltas(d: &[crate::world::event::AttrDelta]) -> String {
    d.iter().map(|x| format!("{} {}{:.2}", x.attr, if x.delta >= 0.0 { "+" } else { "" }, x.delta)).collect::<Vec<_>>().join(", ")
}

/// Describe `ev` from what the event itself says (so a reader needs no world beside it).
pub fn narrate(ev: &Event) -> String {
    let s = match &ev.body {
        EventBody::WorldCreated { vocabulary, dim, .. } => {
            format!("The world starts with {} attribute phrases, embedded in {dim} dimensions.", vocabulary.len())
        }
        EventBody::AgentCreated { agent, agent_kind, title, attrs, .. } => {
            let t = title.as_ref().map(|t| format!(" \"{t}\"")).unwrap_or_default();
            format!(
                "{} {agent}{t} joins: {}.",
                if agent_kind.name() == "user" { "User" } else { "Item" },
                crate::world::profile_text(attrs, 3)
            )
        }
        EventBody::RouterCreated { router, attributes, members, .. } => format!(
            "Router {router} stands for the community of {} ({} members).",
            attributes.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
            members.len()
        ),
        EventBody::RoundStarted { index } => format!("Round {} begins: one pass over all interactions.", index + 1),
        EventBody::TickStarted { index, interactions } => {
            format!("Time step {index} begins with {interactions} interaction(s).")
        }
        EventBody::Interaction { user, item, negative, .. } => match negative {
            Some(n) => format!("{user} chose {item} over {n}."),
            None => format!("{user} chose {item}."),
        },
        // What moved comes from the event's own changes, ahead of the reasoner's words: one
        // reason serves a user and an item, and a model's reason may say less than happened.
        EventBody::ProfileUpdated { agent, changes: ch, reason, text } => {
            format!("{agent} reflects: {}; now {text}. Why: {reason}.", changes(ch, 4))
        }
        EventBody::AttributesExtracted { agent, changed } => {
            format!("{agent}'s changed attributes go to routing: {}.", deltas(changed))
        }
        EventBody::MembershipChanged { router, agent, joined } => {
            if *joined {
                format!("{agent} joins {router}'s community.")
            } else {
                format!("{agent} leaves {router}'s community.")
            }
        }
        EventBody::AttributeRouted { agent, attr, delta, router, similarity, community } => {
            let sign = if *delta >= 0.0 { "+" } else { "" };
            if *community {
                format!("{agent}'s change {attr} {sign}{delta:.2} goes to router {router}: {attr} belongs to its community.")
            } else {
                format!("{agent}'s change {attr} {sign}{delta:.2} goes to router {router}, the closest by meaning (similarity {similarity:.2}).")
            }
        }
        EventBody::ChoiceRouted { user, item, router } => {
            format!("{user}'s choice of {item} goes to router {router}, to be passed on as evidence.")
        }
        EventBody::RouterIntegrated { router, inbox, summary, .. } => {
            format!("Router {router} integrates {inbox} routed change(s). {summary}")
        }
        // Each figure is named (a bare "u2 (0.85)" did not say it is relevance); one label for
        // the recipients' list keeps the sentence within the footer's two rows.
        EventBody::MessageSent { message, router, content, sources, recipients, evidence, .. } => {
            let mut parts = Vec::new();
            if !content.is_empty() {
                parts.push(format!("changes {} from {}", deltas(content), sources.join(", ")));
            }
            if !evidence.is_empty() {
                let choices: Vec<String> = evidence.iter().map(|c| format!("{} chose {}", c.user, c.item)).collect();
                parts.push(format!("evidence: {}", choices.join(", ")));
            }
            let carrying = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join("; ")) };
            let to: Vec<&str> = recipients.iter().map(|r| r.agent.as_str()).collect();
            let relevance: Vec<String> = recipients.iter().map(|r| format!("{:.2}", r.relevance)).collect();
            format!("Router {router} sends message {message}{carrying} to {} (relevance {}).", to.join(", "), relevance.join(", "))
        }
        EventBody::MessageBuffered { agent, message, relevance } => {
            format!("Message {message} waits in {agent}'s buffer (relevance {relevance:.2}).")
        }
        EventBody::BufferOverflow { agent, message, policy } => {
            format!("{agent}'s buffer is full: message {message} is lost ({policy}).")
        }
        EventBody::Activated { agent, reason, buffered } => {
            format!("{agent} reads its buffer ({reason}): {buffered} message(s).")
        }
        EventBody::FilterDecision { agent, message, router, rule, decision, reason, .. } => {
            let by = rule.map(|r| format!("rule {r}")).unwrap_or_else(|| "no rule".into());
            let verb = match decision {
                Decision::Accept => "accepts",
                Decision::Hold => "holds",
                Decision::Reject => "rejects",
            };
            format!("{agent}'s {by} {verb} message {message} from {router}: {reason}.")
        }
        EventBody::Assimilated { agent, message, weight, changes: ch, .. } if ch.is_empty() => format!(
            "{agent} accepts message {message} at weight {weight:.2}, but no attribute weight moves: the message carries only evidence, or the weights it touches are at their limits."
        ),
        EventBody::Assimilated { agent, message, weight, changes: ch, into } => format!(
            "{agent} assimilates message {message} at weight {weight:.2}{}: {}.",
            match into {
                AssimilatedInto::Profile => "",
                AssimilatedInto::Updates => ", beside its profile (ranking counts it at the router's update gate)",
            },
            changes(ch, 6)
        ),
        EventBody::EvidenceStored { agent, message, router, .. } if entries_empty(&ev.body) => {
            format!("{agent} knew every choice in message {message} from {router} already: nothing new to keep.")
        }
        EventBody::EvidenceStored { agent, message, router, entries } => format!(
            "{agent} keeps message {message}'s evidence from {router}: {}.",
            entries
                .iter()
                .map(|e| format!("{} (chosen by {}) trusted {:.2}→{:.2}", e.item, e.chooser, e.from, e.to))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventBody::GateUpdated { router, agent, item, from, to, gradient, channel, precision } => {
            let how = if to > from {
                "opens to"
            } else if to < from {
                "closes to"
            } else {
                "holds at"
            };
            let (gate, what) = match channel {
                GateChannel::Evidence => ("gate", "its evidence"),
                GateChannel::Updates => ("update gate", "what its updates added to profiles"),
                GateChannel::CoChoice => ("co-choice gate", "the co-choices it passed on"),
            };
            // The step is the gradient less a decay: a gate can close although the evidence
            // favoured the choice, a little.
            let verdict = if *gradient > 0.0 {
                "favoured"
            } else if *gradient < 0.0 {
                "worked against"
            } else {
                "did not bear on"
            };
            let after = match precision {
                // Under the Bayesian rule a gate moves less as what it has learned grows.
                Some(p) => format!(" What it has learned now weighs {p:.3}."),
                None if (*gradient > 0.0) != (to > from) => " (the decay outweighed it).".to_string(),
                None => ".".to_string(),
            };
            format!("Router {router}'s {gate} {how} {to:.3} (was {from:.3}): {what} {verdict} {agent}'s real choice {item} against the negatives{after}")
        }
        EventBody::Reward { agent, message, decision, item, negative, with, without, reward, .. } => {
            let over = negative.as_ref().map(|n| format!(" over {n}")).unwrap_or_default();
            // An item's reward comes when it is the one chosen: it did not choose itself.
            let outcome = if agent == item { format!("{agent} was chosen{over}") } else { format!("{agent} chose {item}{over}") };
            let margins = format!("margin {with:.3} with it, {without:.3} without");
            if *decision == Decision::Accept {
                format!("{outcome}: accepting message {message} was worth {reward:+.3} ({margins}).")
            } else {
                // The reward is what the message would have been worth taken in: declining it
                // cost that much when it is positive and spared it when negative.
                let what = if *decision == Decision::Hold { "holding" } else { "rejecting" };
                let verdict = if *reward > 0.0 {
                    format!("{what} it lost {:.3}", reward)
                } else if *reward < 0.0 {
                    format!("{what} it spared {:.3}", -reward)
                } else {
                    format!("{what} it changed nothing")
                };
                format!("{outcome}: message {message}, taken in, would have been worth {reward:+.3} ({margins}); {verdict}.")
            }
        }
        EventBody::CreditAssigned { message, shares, reason, .. } => format!(
            "Credit for message {message}: {} ({reason}).",
            shares.iter().map(|s| format!("{} {:+.3}", s.module, s.amount)).collect::<Vec<_>>().join(", ")
        ),
        // A module is `agent#rule` or a router: named as a reader would.
        EventBody::Gradient { module, direction, .. } => match crate::world::parse_rule_module(module) {
            Some((agent, rule)) => format!("Gradient for {agent}'s rule {rule}: {direction}."),
            None => format!("Gradient for router {module}: {direction}."),
        },
        EventBody::RuleEdited { agent, rule, before, after, reason, .. } => match (before.is_empty(), after.is_empty()) {
            (true, _) => format!("{agent} gains rule {rule}: `{after}` ({reason})."),
            (_, true) => format!("{agent} retires rule {rule}: `{before}` ({reason})."),
            _ => format!("{agent}'s rule {rule} becomes `{after}` (was `{before}`; {reason})."),
        },
        EventBody::RulesReplaced { agent, rules, reason } => {
            format!("An analyst gives {agent} new rules ({} line(s)): {reason}.", rules.lines().filter(|l| !l.trim().is_empty()).count())
        }
        EventBody::RouterEdited { router, fan_out, tau, reason } => {
            format!("An analyst sets router {router} to reach {fan_out} members above τ {tau:.2}: {reason}.")
        }
        EventBody::RouterStrategyEdited { router, fan_out_from, fan_out_to, tau_from, tau_to, reason, .. } => format!(
            "Router {router} now reaches {fan_out_to} members above τ {tau_to:.2} (was {fan_out_from} above {tau_from:.2}): {reason}."
        ),
        EventBody::ReasonExchange { stage, model, tokens_in, tokens_out, latency_ms, cache_hit, finish_reason, .. } => format!(
            "{model} answered the {stage} request ({tokens_in}→{tokens_out} tokens, {latency_ms} ms{}{}).",
            if *cache_hit { ", cached" } else { "" },
            if finish_reason == "length" { ", cut at the token limit" } else { "" }
        ),
        EventBody::ReasonFailed { stage, error, fallback, .. } => {
            format!("The model's {stage} answer was unusable ({error}); {fallback}.")
        }
        EventBody::Metrics { split, values } => format!(
            "Metrics on {split}: {}.",
            values.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join(", ")
        ),
    };
    crate::util::text::sanitize(&s, 0)
}

fn entries_empty(body: &EventBody) -> bool {
    matches!(body, EventBody::EvidenceStored { entries, .. } if entries.is_empty())
}

#[cfg(test)]
mod tests {
    use super::narrate;
    use crate::world::event::{AssimilatedInto, AttrChange, Decision, Event, EventBody};

    fn ev(body: EventBody) -> Event {
        Event { step: 1, round: 0, tick: 0, body }
    }

    fn reward(agent: &str, item: &str) -> EventBody {
        EventBody::Reward {
            agent: agent.into(),
            message: 3,
            router: "R1".into(),
            rule: Some(2),
            decision: Decision::Reject,
            item: item.into(),
            negative: Some("i9".into()),
            with: 0.5,
            without: 0.4,
            reward: 0.1,
        }
    }

    #[test]
    fn an_item_rewarded_at_its_choice_was_chosen_not_met_itself() {
        let s = narrate(&ev(reward("i5", "i5")));
        assert!(s.starts_with("i5 was chosen over i9: message 3"), "{s}");
        assert!(!s.contains("i5 met i5"), "{s}");
        let s = narrate(&ev(reward("u2", "i5")));
        assert!(s.starts_with("u2 chose i5 over i9: message 3"), "{s}");
    }

    #[test]
    fn a_reward_says_what_declining_a_message_cost_or_spared() {
        // Rejected, worth +0.1 had it been taken in: rejecting it lost that (it was not "worth" +0.1).
        let lost = narrate(&ev(reward("u2", "i5")));
        assert!(lost.contains("would have been worth +0.100") && lost.contains("rejecting it lost 0.100"), "{lost}");
        let decided = |how: Decision, worth: f64| {
            let mut r = reward("u2", "i5");
            if let EventBody::Reward { decision, with, reward, .. } = &mut r {
                (*decision, *with, *reward) = (how, 0.4 + worth, worth);
            }
            narrate(&ev(r))
        };
        let spared = decided(Decision::Hold, -0.1);
        assert!(spared.contains("holding it spared 0.100"), "{spared}");
        let accepted = decided(Decision::Accept, 0.1);
        assert!(accepted.contains("accepting message 3 was worth +0.100 (margin 0.500 with it, 0.400 without)"), "{accepted}");
    }

    #[test]
    fn a_reflection_says_what_moved() {
        let s = narrate(&ev(EventBody::ProfileUpdated {
            agent: "i3".into(),
            changes: vec![AttrChange { attr: "Jazz".into(), from: 0.8, to: 0.81 }],
            reason: "u2 chose i3 as expected (0.85 vs 0.00): u2's tastes stay; i3 takes on a little of what u2 likes most".into(),
            text: "likes Jazz 0.81".into(),
        }));
        assert!(s.starts_with("i3 reflects: Jazz 0.80→0.81; now likes Jazz 0.81. Why: u2 chose i3"), "{s}");
        assert!(!s.contains("no change"), "{s}");
    }

    #[test]
    fn an_assimilation_that_moves_nothing_says_so() {
        let s = narrate(&ev(EventBody::Assimilated { agent: "u1".into(), message: 12, weight: 1.0, changes: vec![], into: AssimilatedInto::Updates }));
        assert!(!s.ends_with(": ."), "{s}");
        assert!(s.contains("no attribute weight moves"), "{s}");
        let s = narrate(&ev(EventBody::Assimilated {
            agent: "u1".into(),
            message: 12,
            weight: 0.5,
            changes: vec![AttrChange { attr: "Jazz".into(), from: 0.1, to: 0.2 }],
            into: AssimilatedInto::Profile,
        }));
        assert_eq!(s, "u1 assimilates message 12 at weight 0.50: Jazz 0.10→0.20.");
    }

    /// Every figure in a sent message's sentence says what it is: the message's number, the
    /// changes, the recipients' relevance (in the recipients' order).
    #[test]
    fn a_sent_message_names_every_figure() {
        use crate::world::event::{AttrDelta, Choice, ClientKind, Recipient};
        let sent = narrate(&ev(EventBody::MessageSent {
            message: 7,
            router: "R1".into(),
            sources: vec!["u1".into()],
            source_kind: ClientKind::User,
            content: vec![AttrDelta { attr: "Jazz".into(), delta: 0.2 }],
            topic: "Jazz".into(),
            polarity: crate::rules::Polarity::Up,
            text: String::new(),
            recipients: vec![Recipient { agent: "u2".into(), relevance: 0.85 }, Recipient { agent: "u3".into(), relevance: 0.7 }],
            evidence: vec![Choice { user: "u1".into(), item: "i4".into(), tick: 2 }],
        }));
        assert_eq!(sent, "Router R1 sends message 7 (changes Jazz +0.20 from u1; evidence: u1 chose i4) to u2, u3 (relevance 0.85, 0.70).");
        // A message carrying nothing leaves no empty clause.
        let bare = narrate(&ev(EventBody::MessageSent {
            message: 8,
            router: "R1".into(),
            sources: vec![],
            source_kind: ClientKind::User,
            content: vec![],
            topic: String::new(),
            polarity: crate::rules::Polarity::Up,
            text: String::new(),
            recipients: vec![Recipient { agent: "u2".into(), relevance: 0.5 }],
            evidence: vec![],
        }));
        assert_eq!(bare, "Router R1 sends message 8 to u2 (relevance 0.50).");
    }

    #[test]
    fn a_gradient_names_its_rule_or_router() {
        let grad = |module: &str| {
            narrate(&ev(EventBody::Gradient {
                module: module.into(),
                direction: "keep it".into(),
                edit: crate::world::event::Edit::NoChange,
                evidence: vec![],
            }))
        };
        assert_eq!(grad("u10#6"), "Gradient for u10's rule 6: keep it.");
        assert_eq!(grad("R1"), "Gradient for router R1: keep it.");
    }

    #[test]
    fn routing_names_the_community_or_the_real_similarity() {
        let routed = |community: bool, similarity: f64| {
            narrate(&ev(EventBody::AttributeRouted { agent: "u1".into(), attr: "Bebop".into(), delta: 0.2, router: "R1".into(), similarity, community }))
        };
        let own = routed(true, 1.0);
        assert_eq!(own, "u1's change Bebop +0.20 goes to router R1: Bebop belongs to its community.");
        let chosen = routed(false, 0.62);
        assert!(chosen.contains("(similarity 0.62)"), "{chosen}");
        assert!(!chosen.contains("belongs"), "{chosen}");
    }
}
