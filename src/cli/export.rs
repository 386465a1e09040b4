//! Reading sessions out for other tools: a state (JSON, DOT), the events (CSV, JSON Lines), the
//! counters per time step, and the events a query selects. Streams where it can: the events and
//! the time steps are read and written one at a time.

use super::args::{ExportFormat, QueryFormat};
use super::io::{display_name, input_file, open_in, open_out, write_out};
use super::{open_timeline, refuse_overwriting_inputs};
use anyhow::Result;
use recnet::analysis::{export as ex, timeseries};
use recnet::store::session::EventReader;
use std::io::{BufRead, Write};
use std::path::Path;

pub(crate) enum What {
    State { at: Option<u64>, keyframe_every: u64 },
    Events { kind: Option<String> },
    Metrics,
}

pub(crate) fn export(file: &Path, what: What, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    if let Some(out) = out {
        refuse_overwriting_inputs(out, &[file])?;
    }
    match what {
        What::Events { kind: None } => events(file, format, out),
        What::Events { kind: Some(kind) } => events_of_kind(file, &kind, format, out),
        What::Metrics => metrics(file, format, out),
        What::State { at, keyframe_every } => state(file, at, keyframe_every, format, out),
    }
}

fn state(file: &Path, at: Option<u64>, keyframe_every: u64, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    anyhow::ensure!(format != ExportFormat::Csv, "--format csv exports events or time steps: add --events or --metrics (a state exports as json or dot)");
    let input = input_file(file)?;
    let (_, mut tl) = open_timeline(&input.path, keyframe_every)?;
    anyhow::ensure!(!tl.is_empty(), "{}: the session has no events", display_name(file));
    let last = tl.len() - 1;
    let at = at.unwrap_or(last);
    anyhow::ensure!(at <= last, "--at {at}: the session's last step is {last}");
    // One state visited once: the first pass of a far jump (no keyframes, parsing overlapped
    // with applying).
    let mut world = tl.closest(at + 1)?;
    tl.advance(&mut world, at + 1)?;
    // The timeline (its keyframes, its cache) is no longer needed: free it before writing.
    drop(tl);
    match format {
        ExportFormat::Dot => write_out(out, &ex::world_dot(&world)),
        _ => {
            let mut w = open_out(out)?;
            ex::write_world_json(&world, &mut w)?;
            w.finish()
        }
    }
}

/// Every event, read and written one at a time: memory stays flat however long the session.
fn events(file: &Path, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    anyhow::ensure!(format != ExportFormat::Dot, "--events exports as csv or json (dot is a state: drop --events)");
    let (_, mut events) = EventReader::new(&display_name(file), open_in(file)?)?;
    let mut w = open_out(out)?;
    if format == ExportFormat::Csv {
        w.write_all(ex::events_csv_header().as_bytes())?;
    }
    while let Some(next) = events.next_raw() {
        let (ev, raw) = next?;
        if format == ExportFormat::Csv {
            w.write_all(ex::event_csv_row(&ev).as_bytes())?;
        } else {
            // The line as recorded, made safe to print.
            w.write_all(ex::json_safe(&String::from_utf8_lossy(raw)).as_bytes())?;
            w.write_all(b"\n")?;
        }
    }
    super::warn_torn(&display_name(file), events.torn_line());
    w.finish()
}

/// The events of one kind, streamed; as CSV, one typed column per field of the kind (found by a
/// first pass over that kind's lines, so the header is complete before the first row).
fn events_of_kind(file: &Path, kind: &str, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    anyhow::ensure!(format != ExportFormat::Dot, "--events exports as csv or json (dot is a state: drop --events)");
    let input = input_file(file)?;
    let tag = format!("\"kind\":\"{kind}\"");
    let mut columns = ex::KindColumns::default();
    if format == ExportFormat::Csv {
        let (_, mut events) = EventReader::new(&display_name(file), open_in(&input.path)?)?;
        while let Some(next) = events.next_raw() {
            let (ev, raw) = next?;
            if ev.body.kind() == kind {
                columns.add(&serde_json::from_slice(raw)?);
            }
        }
        if columns.names.is_empty() {
            // No event of the kind: the header still names the fields every event has.
            columns.names = ["step", "round", "tick"].map(String::from).to_vec();
        }
    }
    let (_, mut events) = EventReader::new(&display_name(file), open_in(&input.path)?)?;
    let mut w = open_out(out)?;
    if format == ExportFormat::Csv {
        w.write_all(columns.csv_header().as_bytes())?;
    }
    while let Some(next) = events.next_raw() {
        let (_, raw) = next?;
        // A cheap test first: most lines are of other kinds.
        if memchr::memmem::find(raw, tag.as_bytes()).is_none() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(raw)?;
        if v.get("kind").and_then(|k| k.as_str()) != Some(kind) {
            continue;
        }
        if format == ExportFormat::Csv {
            w.write_all(columns.csv_row(&v).as_bytes())?;
        } else {
            w.write_all(ex::json_safe(&String::from_utf8_lossy(raw)).as_bytes())?;
            w.write_all(b"\n")?;
        }
    }
    super::warn_torn(&display_name(file), events.torn_line());
    w.finish()
}

/// The metric columns of a session: a first pass that parses only the (rare) metrics lines, so
/// the CSV header is known before the first row is written.
fn metric_columns(path: &Path) -> Result<Vec<String>> {
    let mut r = open_in(path)?;
    let mut names = std::collections::BTreeSet::new();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if std::mem::take(&mut first) || memchr::memmem::find(&line, b"\"kind\":\"metrics\"").is_none() {
            continue;
        }
        if let Ok(ev) = serde_json::from_slice::<recnet::world::event::Event>(&line) {
            names.extend(timeseries::metric_names(&ev));
        }
    }
    Ok(names.into_iter().collect())
}

/// One row per time step, streamed.
fn metrics(file: &Path, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    anyhow::ensure!(format != ExportFormat::Dot, "--metrics exports as csv or json (JSON Lines)");
    // Two passes (columns, then rows): standard input is held in a temporary file.
    let input = input_file(file)?;
    let columns = if format == ExportFormat::Csv { metric_columns(&input.path)? } else { Vec::new() };
    let (_, events) = EventReader::new(&display_name(file), open_in(&input.path)?)?;
    let mut w = open_out(out)?;
    if format == ExportFormat::Csv {
        w.write_all(timeseries::csv_header(&columns).as_bytes())?;
    }
    let put = |row: &timeseries::StepRow, w: &mut super::io::Output| -> Result<()> {
        if format == ExportFormat::Csv {
            w.write_all(timeseries::csv_row(row, &columns).as_bytes())?;
        } else {
            w.write_all(ex::json_safe(&serde_json::to_string(row)?).as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    let mut steps = timeseries::Steps::default();
    for ev in events {
        if let Some(row) = steps.push(&ev?) {
            put(&row, &mut w)?;
        }
    }
    if let Some(row) = steps.finish() {
        put(&row, &mut w)?;
    }
    w.finish()
}

/// The events that satisfy `expr`, streamed; a bad expression is a usage error naming its column.
/// No match is exit 0 too: an empty answer is an answer.
pub(crate) fn query(file: &Path, expr: &str, format: QueryFormat) -> Result<()> {
    use recnet::analysis::breakpoint;
    let refused = |e: breakpoint::BreakError| {
        let col = e.col.max(1);
        anyhow::anyhow!("query: {}\n  {}\n  {}^", e, recnet::util::text::sanitize(expr, 200), " ".repeat(col.saturating_sub(1).min(200)))
    };
    let cond = breakpoint::parse_checked(expr).map_err(refused)?;
    let name = display_name(file);
    let (_, mut events) = EventReader::new(&name, open_in(file)?)?;
    // `target.kind` needs the world the events build.
    let mut world = recnet::world::World::new();
    let mut w = open_out(None)?;
    if format == QueryFormat::Csv {
        w.write_all(ex::events_csv_header().as_bytes())?;
    }
    // The ids a query names are checked against the world once its setup is read (an unknown
    // `u99` is an error, not an empty answer); matches before that wait, so an error prints none.
    let mut unchecked: Option<Vec<u8>> = Some(Vec::new());
    let check = |world: &recnet::world::World, held: Vec<u8>, w: &mut super::io::Output| -> Result<()> {
        breakpoint::parse_in(expr, world).map_err(refused)?;
        w.write_all(&held)?;
        Ok(())
    };
    while let Some(next) = events.next_raw() {
        let (ev, raw) = next?;
        use recnet::world::event::EventBody;
        let setup = matches!(ev.body, EventBody::WorldCreated { .. } | EventBody::AgentCreated { .. } | EventBody::RouterCreated { .. });
        if !setup {
            if let Some(held) = unchecked.take() {
                check(&world, held, &mut w)?;
            }
        }
        let json: serde_json::Value = serde_json::from_slice(raw)?;
        if breakpoint::matches(&cond, &ev, &json, &world) {
            let mut row = Vec::new();
            match format {
                QueryFormat::Csv => row.extend_from_slice(ex::event_csv_row(&ev).as_bytes()),
                QueryFormat::Jsonl => {
                    row.extend_from_slice(ex::json_safe(&String::from_utf8_lossy(raw)).as_bytes());
                    row.push(b'\n');
                }
            }
            match &mut unchecked {
                Some(held) => held.extend_from_slice(&row),
                None => w.write_all(&row)?,
            }
        }
        world.apply(&ev).map_err(|e| anyhow::anyhow!("{name}:{}: {}", ev.step + 2, e.0))?;
    }
    if let Some(held) = unchecked.take() {
        check(&world, held, &mut w)?;
    }
    super::warn_torn(&name, events.torn_line());
    w.finish()
}
