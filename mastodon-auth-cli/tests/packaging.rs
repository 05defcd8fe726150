//! What `cargo install --path mastodon-auth-cli` installs: the binary links the library, never
//! the test kit (whose local server must not ship in people's binaries).

use std::process::Command;

#[test]
fn installed_binary_does_not_link_the_test_kit() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "tree",
            "--offline",
            "--package",
            "mastodon-auth-cli",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("UTF-8");
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"mastodon-auth"), "{tree}");
    for forbidden in ["mastodon-auth-tests", "rcgen", "serde_yaml_ng", "mockall"] {
        assert!(
            !names.contains(&forbidden),
            "the installed binary links {forbidden}:\n{tree}"
        );
    }
}
