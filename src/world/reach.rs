//! A community's interest terms laid out for bounding: each member's terms already divided by the
//! length of its interest vector, one row after another in member order. Bounding a message over
//! a community then reads one array in order instead of one scattered client each (the clients'
//! own terms sit among all the world's, a cache miss apart), which is what the bound cost.
//!
//! The engine keeps these tables and brings them up to date from the clients whose terms changed
//! (`track_term_changes`, `take_term_changes`); a replay keeps none.

use super::relevance::RelevanceBound;
use super::World;

/// Where a member's terms sit in the table's one array: `len` of them from `start`, with room
/// for `cap` before the next row's (a row that outgrows its room moves to the end).
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    start: u32,
    len: u32,
    cap: u32,
    /// Σ |weight| / norm, for the bound's allowance of float error.
    spread: f32,
}

/// One router's members' terms, (attribute id, |weight| / norm), row by row in the order of its
/// `member_ix`.
#[derive(Debug, Clone, Default)]
pub struct MemberTerms {
    rows: Vec<Row>,
    terms: Vec<(u32, f32)>,
    /// Slots left behind by rows that moved: past half the array, the table is laid out afresh.
    unused: usize,
    /// Size and ends of the `member_ix` the rows follow.
    members: (usize, Option<usize>, Option<usize>),
}

/// Clients whose interest terms changed since last taken; past a cap only "many" is kept.
#[derive(Debug, Clone, Default)]
pub(super) struct TermChanges {
    clients: Vec<u32>,
    overflow: bool,
}

/// What changed since the last look: these clients, or too many to list (rebuild every table).
pub enum Changed {
    Clients(Vec<u32>),
    All,
}

impl World {
    /// Start listing the clients whose interest terms change (for an engine's member tables).
    pub fn track_term_changes(&mut self) {
        self.term_changes = Some(TermChanges { clients: Vec::new(), overflow: true });
    }

    pub(super) fn note_term_change(&mut self, ix: usize) {
        if let Some(t) = &mut self.term_changes {
            if t.overflow {
                return;
            }
            // Past one entry per client a rebuild is cheaper than the list, and it bounds memory.
            if t.clients.len() > self.clients.len().max(1024) {
                t.clients = Vec::new();
                t.overflow = true;
            } else {
                t.clients.push(ix as u32);
            }
        }
    }

    /// The clients whose terms changed since the last call (repeats possible), and start a new
    /// list. `All` the first time, and whenever the list overflowed.
    pub fn take_term_changes(&mut self) -> Changed {
        match &mut self.term_changes {
            Some(t) if !t.overflow => Changed::Clients(std::mem::take(&mut t.clients)),
            Some(t) => {
                t.overflow = false;
                Changed::All
            }
            None => Changed::All,
        }
    }

    /// Client `ix`'s terms divided by its norm (none for a client without interest), and their sum.
    fn member_row(&self, ix: usize, out: &mut Vec<(u32, f32)>) -> f32 {
        let Some(t) = self.client_terms.get(ix) else { return 0.0 };
        if t.norm == 0.0 {
            return 0.0;
        }
        let mut spread = 0.0;
        for &(b, wb) in t.as_slice() {
            out.push((b, wb / t.norm));
            spread += wb / t.norm;
        }
        spread
    }

    /// The table of `members` (a router's `member_ix`) as their terms are now.
    pub fn member_terms(&self, members: &[usize]) -> MemberTerms {
        let mut table = MemberTerms { rows: Vec::with_capacity(members.len()), members: fingerprint(members), ..MemberTerms::default() };
        for &ix in members {
            let start = table.terms.len() as u32;
            let spread = self.member_row(ix, &mut table.terms);
            let len = table.terms.len() as u32 - start;
            table.rows.push(Row { start, len, cap: len, spread });
        }
        table
    }

    /// Bring client `ix`'s row of `table` (made for `members`) up to date (nothing if it is not a
    /// member).
    pub fn refresh_member_terms(&self, table: &mut MemberTerms, members: &[usize], ix: usize) {
        if !table.is_for(members) {
            return; // made afresh when next used
        }
        let Ok(at) = members.binary_search(&ix) else { return };
        let end = table.terms.len();
        let spread = self.member_row(ix, &mut table.terms);
        let len = (table.terms.len() - end) as u32;
        let row = &mut table.rows[at];
        row.spread = spread;
        if len <= row.cap {
            table.terms.copy_within(end.., row.start as usize);
            table.terms.truncate(end);
            row.len = len;
        } else {
            // Moved to the end, with room to grow a little.
            table.unused += row.cap as usize;
            *row = Row { start: end as u32, len, cap: len + 2, spread };
            table.terms.resize(end + len as usize + 2, (0, 0.0));
            if table.unused * 2 > table.terms.len() {
                *table = self.member_terms(members);
            }
        }
    }
}

impl MemberTerms {
    /// Whether this table was made for `members`: membership changes only when a router is made
    /// or a snapshot restored, so its size and ends tell it apart.
    pub fn is_for(&self, members: &[usize]) -> bool {
        self.members == fingerprint(members)
    }
}

fn fingerprint(members: &[usize]) -> (usize, Option<usize>, Option<usize>) {
    (members.len(), members.first().copied(), members.last().copied())
}

impl RelevanceBound<'_> {
    /// `upper(ix)` for the member at `at` of `table` (`ix` = `members[at]`): the same bound,
    /// reading the table's row. The division by the member's norm, done once per row, rounds each
    /// term by at most 2⁻²⁴ of itself, far inside the error allowed for.
    pub fn upper_at(&mut self, table: &MemberTerms, at: usize) -> f64 {
        let row = table.rows[at];
        let key_norm = self.key.norm;
        if key_norm == 0.0 {
            return 0.0;
        }
        let mut s = 0.0f32;
        for &(b, u) in &table.terms[row.start as usize..(row.start + row.len) as usize] {
            s += u * self.fold(b);
        }
        let terms = (self.key.terms.len() * (row.len as usize + 1) + row.len as usize + 4) as f64;
        let err = 4e-7 * terms * self.key_sum * row.spread as f64 * 1.01;
        let x = (s as f64 + err) / key_norm as f64;
        x + 1e-6 * x.abs() + 1e-5
    }
}
