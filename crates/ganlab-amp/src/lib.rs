//! Mixed precision for `tch`: libtorch's own autocast (the mechanism behind PyTorch's
//! `torch.autocast`) on the CPU and on CUDA, as a scoped region. Inside it, convolutions and
//! matrix products run in bfloat16 (on CPUs with AMX or AVX512-BF16 several times faster than in
//! float32) while the weights, their gradients and the optimiser states stay float32 (the
//! "master weights" of Micikevicius et al. 2018): autocast casts each weight to the reduced type
//! as an operation reads it (caching the cast for the region) and autograd returns float32
//! gradients to the float32 weights.
//!
//! tch 0.24's `tch::autocast` switches CUDA's flag only; this crate reaches
//! `at::autocast::set_autocast_enabled` / `set_autocast_dtype` for either device through a small
//! C++ shim (`csrc/autocast_shim.cpp`).
//!
//! ```
//! use ganlab_amp::{autocast, Precision};
//! use tch::{Device, Kind, Tensor};
//! let x = Tensor::randn([8, 16], (Kind::Float, Device::Cpu));
//! let w = Tensor::randn([16, 4], (Kind::Float, Device::Cpu));
//! let y = autocast(Precision::Bf16, Device::Cpu, || x.matmul(&w));
//! assert_eq!(y.kind(), Kind::BFloat16); // the product ran in bf16
//! assert_eq!(x.matmul(&w).kind(), Kind::Float); // outside the region: float32 again
//! let same = autocast(Precision::Fp32, Device::Cpu, || x.matmul(&w));
//! assert_eq!(same.kind(), Kind::Float);
//! assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
//! ```

pub mod cuda;
mod ffi;

use tch::Device;

/// The type the networks' forward and backward passes compute in (config key `precision`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Hash,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum Precision {
    /// Everything in float32.
    #[default]
    Fp32,
    /// Convolutions and matrix products in bfloat16 under autocast; float32 weights, gradients,
    /// optimiser states, losses and metrics.
    Bf16,
    /// The same in float16, whose narrow range needs dynamic loss scaling (the trainer's
    /// `GradScaler`, one per optimiser). Fast on GPUs' tensor cores; on a CPU libtorch's float16
    /// convolutions have no vectorised kernels.
    Fp16,
}

impl Precision {
    /// Every precision, in the order they are listed.
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Bf16, Precision::Fp16];

    pub const fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }

    /// The names `precision` takes.
    pub fn names() -> Vec<&'static str> {
        Precision::ALL.map(Precision::name).to_vec()
    }

    /// Whether `device` runs this precision fast: `None` when it does (or the precision is
    /// float32), else a warning naming what is missing. A CPU without `amx_bf16` or
    /// `avx512_bf16` still computes bf16 (oneDNN emulates it), only without the speed-up; a GPU
    /// needs tensor cores for the type ([`cuda::speed_warning`]: compute capability 8.0 for
    /// bf16, 7.0 for fp16).
    pub fn speed_warning(self, device: Device) -> Option<String> {
        match (self, device) {
            (Precision::Fp32, _) => None,
            (Precision::Bf16, Device::Cpu) => {
                let flags = cpu_flags();
                let fast = ["amx_bf16", "avx512_bf16"];
                match fast.iter().any(|f| flags.iter().any(|g| g == f)) {
                    true => None,
                    false => Some(format!(
                        "precision bf16 on a CPU without {}: libtorch computes bf16 there without \
                         the hardware's support, likely slower than fp32",
                        fast.join(" or ")
                    )),
                }
            }
            // PyTorch 2.11 on a 2-core Xeon with avx512_fp16 and amx_bf16 (no amx_fp16), 2026-12-05:
            // forward and backward of two 3x3 convolutions, 64 → 128 channels at 32x32, batch
            // 16: 0.10 s in float32, 0.024 s in bf16, 42 s in fp16.
            (Precision::Fp16, Device::Cpu) => Some(
                "precision fp16 on a CPU: libtorch has no vectorised float16 convolution kernels \
                 there (a convolution's forward and backward measured about 400x slower than \
                 float32); bf16 is the CPU's reduced type (fast with amx_bf16 or avx512_bf16)"
                    .to_string(),
            ),
            (p, Device::Cuda(index)) => {
                cuda::capability(index).and_then(|cap| cuda::speed_warning(p, index, cap))
            }
            (_, _) => None,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Precision, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                format!(
                    "`precision` must be one of {}, got `{name}`",
                    Precision::names().join(", ")
                )
            })
    }
}

/// The CPU's feature flags (Linux `/proc/cpuinfo`; empty elsewhere).
pub fn cpu_flags() -> Vec<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, flags)| flags.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// Runs `f` with autocast on `device` in `precision` (plain `f()` for float32), restoring the
/// previous state afterwards, as `with torch.autocast(device, dtype):` does. Regions nest; the
/// cache of weights cast to the reduced type is dropped when the outermost one ends. Backward
/// passes belong outside (autograd replays each operation in the type it ran in).
pub fn autocast<T>(precision: Precision, device: Device, f: impl FnOnce() -> T) -> T {
    if precision == Precision::Fp32 {
        return f();
    }
    let code = match device {
        Device::Cuda(_) => 1,
        _ => 0,
    };
    let previous = ffi::state(code);
    let dtype = match precision {
        Precision::Fp16 => 1,
        _ => 0,
    };
    ffi::set(code, true, dtype);
    ffi::enter();
    let _restore = Restore { code, previous };
    f()
}

/// Runs `f` with autocast off on `device` inside a region (float32 throughout), restoring the
/// region afterwards, as `with torch.autocast(device, enabled=False):` does. For work that must
/// stay in float32 under reduced precision, such as the augmentation of D's inputs.
pub fn without_autocast<T>(device: Device, f: impl FnOnce() -> T) -> T {
    let code = match device {
        Device::Cuda(_) => 1,
        _ => 0,
    };
    match ffi::state(code) {
        Some((true, dtype)) => {
            ffi::set(code, false, dtype);
            let _restore = Reenable { code, dtype };
            f()
        }
        _ => f(),
    }
}

/// Turns autocast back on when a [`without_autocast`] region ends (also when `f` panics).
struct Reenable {
    code: i32,
    dtype: i32,
}

impl Drop for Reenable {
    fn drop(&mut self) {
        ffi::set(self.code, true, self.dtype);
    }
}

/// Restores autocast's state when a region ends (also when `f` panics).
struct Restore {
    code: i32,
    previous: Option<(bool, i32)>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        ffi::exit();
        let (enabled, dtype) = self.previous.unwrap_or((false, 2));
        ffi::set(self.code, enabled, dtype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn regions_nest_and_restore_the_previous_state() {
        let x = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
        let kinds = autocast(Precision::Bf16, Device::Cpu, || {
            let inner = autocast(Precision::Bf16, Device::Cpu, || x.mm(&x).kind());
            (inner, x.mm(&x).kind())
        });
        assert_eq!(kinds, (Kind::BFloat16, Kind::BFloat16));
        assert_eq!(x.mm(&x).kind(), Kind::Float);
        assert_eq!(ffi::state(0).map(|s| s.0), Some(false));
        let err = "fp8".parse::<Precision>().unwrap_err();
        assert_eq!(
            err,
            "`precision` must be one of fp32, bf16, fp16, got `fp8`"
        );
        let half = autocast(Precision::Fp16, Device::Cpu, || x.mm(&x).kind());
        assert_eq!(half, Kind::Half);
        assert!(Precision::Fp16
            .speed_warning(Device::Cpu)
            .is_some_and(|w| w.contains("fp16 on a CPU") && !w.contains("  ")));
    }

    /// The weights stay float32 and get float32 gradients; the product ran in bf16 (its
    /// result equals the float32 product of the bf16-rounded inputs).
    #[test]
    fn gradients_reach_the_float32_weights() {
        tch::manual_seed(0);
        let w = Tensor::randn([8, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let x = Tensor::randn([5, 8], (Kind::Float, Device::Cpu));
        let y = autocast(Precision::Bf16, Device::Cpu, || x.mm(&w));
        assert_eq!(y.kind(), Kind::BFloat16);
        let expected = x
            .to_kind(Kind::BFloat16)
            .to_kind(Kind::Float)
            .mm(&w.detach().to_kind(Kind::BFloat16).to_kind(Kind::Float));
        let diff = (y.to_kind(Kind::Float) - &expected)
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            diff <= 0.02 * expected.abs().max().double_value(&[]),
            "{diff}"
        );
        y.to_kind(Kind::Float).sum(Kind::Float).backward();
        let grad = w.grad();
        assert_eq!(grad.kind(), Kind::Float);
        assert!(grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
