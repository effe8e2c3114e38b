//! `nettool lab` (wired to the lab module once it lands).

use anyhow::{Result, bail};

use super::Env;
use crate::cli::LabArgs;
use crate::outcome::Outcome;

pub fn run(_args: LabArgs, _env: &mut Env) -> Result<Outcome> {
    bail!("nettool lab is not available in this build")
}
