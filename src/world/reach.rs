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
/// Spare slots after each row.
const ROOM: u32 = 2;

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
    /// The `member_ix` the rows follow, kept in step through `Changed::Clients`'s memberships.
    members: Vec<usize>,
}

/// Clients whose interest terms changed since last taken; past a cap only "many" is kept.
#[derive(Debug, Clone, Default)]
pub(super) struct TermChanges {
    clients: Vec<u32>,
    /// (router, client, joined), in order.
    memberships: Vec<(u32, u32, bool)>,
    overflow: bool,
}

/// What changed since the last look: these clients' terms and these memberships (router, client,
/// joined), or too many to list (rebuild every table).
pub enum Changed {
    Clients(Vec<u32>, Vec<(u32, u32, bool)>),
    All,
}

impl World {
    /// Start listing the clients whose interest terms change (for an engine's member tables).
    pub fn track_term_changes(&mut self) {
        self.term_changes = Some(TermChanges { overflow: true, ..TermChanges::default() });
    }

    pub(super) fn note_term_change(&mut self, ix: usize) {
        if let Some(t) = &mut self.term_changes {
            if t.overflow {
                return;
            }
            // Past one entry per client a rebuild is cheaper than the list, and it bounds memory.
            if t.clients.len() > self.clients.len().max(1024) {
                *t = TermChanges { overflow: true, ..TermChanges::default() };
            } else {
                t.clients.push(ix as u32);
            }
        }
    }

    pub(super) fn note_membership(&mut self, router: usize, client: usize, joined: bool) {
        if let Some(t) = &mut self.term_changes {
            if t.overflow {
                return;
            }
            if t.memberships.len() > self.clients.len().max(1024) {
                *t = TermChanges { overflow: true, ..TermChanges::default() };
            } else {
                t.memberships.push((router as u32, client as u32, joined));
            }
        }
    }

    /// The clients whose terms changed since the last call (repeats possible), and start a new
    /// list. `All` the first time, and whenever the list overflowed.
    pub fn take_term_changes(&mut self) -> Changed {
        match &mut self.term_changes {
            Some(t) if !t.overflow => Changed::Clients(std::mem::take(&mut t.clients), std::mem::take(&mut t.memberships)),
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
        let mut table = MemberTerms { rows: Vec::with_capacity(members.len()), members: members.to_vec(), ..MemberTerms::default() };
        for &ix in members {
            let start = table.terms.len() as u32;
            let spread = self.member_row(ix, &mut table.terms);
            let len = table.terms.len() as u32 - start;
            // Room for a few more terms: profiles grow as messages are taken in.
            table.terms.resize((start + len + ROOM) as usize, (0, 0.0));
            table.rows.push(Row { start, len, cap: len + ROOM, spread });
        }
        table
    }

    /// Bring client `ix`'s row of `table` up to date (nothing if it is not a member).
    pub fn refresh_member_terms(&self, table: &mut MemberTerms, ix: usize) {
        let Ok(at) = table.members.binary_search(&ix) else { return };
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
            *row = Row { start: end as u32, len, cap: len + ROOM, spread };
            table.terms.resize(end + (len + ROOM) as usize, (0, 0.0));
            table.compact_if_sparse(self);
        }
    }

    /// Client `ix` joined (`joined`) or left the router of `table`.
    pub fn member_joined(&self, table: &mut MemberTerms, ix: usize, joined: bool) {
        match (table.members.binary_search(&ix), joined) {
            (Err(at), true) => {
                let start = table.terms.len();
                let spread = self.member_row(ix, &mut table.terms);
                let len = (table.terms.len() - start) as u32;
                table.terms.resize(start + (len + ROOM) as usize, (0, 0.0));
                table.members.insert(at, ix);
                table.rows.insert(at, Row { start: start as u32, len, cap: len + ROOM, spread });
            }
            (Ok(at), false) => {
                table.members.remove(at);
                table.unused += table.rows.remove(at).cap as usize;
                table.compact_if_sparse(self);
            }
            _ => {}
        }
    }
}

impl MemberTerms {
    /// Whether this table follows `members` (a router's `member_ix`). Memberships are followed
    /// as they change, so size and ends suffice to tell a table of another router or world; debug
    /// builds compare them all.
    pub fn is_for(&self, members: &[usize]) -> bool {
        debug_assert!(self.members.len() != members.len() || self.members == members, "a member table out of step");
        self.members.len() == members.len() && self.members.first() == members.first() && self.members.last() == members.last()
    }

    /// Laid out afresh once half the array is slots rows left behind.
    fn compact_if_sparse(&mut self, world: &World) {
        if self.unused * 2 > self.terms.len() {
            *self = world.member_terms(&self.members);
        }
    }
}

impl RelevanceBound<'_> {
    /// `upper(ix)` for the member at `at` of `table` (`ix` = `members[at]`): the same bound,
    /// reading the table's row. The division by the member's norm, done once per row, rounds each
    /// term by at most 2⁻²⁴ of itself, far inside the error allowed for.
    pub fn upper_at(&mut self, table: &MemberTerms, at: usize) -> f64 {
        if self.key.norm == 0.0 {
            return 0.0;
        }
        self.upper_of_row(table, table.rows[at])
    }

    /// `upper_at` of the members of `table` whose bound may reach `least`, in member order:
    /// `each(at, bound)`. One pass over the table with the key's constants in hand (a call per
    /// member was a sixth of a large run); a member surely under `least` is left out before the
    /// division that gives its bound.
    pub fn each_upper_at(&mut self, table: &MemberTerms, least: f64, mut each: impl FnMut(usize, f64)) {
        let key_norm = self.key.norm as f64;
        if key_norm == 0.0 {
            (0..table.rows.len()).for_each(|at| each(at, 0.0));
            return;
        }
        // Under `cut`, s + err gives a bound under `least` (`upper_from` inverted), with margins
        // (relative and absolute) far wider than the rounding of the few steps between. A bar
        // this low cuts nobody.
        let under = (least - 1e-5) / (1.0 + 1e-6) * (1.0 - 1e-7) - 1e-12;
        let cut = if under > 0.0 { under * key_norm } else { f64::NEG_INFINITY };
        for (at, row) in table.rows.iter().enumerate() {
            let (s, err) = self.row_sum(table, *row);
            // A NaN sum is never cut: a NaN bound rules nobody out.
            if s as f64 + err < cut {
                continue;
            }
            each(at, Self::upper_from(s, err, key_norm));
        }
    }

    #[inline(always)]
    fn upper_of_row(&mut self, table: &MemberTerms, row: Row) -> f64 {
        let (s, err) = self.row_sum(table, row);
        Self::upper_from(s, err, self.key.norm as f64)
    }

    /// The row's Σ u·fold, and the float error allowed for it.
    #[inline(always)]
    fn row_sum(&mut self, table: &MemberTerms, row: Row) -> (f32, f64) {
        let mut s = 0.0f32;
        for &(b, u) in &table.terms[row.start as usize..(row.start + row.len) as usize] {
            s += u * self.fold(b);
        }
        let terms = (self.key.terms.len() * (row.len as usize + 1) + row.len as usize + 4) as f64;
        (s, 4e-7 * terms * self.key_sum * row.spread as f64 * 1.01)
    }

    #[inline(always)]
    fn upper_from(s: f32, err: f64, key_norm: f64) -> f64 {
        let x = (s as f64 + err) / key_norm;
        x + 1e-6 * x.abs() + 1e-5
    }
}
