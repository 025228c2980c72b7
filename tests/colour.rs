//! Colour: `--color auto|always|never` on every command, `NO_COLOR` and
//! `CLICOLOR_FORCE`, and `auto` colouring only a terminal: tried through a
//! pseudo-terminal (util-linux `script`) and through a pipe.

#![allow(clippy::unwrap_used)]

mod support;

use support::written;

/// The escape that starts a colour.
const ESCAPE: &str = "\u{1b}[";

fn broken_program() -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".loyalty")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), "program \"x\" {\n").unwrap();
    file
}

#[test]
fn auto_colours_a_terminal_and_not_a_pipe() {
    let program = broken_program();
    let path = program.path().to_str().unwrap();
    let on_terminal = written(&["check", path], &[], true);
    assert!(on_terminal.contains("syntax"), "{on_terminal}");
    assert!(on_terminal.contains(ESCAPE), "{on_terminal:?}");
    let on_pipe = written(&["check", path], &[], false);
    assert!(
        on_pipe.contains("syntax") && !on_pipe.contains(ESCAPE),
        "{on_pipe:?}"
    );
}

#[test]
fn no_color_and_never_turn_it_off_always_and_clicolor_force_on() {
    let program = broken_program();
    let path = program.path().to_str().unwrap();
    for (args, env, terminal, coloured) in [
        (vec!["check", path], vec![("NO_COLOR", "1")], true, false),
        (vec!["check", path, "--color", "never"], vec![], true, false),
        (vec!["--color", "never", "check", path], vec![], true, false),
        (
            vec!["check", path, "--color", "always"],
            vec![],
            false,
            true,
        ),
        (
            vec!["check", path],
            vec![("CLICOLOR_FORCE", "1")],
            false,
            true,
        ),
        // The option wins over the variables.
        (
            vec!["check", path, "--color", "always"],
            vec![("NO_COLOR", "1")],
            false,
            true,
        ),
    ] {
        let text = written(&args, &env, terminal);
        assert!(text.contains("syntax"), "{args:?} {env:?}: {text}");
        assert_eq!(
            text.contains(ESCAPE),
            coloured,
            "{args:?} {env:?}: {text:?}"
        );
    }
}

#[test]
fn test_results_are_coloured_by_their_outcome() {
    let args = ["test", "programs/bean_stars.test.yaml", "--color", "always"];
    let text = written(&args, &[], false);
    // Green for a test that passed.
    assert!(text.contains("\u{1b}[32mok    \u{1b}[0m"), "{text:?}");
    let plain = written(&["test", "programs/bean_stars.test.yaml"], &[], false);
    assert!(!plain.contains(ESCAPE), "{plain:?}");
}
