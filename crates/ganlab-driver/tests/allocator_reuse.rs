//! `gan`'s allocator settings, checked in a process of their own (`harness = false`: `main` is
//! the process's main thread, whose arena the settings govern, as in `gan`): a block far above
//! the mmap threshold, freed and allocated again, comes back from the heap without page faults.
//! With glibc's defaults every such block is a fresh mapping that faults on each 4 KiB page (the
//! SWD's 67–77 MB buffers: 146,000 faults a call).

use ganlab_driver::allocator::{tune_for_training, Tuning};

/// The process's minor page faults so far (`minflt`, field 10 of `/proc/self/stat`).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat is readable");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')').expect("a ')' after the command name") + 2..];
    after_name
        .split(' ')
        .nth(7)
        .and_then(|v| v.parse().ok())
        .expect("field 10 of /proc/self/stat is a count")
}

/// Writes every byte of a fresh block of `bytes`, then frees it.
fn fill(bytes: usize) {
    let block = vec![1u8; bytes];
    std::hint::black_box(&block);
}

fn main() {
    let tuning = tune_for_training();
    if tuning != Tuning::Applied {
        println!("allocator_reuse: skipped: the settings were not applied ({tuning:?})");
        return;
    }
    const BYTES: usize = 96 << 20;
    fill(BYTES);
    let before = minor_faults();
    fill(BYTES);
    let faults = minor_faults() - before;
    assert!(
        faults < 256,
        "a freed 96 MiB block allocated again took {faults} page faults (expected it back from \
         the heap: a fresh mapping takes {})",
        BYTES / 4096
    );
    println!("allocator_reuse: ok ({faults} page faults for the second 96 MiB block)");
}
