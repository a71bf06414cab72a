//! The shim's `extern "C"` functions (csrc/autocast_shim.cpp) and the one place that calls them.
//!
//! Audited `unsafe`: the functions take integers and out-pointers to locals that live for the
//! call; the shim catches every C++ exception and returns a status.
#![allow(unsafe_code)]

use std::ffi::c_int;

extern "C" {
    fn ganlab_autocast_state(device: c_int, enabled: *mut c_int, dtype: *mut c_int) -> c_int;
    fn ganlab_autocast_set(device: c_int, enabled: c_int, dtype: c_int) -> c_int;
    fn ganlab_autocast_enter() -> c_int;
    fn ganlab_autocast_exit() -> c_int;
}

/// (enabled, dtype code) of autocast on `device` (0 CPU, 1 CUDA).
pub fn state(device: i32) -> Option<(bool, i32)> {
    let (mut enabled, mut dtype) = (0, 0);
    // SAFETY: out-pointers to locals, valid for the call.
    let status = unsafe { ganlab_autocast_state(device, &mut enabled, &mut dtype) };
    (status == 0).then_some((enabled != 0, dtype))
}

/// Sets autocast on `device` (0 CPU, 1 CUDA) and its type (0 bf16, 1 fp16, 2 unchanged).
pub fn set(device: i32, enabled: bool, dtype: i32) -> bool {
    // SAFETY: plain integers.
    unsafe { ganlab_autocast_set(device, c_int::from(enabled), dtype) == 0 }
}

/// Enters an autocast region (nesting + 1).
pub fn enter() -> i32 {
    // SAFETY: no arguments.
    unsafe { ganlab_autocast_enter() }
}

/// Leaves an autocast region (nesting − 1; the cast cache cleared at 0).
pub fn exit() -> i32 {
    // SAFETY: no arguments.
    unsafe { ganlab_autocast_exit() }
}
