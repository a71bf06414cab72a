//! What a CUDA device computes fast: its compute capability, read from the CUDA driver.
//!
//! libtorch (through tch) does not expose a device's properties, so the driver library
//! (`libcuda.so.1`, present wherever a GPU is usable and already loaded by libtorch when CUDA
//! is in use) is opened at run time and asked through its stable C API (`cuInit`,
//! `cuDeviceGet`, `cuDeviceGetAttribute`); nothing of CUDA is needed to build. Where there is no
//! driver the capability is unknown and no warning is given.

use crate::Precision;

/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR` and `_MINOR` of `cuda.h`'s
/// `CUdevice_attribute`.
const ATTRIBUTE_MAJOR: i32 = 75;
const ATTRIBUTE_MINOR: i32 = 76;

type CuInit = unsafe extern "C" fn(flags: u32) -> i32;
type CuDeviceGet = unsafe extern "C" fn(device: *mut i32, ordinal: i32) -> i32;
type CuDeviceGetAttribute =
    unsafe extern "C" fn(value: *mut i32, attribute: i32, device: i32) -> i32;

/// The compute capability (major, minor) of CUDA device `index` (as `cuda:index` numbers it,
/// after `CUDA_VISIBLE_DEVICES`), or `None` where the driver cannot be opened or answers with an
/// error (no GPU, no such device).
#[allow(unsafe_code)] // the driver's C functions, the only way to ask it
pub fn capability(index: usize) -> Option<(i32, i32)> {
    let ordinal = i32::try_from(index).ok()?;
    // SAFETY: libcuda.so.1 is NVIDIA's driver library; loading it runs no initialiser that
    // needs anything of this process, and libtorch has loaded the same library already when it
    // uses CUDA.
    let lib = unsafe { libloading::Library::new("libcuda.so.1") }.ok()?;
    // SAFETY: the three symbols have these C signatures in every CUDA driver since CUDA 2.0
    // (`CUresult` is an int enum, `CUdevice` an int); each is called with valid pointers to
    // locals, and the library outlives the calls.
    unsafe {
        let init: libloading::Symbol<CuInit> = lib.get(b"cuInit\0").ok()?;
        let get: libloading::Symbol<CuDeviceGet> = lib.get(b"cuDeviceGet\0").ok()?;
        let attribute: libloading::Symbol<CuDeviceGetAttribute> =
            lib.get(b"cuDeviceGetAttribute\0").ok()?;
        if init(0) != 0 {
            return None;
        }
        let mut device = 0;
        if get(&mut device, ordinal) != 0 {
            return None;
        }
        let (mut major, mut minor) = (0, 0);
        if attribute(&mut major, ATTRIBUTE_MAJOR, device) != 0
            || attribute(&mut minor, ATTRIBUTE_MINOR, device) != 0
        {
            return None;
        }
        Some((major, minor))
    }
}

/// The warning for `precision` on CUDA device `index` of compute capability `(major, minor)`,
/// or `None` where its tensor cores run that type: bfloat16 from 8.0 (Ampere; below it
/// libtorch emulates bf16, as PyTorch's `torch.cuda.is_bf16_supported(including_emulation=
/// False)` reports), float16 from 7.0 (Volta).
pub fn speed_warning(
    precision: Precision,
    index: usize,
    (major, minor): (i32, i32),
) -> Option<String> {
    let (needed, arch, name) = match precision {
        Precision::Fp32 => return None,
        Precision::Bf16 => (8, "Ampere", "bf16"),
        Precision::Fp16 => (7, "Volta", "fp16"),
    };
    if major >= needed {
        return None;
    }
    let instead = match precision {
        Precision::Bf16 if major >= 7 => "; fp16 has tensor cores on this GPU",
        _ => "",
    };
    Some(format!(
        "precision {name} on cuda:{index} (compute capability {major}.{minor}): {name} tensor \
         cores need compute capability {needed}.0 ({arch}) or later; without them libtorch \
         computes {name} more slowly, likely slower than fp32{instead}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reduced_type_needs_its_tensor_cores() {
        // T4 (7.5), V100 (7.0), P100 (6.0), A100 (8.0), H100 (9.0).
        let bf16_t4 = speed_warning(Precision::Bf16, 0, (7, 5)).expect("bf16 on a T4");
        assert_eq!(
            bf16_t4,
            "precision bf16 on cuda:0 (compute capability 7.5): bf16 tensor cores need compute \
             capability 8.0 (Ampere) or later; without them libtorch computes bf16 more slowly, \
             likely slower than fp32; fp16 has tensor cores on this GPU"
        );
        let fp16_p100 = speed_warning(Precision::Fp16, 1, (6, 0)).expect("fp16 on a P100");
        assert!(fp16_p100.starts_with("precision fp16 on cuda:1 (compute capability 6.0)"));
        assert!(fp16_p100.contains("7.0 (Volta)") && !fp16_p100.contains("fp16 has tensor cores"));
        assert!(speed_warning(Precision::Bf16, 0, (6, 1)).is_some_and(|w| !w.contains("fp16 has")));
        for fast in [(8, 0), (8, 6), (9, 0), (10, 0)] {
            assert_eq!(speed_warning(Precision::Bf16, 0, fast), None, "{fast:?}");
            assert_eq!(speed_warning(Precision::Fp16, 0, fast), None, "{fast:?}");
        }
        assert_eq!(speed_warning(Precision::Fp16, 0, (7, 0)), None);
        assert_eq!(speed_warning(Precision::Fp32, 0, (3, 5)), None);
    }

    /// Without a GPU (no driver, or a driver without devices) the capability is unknown rather
    /// than an error; where libtorch sees a GPU, the driver gives its real capability.
    #[test]
    fn the_capability_is_read_where_a_driver_answers() {
        match capability(0) {
            None => assert!(
                !tch::Cuda::is_available(),
                "libtorch sees CUDA, but the driver gave no capability"
            ),
            Some((major, minor)) => assert!(major >= 3 && (0..10).contains(&minor)),
        }
        assert_eq!(capability(usize::MAX), None);
    }
}
