//! `gan`: the toolkit's command line, a thin layer over `ganlab_run` and `ganlab_report`.
//! [`main`] is the whole program; the `gan` binary calls it, and so can research code's own
//! binary after registering its networks (`ganlab_train::arch::register`), which then get every
//! command: `train --arch NAME`, `--resume`, `eval`, `generate`, `report`, data-parallel ranks.

/// `println!` that ends the process quietly when stdout is closed early (`gan bench ... | head`)
/// instead of panicking on the broken pipe; any other write error is reported and exits 1.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("gan: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

use crate::choice::parser;
use crate::config_args::ConfigOverrides;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ganlab_games::GameName;
use ganlab_report::study::{StudyName, StudyOptions};
use ganlab_run::config::{Preset, RunConfig};
use ganlab_run::device::DeviceChoice;
use ganlab_run::eval::FeatureSpace;
use ganlab_run::run_dir;
use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use ganlab_train::Architecture;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "gan",
    version,
    about = "Train and evaluate GANs (ganlab toolkit)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a GAN; with no options, DCGAN-32 with the non-saturating game on MNIST.
    Train(Box<TrainArgs>),
    /// Train every game on the 2-D toy mixtures with the same budget and tabulate mode
    /// coverage, high-quality share and JSD (Markdown + JSON + scatter plots).
    Games(GamesArgs),
    /// List the datasets, their sources and licences.
    Datasets,
    /// Prepared datasets: `gan dataset create --from folder:PATH --resolution 256 --out
    /// faces-256.safetensors`, then `gan train --dataset faces-256.safetensors`.
    Dataset {
        #[command(subcommand)]
        what: DatasetCommand,
    },
    /// Benchmarks: `gan bench train-step --arch dcgan32 --channels 1 --steps 50`.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Compute metrics between a real and a fake image set (folders, datasets, run directories
    /// or snapshots).
    Eval(EvalArgs),
    /// Images from a trained generator: one PNG per seed (seed0000.png, ...), a grid, or N
    /// images for other tools; G's moving average where the run has one.
    Generate(GenerateArgs),
    /// A latent walk between seeds (spherical interpolation in z): a strip PNG and an animated
    /// GIF.
    Interpolate(InterpolateArgs),
    /// Plots (losses, D outputs, gradient norms, metrics against kimg and wall time), a strip of
    /// the sample grids and a Markdown summary of a run, in RUN_DIR/report/.
    Report(ReportArgs),
    /// A reproducible study of one of the toolkit's claims (`gan study --help` lists them): its
    /// runs (resumable) and a page with tables, plots and grids in docs/study/NAME.md.
    Study(StudyArgs),
}

#[derive(Args)]
struct StudyArgs {
    /// games, growing, toys, stopping (after games), limited, precision or conditional.
    #[arg(value_parser = parser::<StudyName>())]
    name: StudyName,
    /// A few steps per run and one seed: checks that every part of the study works (its
    /// numbers mean nothing; the page goes to runs/study/NAME-tiny/ unless --out says).
    #[arg(long)]
    tiny: bool,
    /// Folder of the page (NAME.md, NAME.json and NAME/ with the pictures); default docs/study.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parent of the study's runs (RUNS_ROOT/study/NAME/).
    #[arg(long, default_value = "runs")]
    runs_root: PathBuf,
    #[arg(long, default_value = "auto", value_parser = parser::<DeviceChoice>())]
    device: DeviceChoice,
    /// stopping: a person's pick among the grids (kimg, e.g. 170 for the grid of 170.05), shown
    /// beside the metrics' stops at the nearest evaluation and kept in the study's record (the
    /// other studies refuse it).
    #[arg(long)]
    pick_kimg: Option<f64>,
    /// Keep each ended run whole (snapshots, TensorBoard files, every grid); by default the
    /// study keeps what its page needs.
    #[arg(long)]
    keep_snapshots: bool,
    /// List the runs and what the command would do with each (ended, to resume, to train, made
    /// by another plan and to train again, with what changed), then stop.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Training steps per second on random real batches; prints `steps_per_s <value>`.
    TrainStep(TrainStepArgs),
    /// The data loader as training reads it (seeded batches, the next one prefetched); prints
    /// `images_per_s`. E.g. `gan bench loader --dataset set-256.safetensors --resolution 256`.
    Loader {
        /// A dataset name, folder:PATH, zip:PATH or a prepared archive.
        #[arg(long)]
        dataset: String,
        #[arg(long, default_value_t = 128)]
        resolution: i64,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Batches timed (after one untimed).
        #[arg(long, default_value_t = 50)]
        batches: usize,
        /// 1 or 3 (default: what the images are).
        #[arg(long)]
        channels: Option<i64>,
    },
    /// The Fréchet distance from float64 statistics (mu1/sigma1/mu2/sigma2 .npy in --inputs, as
    /// written by `bench/frechet_scipy.py --make-inputs`); prints `value` and `calls_per_s`.
    Frechet {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, default_value_t = 1)]
        repeats: usize,
    },
    /// One call of an augmentation (`--augment diffaugment|ada[:...]`, as `gan train --augment`)
    /// forward and backward (the sum of the augmented batch) on random RGB images; prints
    /// `calls_per_s`.
    Augment {
        #[arg(long)]
        augment: String,
        #[arg(long, default_value_t = 32)]
        resolution: i64,
        #[arg(long, default_value_t = 32)]
        batch: i64,
        #[arg(long, default_value_t = 10)]
        calls: usize,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// ADA's augmentation probability.
        #[arg(long, default_value_t = 0.5)]
        p: f64,
    },
    /// Precision, recall, density, coverage and realism between float32 feature matrices
    /// (real.npy, fake.npy in --inputs, as written by `bench/manifold_reference.py
    /// --make-inputs`); prints `value` (precision), `density`, `coverage` and `calls_per_s`.
    Manifold {
        #[arg(long)]
        inputs: PathBuf,
        /// Rows and columns of one distance block.
        #[arg(long, default_value_t = 10_000)]
        block: i64,
    },
    /// SWD between uint8 image sets (a.npy, b.npy in --inputs, as written by
    /// `bench/swd_numpy.py --make-inputs`); prints `value` and `calls_per_s`.
    Swd {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, default_value_t = 1)]
        repeats: usize,
        /// Also time each phase (read, pyramid, gather, normalize, project, sort) in as many
        /// further calls: `ms_<phase>` lines, milliseconds per call, as
        /// `bench/swd_numpy.py --phases` prints them.
        #[arg(long)]
        phases: bool,
    },
    /// FID feature extraction (resize to 299 + detector) of random images; prints `images_per_s`.
    Features {
        #[arg(long, default_value_t = 64)]
        n: i64,
        #[arg(long, default_value_t = 32)]
        batch: i64,
        #[arg(long, default_value_t = 3)]
        channels: i64,
        /// Side of the input images (resized to 299 like every FID input).
        #[arg(long, default_value_t = 32)]
        side: i64,
        /// TorchScript detector (default: the installed Inception 2015-12-05, checksum-verified).
        #[arg(long)]
        detector: Option<PathBuf>,
        /// Load --detector without checking its sha256 (e.g. the zero-weight copy of
        /// `bench/make_speed_detector.py`).
        #[arg(long)]
        no_checksum: bool,
        /// What runs the detector: auto (the native graph for the default detector, the
        /// TorchScript module otherwise), native (also for a copy of the default detector) or
        /// torchscript.
        #[arg(long, default_value = "auto")]
        engine: String,
        /// The resize to 299: nv-bilinear or clean (as `gan eval --resize`).
        #[arg(long, default_value = "nv-bilinear", value_parser = parser::<ganlab_metrics::resize::Resize>())]
        resize: ganlab_metrics::resize::Resize,
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Losses of the first DCGAN-32 steps from a seed with CPU-drawn weights and batches, one
    /// `step i loss_d loss_g` line each (the CPU-vs-GPU check of bench/gpu-check.sh).
    Losses(LossesArgs),
    /// Whether CUDA is usable by this binary: prints `cuda_available`, `cuda_devices`, `cudnn`,
    /// and each device's compute capability with what bf16 and fp16 would warn there.
    CudaInfo,
}

#[derive(Args)]
struct TrainStepArgs {
    /// dcgan32 or progan.
    #[arg(long, default_value = "dcgan32")]
    arch: String,
    #[arg(long, default_value_t = 1)]
    channels: i64,
    #[arg(long, default_value_t = 50)]
    steps: usize,
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    /// ProGAN: final resolution (the benchmark runs at it).
    #[arg(long, default_value_t = 32)]
    resolution: i64,
    /// ProGAN: `stable` (α = 1) or `fade` (α = 0.5, both toRGB/fromRGB paths live).
    #[arg(long, default_value = "stable")]
    phase: String,
    /// ProGAN: feature maps (defaults: the progan-fashion32 preset).
    #[arg(long, default_value_t = 256)]
    fmap_base: i64,
    #[arg(long, default_value_t = 64)]
    fmap_max: i64,
    /// ProGAN: minibatch.
    #[arg(long, default_value_t = 32)]
    batch: i64,
    /// auto (channels-last on the CPU, as training does), channels-last or contiguous.
    #[arg(long, default_value = "auto")]
    memory_format: String,
    /// Also time each phase of the step (G forward, D forward and loss, D backward, D's
    /// optimiser, ...) in a second run of --steps steps; prints `ms_<phase> <ms per step>`
    /// lines before the rate.
    #[arg(long)]
    phases: bool,
    /// Time the step data-parallel on N local ranks (the batch is the global batch, split):
    /// rank 0 prints the rate and `comm_ms_per_step`, the time per step spent in collectives.
    #[arg(long, value_name = "N")]
    nproc_per_node: Option<usize>,
    /// libtorch's intra-op threads per process (default: as `gan train` chooses them: with
    /// several local ranks the cores divided among them, else libtorch's, one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// ProGAN: hold the real images in host memory and move each batch to the device as a
    /// streamed dataset's batches are (pinned memory, non-blocking copy), instead of holding
    /// them on the device.
    #[arg(long)]
    reals_on_host: bool,
    /// fp32, bf16 or fp16 (libtorch's autocast, as `gan train --precision`).
    #[arg(long, default_value = "fp32", value_parser = parser::<ganlab_train::Precision>())]
    precision: ganlab_train::Precision,
    /// Spectral normalisation of D's layers (as `gan train --d-spectral-norm`).
    #[arg(long)]
    d_spectral_norm: bool,
    /// ProGAN under bf16 or fp16: only the highest N resolutions in it (as `gan train
    /// --reduced-precision-resolutions`).
    #[arg(long, value_name = "N")]
    reduced_precision_resolutions: Option<i64>,
    /// ProGAN: clamp every layer's feature maps to ±X (as `gan train --conv-clamp`).
    #[arg(long, value_name = "X")]
    conv_clamp: Option<f64>,
    /// With --precision bf16 or fp16: the layers that touch the image in float32 (as `gan
    /// train --fp32-image-layers`).
    #[arg(long)]
    fp32_image_layers: bool,
}

#[derive(Subcommand)]
enum DatasetCommand {
    /// Write a dataset once as uint8 at --resolution and every lower power of two down to 4
    /// (ProGAN's 2x2 averages), with labels and class names, in one safetensors file that
    /// training reads lazily (and Python reads with `safetensors.numpy.load_file`).
    Create(DatasetCreateArgs),
}

#[derive(Args)]
struct DatasetCreateArgs {
    /// The images: mnist, fashion-mnist, folder:PATH or zip:PATH.
    #[arg(long)]
    from: String,
    /// The largest level: a power of two from 4 to 1024.
    #[arg(long)]
    resolution: i64,
    /// 1 (grayscale) or 3 (RGB); default: what the images are.
    #[arg(long)]
    channels: Option<i64>,
    /// The archive to write (a name ending in .safetensors).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    /// Real images: a dataset name (mnist, fashion-mnist), a folder of images (PATH or
    /// folder:PATH), zip:PATH, a prepared archive (FILE.safetensors), a run directory or a
    /// snapshot; or FID statistics (FILE.npz with mu and sigma, as --save-stats and
    /// pytorch-fid's --save-stats write) for fid and fid-inf.
    #[arg(long)]
    real: String,
    /// Fake images: a run directory (its newest snapshot's generator is sampled), a snapshot, or
    /// any image set --real takes.
    #[arg(long, required_unless_present = "save_stats")]
    fake: Option<String>,
    /// Write the Inception statistics (mu, sigma) of the --real set's --n samples to this .npz
    /// (pytorch-fid's and clean-fid's format), for later `--real FILE.npz`; with --fake, the
    /// evaluation runs too.
    #[arg(long, value_name = "FILE.npz")]
    save_stats: Option<PathBuf>,
    /// Comma-separated metrics: fid, kid, swd, is, coverage, domain-fid, fid-inf, precision,
    /// recall, density, nn-coverage, class-accuracy (a conditional run's samples by class).
    /// Default: fid,kid,swd (fid against FID statistics).
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<String>>,
    /// Samples per side.
    #[arg(long, default_value_t = 10_000)]
    n: i64,
    /// Domain classifier for is / coverage / domain-fid: mnist or fashion-mnist (default: the
    /// real dataset's).
    #[arg(long)]
    classifier: Option<String>,
    /// Another TorchScript feature detector for fid / kid (default: Inception 2015-12-05).
    #[arg(long)]
    detector: Option<PathBuf>,
    /// Seed of sampling and of the metrics' random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate this many times, with the seeds --seed, --seed + 1, ...: each metric's mean,
    /// standard deviation and range over the draws (the evaluator's own spread).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    draws: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parser::<DeviceChoice>())]
    device: DeviceChoice,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The side both sets are compared at (default: a generator's own, the other set brought to
    /// it; without a generator, the real set's own: a folder's smallest image side, an
    /// archive's resolution, 32 for mnist and fashion-mnist).
    #[arg(long)]
    resolution: Option<i64>,
    /// Feature space of precision, recall, density and nn-coverage: inception (the FID
    /// detector's), classifier (the domain classifier's, mnist / fashion-mnist at 32x32) or auto
    /// (inception when fid, kid or fid-inf is asked or no classifier fits, else classifier).
    #[arg(long, default_value = "auto", value_parser = parser::<FeatureSpace>())]
    features: FeatureSpace,
    /// Neighbourhood k of precision and recall (Kynkäänniemi et al. 2019: 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..))]
    k_precision_recall: i64,
    /// Neighbourhood k of density and nn-coverage (Naeem et al. 2020: 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    k_density_coverage: i64,
    /// Rows and columns of one block of the k-NN metrics' distance matrix (memory: a few blocks
    /// of this many squared floats).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i64).range(1..))]
    distance_block: i64,
    /// Sample a generator with the truncation trick at this ψ in (0, 1] (as `gan generate`):
    /// fidelity up, diversity down.
    #[arg(long, default_value_t = 1.0)]
    truncation: f64,
    /// FID's resize to the detector's 299x299: nv-bilinear (TensorFlow's FID, StyleGAN2-ADA,
    /// clean-fid's legacy_tensorflow) or clean (clean-fid's default mode: PIL bicubic), to
    /// compare with statistics or numbers measured in that mode.
    #[arg(long, default_value = "nv-bilinear", value_parser = parser::<ganlab_metrics::resize::Resize>())]
    resize: ganlab_metrics::resize::Resize,
}

#[derive(Args)]
struct LossesArgs {
    #[arg(long, default_value_t = 5)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: i64,
    #[arg(long, default_value_t = 1)]
    channels: i64,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Write the initial weights and every step's batches here as .npy (for
    /// `bench/dcgan32_step.py --replay DIR`).
    #[arg(long)]
    dump: Option<PathBuf>,
    /// fp32, bf16 or fp16 (libtorch's autocast).
    #[arg(long, default_value = "fp32", value_parser = parser::<ganlab_train::Precision>())]
    precision: ganlab_train::Precision,
    /// dcgan32, or progan (WGAN-GP; its stable stage at --resolution, with --fmap-base,
    /// --fmap-max and --batch; for `bench/progan_step.py --replay DIR`).
    #[arg(long, default_value = "dcgan32")]
    arch: String,
    #[arg(long, default_value_t = 8)]
    resolution: i64,
    #[arg(long, default_value_t = 32)]
    fmap_base: i64,
    #[arg(long, default_value_t = 16)]
    fmap_max: i64,
    #[arg(long, default_value_t = 8)]
    batch: i64,
    /// ProGAN under bf16 or fp16: only the highest N resolutions in it (as `gan train
    /// --reduced-precision-resolutions`).
    #[arg(long, value_name = "N")]
    reduced_precision_resolutions: Option<i64>,
    /// ProGAN: clamp every layer's feature maps to ±X (as `gan train --conv-clamp`).
    #[arg(long, value_name = "X")]
    conv_clamp: Option<f64>,
}

#[derive(Args)]
struct GamesArgs {
    /// Comma-separated games (default: all).
    #[arg(long, value_delimiter = ',', value_parser = parser::<GameName>())]
    games: Option<Vec<GameName>>,
    /// Comma-separated toy datasets.
    #[arg(long, value_delimiter = ',', default_value = "ring8,grid25")]
    datasets: Vec<String>,
    /// Comma-separated seeds.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Budget per run in kimg of real samples shown to D.
    #[arg(long, default_value_t = 500.0)]
    kimg: f64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parser::<DeviceChoice>())]
    device: DeviceChoice,
    /// Output folder (default: runs/games-UNIXTIME).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
// `--kimg -1` reaches the config check ("must be a number > 0") instead of clap's
// "unexpected argument".
#[command(allow_negative_numbers = true)]
struct TrainArgs {
    /// A JSON config file (or a run's config.json); options given on the command line
    /// override its values.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Start from a named setup (default: dcgan32-mnist).
    #[arg(long, value_parser = parser::<Preset>())]
    preset: Option<Preset>,
    /// Print the progressive-growing phase table of the resolved config and exit.
    #[arg(long)]
    print_schedule: bool,
    /// The options that set config keys (`ganlab_run::flags::CONFIG_FLAGS`).
    #[command(flatten)]
    config_options: ConfigOverrides,
    /// Continue the run in this directory from its newest snapshot (its config.json is the
    /// config; options given here must not change it unless --allow-config-change).
    #[arg(long, conflicts_with_all = ["config", "preset", "run_dir"])]
    resume: Option<PathBuf>,
    /// With --resume: accept options that change the saved config (the change is logged).
    #[arg(long, requires = "resume")]
    allow_config_change: bool,
    /// Use this folder as the run directory instead of runs/ID-NAME/.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Parent folder of new run directories.
    #[arg(long, default_value = "runs")]
    runs_root: PathBuf,
    /// Set any config key: --set evaluation.patience=3 --set progan.ema_beta=0.99 (a JSON
    /// value, or a bare word for a string). Applied after the options above.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Do not write the report (report/report.md and plots) at the end.
    #[arg(long)]
    no_report: bool,
    /// Train data-parallel on N local worker processes (ranks 0..N on 127.0.0.1; on CUDA each
    /// uses the device of its rank). Under torchrun, leave it out: torchrun starts the workers.
    #[arg(long, value_name = "N")]
    nproc_per_node: Option<usize>,
    /// libtorch's intra-op threads (and streamed-image decoders) per process; default: with
    /// several local ranks the cores divided among them (unless OMP_NUM_THREADS is set), else
    /// libtorch's, one per core.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// Seconds a rank waits in one collective before it gives up naming the lost rank(s).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::launch::DEFAULT_TIMEOUT_S)]
    dist_timeout: f64,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Seeds: numbers and inclusive ranges, e.g. 0-63,100 (the same image for the same seed on
    /// the same device).
    #[arg(long, conflicts_with = "n", required_unless_present = "n")]
    seeds: Option<String>,
    /// N images (seeds 0 … N−1), e.g. for clean-fid or torch-fidelity.
    #[arg(long)]
    n: Option<u64>,
    /// Write the images as one grid.png instead of one file per seed.
    #[arg(long)]
    grid: bool,
}

#[derive(Args)]
struct InterpolateArgs {
    #[command(flatten)]
    sampling: SamplingArgs,
    /// The seeds visited in order, e.g. 1,7,42 (ranges allowed).
    #[arg(long)]
    seeds: String,
    /// Frames from one seed to the next.
    #[arg(long, default_value_t = 16)]
    steps: usize,
    /// A conditional run: walk through these classes (e.g. 1,7, by index or name) at one
    /// seed's latent, the class embedding interpolated from each class to the next.
    #[arg(long, value_delimiter = ',')]
    across_classes: Option<Vec<ganlab_run::generate::ClassChoice>>,
}

/// What `gan generate` and `gan interpolate` sample from, and how.
#[derive(Args)]
struct SamplingArgs {
    /// A run directory (its newest snapshot) or a snapshot file.
    source: PathBuf,
    /// Truncation ψ in (0, 1]: latents ψ · truncnorm(−2, 2) (BigGAN); 1 is plain sampling.
    #[arg(long, default_value_t = 1.0)]
    truncation: f64,
    /// Output folder (default: `generated/` beside the snapshot).
    #[arg(long)]
    out: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parser::<DeviceChoice>())]
    device: DeviceChoice,
    /// A conditional run's class: an index (0 to classes − 1), a class name as the run recorded
    /// it (a folder's class sub-folder), or `all` (generate: a grid with one column per class
    /// and one row per seed).
    #[arg(long)]
    class: Option<ganlab_run::generate::ClassChoice>,
}

#[derive(Args)]
struct ReportArgs {
    /// The run directory.
    run_dir: PathBuf,
}

/// The `gan` program: parses the process's arguments, runs the command, and exits with 1 and the
/// error's chain on stderr when it fails (with clap's status and message for a bad command line).
pub fn main() {
    // Before any thread or tensor exists: keep freed heap memory instead of re-faulting it
    // every step (see `crate::allocator`).
    crate::allocator::tune_for_training();
    let cli = Cli::parse();
    if let Err(err) = run_cli(cli) {
        eprintln!("gan: error: {}", ganlab_run::logging::describe(&err));
        std::process::exit(1);
    }
}

/// Runs one `gan` command line given as words (`["gan", "train", "--kimg", "2"]`): what
/// [`main`] does after reading the process's arguments, for programs and tests that drive the
/// command line themselves. A bad command line is an error carrying clap's message.
pub fn run<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| anyhow::anyhow!("{e}"))?;
    run_cli(cli)
}

fn run_cli(cli: Cli) -> Result<()> {
    ganlab_run::logging::stderr_for_the_process();
    match cli.command {
        Command::Train(args) => train(*args),
        Command::Games(args) => games(args),
        Command::Datasets => datasets(),
        Command::Dataset {
            what: DatasetCommand::Create(args),
        } => dataset_create(args),
        Command::Eval(args) => eval(args),
        Command::Bench { what } => bench(what),
        Command::Generate(args) => generate(args),
        Command::Interpolate(args) => interpolate(args),
        Command::Study(args) => study(args),
        Command::Report(args) => {
            if let Some(holder) = run_dir::holder(&args.run_dir) {
                eprintln!(
                    "gan: {} is in progress (trained by {holder}); the report covers the ticks so far",
                    args.run_dir.display()
                );
            }
            ganlab_report::report::write_report(&args.run_dir)
                .map(|path| println!("report: {}", path.display()))
        }
    }
}

/// `gan study NAME`: trains what is left of the study and writes its page.
fn study(args: StudyArgs) -> Result<()> {
    if let Err(err) = ctrlc::set_handler(ganlab_run::train::request_stop) {
        eprintln!("gan: warning: cannot install the Ctrl-C handler: {err}");
    }
    let out = args.out.unwrap_or_else(|| match args.tiny {
        true => args
            .runs_root
            .join("study")
            .join(format!("{}-tiny", args.name)),
        false => PathBuf::from("docs/study"),
    });
    let options = StudyOptions {
        name: args.name,
        runs_root: args.runs_root,
        out_dir: out,
        tiny: args.tiny,
        device: args.device,
        pick_kimg: args.pick_kimg,
        keep_snapshots: args.keep_snapshots,
        interactive: true,
    };
    if args.dry_run {
        print!("{}", ganlab_report::study::describe(&options)?);
        return Ok(());
    }
    let page = ganlab_report::study::run(&options)?;
    println!("page: {}", page.display());
    Ok(())
}

/// `gan generate`: checks every input, then writes the images and lists them.
fn generate(args: GenerateArgs) -> Result<()> {
    use ganlab_run::generate;
    let seeds = match (&args.seeds, args.n) {
        (Some(text), _) => generate::parse_seeds(text)?,
        (None, Some(0)) => anyhow::bail!("--n must be at least 1"),
        (None, Some(n)) => (0..n).collect(),
        (None, None) => anyhow::bail!("give --seeds (e.g. 0-15) or --n"),
    };
    let written = generate::generate(&generate::GenerateRequest {
        source: args.sampling.source,
        seeds,
        grid: args.grid,
        truncation: args.sampling.truncation,
        out: args.sampling.out,
        device: args.sampling.device,
        class: args.sampling.class,
    })?;
    match written.as_slice() {
        [one] => println!("wrote {}", one.display()),
        many => println!(
            "wrote {} images into {}",
            many.len(),
            many.first()
                .and_then(|p| p.parent())
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
    }
    Ok(())
}

/// `gan interpolate`: the strip and the GIF of a walk through the seeds.
fn interpolate(args: InterpolateArgs) -> Result<()> {
    use ganlab_run::generate;
    let written = generate::interpolate(&generate::InterpolateRequest {
        source: args.sampling.source,
        seeds: generate::parse_seeds(&args.seeds)?,
        steps: args.steps,
        truncation: args.sampling.truncation,
        out: args.sampling.out,
        device: args.sampling.device,
        class: args.sampling.class,
        across_classes: args.across_classes,
    })?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs a benchmark and prints its `key value` lines: details first, then `peak_rss_mb`, and
/// the rate last (`steps_per_s`, `calls_per_s` or `images_per_s`).
/// `gan bench train-step`: prints the phase lines (and, data-parallel, the communication
/// lines) and returns the rate for rank 0 or the only process; `None` elsewhere.
fn bench_train_step(a: TrainStepArgs) -> Result<Option<String>> {
    use crate::bench;
    let timeout = std::time::Duration::from_secs_f64(crate::launch::DEFAULT_TIMEOUT_S);
    if let Some(n) = a.nproc_per_node {
        if std::env::var_os("WORLD_SIZE").is_none() && n > 1 {
            crate::launch::local_workers(n, timeout)?;
            return Ok(None);
        }
    }
    // What `gan train` would choose for this process (one of N local ranks shares the cores).
    ganlab_run::device::choose_threads(a.threads)
        .map_err(|e| anyhow::anyhow!("bench train-step: {e:#}"))?;
    let device = ganlab_run::device::resolve(&a.device)?;
    let dist = crate::launch::join(device, timeout)?;
    let device = match (&dist, device) {
        (Some(d), tch::Device::Cuda(_)) => tch::Device::Cuda(d.local_rank()),
        _ => device,
    };
    let main = dist.as_ref().is_none_or(|d| d.is_main());
    let setting = match a.memory_format.as_str() {
        "auto" => None,
        "channels-last" => Some(true),
        "contiguous" => Some(false),
        other => anyhow::bail!("bench train-step: unknown --memory-format `{other}`; expected auto, channels-last or contiguous"),
    };
    let cl = ganlab_run::device::use_channels_last(setting, device);
    let layout = bench::Layout {
        channels_last: cl,
        precision: a.precision,
        d_spectral_norm: a.d_spectral_norm,
        fp32_image_layers: a.fp32_image_layers,
    };
    if a.fp32_image_layers && a.precision == ganlab_train::Precision::Fp32 {
        anyhow::bail!(
            "bench train-step: --fp32-image-layers keeps layers in float32 under --precision \
             bf16 or fp16 (got --precision fp32)"
        );
    }
    progan_only(
        "bench train-step",
        &a.arch,
        a.reduced_precision_resolutions.is_some(),
        a.conv_clamp.is_some(),
    )?;
    if a.reals_on_host && a.arch != "progan" {
        anyhow::bail!(
            "bench train-step: --reals-on-host is a ProGAN option (got --arch {})",
            a.arch
        );
    }
    let rate = match a.arch.as_str() {
        "dcgan32" => bench::dcgan32_steps_per_s(
            a.channels,
            a.steps,
            a.warmup,
            device,
            layout,
            a.phases,
            dist.clone(),
        )?,
        "progan" => {
            let alpha = match a.phase.as_str() {
                "stable" => 1.0,
                "fade" => 0.5,
                other => anyhow::bail!(
                    "bench train-step: unknown --phase `{other}`; expected stable or fade"
                ),
            };
            let b = bench::ProganBench {
                resolution: a.resolution,
                channels: a.channels,
                fmap_base: a.fmap_base,
                fmap_max: a.fmap_max,
                batch: a.batch,
                alpha,
                reals_on_host: a.reals_on_host,
                reduced_precision_resolutions: a.reduced_precision_resolutions,
                conv_clamp: a.conv_clamp,
            };
            bench::progan_steps_per_s(b, a.steps, a.warmup, device, layout, a.phases, dist.clone())?
        }
        other => {
            anyhow::bail!("bench train-step: unknown --arch `{other}`; expected dcgan32 or progan")
        }
    };
    if !main {
        return Ok(None);
    }
    for (name, ms) in &rate.phases {
        println!("ms_{name} {ms:.3}");
    }
    if let (Some(d), Some(ms)) = (&dist, rate.communication_ms_per_step) {
        println!("ranks {}", d.world_size());
        println!("comm_ms_per_step {ms:.3}");
        if let Some(bytes) = rate.gradient_bytes_per_step {
            println!("gradient_mb_per_step {:.2}", bytes as f64 / 1e6);
        }
    }
    Ok(Some(format!("{:.4}", rate.steps_per_s)))
}

/// Refuses `--reduced-precision-resolutions` and `--conv-clamp` outside `--arch progan`.
fn progan_only(command: &str, arch: &str, reduced: bool, clamp: bool) -> Result<()> {
    let given = [
        ("--reduced-precision-resolutions", reduced),
        ("--conv-clamp", clamp),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) if arch != "progan" => {
            anyhow::bail!("{command}: {flag} is a ProGAN option (got --arch {arch})")
        }
        _ => Ok(()),
    }
}

/// `gan bench losses`: the losses of the first steps, one `step i loss_d loss_g` line each.
fn bench_losses(a: LossesArgs) -> Result<()> {
    let LossesArgs {
        steps,
        seed,
        channels,
        device,
        dump,
        precision,
        arch,
        resolution,
        fmap_base,
        fmap_max,
        batch,
        reduced_precision_resolutions,
        conv_clamp,
    } = a;
    use crate::bench;
    let device = ganlab_run::device::resolve(&device)?;
    progan_only(
        "bench losses",
        &arch,
        reduced_precision_resolutions.is_some(),
        conv_clamp.is_some(),
    )?;
    let losses = match arch.as_str() {
        "dcgan32" => {
            bench::dcgan32_losses(channels, steps, seed, device, dump.as_deref(), precision)?
        }
        "progan" => {
            if !(resolution >= 8 && resolution.count_ones() == 1) || batch < 1 {
                anyhow::bail!(
                    "bench losses: ProGAN needs a power-of-two --resolution >= 8 and --batch >= 1"
                );
            }
            let b = bench::ProganBench {
                resolution,
                channels,
                fmap_base,
                fmap_max,
                batch,
                alpha: 1.0,
                reals_on_host: false,
                reduced_precision_resolutions,
                conv_clamp,
            };
            bench::progan_losses(b, steps, seed, device, dump.as_deref(), precision)?
        }
        other => {
            anyhow::bail!("bench losses: unknown --arch `{other}`; expected dcgan32 or progan")
        }
    };
    for (i, (d, g)) in losses.iter().enumerate() {
        println!("step {i} {d:.9} {g:.9}");
    }
    Ok(())
}

fn bench(what: BenchCommand) -> Result<()> {
    use crate::bench;
    let mut lines: Vec<(&str, String)> = Vec::new();
    match what {
        BenchCommand::TrainStep(a) => match bench_train_step(a)? {
            Some(rate) => lines.push(("steps_per_s", rate)),
            // The launcher of several ranks, or a rank other than 0: rank 0 prints.
            None => return Ok(()),
        },
        BenchCommand::Loader {
            dataset,
            resolution,
            batch_size,
            batches,
            channels,
        } => {
            let rate =
                bench::loader_images_per_s(&dataset, resolution, channels, batch_size, batches)?;
            lines.push(("images_per_s", format!("{rate:.1}")));
        }
        BenchCommand::Frechet { inputs, repeats } => {
            let (value, rate) = bench::frechet_bench(&inputs, repeats)?;
            lines.push(("value", format!("{value:.17e}")));
            lines.push(("calls_per_s", format!("{rate:.6}")));
        }
        BenchCommand::Augment {
            augment,
            resolution,
            batch,
            calls,
            warmup,
            p,
        } => {
            let rate = bench::augment_bench(&augment, resolution, batch, calls, warmup, p)?;
            lines.push(("calls_per_s", format!("{rate:.4}")));
        }
        BenchCommand::Manifold { inputs, block } => {
            let (m, rate) = bench::manifold_bench(&inputs, block)?;
            lines.push(("value", format!("{:.6}", m.precision)));
            lines.push(("recall", format!("{:.6}", m.recall)));
            lines.push(("density", format!("{:.6}", m.density)));
            lines.push(("coverage", format!("{:.6}", m.coverage)));
            lines.push(("calls_per_s", format!("{rate:.6}")));
        }
        BenchCommand::Swd {
            inputs,
            repeats,
            phases,
        } => {
            let (value, rate, phases) = bench::swd_bench(&inputs, repeats, phases)?;
            for (name, seconds) in phases.iter().flat_map(|p| p.named()) {
                println!("ms_{name} {:.1}", seconds * 1e3);
            }
            lines.push(("value", format!("{value:.6}")));
            lines.push(("calls_per_s", format!("{rate:.6}")));
        }
        BenchCommand::Features {
            n,
            batch,
            channels,
            side,
            detector,
            no_checksum,
            engine,
            resize,
            device,
        } => {
            let device = ganlab_run::device::resolve(&device)?;
            let path = detector.unwrap_or_else(ganlab_run::eval::default_detector_path);
            let expected =
                (!no_checksum).then_some(ganlab_metrics::inception::DEFAULT_DETECTOR_SHA256);
            let mut detector =
                ganlab_metrics::Detector::load(&path, expected, device)?.with_resize(resize);
            match engine.as_str() {
                "auto" => {}
                "native" => detector.use_native()?,
                "torchscript" => detector.use_torchscript(),
                other => anyhow::bail!(
                    "bench features: unknown --engine `{other}`; expected auto, native or torchscript"
                ),
            }
            lines.push(("engine", detector.engine().name().to_string()));
            lines.push(("resize", resize.name().to_string()));
            let rate = bench::features_images_per_s(&detector, n, batch, channels, side)?;
            lines.push(("images_per_s", format!("{rate:.4}")));
        }
        BenchCommand::Losses(a) => bench_losses(a)?,
        BenchCommand::CudaInfo => {
            println!("cuda_available {}", tch::Cuda::is_available());
            println!("cuda_devices {}", tch::Cuda::device_count());
            println!("cudnn {}", tch::Cuda::cudnn_is_available());
            // Per device: its compute capability (from the driver) and what the reduced
            // precisions would warn there.
            for index in 0..tch::Cuda::device_count().max(0) as usize {
                let Some((major, minor)) = ganlab_amp::cuda::capability(index) else {
                    println!("cuda:{index} compute_capability unknown");
                    continue;
                };
                println!("cuda:{index} compute_capability {major}.{minor}");
                for p in [ganlab_train::Precision::Bf16, ganlab_train::Precision::Fp16] {
                    let w = ganlab_amp::cuda::speed_warning(p, index, (major, minor));
                    println!(
                        "cuda:{index} {p} {}",
                        w.unwrap_or_else(|| "tensor cores".into())
                    );
                }
            }
        }
    }
    let rate = lines.pop();
    for (k, v) in &lines {
        println!("{k} {v}");
    }
    if let Some(mb) = bench::peak_rss_mb() {
        println!("peak_rss_mb {mb:.1}");
    }
    if let Some((k, v)) = rate {
        println!("{k} {v}");
    }
    Ok(())
}

/// What `gan train` was asked to do, as rank 0 (or the only process) resolved it.
#[derive(serde::Serialize, serde::Deserialize)]
enum TrainPlan {
    /// Print the progressive schedule (no training).
    Schedule(String),
    /// Train, or with `resume` continue, the run in `dir`.
    Run {
        config: Box<TrainConfig>,
        dir: PathBuf,
        resume: bool,
    },
}

fn train(args: TrainArgs) -> Result<()> {
    if !(args.dist_timeout > 0.0 && args.dist_timeout.is_finite()) {
        anyhow::bail!(
            "--dist-timeout must be a number of seconds > 0, not {}",
            args.dist_timeout
        );
    }
    let timeout = std::time::Duration::from_secs_f64(args.dist_timeout);
    if let Some(n) = args.nproc_per_node {
        if std::env::var_os("WORLD_SIZE").is_none() && n > 1 {
            return crate::launch::local_workers(n, timeout);
        }
    }
    // Before any work: this process's share of the cores (several local ranks divide them).
    ganlab_run::device::choose_threads(args.threads)?;
    // Ctrl-C / SIGTERM: the running training writes a snapshot and returns cleanly.
    if let Err(err) = ctrlc::set_handler(ganlab_run::train::request_stop) {
        eprintln!("gan: warning: cannot install the Ctrl-C handler: {err}");
    }
    let device_hint = match args.config_options.text_of("device") {
        Some(text) => text
            .parse::<DeviceChoice>()
            .map_err(|e| anyhow::anyhow!("--device: {e}"))?,
        None => DeviceChoice::default(),
    }
    .resolve()?;
    let Some(dist) = crate::launch::join(device_hint, timeout)? else {
        return run_plan(plan_train(&args, 1)?, &args, None);
    };
    let result = train_rank(&args, &dist);
    if let Err(err) = &result {
        // The others learn why at once instead of waiting out the timeout.
        dist.abort(&ganlab_run::logging::describe(err));
    }
    // A c10d error names the rank already; others get it added.
    result.map_err(
        |e| match e.root_cause().downcast_ref::<ganlab_dist::DistError>() {
            Some(_) => e,
            None => e.context(format!("rank {} of {}", dist.rank(), dist.world_size())),
        },
    )
}

/// One rank of a data-parallel `gan train`: rank 0 resolves the plan (config, run directory)
/// and sends it to the others, so every rank trains the same config even where the others
/// cannot see rank 0's files.
fn train_rank(args: &TrainArgs, dist: &std::sync::Arc<ganlab_dist::Dist>) -> Result<()> {
    let plan = match dist.is_main() {
        true => {
            let plan = plan_train(args, dist.world_size())?;
            dist.broadcast_bytes(Some(&serde_json::to_vec(&plan)?), 0)?;
            plan
        }
        false => {
            let bytes = dist.broadcast_bytes(None, 0)?;
            serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("rank 0's plan: {e}"))?
        }
    };
    run_plan(plan, args, Some(dist))
}

/// Carries out a plan: prints the schedule, or trains (resumes) the run, as the only process or
/// as one rank of `dist`; the process that writes the run directory (the only one, or rank 0)
/// also prints where the results are and writes the report.
fn run_plan(
    plan: TrainPlan,
    args: &TrainArgs,
    dist: Option<&std::sync::Arc<ganlab_dist::Dist>>,
) -> Result<()> {
    let main = dist.is_none_or(|d| d.is_main());
    match plan {
        TrainPlan::Schedule(text) => {
            if main {
                print!("{text}");
            }
            Ok(())
        }
        TrainPlan::Run {
            config,
            dir,
            resume,
        } => {
            let reporting = Reporting { interactive: main };
            let result = match (dist, resume) {
                (Some(d), _) => ganlab_run::train::train_distributed(
                    *config,
                    &dir,
                    reporting,
                    d.clone(),
                    resume,
                ),
                (None, true) => ganlab_run::train::resume(*config, &dir, reporting),
                (None, false) => ganlab_run::train(*config, &dir, reporting),
            };
            match main {
                true => finish(result, &dir, args.no_report),
                false => result.map(|_| ()),
            }
        }
    }
}

/// Resolves the command line into a plan: the config (a file, a preset, a resumed run's), the
/// options applied over it, and the run directory (created here) for a run on `ranks`
/// data-parallel ranks (1: one process).
fn plan_train(args: &TrainArgs, ranks: usize) -> Result<TrainPlan> {
    let saved = match &args.resume {
        Some(dir) => Some(
            RunConfig::read(dir)
                .map_err(|e| anyhow::anyhow!("--resume: {e:#}"))?
                .config,
        ),
        None => None,
    };
    let mut config = match &args.config {
        // A config file, or a run's config.json (what the run found is filled in anew).
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
            RunConfig::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?
                .config
        }
        None if saved.is_some() => saved.clone().unwrap_or_default(),
        None => match (args.preset, args.config_options.text_of("arch")) {
            (Some(preset), _) => TrainConfig::from_preset(preset),
            // ProGAN's own game, optimiser and schedule unless a config says otherwise.
            (None, Some(name)) if name == ganlab_train::arch::Progan.name() => {
                TrainConfig::from_preset(Preset::ProganFashion32)
            }
            (None, _) => TrainConfig::default(),
        },
    };
    args.config_options.apply(&mut config)?;
    for assignment in &args.set {
        config.set(assignment)?;
    }
    config.validate()?;
    // Batches that do not split across the ranks: refused before a run directory is made.
    let schedule = config.schedule();
    ganlab_train::check_batch_split(config.resolved_batch_size(), schedule.as_ref(), ranks)?;
    if let (Some(dir), Some(_)) = (&args.resume, &saved) {
        // The run logs an accepted change itself (stderr and log.txt).
        let changed = ganlab_run::train::config_changes(dir, &config);
        if !changed.is_empty() && !args.allow_config_change {
            anyhow::bail!(
                "--resume {}: the options change the saved config ({}); pass --allow-config-change to accept",
                dir.display(),
                changed.join(", ")
            );
        }
        return Ok(TrainPlan::Run {
            config: Box::new(config),
            dir: dir.clone(),
            resume: true,
        });
    }
    if args.print_schedule {
        let Some(schedule) = config.schedule() else {
            anyhow::bail!("--print-schedule: arch `{}` has no progressive schedule (use --arch progan or --preset progan-fashion32)", config.resolved_arch());
        };
        let mut text = format!(
            "ProGAN schedule to {}x{} ({} + {} kimg per phase; {} kimg in total):\n",
            config.resolution,
            config.resolution,
            schedule.lod_training_kimg,
            schedule.lod_transition_kimg,
            config.kimg
        );
        text.push_str(&schedule.table_until(config.kimg));
        if let Some(shortfall) = schedule.shortfall(config.kimg) {
            text.push_str(&format!("note: {shortfall}\n"));
        }
        return Ok(TrainPlan::Schedule(text));
    }
    // A mistyped dataset path is refused before a run directory is made for it.
    ganlab_data::check_dataset_path(&config.dataset, config.data_dir.as_deref())
        .with_context(|| format!("dataset `{}`", config.dataset))?;
    let dir = match &args.run_dir {
        Some(dir) => run_dir::use_run_dir(dir)?,
        None => run_dir::next_run_dir(&args.runs_root, &config.run_name())?,
    };
    eprintln!("gan: run directory {}", dir.display());
    Ok(TrainPlan::Run {
        config: Box::new(config),
        dir,
        resume: false,
    })
}

/// Prints where a run's results are and writes its report, also after a failure (a diverged
/// run's report shows how it got there).
fn finish(
    result: Result<ganlab_run::RunSummary>,
    dir: &std::path::Path,
    no_report: bool,
) -> Result<()> {
    if let Ok(summary) = &result {
        println!("stopped:       {}", summary.message);
        println!("run directory: {}", summary.run_dir.display());
        println!("last grid:     {}", summary.last_grid.display());
        println!("snapshot:      {}", summary.snapshot.display());
    }
    // A run that stopped before writing its config (a dataset that does not load, say) has
    // nothing to report; its outcome.json and log.txt say why.
    if !no_report && dir.join("config.json").is_file() {
        match ganlab_report::report::write_report(dir) {
            Ok(path) => println!("report:        {}", path.display()),
            Err(e) => eprintln!(
                "gan: no report for {}: {}",
                dir.display(),
                ganlab_run::logging::describe(&e)
            ),
        }
    }
    result.map(|_| ())
}

fn games(args: GamesArgs) -> Result<()> {
    let games = args.games.unwrap_or_else(|| GameName::ALL.to_vec());
    for dataset in &args.datasets {
        if !ganlab_data::TOY_NAMES.contains(&dataset.as_str()) {
            anyhow::bail!(
                "--datasets: `{dataset}` is not a toy dataset; expected any of {}",
                ganlab_data::TOY_NAMES.join(", ")
            );
        }
    }
    if !(args.kimg.is_finite() && args.kimg > 0.0) {
        anyhow::bail!("--kimg must be a number > 0, got {}", args.kimg);
    }
    let out_dir = args.out.unwrap_or_else(|| {
        ganlab_report::games_comparison::default_out_dir(std::path::Path::new("runs"))
    });
    let cfg = ganlab_report::games_comparison::ComparisonConfig {
        games,
        datasets: args.datasets,
        seeds: args.seeds,
        kimg: args.kimg,
        device: args.device,
        out_dir: out_dir.clone(),
    };
    eprintln!("gan games: writing to {}", out_dir.display());
    ganlab_report::games_comparison::run(&cfg, true)?;
    print!("{}", std::fs::read_to_string(out_dir.join("games.md"))?);
    println!(
        "\ntable: {}\njson:  {}",
        out_dir.join("games.md").display(),
        out_dir.join("games.json").display()
    );
    Ok(())
}

fn dataset_create(args: DatasetCreateArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let request = ganlab_run::dataset::CreateRequest {
        from: args.from,
        resolution: args.resolution,
        channels: args.channels,
        out: args.out,
        interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let info = ganlab_run::dataset::create(&request)?;
    let levels: Vec<String> = ganlab_data::archive::levels(info.resolution)
        .iter()
        .map(|r| r.to_string())
        .collect();
    println!(
        "archive:  {} ({} images, {} channel{}, levels {}, {} classes) in {:.1} s",
        request.out.display(),
        info.images,
        info.channels,
        if info.channels == 1 { "" } else { "s" },
        levels.join(", "),
        info.class_names.len(),
        start.elapsed().as_secs_f64()
    );
    // DCGAN-32 (the default architecture) trains at 32 only; any other size is ProGAN's.
    let arch = match info.resolution {
        32 => String::new(),
        r if r >= 8 => format!(" --arch progan --resolution {r}"),
        _ => String::new(),
    };
    println!(
        "train:    gan train --dataset {}{arch}",
        request.out.display()
    );
    Ok(())
}

fn datasets() -> Result<()> {
    for name in ganlab_data::DATASET_NAMES {
        match ganlab_data::Manifest::by_name(name) {
            Ok(manifest) => {
                println!("{name}: {}", manifest.description);
                println!("  licence: {}", manifest.licence);
                for source in &manifest.sources {
                    let place = match source.kind.as_str() {
                        "npm" => format!("npm package {}", source.package.as_deref().unwrap_or("?")),
                        _ => {
                            let mut places: Vec<String> = source.system_dirs.clone();
                            places.extend(source.urls.iter().cloned());
                            format!("{} files from --data-dir, {}", source.kind, places.join(", "))
                        }
                    };
                    println!("  source: {place} ({} files with sha256 in datasets/{name}.json)", source.files.len());
                }
            }
            Err(_) => println!("{name}: 2-D Gaussian mixture of Gulrajani et al. 2017 (generated, seeded; mode centres included)"),
        }
    }
    println!("folder:PATH: every image (PNG, JPEG, BMP, WebP, TIFF, PNM) under PATH, streamed, centre-cropped and resized; classes from sub-folders");
    println!("zip:PATH: the images in a zip (StyleGAN2-ADA's format, labels from dataset.json), streamed");
    println!("FILE.safetensors: a prepared multi-resolution archive (`gan dataset create`)");
    println!(
        "data root (downloads and npm digits): {}",
        ganlab_data::data_root().display()
    );
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let cfg = ganlab_run::eval::EvalConfig {
        real: args.real.clone(),
        fake: args.fake.unwrap_or_default(),
        metrics: args.metrics.unwrap_or_else(|| {
            let defaults: &[&str] = match ganlab_run::fid_stats::is_stats_spec(&args.real) {
                true => &["fid"],
                false => &["fid", "kid", "swd"],
            };
            defaults.iter().map(ToString::to_string).collect()
        }),
        n: args.n,
        classifier: args.classifier,
        detector: args.detector,
        seed: args.seed,
        device: args.device,
        json: args.json.clone(),
        resolution: args.resolution,
        features: args.features,
        manifold: ganlab_metrics::ManifoldSettings {
            k_precision_recall: args.k_precision_recall,
            k_density_coverage: args.k_density_coverage,
            block: args.distance_block,
        },
        truncation: args.truncation,
        resize: args.resize,
    };
    if let Some(path) = &args.save_stats {
        let n = ganlab_run::eval::save_stats(&cfg, path)?;
        println!("statistics of {n} images: {}", path.display());
        if cfg.fake.is_empty() {
            return Ok(());
        }
    }
    let draws = ganlab_run::draws::evaluate_draws(&cfg, args.draws)?;
    match draws.evaluations.as_slice() {
        [one] => print!("{}", one.table()),
        _ => print!("{}", draws.table()),
    }
    if let Some(path) = args.json {
        println!("json: {}", path.display());
    }
    Ok(())
}
