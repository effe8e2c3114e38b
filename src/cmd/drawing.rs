//! What `--ladder` and `--plot` draw of a command's own connection
//! (`nc`): the connection recorded from the interface's events as it
//! runs ([`Recorder`]), and the pictures drawn when it ends.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Env;
use crate::picture::Style;
use crate::picture::ladder::{self, Bound};
use crate::picture::plot_svg;
use crate::picture::record::Recorder;
use crate::stack::iface::{FlowKey, HostEvent};
use crate::tcp::{Connection, Event as TcpEvent};
use crate::time::Instant;

/// How much of a long exchange `--ladder` draws.
const LADDER_BOUND: Bound = Bound { head: 20, tail: 10 };

/// `--ladder` and `--plot`.
pub struct Drawing {
    ladder: Option<Style>,
    plot: Option<PathBuf>,
    record: Option<Recorder>,
}

impl Drawing {
    /// What `--ladder [--ascii]` and `--plot FILE` asked for.
    pub fn new(ladder: bool, ascii: bool, plot: Option<PathBuf>) -> Drawing {
        Drawing {
            ladder: ladder.then(|| Style::from_env(ascii)),
            plot,
            record: None,
        }
    }

    /// Whether anything is drawn (and so recorded).
    pub fn wanted(&self) -> bool {
        self.ladder.is_some() || self.plot.is_some()
    }

    /// What happened to flow `key` at `at`, with its connection as it is
    /// now. (Times are kept from the clock's zero: the pictures count
    /// from their first segment.)
    pub fn event(
        &mut self,
        at: Instant,
        key: FlowKey,
        conn: Option<&Connection>,
        what: &HostEvent,
    ) {
        let t = at - Instant::ZERO;
        if !self.wanted() {
            return;
        }
        let rec = self
            .record
            .get_or_insert_with(|| Recorder::new(key.local, key.remote));
        if let Some(conn) = conn {
            rec.engine(t, conn);
        }
        match what {
            HostEvent::Segment { seg, .. } => {
                rec.segment(t, seg);
            }
            HostEvent::Tcp(TcpEvent::StateChanged { from, to }) => rec.state(t, *from, *to),
            _ => {}
        }
    }

    /// The pictures, once the connection is over: the ladder on stderr,
    /// the graph to its file.
    pub fn draw(&self, env: &mut Env) -> Result<()> {
        let Some(rec) = &self.record else {
            return Ok(());
        };
        if let Some(style) = self.ladder {
            let text = ladder::render_bounded(&rec.exchange(), style, Some(LADDER_BOUND));
            env.err.write_all(text.as_bytes())?;
        }
        if let Some(path) = &self.plot {
            if rec.unrecorded() > 0 {
                writeln!(
                    env.err,
                    "nettool: the graph shows the first {} segments; {} more were not recorded",
                    rec.segments(),
                    rec.unrecorded()
                )?;
            }
            match rec.graph() {
                Ok(graph) => {
                    // Opened before the privileges were dropped, when
                    // the command did (see privilege::preopen_output).
                    let svg = plot_svg::render(&graph);
                    match crate::privilege::take_output(path) {
                        Some(mut file) => std::io::Write::write_all(&mut file, svg.as_bytes()),
                        None => std::fs::write(path, svg),
                    }
                    .with_context(|| format!("cannot write the graph to {}", path.display()))?
                }
                Err(e) => writeln!(
                    env.err,
                    "nettool: no graph written to {}: {e}",
                    path.display()
                )?,
            }
        }
        Ok(())
    }
}
