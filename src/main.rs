//! The `nettool` binary: parse, dispatch, map the outcome to an exit code.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use nettool::cli::Cli;
use nettool::clock::SystemClock;
use nettool::cmd::{self, Env};
use nettool::outcome::{self, EXIT_ERROR, Outcome};

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(nettool::cli::nmap_spellings(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                let argv: Vec<String> = std::env::args().collect();
                if let Some(tip) = nettool::cli::habit_tip(&argv) {
                    eprintln!("\n  tip: {tip}");
                }
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_ERROR));
        }
    };
    let policy = match (cli.command.privilege(), &cli.command) {
        (Some((command, args)), _) => Some(nettool::privilege::Policy {
            command,
            user: args.user.clone(),
            keep_user: false,
        }),
        // arp and ndp write their cache into root's directory at their end.
        (None, nettool::cli::Command::Arp(_)) => Some(nettool::privilege::Policy {
            command: "arp",
            user: None,
            keep_user: true,
        }),
        (None, nettool::cli::Command::Ndp(_)) => Some(nettool::privilege::Policy {
            command: "ndp",
            user: None,
            keep_user: true,
        }),
        (None, _) => None,
    };
    if let Some(policy) = policy {
        // Given up once the command's setup is done (see privilege.rs).
        if let Err(e) = nettool::privilege::arm(policy) {
            eprintln!("nettool: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Which signal raised `interrupt`: the result's exit code says it,
        // and the process dies of that one at the end.
        let installed = signal_hook::flag::register_usize(
            signal,
            Arc::clone(outcome::signal_record()),
            usize::try_from(signal).expect("signal numbers are positive"),
        )
        .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupt)));
        if let Err(e) = installed {
            eprintln!("nettool: cannot install a signal handler: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = nettool::sys::Stdout::new(stdout.lock(), libc::STDOUT_FILENO);
    let mut err = stderr.lock();
    // The command's clocks: their epoch is its start.
    let clock = SystemClock::new();
    let mut env = Env {
        out: &mut out,
        err: &mut err,
        interrupt: &interrupt,
        pcap: None,
        clock: &clock,
    };
    let result = cmd::run(cli, &mut env);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(Outcome::Interrupted), _) => {
            drop(err);
            // Die of the signal that stopped us (SIGINT or SIGTERM) as the
            // shell expects, so `while nettool …` loops stop.
            let signal = outcome::stopping_signal();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            ExitCode::from(Outcome::Interrupted.exit_code())
        }
        (Ok(outcome), Ok(())) => ExitCode::from(outcome.exit_code()),
        (Ok(_), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Ok(_), Err(e)) => {
            let _ = writeln!(err, "nettool: writing output: {e}");
            ExitCode::from(EXIT_ERROR)
        }
        (Err(e), _) => {
            // A reader that went away (`nettool … | head -1`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(err, "nettool: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
