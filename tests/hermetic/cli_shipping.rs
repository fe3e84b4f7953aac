//! What a user finds before running anything: the version, shell completions, and `--help`
//! with examples for every command.

use crate::common::bin;

fn stdout_of(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_names_the_package_version() {
    assert_eq!(
        stdout_of(&["--version"]).trim(),
        format!("port-advisor {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_cover_every_command_and_parse_in_their_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for word in ["profile", "report", "merge", "diff", "view", "input-format"] {
            assert!(script.contains(word), "{shell}: `{word}` missing");
        }
        let program = match shell {
            "bash" => "bash",
            "zsh" => "zsh",
            _ => "fish",
        };
        let flag = if shell == "fish" {
            "--no-execute"
        } else {
            "-n"
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("completion");
        std::fs::write(&file, &script).unwrap();
        match std::process::Command::new(program)
            .arg(flag)
            .arg(&file)
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "{shell} rejects the script: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            // Only bash is sure to be here; the others are checked where installed.
            Err(_) => assert_ne!(shell, "bash", "bash is needed"),
        }
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        "profile",
        "report",
        "stub",
        "flamegraph",
        "view",
        "diff",
        "merge",
        "completions",
    ] {
        let help = stdout_of(&[command, "--help"]);
        assert!(
            help.contains("Examples:") && help.contains(&format!("port-advisor {command}")),
            "{command} --help has no example:\n{help}"
        );
    }
}

/// The README is a front door: every document it links to exists, and its two set-up
/// commands are the ones CI and the example use.
#[test]
fn the_readme_links_only_to_documents_that_exist() {
    let root = crate::common::repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut links = 0;
    for part in readme.split("](").skip(1) {
        let target = part.split(')').next().unwrap();
        if target.starts_with("http") {
            continue;
        }
        links += 1;
        assert!(
            root.join(target).exists(),
            "README links to {target}, which is missing"
        );
    }
    assert!(links >= 10, "{links} links");
    assert!(readme.contains(
        "bash .ci/setup && cargo run --release --locked -- profile fixtures/programs/advice/spectral.py"
    ));
    assert!(readme.contains("bash .ci/setup && cargo test --locked"));
    assert!(!readme.contains("/root/") && !readme.contains("/home/") && !readme.contains("/work/"));
}
