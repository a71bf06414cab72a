//! `--device auto|cpu|cuda`.

use anyhow::{bail, Result};
use tch::Device;

/// The device a config or a command line names: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The first CUDA device.
    Cuda,
    /// The CUDA device of this index.
    CudaIndex(usize),
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda => f.write_str("cuda"),
            DeviceChoice::CudaIndex(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<DeviceChoice, String> {
        Ok(match name {
            "auto" => DeviceChoice::Auto,
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(index)) => DeviceChoice::CudaIndex(index),
                _ => {
                    return Err(format!(
                        "unknown device `{other}`; expected auto, cpu, cuda or cuda:N"
                    ))
                }
            },
        })
    }
}

impl crate::choice::Choice for DeviceChoice {
    fn listed() -> Option<Vec<&'static str>> {
        None
    }
}

impl DeviceChoice {
    /// The libtorch device: `auto` picks CUDA when libtorch sees a GPU, else the CPU; a CUDA
    /// device libtorch does not see is an error that says so.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(if tch::Cuda::is_available() {
                Device::Cuda(0)
            } else {
                Device::Cpu
            }),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => {
                if !tch::Cuda::is_available() {
                    bail!(
                        "--device cuda: libtorch sees no CUDA device (cuda::is_available() is false); \
                         use --device cpu or auto"
                    );
                }
                Ok(Device::Cuda(0))
            }
            DeviceChoice::CudaIndex(index) if (index as i64) < tch::Cuda::device_count() => {
                Ok(Device::Cuda(index))
            }
            DeviceChoice::CudaIndex(index) => bail!(
                "--device cuda:{index}: there are {} CUDA devices, index {index} does not exist",
                tch::Cuda::device_count()
            ),
        }
    }
}

/// Resolves a device name (see [`DeviceChoice`]).
pub fn resolve(name: &str) -> Result<Device> {
    name.parse::<DeviceChoice>()
        .map_err(anyhow::Error::msg)?
        .resolve()
}

/// A short name for logs and configs.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Whether to run convolutions channels-last: as set, or on the CPU only when unset (oneDNN
/// gains from it; cuDNN in float32 does not reliably).
pub fn use_channels_last(setting: Option<bool>, device: Device) -> bool {
    setting.unwrap_or(device == Device::Cpu)
}

/// How many threads this process computes with (libtorch's intra-op threads) and decodes
/// streamed images with (the rayon pool of `folder:` / `zip:` sources), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threads {
    pub intra_op: usize,
    /// `None`: rayon's default (one per core).
    pub decode: Option<usize>,
    pub reason: String,
}

static CHOSEN_THREADS: std::sync::OnceLock<Threads> = std::sync::OnceLock::new();

/// Chooses this process's threads and applies them, once per process (a second call returns
/// the first choice):
///
/// 1. `explicit` (`--threads T`) wins;
/// 2. else `OMP_NUM_THREADS`, set by the user, or by torchrun for several workers per node
///    (libtorch has read it already);
/// 3. else, for one of several local ranks (`LOCAL_WORLD_SIZE` > 1, which `gan train
///    --nproc-per-node N` and torchrun set), the cores this process may use divided among the
///    ranks, at least 1: N ranks would otherwise each start one thread per core, N × cores
///    threads on the cores (measured: 2 ranks on 2 cores trained at 0.18x one process);
/// 4. else libtorch's default.
///
/// The decode pool follows the same count where one was chosen (cases 1 to 3).
pub fn choose_threads(explicit: Option<usize>) -> Result<Threads> {
    if let Some(chosen) = CHOSEN_THREADS.get() {
        return Ok(chosen.clone());
    }
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let local_ranks: usize = env("LOCAL_WORLD_SIZE")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1);
    let chosen = match (explicit, env("OMP_NUM_THREADS")) {
        (Some(0), _) => bail!("--threads must be at least 1, got 0"),
        (Some(t), _) => Threads {
            intra_op: t,
            decode: Some(t),
            reason: format!("--threads {t}"),
        },
        (None, Some(omp)) => {
            let n = tch::get_num_threads().max(1) as usize;
            Threads {
                intra_op: n,
                decode: Some(n),
                reason: format!("OMP_NUM_THREADS={omp}"),
            }
        }
        (None, None) if local_ranks > 1 => {
            let n = (cores / local_ranks).max(1);
            Threads {
                intra_op: n,
                decode: Some(n),
                reason: format!(
                    "{cores} cores shared by {local_ranks} local ranks (set OMP_NUM_THREADS or --threads to choose)"
                ),
            }
        }
        (None, None) => Threads {
            intra_op: tch::get_num_threads().max(1) as usize,
            decode: None,
            reason: "libtorch's default".into(),
        },
    };
    if chosen.intra_op as i32 != tch::get_num_threads() {
        tch::set_num_threads(chosen.intra_op as i32);
    }
    if let Some(n) = chosen.decode {
        ganlab_data::set_decode_threads(n);
    }
    Ok(CHOSEN_THREADS.get_or_init(|| chosen).clone())
}

/// The choice [`choose_threads`] made in this process, or libtorch's current count where it
/// was not called (research code that set its own).
pub fn chosen_threads() -> Threads {
    CHOSEN_THREADS.get().cloned().unwrap_or_else(|| Threads {
        intra_op: tch::get_num_threads().max(1) as usize,
        decode: None,
        reason: "as the calling program set them".into(),
    })
}
