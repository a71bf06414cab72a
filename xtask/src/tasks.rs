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
    build_release_gan_with(None)
}

/// [`build_release_gan`] with NCCL for data-parallel training on CUDA: the `nccl` feature,
/// compiled against the header folders in `nccl_include_dirs` (see `bench::nccl_include_dirs`).
pub fn build_release_gan_with(nccl_include_dirs: Option<&str>) -> Result<std::path::PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "ganlab-driver",
        "--bin",
        "gan",
    ]);
    if let Some(dirs) = nccl_include_dirs {
        cmd.args(["--features", "nccl"])
            .env("GANLAB_NCCL_INCLUDE_DIRS", dirs);
    }
    run_status(&mut cmd)?;
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
