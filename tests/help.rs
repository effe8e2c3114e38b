//! Help text that users copy from must survive being copied: examples
//! show escapes as the user types them, never as raw control characters.

#[test]
fn help_examples_contain_no_raw_control_characters() {
    let mut cmd = nettool::cli::command();
    cmd.build();
    let mut pages = vec![cmd.render_long_help().to_string()];
    for sub in cmd.get_subcommands_mut() {
        pages.push(sub.render_long_help().to_string());
    }
    for page in pages {
        assert!(
            !page.contains('\r'),
            "a help page contains a raw carriage return (write \\\\r in the source):\n{page}"
        );
    }
}
