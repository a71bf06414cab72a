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
