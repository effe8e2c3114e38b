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
    out.push(GeneratedFile {
        path: format!("man/{name}.1"),
        contents,
    });
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        collect_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
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
