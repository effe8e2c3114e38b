//! `nettool ladder FILE`: one TCP connection of a saved capture, drawn.

use anyhow::{Context, Result};

use super::Env;
use crate::cli::LadderArgs;
use crate::outcome::Outcome;
use crate::picture::{Style, ladder_of_capture};

pub fn run(args: LadderArgs, env: &mut Env) -> Result<Outcome> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {path}"))?;
    let style = Style::from_env(args.ascii);
    let ladder = ladder_of_capture(&bytes, args.conn, style).with_context(|| format!("{path}"))?;
    env.out.write_all(ladder.as_bytes())?;
    Ok(Outcome::Success)
}
