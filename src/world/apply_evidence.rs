//! Applying evidence and gate events: what a receiver's evidence memory keeps, and the gates
//! the backward phase learns, each checked whole before anything changes.

use super::{ApplyError, World};
use crate::world::event::{EvidenceChange, GateChannel};
use crate::world::evidence;
use std::sync::Arc;

/// The largest gate a session may set (the config's `evidence.gate_max` is at most this).
pub const GATE_LIMIT: f64 = 100.0;

/// The most a gate's precision may sum to (a session claiming more is not one recnet wrote).
const PRECISION_LIMIT: f64 = 1e12;

/// A gate a session may hold: evidence gates up to `GATE_LIMIT`, update gates a share in [0, 1].
pub(super) fn check_gate(kind: &str, router: &str, channel: GateChannel, gate: f64) -> Result<(), ApplyError> {
    let limit = match channel {
        GateChannel::Evidence | GateChannel::CoChoice => GATE_LIMIT,
        GateChannel::Updates => 1.0,
    };
    if gate.is_finite() && (0.0..=limit).contains(&gate) {
        Ok(())
    } else {
        let which = match channel {
            GateChannel::Evidence => "gate",
            GateChannel::Updates => "update gate",
            GateChannel::CoChoice => "co-choice gate",
        };
        let shown = crate::util::text::number(gate);
        Err(ApplyError(format!("{kind}: {which} {shown} of {} is outside [0, {limit}]", crate::util::text::sanitize(router, 40))))
    }
}

impl World {
    /// `evidence_stored`: the entries go into the receiver's memory; the message's pending
    /// outcome learns what it left (or is settled when it left nothing).
    pub(super) fn store_evidence(
        &mut self,
        kind: &str,
        tick: u64,
        agent: &str,
        message: u64,
        router: &str,
        entries: &[EvidenceChange],
    ) -> Result<(), ApplyError> {
        self.known_message(message, kind)?;
        if self.router_ix(router).is_none() {
            return Err(ApplyError(format!("{kind}: unknown router {}", crate::util::text::sanitize(router, 40))));
        }
        // Checked whole before anything changes: a refused event leaves no trace.
        let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        for e in entries {
            if !(unit(e.to) && unit(e.from) && unit(e.trust)) {
                return Err(ApplyError(format!("{kind}: evidence for {} has a weight or trust outside [0, 1]", crate::util::text::sanitize(&e.item, 40))));
            }
            for who in [&e.item, &e.chooser] {
                if self.client_ix(who).is_none() {
                    return Err(ApplyError(format!("{kind}: evidence names unknown agent {}", crate::util::text::sanitize(who, 40))));
                }
            }
        }
        // Sessions from before the setting carried up to 256 entries at once.
        let at_once = self.evidence_memory().max(evidence::EVIDENCE_CAP * 4);
        if entries.len() > at_once {
            return Err(ApplyError(format!("{kind}: {} evidence entries at once (at most {at_once})", entries.len())));
        }
        let cap = self.evidence_memory();
        let c = self.client_mut(agent, kind)?;
        let stored = entries.iter().map(|e| evidence::EvidenceEntry::new(e.item.clone(), e.to, router.to_string(), e.chooser.clone(), tick, e.trust)).collect();
        evidence::store_all(&mut c.evidence, stored, cap);
        let mut settled = false;
        if let Some(pos) = c.feedback.iter().position(|p| p.message == message) {
            if entries.is_empty() && c.feedback[pos].deltas.is_empty() {
                // Accepted but changed nothing: no outcome to wait for.
                c.feedback.remove(pos);
                settled = true;
            } else {
                Arc::make_mut(&mut c.feedback[pos]).evidence = entries.iter().map(|e| (e.item.clone(), e.to - e.from)).collect();
            }
        }
        if settled {
            self.release(message);
        }
        Ok(())
    }

    /// `gate_updated`: one gate of a router moves (and what it has learned, when the rule keeps it).
    pub(super) fn set_gate(&mut self, kind: &str, router: &str, to: f64, channel: GateChannel, precision: Option<f64>) -> Result<(), ApplyError> {
        check_gate(kind, router, channel, to)?;
        if let Some(p) = precision {
            if !(p.is_finite() && (0.0..=PRECISION_LIMIT).contains(&p)) {
                return Err(ApplyError(format!(
                    "{kind}: gate precision {p:e} of {} is outside [0, {PRECISION_LIMIT:e}]",
                    crate::util::text::sanitize(router, 40)
                )));
            }
        }
        let r = self.router_mut(router, kind)?;
        match channel {
            GateChannel::Evidence => {
                r.gate = to;
                r.gate_precision = precision.unwrap_or(r.gate_precision);
            }
            GateChannel::Updates => {
                r.update_gate = to;
                r.update_gate_precision = precision.unwrap_or(r.update_gate_precision);
            }
            GateChannel::CoChoice => {
                r.co_choice_gate = to;
                r.co_choice_gate_precision = precision.unwrap_or(r.co_choice_gate_precision);
            }
        }
        Ok(())
    }
}
