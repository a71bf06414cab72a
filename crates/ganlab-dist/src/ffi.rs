//! The shim's `extern "C"` functions (csrc/c10d_shim.cpp) and the one place that calls them.
//!
//! Audited `unsafe`: every call passes pointers that live for the call (C strings built here,
//! tensors borrowed from the caller, out-pointers to locals); the handles are owned by
//! [`StoreHandle`] / [`GroupHandle`] and freed once in `Drop`; error strings and values the shim
//! allocates are copied and freed with the shim's own `free`. The shim catches every C++
//! exception, so none unwinds into Rust.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use tch::Tensor;

extern "C" {
    fn ganlab_c10d_free_string(s: *mut c_char);
    fn ganlab_c10d_store_new(
        host: *const c_char,
        port: c_int,
        is_server: c_int,
        world_size: c_int,
        timeout_ms: i64,
        prefix: *const c_char,
        out: *mut *mut c_void,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_store_free(store: *mut c_void);
    fn ganlab_c10d_store_set(
        store: *mut c_void,
        key: *const c_char,
        value: *const u8,
        len: usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_store_get(
        store: *mut c_void,
        key: *const c_char,
        value: *mut *mut u8,
        len: *mut usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_store_check(
        store: *mut c_void,
        key: *const c_char,
        exists: *mut c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_store_add(
        store: *mut c_void,
        key: *const c_char,
        delta: i64,
        value: *mut i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_gloo_new(
        store: *mut c_void,
        rank: c_int,
        world_size: c_int,
        timeout_ms: i64,
        iface: *const c_char,
        hostname: *const c_char,
        threads: c_int,
        out: *mut *mut c_void,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_nccl_new(
        store: *mut c_void,
        rank: c_int,
        world_size: c_int,
        timeout_ms: i64,
        out: *mut *mut c_void,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_group_free(group: *mut c_void);
    fn ganlab_c10d_allreduce(
        group: *mut c_void,
        ts: *mut *mut c_void,
        n: c_int,
        op: c_int,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_broadcast(
        group: *mut c_void,
        ts: *mut *mut c_void,
        n: c_int,
        root: c_int,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_allgather(
        group: *mut c_void,
        outputs: *mut *mut c_void,
        world_size: c_int,
        input: *mut c_void,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn ganlab_c10d_barrier(group: *mut c_void, timeout_ms: i64, err: *mut *mut c_char) -> c_int;
}

/// Turns the shim's (status, message) into a `Result`, freeing the message.
fn check(status: c_int, err: *mut c_char) -> Result<(), String> {
    if status == 0 {
        return Ok(());
    }
    if err.is_null() {
        return Err("c10d failed without a message".into());
    }
    // SAFETY: a non-null `err` is a NUL-terminated string the shim malloc'd for this call.
    let message = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: freed once, with the shim's allocator.
    unsafe { ganlab_c10d_free_string(err) };
    Err(message.trim().to_string())
}

fn c_string(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} holds a NUL byte"))
}

/// The shim wants `torch::Tensor*`, which is what tch's `as_ptr` points to; the shim only
/// copies the handle (the tensor's data is written in place, the handle is not).
fn raw(ts: &[&Tensor]) -> Vec<*mut c_void> {
    ts.iter().map(|t| t.as_ptr() as *mut c_void).collect()
}

/// A c10d store (a TCPStore, maybe under a prefix).
pub struct StoreHandle(*mut c_void);

// SAFETY: c10d's TCPStore serialises its operations internally (one lock per client), so a
// handle may be used from the heartbeat thread and the training thread.
unsafe impl Send for StoreHandle {}
unsafe impl Sync for StoreHandle {}

impl StoreHandle {
    pub fn connect(
        host: &str,
        port: u16,
        is_server: bool,
        world_size: usize,
        timeout_ms: i64,
        prefix: &str,
    ) -> Result<StoreHandle, String> {
        let (host, prefix) = (c_string(host)?, c_string(prefix)?);
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid C strings and out-pointers for the duration of the call.
        let status = unsafe {
            ganlab_c10d_store_new(
                host.as_ptr(),
                port as c_int,
                is_server as c_int,
                world_size as c_int,
                timeout_ms,
                prefix.as_ptr(),
                &mut out,
                &mut err,
            )
        };
        check(status, err)?;
        Ok(StoreHandle(out))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let key = c_string(key)?;
        let mut err = std::ptr::null_mut();
        // SAFETY: the handle is live; key and value outlive the call.
        let status = unsafe {
            ganlab_c10d_store_set(self.0, key.as_ptr(), value.as_ptr(), value.len(), &mut err)
        };
        check(status, err)
    }

    pub fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        let key = c_string(key)?;
        let (mut value, mut len, mut err) = (std::ptr::null_mut(), 0usize, std::ptr::null_mut());
        // SAFETY: the handle is live; out-pointers are locals.
        let status =
            unsafe { ganlab_c10d_store_get(self.0, key.as_ptr(), &mut value, &mut len, &mut err) };
        check(status, err)?;
        // SAFETY: on success `value` holds `len` bytes the shim malloc'd; copied, then freed.
        let bytes = unsafe { std::slice::from_raw_parts(value, len) }.to_vec();
        unsafe { ganlab_c10d_free_string(value as *mut c_char) };
        Ok(bytes)
    }

    pub fn check(&self, key: &str) -> Result<bool, String> {
        let key = c_string(key)?;
        let (mut exists, mut err) = (0, std::ptr::null_mut());
        // SAFETY: the handle is live; out-pointers are locals.
        let status =
            unsafe { ganlab_c10d_store_check(self.0, key.as_ptr(), &mut exists, &mut err) };
        check(status, err)?;
        Ok(exists != 0)
    }

    pub fn add(&self, key: &str, delta: i64) -> Result<i64, String> {
        let key = c_string(key)?;
        let (mut value, mut err) = (0i64, std::ptr::null_mut());
        // SAFETY: the handle is live; out-pointers are locals.
        let status =
            unsafe { ganlab_c10d_store_add(self.0, key.as_ptr(), delta, &mut value, &mut err) };
        check(status, err)?;
        Ok(value)
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        // SAFETY: created by ganlab_c10d_store_new, freed once.
        unsafe { ganlab_c10d_store_free(self.0) }
    }
}

/// A c10d process group (Gloo or NCCL).
pub struct GroupHandle(*mut c_void);

// SAFETY: c10d process groups are used from one thread at a time here (the training thread);
// moving the handle between threads is what PyTorch does too.
unsafe impl Send for GroupHandle {}

impl GroupHandle {
    #[allow(clippy::too_many_arguments)]
    pub fn gloo(
        store: &StoreHandle,
        rank: usize,
        world_size: usize,
        timeout_ms: i64,
        iface: &str,
        hostname: &str,
        threads: usize,
    ) -> Result<GroupHandle, String> {
        let (iface, hostname) = (c_string(iface)?, c_string(hostname)?);
        let (mut out, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: live store handle, C strings and out-pointers for the call.
        let status = unsafe {
            ganlab_c10d_gloo_new(
                store.0,
                rank as c_int,
                world_size as c_int,
                timeout_ms,
                iface.as_ptr(),
                hostname.as_ptr(),
                threads as c_int,
                &mut out,
                &mut err,
            )
        };
        check(status, err)?;
        Ok(GroupHandle(out))
    }

    pub fn nccl(
        store: &StoreHandle,
        rank: usize,
        world_size: usize,
        timeout_ms: i64,
    ) -> Result<GroupHandle, String> {
        let (mut out, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: live store handle and out-pointers for the call.
        let status = unsafe {
            ganlab_c10d_nccl_new(
                store.0,
                rank as c_int,
                world_size as c_int,
                timeout_ms,
                &mut out,
                &mut err,
            )
        };
        check(status, err)?;
        Ok(GroupHandle(out))
    }

    /// op: 0 sum, 1 max, 2 min; in place on every tensor.
    pub fn all_reduce(&self, ts: &[&Tensor], op: i32, timeout_ms: i64) -> Result<(), String> {
        let mut ptrs = raw(ts);
        let mut err = std::ptr::null_mut();
        // SAFETY: the tensors are borrowed for the call; the shim copies the Tensor handles.
        let status = unsafe {
            ganlab_c10d_allreduce(
                self.0,
                ptrs.as_mut_ptr(),
                ptrs.len() as c_int,
                op,
                timeout_ms,
                &mut err,
            )
        };
        check(status, err)
    }

    pub fn broadcast(&self, ts: &[&Tensor], root: usize, timeout_ms: i64) -> Result<(), String> {
        let mut ptrs = raw(ts);
        let mut err = std::ptr::null_mut();
        // SAFETY: as in all_reduce.
        let status = unsafe {
            ganlab_c10d_broadcast(
                self.0,
                ptrs.as_mut_ptr(),
                ptrs.len() as c_int,
                root as c_int,
                timeout_ms,
                &mut err,
            )
        };
        check(status, err)
    }

    pub fn all_gather(
        &self,
        outputs: &[&Tensor],
        input: &Tensor,
        timeout_ms: i64,
    ) -> Result<(), String> {
        let mut ptrs = raw(outputs);
        let mut err = std::ptr::null_mut();
        // SAFETY: as in all_reduce.
        let status = unsafe {
            ganlab_c10d_allgather(
                self.0,
                ptrs.as_mut_ptr(),
                ptrs.len() as c_int,
                input.as_ptr() as *mut c_void,
                timeout_ms,
                &mut err,
            )
        };
        check(status, err)
    }

    pub fn barrier(&self, timeout_ms: i64) -> Result<(), String> {
        let mut err = std::ptr::null_mut();
        // SAFETY: live handle, local out-pointer.
        let status = unsafe { ganlab_c10d_barrier(self.0, timeout_ms, &mut err) };
        check(status, err)
    }
}

impl Drop for GroupHandle {
    fn drop(&mut self) {
        // SAFETY: created by ganlab_c10d_{gloo,nccl}_new, freed once.
        unsafe { ganlab_c10d_group_free(self.0) }
    }
}
