//! The handles of a build without the `c10d` feature: no shim is compiled, so no store or
//! process group can be made. [`StoreHandle::connect`] says so (naming the feature to turn on),
//! and the handles are uninhabited types, so none of their methods can ever run.
//!
//! This is what research code gets when it depends on `ganlab-train` for one process: the same
//! `Dist` types, without a C++ build of libtorch's distributed headers.

use tch::Tensor;

const MESSAGE: &str = "this build of ganlab has no data-parallel engine: build it with the \
    `c10d` feature of `ganlab-dist` (the `gan` binary has it) to join a process group";

/// A c10d store; cannot exist in this build.
pub enum StoreHandle {}

impl StoreHandle {
    pub fn connect(
        _host: &str,
        _port: u16,
        _is_server: bool,
        _world_size: usize,
        _timeout_ms: i64,
        _prefix: &str,
    ) -> Result<StoreHandle, String> {
        Err(MESSAGE.to_string())
    }

    pub fn set(&self, _key: &str, _value: &[u8]) -> Result<(), String> {
        match *self {}
    }

    pub fn get(&self, _key: &str) -> Result<Vec<u8>, String> {
        match *self {}
    }

    pub fn check(&self, _key: &str) -> Result<bool, String> {
        match *self {}
    }

    pub fn add(&self, _key: &str, _delta: i64) -> Result<i64, String> {
        match *self {}
    }
}

/// A c10d process group; cannot exist in this build.
pub enum GroupHandle {}

impl GroupHandle {
    #[allow(clippy::too_many_arguments)]
    pub fn gloo(
        store: &StoreHandle,
        _rank: usize,
        _world_size: usize,
        _timeout_ms: i64,
        _iface: &str,
        _hostname: &str,
        _threads: usize,
    ) -> Result<GroupHandle, String> {
        match *store {}
    }

    pub fn nccl(
        store: &StoreHandle,
        _rank: usize,
        _world_size: usize,
        _timeout_ms: i64,
    ) -> Result<GroupHandle, String> {
        match *store {}
    }

    pub fn all_reduce(&self, _ts: &[&Tensor], _op: i32, _timeout_ms: i64) -> Result<(), String> {
        match *self {}
    }

    pub fn broadcast(&self, _ts: &[&Tensor], _root: usize, _timeout_ms: i64) -> Result<(), String> {
        match *self {}
    }

    pub fn all_gather(
        &self,
        _outputs: &[&Tensor],
        _input: &Tensor,
        _timeout_ms: i64,
    ) -> Result<(), String> {
        match *self {}
    }

    pub fn barrier(&self, _timeout_ms: i64) -> Result<(), String> {
        match *self {}
    }
}
