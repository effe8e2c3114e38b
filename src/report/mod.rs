//! One reporter for every command: each event goes out as a JSON line
//! (`--json`) or as the command's text for people, never both, and never
//! by a command writing JSON of its own. The event types are in [`event`].
//!
//! Layer: below `cmd`, above the engine (it names `tcp` and `wire` types);
//! nothing in the engine depends on it.

pub mod event;

use std::io::{self, Write};

pub use event::{Event, Report, Verdict, us};

use crate::time::Instant;

/// How a command writes its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The command's own text.
    Human,
    /// One JSON object per line.
    Json,
    /// Neither: the command prints its bare answer itself (`arp -q`).
    Quiet,
}

/// Writes a command's events. It reads no clock: every event comes with
/// its `now` on the command's clock (the one the caller hands it in
/// `cmd::Env`, virtual in the in-memory tests), and `t` of each line is
/// that instant.
pub struct Reporter {
    format: Format,
}

impl Reporter {
    /// A reporter writing JSON when `json`, else text for people.
    pub fn new(json: bool) -> Reporter {
        Reporter::with_format(if json { Format::Json } else { Format::Human })
    }

    pub fn with_format(format: Format) -> Reporter {
        Reporter { format }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Whether text for people is written.
    pub fn human(&self) -> bool {
        self.format == Format::Human
    }

    /// Writes `event` as it happened at `now`: a JSON line, or what
    /// `human` writes for people.
    pub fn emit(
        &self,
        out: &mut dyn Write,
        now: Instant,
        event: Event,
        human: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => writeln!(out, "{}", json_line(now, &event)),
            Format::Human => human(out),
            Format::Quiet => Ok(()),
        }
    }

    /// Text for people only (a header, a table's title): nothing in JSON.
    pub fn text(
        &self,
        out: &mut dyn Write,
        human: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.human() { human(out) } else { Ok(()) }
    }
}

/// `event` as its JSON line: `event` first, then `t`, then its fields.
pub fn json_line(now: Instant, event: &Event) -> String {
    let fields = match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(map)) => map,
        // Every variant is a struct or a map: serde_json cannot fail on
        // them, and an internally tagged enum is always an object.
        other => unreachable!("an event serializes to an object, not {other:?}"),
    };
    let mut line = serde_json::Map::with_capacity(fields.len() + 1);
    line.insert("event".into(), event.name().into());
    line.insert(
        "t".into(),
        serde_json::Value::from(now.total_micros() as f64 / 1e6),
    );
    line.extend(fields.into_iter().filter(|(k, _)| k != "event"));
    serde_json::Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    #[test]
    fn a_line_starts_with_its_name_and_time() {
        let ev = Event::Result(Box::new(Report {
            sent: Some(3),
            ..Report::new(Verdict::NoReply, Outcome::Negative)
        }));
        assert_eq!(
            json_line(Instant::from_micros(1_500_000), &ev),
            r#"{"event":"result","t":1.5,"outcome":"no-reply","exit":1,"sent":3}"#
        );
    }

    #[test]
    fn an_interrupted_run_says_so_whatever_it_found() {
        let r = Report::new(Verdict::Answered, Outcome::Interrupted);
        assert_eq!((r.outcome, r.exit), (Verdict::Interrupted, 130));
    }

    #[test]
    fn json_mode_writes_no_text_and_text_mode_no_json() {
        let mut out = Vec::new();
        let rep = Reporter::new(true);
        rep.emit(&mut out, Instant::ZERO, Event::note("hi"), |w| {
            writeln!(w, "text")
        })
        .unwrap();
        rep.text(&mut out, |w| writeln!(w, "header")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"note\",\"t\":0.0,\"text\":\"hi\"}\n"
        );
        let mut out = Vec::new();
        let rep = Reporter::new(false);
        rep.emit(&mut out, Instant::ZERO, Event::note("hi"), |w| {
            writeln!(w, "text")
        })
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "text\n");
    }
}
