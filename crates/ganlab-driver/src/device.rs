//! `--device auto|cpu|cuda`.

use anyhow::{bail, Result};
use tch::Device;

/// Resolves a device name: `auto` picks CUDA when libtorch sees a GPU, else the CPU.
pub fn resolve(name: &str) -> Result<Device> {
    match name {
        "auto" => Ok(if tch::Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cpu" => Ok(Device::Cpu),
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!(
                    "--device cuda: libtorch sees no CUDA device (cuda::is_available() is false); \
                     use --device cpu or auto"
                );
            }
            Ok(Device::Cuda(0))
        }
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) if (index as i64) < tch::Cuda::device_count() => {
                Ok(Device::Cuda(index))
            }
            Some(Ok(index)) => bail!(
                "--device {other}: there are {} CUDA devices, index {index} does not exist",
                tch::Cuda::device_count()
            ),
            _ => bail!("unknown device `{other}`; expected auto, cpu, cuda or cuda:N"),
        },
    }
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
