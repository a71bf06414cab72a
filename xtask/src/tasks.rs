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
    let gan = project_root().join("target").join("release").join("gan");
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--package",
        "ganlab-cli",
        "--bin",
        "gan",
    ]);
    if gan.exists() {
        // An up-to-date binary is checked in about a second: nothing to say.
        cmd.arg("--quiet");
    } else {
        // The first build is long and would otherwise be silent: say what happens, and let
        // cargo show its progress bar (crates built / to build).
        eprintln!("{}", first_build_message());
    }
    if let Some(dirs) = nccl_include_dirs {
        cmd.args(["--features", "nccl"])
            .env("GANLAB_NCCL_INCLUDE_DIRS", dirs);
    }
    run_status(&mut cmd)?;
    Ok(gan)
}

/// What `cargo xtask train` (and every task that runs `gan`) prints before the first release
/// build, so that a newcomer does not face a silent terminal for minutes.
fn first_build_message() -> String {
    "[xtask] building the release `gan` binary for the first time: libtorch's C++ wrapper and \
     the workspace compile once (about 4 minutes for the wrapper and 10-15 in all on 2 cores); \
     later runs start in seconds"
        .to_string()
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
    )?;
    // `--all-targets` leaves out the documentation's examples: each library crate's front-page
    // example is compiled and run here. rustdoc links them in temporary folders, out of reach
    // of the binaries' relative RUNPATH, so they find libtorch through LD_LIBRARY_PATH (which
    // cargo extends, not replaces).
    let libtorch_lib = project_root().join(".libtorch").join("lib");
    let library_path = match std::env::var_os("LD_LIBRARY_PATH") {
        Some(existing) if !existing.is_empty() => {
            let mut paths = vec![libtorch_lib];
            paths.extend(std::env::split_paths(&existing));
            std::env::join_paths(paths).context("LD_LIBRARY_PATH")?
        }
        _ => libtorch_lib.into_os_string(),
    };
    run_status(
        cargo()
            .args(["test", "--workspace", "--doc"])
            .args(args)
            .env("LD_LIBRARY_PATH", library_path),
    )
}
