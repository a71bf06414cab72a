//! The tasks that run the workspace: train, test, and the driver itself.

use crate::setup;
use crate::util::{project_root, run_status};
use anyhow::{Context, Result};
use std::process::Command;

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Builds the release `gan` binary and returns its path.
pub fn build_release_gan() -> Result<std::path::PathBuf> {
    run_status(cargo().args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "ganlab-driver",
        "--bin",
        "gan",
    ]))?;
    Ok(project_root().join("target").join("release").join("gan"))
}

/// `cargo xtask gan ARGS`: the release driver binary with ARGS.
pub fn gan(args: &[String]) -> Result<()> {
    setup::ensure()?;
    let gan = build_release_gan()?;
    run_status(Command::new(gan).current_dir(project_root()).args(args))
}

/// `cargo xtask test ARGS`: the formatting, lint and documentation checks, then every test of
/// the workspace, after setup.
pub fn test(args: &[String]) -> Result<()> {
    setup::ensure()?;
    run_status(cargo().args(["fmt", "--all", "--check"]))
        .context("`cargo fmt --all --check` found unformatted code (run `cargo fmt --all`)")?;
    run_status(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ]))
    .context("clippy found warnings (`cargo clippy --workspace --all-targets`)")?;
    run_status(
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
    .context("rustdoc found warnings (`cargo doc --workspace --no-deps`)")?;
    run_status(
        cargo()
            .args(["test", "--workspace", "--all-targets"])
            .args(args),
    )
}
