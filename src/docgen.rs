//! Man pages and shell completions, generated from the one clap definition
//! in `cli`. Pure: returns file names and contents; `nettool generate`
//! writes them, and `tests/generated.rs` fails when the committed copies
//! are stale.

use clap::Command;
use clap_complete::Shell;

/// One generated file: a path relative to the output directory, and bytes.
pub struct GeneratedFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// `man/nettool.1` plus one page per visible subcommand, nested ones
/// included (`man/nettool-lab-up.1`).
pub fn man_pages(cmd: &Command) -> Vec<GeneratedFile> {
    // No `help` subcommand: its page is not written, so none may be named.
    let mut cmd = cmd.clone().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect_pages(&cmd, cmd.get_name(), &mut out);
    out
}

fn collect_pages(cmd: &Command, name: &str, out: &mut Vec<GeneratedFile>) {
    let page = cmd.clone().name(name.to_owned());
    let mut contents = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut contents)
        .expect("rendering into memory cannot fail");
    let roff = String::from_utf8(contents).expect("clap_mangen writes UTF-8");
    let roff = with_synopsis(&roff, &synopsis(cmd, name));
    out.push(GeneratedFile {
        path: format!("man/{name}.1"),
        contents: with_extra_sections(&roff).into_bytes(),
    });
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        collect_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

/// Text for roff: backslashes and dashes escaped, as clap_mangen does.
fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// The SYNOPSIS line with every option's placeholder (`[-w|--wait
/// DURATION]`, which clap_mangen leaves out), positionals as the usage
/// line names them, and SUBCOMMAND where there are subcommands.
fn synopsis(cmd: &Command, name: &str) -> String {
    let bold = |t: &str| format!("\\fB{}\\fR", roff_escape(t));
    let italic = |t: &str| format!("\\fI{}\\fR", roff_escape(t));
    let mut words = vec![bold(&name.replace('-', " "))];
    let args: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
    for arg in args.iter().filter(|a| !a.is_positional()) {
        let mut spellings = Vec::new();
        if let Some(c) = arg.get_short() {
            spellings.push(bold(&format!("-{c}")));
        }
        if let Some(l) = arg.get_long() {
            spellings.push(bold(&format!("--{l}")));
        }
        let mut word = spellings.join("|");
        if arg.get_action().takes_values() {
            for v in arg.get_value_names().into_iter().flatten() {
                word += &format!(" {}", italic(v));
            }
        }
        let repeats = matches!(
            arg.get_action(),
            clap::ArgAction::Count | clap::ArgAction::Append
        );
        words.push(format!("[{word}]{}", if repeats { "..." } else { "" }));
    }
    // A usage written out by hand (scan's TARGET... [PORTS]) says the
    // operands better than their value names.
    if let Some(usage) = cmd.get_overridden_usage() {
        let usage = usage.to_string();
        if let Some((_, operands)) = usage.split_once("[OPTIONS] ") {
            words.extend(operands.split_whitespace().map(|w| {
                let bare = w
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .trim_end_matches("...");
                w.replacen(bare, &italic(bare), 1)
            }));
            return words.join(" ");
        }
    }
    for arg in args.iter().filter(|a| a.is_positional()) {
        let names: Vec<String> = arg
            .get_value_names()
            .into_iter()
            .flatten()
            .map(|v| italic(v))
            .collect();
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let mut word = names.join(" ");
        if many && !word.contains("...") {
            word += "...";
        }
        words.push(if arg.is_required_set() {
            word
        } else {
            format!("[{word}]")
        });
    }
    if cmd.has_subcommands() {
        words.push(italic("SUBCOMMAND"));
    }
    words.join(" ")
}

/// `roff` with its SYNOPSIS line replaced by `line`.
fn with_synopsis(roff: &str, line: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    let mut lines = roff.lines();
    while let Some(l) = lines.next() {
        out.push_str(l);
        out.push('\n');
        if l == ".SH SYNOPSIS" {
            lines.next();
            // No hyphenation: "DURA-TION" split over two lines reads badly.
            out.push_str(".nh\n");
            out.push_str(line);
            out.push_str("\n.hy\n");
        }
    }
    out
}

/// clap_mangen puts the long help's closing text (EXAMPLES:, EXIT
/// STATUS:, …) in one EXTRA section, in fill mode, where groff joins and
/// justifies its columns into a mess. Here each `HEADING:` line becomes
/// a section of its own, and the text under it is set as written (no
/// fill, no adjusting), as `--help` shows it.
fn with_extra_sections(roff: &str) -> String {
    let Some(start) = roff.find("\n.SH EXTRA\n") else {
        return roff.to_owned();
    };
    let body_start = start + "\n.SH EXTRA\n".len();
    let end = roff[body_start..]
        .find("\n.SH ")
        .map_or(roff.len(), |i| body_start + i);
    let mut out = String::from(&roff[..=start]);
    let mut filling = true;
    let mut blank_run = 0;
    for line in roff[body_start..end].lines() {
        let heading = line
            .strip_suffix(':')
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_uppercase() || c == ' '));
        if let Some(h) = heading {
            if !filling {
                out.push_str(".fi\n");
            }
            out.push_str(&format!(".SH {h}\n.nf\n"));
            filling = false;
            blank_run = 0;
            continue;
        }
        if filling {
            // Text before the first heading: a section of its own.
            out.push_str(".SH NOTES\n.nf\n");
            filling = false;
        }
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        for _ in 0..blank_run {
            out.push('\n');
        }
        blank_run = 0;
        if is_prose(line) {
            // A paragraph written as one long line: filled, so it wraps
            // to the reader's width (and is then set as written again).
            out.push_str(&format!(".fi\n{}\n.nf\n", line.trim()));
            continue;
        }
        // The heading is a section now: the help's two-space indent goes.
        out.push_str(line.strip_prefix("  ").unwrap_or(line));
        out.push('\n');
    }
    if !filling {
        out.push_str(".fi");
    }
    out.push_str(&roff[end..]);
    out
}

/// Whether a line of a help's closing text is prose, to be filled: too
/// long for a man page's 80 columns and without the runs of spaces that
/// line up columns (an example and its comment, an exit code and its
/// meaning), which must be set as written.
pub fn is_prose(line: &str) -> bool {
    let text = line.trim();
    text.chars().count() > 72 && !text.contains("  ")
}

/// Completion scripts for bash, zsh, fish, PowerShell and elvish.
pub fn completions(cmd: &Command) -> Vec<GeneratedFile> {
    [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ]
    .into_iter()
    .map(|shell| {
        let mut cmd = visible(cmd);
        let name = cmd.get_name().to_owned();
        let mut contents = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut contents);
        GeneratedFile {
            path: format!(
                "completions/{}",
                clap_complete::Generator::file_name(&shell, &name)
            ),
            contents,
        }
    })
    .collect()
}

/// `cmd` as completions offer it: the hidden subcommands (`generate`,
/// `impair`, `lab serve`) and `help` left out, at every level. clap cannot
/// remove a subcommand, so the tree is rebuilt from what shows.
fn visible(cmd: &Command) -> Command {
    let mut out = Command::new(cmd.get_name().to_owned())
        .disable_help_subcommand(true)
        .args(cmd.get_arguments().cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .map(visible),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if cmd.get_version().is_some() {
        out = out.version(cmd.get_version().map(str::to_owned).unwrap_or_default());
    }
    out
}

/// Everything `nettool generate` writes.
pub fn all(cmd: &Command) -> Vec<GeneratedFile> {
    let mut files = man_pages(cmd);
    files.extend(completions(cmd));
    files
}
