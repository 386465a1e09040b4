//! The `recnet` binary: parses the command line and hands it to `cli`.

mod cli;

use std::process::ExitCode;

/// mimalloc: replaying and seeking allocate and free many small agent copies, where glibc's
/// allocator spent most of a seek consolidating free lists (random seeks 2× faster, step back 4×).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::dispatch(cli::parse())
}
