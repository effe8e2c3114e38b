//! `nettool generate` (hidden): writes man/ and completions/.

use std::fs;

use anyhow::{Context, Result};

use super::Env;
use crate::cli::GenerateArgs;
use crate::outcome::Outcome;

pub fn run(args: GenerateArgs, env: &mut Env) -> Result<Outcome> {
    for file in crate::docgen::all(&crate::cli::command()) {
        let path = args.out_dir.join(&file.path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, &file.contents).with_context(|| format!("writing {}", path.display()))?;
        writeln!(env.out, "wrote {}", path.display())?;
    }
    Ok(Outcome::Success)
}
