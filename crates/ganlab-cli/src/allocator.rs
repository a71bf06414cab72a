//! glibc malloc settings for training processes.
//!
//! libtorch allocates every activation and gradient afresh through `malloc`. With glibc's
//! defaults, a freed block at the top of the heap is soon handed back to the kernel (the trim
//! threshold follows the dynamic mmap threshold), so the next step's tensors land on fresh pages
//! and pay a page fault every 4 KiB: a DCGAN-32 step (batch 64) took about 10,400 minor faults,
//! and the kernel's time was a tenth of the step. Fixing the mmap threshold at glibc's maximum
//! (32 MiB) and keeping up to 1 GiB of freed memory in the heap brings that to about 50 faults a
//! step and raised the step rate by 15–25% on the 2-core development machine (`gan bench
//! train-step --arch dcgan32`; PyTorch run with the same settings did not change). The cost: the
//! process keeps its peak heap instead of returning it between steps.
//!
//! Blocks above the threshold are still fresh mappings each time. Taking them from the heap as
//! well (`M_MMAP_MAX = 0`) was measured and not kept (2026-12-02): a second SWD call in one
//! process then faulted on none of its 67–77 MB buffers (0.94 against 0.74–0.81 calls/s over
//! four calls), and `gan train --dataset folder:F --arch progan --resolution 128 --kimg 0.2`
//! took 2.8–3.4 s against 3.5–3.8, but its peak RSS rose from 1,341–1,433 MB to 1,594–1,795 MB
//! (the heap keeps the freed blocks) and varied more from run to run, against the streamed
//! datasets' bound on memory.
//!
//! [`tune_for_training`] applies this unless the user chose glibc's settings through the
//! `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` / `MALLOC_TOP_PAD_` environment variables
//! or set `GANLAB_MALLOC=default`.

/// The mmap threshold: glibc's largest allowed value (`DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit).
pub const MMAP_THRESHOLD: i32 = 32 * 1024 * 1024;
/// How much freed memory at the top of the heap is kept instead of returned to the kernel.
pub const TRIM_THRESHOLD: i32 = 1 << 30;

/// What [`tune_for_training`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The thresholds were set.
    Applied,
    /// The environment chose glibc's settings (or `GANLAB_MALLOC=default`).
    LeftToEnvironment,
    /// Not glibc, or glibc refused a value.
    Unavailable,
}

/// Sets glibc's mmap and trim thresholds for a training process (see the module docs). Call it
/// first thing in `main`, before other threads start.
pub fn tune_for_training() -> Tuning {
    if left_to_environment(|name| std::env::var(name).ok()) {
        return Tuning::LeftToEnvironment;
    }
    set_thresholds()
}

/// Whether the environment (read through `var`) chose the allocator's settings itself.
fn left_to_environment(var: impl Fn(&str) -> Option<String>) -> bool {
    [
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_TOP_PAD_",
    ]
    .iter()
    .any(|name| var(name).is_some())
        || var("GANLAB_MALLOC").as_deref() == Some("default")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> Tuning {
    // SAFETY: mallopt only changes glibc's allocator parameters (under the arena lock); it takes
    // plain integers, reads and writes no memory of ours, and both values are within the ranges
    // glibc documents (it returns 0 and changes nothing otherwise).
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    };
    if ok {
        Tuning::Applied
    } else {
        Tuning::Unavailable
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> Tuning {
    Tuning::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_thresholds() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert_eq!(set_thresholds(), Tuning::Applied);
    }

    #[test]
    fn a_user_choice_in_the_environment_wins() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!left_to_environment(env(&[])));
        assert!(!left_to_environment(env(&[("GANLAB_MALLOC", "tuned")])));
        assert!(left_to_environment(env(&[("GANLAB_MALLOC", "default")])));
        assert!(left_to_environment(env(&[("MALLOC_TRIM_THRESHOLD_", "0")])));
        assert!(left_to_environment(env(&[(
            "MALLOC_MMAP_THRESHOLD_",
            "131072"
        )])));
    }
}
