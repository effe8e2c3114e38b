//! `nettool plot FILE -o OUT.svg`: the time–sequence graph of one
//! direction of one TCP connection of a saved capture.

use anyhow::{Context, Result};

use super::Env;
use crate::cli::{PlotArgs, PlotDir};
use crate::outcome::Outcome;
use crate::picture::{Way, plot_of_capture_within};

pub fn run(args: PlotArgs, env: &mut Env) -> Result<Outcome> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {path}"))?;
    let way = args.dir.map(|d| match d {
        PlotDir::A2b => Way::Right,
        PlotDir::B2a => Way::Left,
    });
    let window = args.time.map(|w| (w.start, w.end));
    let svg = plot_of_capture_within(&bytes, args.conn, way, window)
        .with_context(|| format!("{path}"))?;
    if args.output.as_os_str() == "-" {
        env.out.write_all(svg.as_bytes())?;
    } else {
        let out = args.output.display();
        std::fs::write(&args.output, svg).with_context(|| format!("cannot write {out}"))?;
    }
    Ok(Outcome::Success)
}
