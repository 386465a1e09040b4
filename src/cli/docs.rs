//! Documentation generated from the clap types, so it cannot drift from the parser: shell
//! completions and one manual page that covers every subcommand.

use super::args::Cli;
use super::io::write_out;
use anyhow::Result;
use clap::CommandFactory;

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "recnet", &mut buf);
    write_out(None, &String::from_utf8_lossy(&buf))
}

/// roff text: backslashes and leading dots/quotes made literal, hyphens as `\-` (real minus signs,
/// so `man` searches and copy-paste find them).
fn roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with(['.', '\'']) {
            out.push_str("\\&");
        }
        out.push_str(&line.replace('\\', "\\e").replace('-', "\\-"));
        out.push('\n');
    }
    out
}

/// One option as a `.TP` entry: its flags, value names, default, environment variable and help.
fn option_entry(a: &clap::Arg) -> String {
    let mut head = Vec::new();
    if let Some(s) = a.get_short() {
        head.push(format!("\\fB\\-{s}\\fR"));
    }
    if let Some(l) = a.get_long() {
        head.push(format!("\\fB\\-\\-{}\\fR", l.replace('-', "\\-")));
    }
    let takes_value = a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_action().takes_values();
    let values: Vec<String> = a.get_value_names().map(|v| v.iter().map(|n| format!("\\fI{}\\fR", roff(n).trim_end())).collect()).unwrap_or_default();
    let mut t = if head.is_empty() {
        // A positional argument.
        format!("\\fI{}\\fR", roff(&a.get_id().as_str().to_uppercase()).trim_end())
    } else {
        head.join(", ")
    };
    if !head.is_empty() && takes_value {
        let v = if values.is_empty() { format!("\\fI{}\\fR", a.get_id().as_str().to_uppercase()) } else { values.join(" ") };
        t.push(' ');
        t.push_str(&v);
    }
    let mut body = a.get_long_help().or(a.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let possible: Vec<String> = a.get_possible_values().iter().filter(|p| !p.is_hide_set()).map(|p| p.get_name().to_string()).collect();
    if !possible.is_empty() && takes_value {
        body.push_str(&format!(" [values: {}]", possible.join(", ")));
    }
    let defaults: Vec<String> = a.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() && !a.is_hide_default_value_set() && takes_value {
        body.push_str(&format!(" [default: {}]", defaults.join(" ")));
    }
    if let Some(env) = a.get_env() {
        body.push_str(&format!(" [env: {}]", env.to_string_lossy()));
    }
    format!(".TP\n{t}\n{}", roff(&body))
}

pub(crate) fn man() -> Result<()> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    let mut page = String::from_utf8_lossy(&buf).into_owned();
    // clap_mangen points at one page per subcommand; this binary ships one page, so each
    // subcommand's usage, options and examples follow here.
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut sub = sub.clone().bin_name(format!("recnet {}", sub.get_name()));
        let usage = sub.render_usage().to_string();
        page.push_str(&format!(".SS \"recnet {}\"\n", roff(sub.get_name()).trim_end()));
        if let Some(about) = sub.get_about() {
            page.push_str(&roff(&about.to_string()));
            page.push_str(".PP\n");
        }
        page.push_str(&roff(usage.trim_start_matches("Usage: ")));
        for a in sub.get_arguments().filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version" | "color")) {
            page.push_str(&option_entry(a));
        }
        if let Some(after) = sub.get_after_help() {
            page.push_str(".PP\n.nf\n");
            page.push_str(&roff(&after.to_string()));
            page.push_str(".fi\n");
        }
    }
    write_out(None, &page)
}
