//! Data-parallel collectives for `tch` tensors on libtorch's own distributed engine, c10d: the
//! `TCPStore` rendezvous, `ProcessGroupGloo` for CPU tensors and `ProcessGroupNCCL` for CUDA
//! tensors (the `nccl` feature). Nothing here moves bytes itself: every collective is one c10d
//! call, reached through a small C++ shim (`csrc/c10d_shim.cpp`, bound in `ffi.rs`, the crate's
//! only `unsafe` code).
//!
//! ```
//! use ganlab_dist::Launch;
//! use std::collections::HashMap;
//! // torchrun's variables, read through any lookup (the environment in a real launch).
//! let vars = HashMap::from([
//!     ("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"),
//!     ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500"),
//! ]);
//! let launch = Launch::from_vars(|k| vars.get(k).map(|v| v.to_string()))?.expect("a launch");
//! assert_eq!((launch.rank, launch.world_size, launch.local_rank), (1, 2, 1));
//! // Without those variables a process trains alone: no group to join.
//! assert!(Launch::from_vars(|_| None)?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A process joins with [`Launch::from_env`] (torchrun's variables: `RANK`, `WORLD_SIZE`,
//! `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`, and its agent's store when
//! `TORCHELASTIC_USE_AGENT_STORE` is set) and [`Dist::connect`]. Every collective waits at most
//! the group's timeout; when one fails, the error names this rank, the operation, and the ranks
//! that were lost (found through the store: a rank that failed writes why, and every rank keeps a
//! heartbeat there, so a rank killed outright is the one whose heartbeat stopped).

//! The shim is compiled only with the `c10d` feature (the `gan` binary turns it on): without it
//! the types are the same and [`Dist::connect`] fails with a message naming the feature, so
//! research code that trains in one process never builds the C++ shim.

#[cfg(feature = "c10d")]
mod ffi;
#[cfg(not(feature = "c10d"))]
#[path = "without_c10d.rs"]
mod ffi;

use ffi::{GroupHandle, StoreHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// How often each rank writes its heartbeat into the store.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// A rank whose heartbeat did not move for this long is reported lost.
const HEARTBEAT_STALE: Duration = Duration::from_millis(2500);
/// The size of one gradient bucket (PyTorch DDP's default `bucket_cap_mb` is 25).
pub const BUCKET_BYTES: usize = 25 << 20;

/// What went wrong, always with the rank that saw it.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The launch environment is incomplete or inconsistent.
    #[error("distributed launch: {0}")]
    Launch(String),
    /// The rendezvous (store or process group) could not be set up.
    #[error("rank {rank}: rendezvous at {addr}:{port} failed: {detail}")]
    Rendezvous {
        rank: usize,
        addr: String,
        port: u16,
        detail: String,
    },
    /// A collective failed or timed out.
    #[error("rank {rank}: {op} failed: {cause} (c10d: {detail})")]
    Collective {
        rank: usize,
        op: String,
        /// Which ranks were lost and how, or why none could be named.
        cause: String,
        lost: Vec<usize>,
        detail: String,
    },
}

impl DistError {
    /// The ranks found lost when a collective failed.
    pub fn lost_ranks(&self) -> &[usize] {
        match self {
            DistError::Collective { lost, .. } => lost,
            _ => &[],
        }
    }
}

/// Which c10d process group carries the tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `ProcessGroupGloo`: CPU tensors.
    Gloo,
    /// `ProcessGroupNCCL`: CUDA tensors.
    Nccl,
}

impl Backend {
    /// NCCL for a CUDA device, Gloo otherwise (PyTorch's own choice).
    pub fn for_device(device: Device) -> Backend {
        match device {
            Device::Cuda(_) => Backend::Nccl,
            _ => Backend::Gloo,
        }
    }
}

/// Where this process stands in a launch, as torchrun (or `gan train --nproc-per-node`) set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world_size: usize,
    /// The rank among the processes of this machine (the CUDA device a rank uses).
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent serves the store: every rank connects as a client, under the prefix
    /// `/worker/attempt_<restart count>` as PyTorch's `env://` rendezvous does.
    pub agent_store: Option<u32>,
    /// `GLOO_SOCKET_IFNAME`: the network interface Gloo binds to.
    pub gloo_interface: Option<String>,
}

impl Launch {
    /// The launch from the environment; `None` when `WORLD_SIZE` is unset (a single process).
    pub fn from_env() -> Result<Option<Launch>, DistError> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Launch::from_env`] over any variable lookup (tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>, DistError> {
        let Some(world) = var("WORLD_SIZE") else {
            return Ok(None);
        };
        let number = |name: &str, value: &str| -> Result<usize, DistError> {
            value.trim().parse::<usize>().map_err(|_| {
                DistError::Launch(format!("{name}={value:?} is not a non-negative integer"))
            })
        };
        let world_size = number("WORLD_SIZE", &world)?;
        if world_size == 0 {
            return Err(DistError::Launch("WORLD_SIZE must be at least 1".into()));
        }
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                DistError::Launch(format!(
                    "WORLD_SIZE={world_size} is set but {name} is not (torchrun sets RANK, \
                     LOCAL_RANK, MASTER_ADDR and MASTER_PORT with it)"
                ))
            })
        };
        let rank = number("RANK", &required("RANK")?)?;
        if rank >= world_size {
            return Err(DistError::Launch(format!(
                "RANK={rank} is not below WORLD_SIZE={world_size}"
            )));
        }
        let local_rank = match var("LOCAL_RANK") {
            Some(v) => number("LOCAL_RANK", &v)?,
            None => rank,
        };
        let master_addr = match world_size {
            1 => var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
            _ => required("MASTER_ADDR")?,
        };
        let port = match world_size {
            1 => var("MASTER_PORT").unwrap_or_else(|| "29500".into()),
            _ => required("MASTER_PORT")?,
        };
        let master_port = port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                DistError::Launch(format!("MASTER_PORT={port:?} is not a TCP port (1-65535)"))
            })?;
        let agent = var("TORCHELASTIC_USE_AGENT_STORE")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let agent_store = match agent {
            true => Some(
                var("TORCHELASTIC_RESTART_COUNT")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            ),
            false => None,
        };
        Ok(Some(Launch {
            rank,
            world_size,
            local_rank,
            master_addr,
            master_port,
            agent_store,
            gloo_interface: var("GLOO_SOCKET_IFNAME").filter(|s| !s.is_empty()),
        }))
    }

    fn store_prefix(&self) -> String {
        match self.agent_store {
            Some(attempt) => format!("/worker/attempt_{attempt}/ganlab/"),
            None => "ganlab/".into(),
        }
    }

    fn is_loopback(&self) -> bool {
        matches!(self.master_addr.as_str(), "localhost" | "::1")
            || self.master_addr.starts_with("127.")
    }
}

/// A connected process group: this rank's place in it and the collectives.
pub struct Dist {
    launch: Launch,
    backend: Backend,
    timeout: Duration,
    store: Arc<StoreHandle>,
    /// `None` once [`Dist::abort`] closed it.
    group: Mutex<Option<GroupHandle>>,
    heartbeat_stop: Arc<AtomicBool>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dist")
            .field("rank", &self.launch.rank)
            .field("world_size", &self.launch.world_size)
            .field("backend", &self.backend)
            .finish()
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Dist {
    /// Joins the group: the store (rank 0 serves it unless torchrun's agent does), then the
    /// process group. Each step waits at most `timeout`.
    pub fn connect(
        launch: &Launch,
        backend: Backend,
        timeout: Duration,
    ) -> Result<Dist, DistError> {
        let rendezvous = |detail: String| DistError::Rendezvous {
            rank: launch.rank,
            addr: launch.master_addr.clone(),
            port: launch.master_port,
            detail,
        };
        let is_server = launch.rank == 0 && launch.agent_store.is_none();
        let prefix = launch.store_prefix();
        let connect_store = |server: bool| {
            StoreHandle::connect(
                &launch.master_addr,
                launch.master_port,
                server,
                launch.world_size,
                millis(timeout),
                &prefix,
            )
        };
        let store = connect_store(is_server).map_err(|e| {
            rendezvous(match is_server {
                true => format!(
                    "could not serve the store on port {} ({e}); is the port in use? \
                                 choose another with MASTER_PORT",
                    launch.master_port
                ),
                false => format!(
                    "could not reach the store ({e}); check MASTER_ADDR and \
                                  MASTER_PORT, and that rank 0 is running"
                ),
            })
        })?;
        let store = Arc::new(store);
        let group = match backend {
            Backend::Gloo => {
                let hostname = match (&launch.gloo_interface, launch.is_loopback()) {
                    (None, true) => "127.0.0.1",
                    _ => "",
                };
                GroupHandle::gloo(
                    &store,
                    launch.rank,
                    launch.world_size,
                    millis(timeout),
                    launch.gloo_interface.as_deref().unwrap_or(""),
                    hostname,
                    0,
                )
            }
            Backend::Nccl => {
                GroupHandle::nccl(&store, launch.rank, launch.world_size, millis(timeout))
            }
        }
        .map_err(|e| rendezvous(format!("the {backend:?} process group did not form: {e}")))?;
        // The heartbeat has its own connection, so a long store call never delays it.
        let heartbeat_store = connect_store(false).map_err(|e| rendezvous(e.to_string()))?;
        let heartbeat_stop = Arc::new(AtomicBool::new(false));
        let stop = heartbeat_stop.clone();
        let key = format!("hb/{}", launch.rank);
        let heartbeat = std::thread::Builder::new()
            .name(format!("ganlab-dist-heartbeat-{}", launch.rank))
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if heartbeat_store.add(&key, 1).is_err() {
                        return;
                    }
                    std::thread::sleep(HEARTBEAT);
                }
            })
            .map_err(|e| rendezvous(format!("could not start the heartbeat thread: {e}")))?;
        tracing::debug!(
            rank = launch.rank,
            world_size = launch.world_size,
            ?backend,
            "joined the process group"
        );
        Ok(Dist {
            launch: launch.clone(),
            backend,
            timeout,
            store,
            group: Mutex::new(Some(group)),
            heartbeat_stop,
            heartbeat: Some(heartbeat),
        })
    }

    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    pub fn world_size(&self) -> usize {
        self.launch.world_size
    }

    pub fn local_rank(&self) -> usize {
        self.launch.local_rank
    }

    /// Rank 0: the one that writes files.
    pub fn is_main(&self) -> bool {
        self.launch.rank == 0
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Records in the store that this rank is failing and why, so that the others name it
    /// (call before exiting with an error).
    pub fn report_failure(&self, message: &str) {
        let _ = self
            .store
            .set(&format!("failed/{}", self.rank()), message.as_bytes());
    }

    /// Leaves the group because this rank failed: records why ([`Dist::report_failure`]),
    /// closes the process group so that the others' pending collectives fail at once, and, on
    /// the rank that serves the store, keeps the store up until the others have stopped (at
    /// most 30 s or the timeout), so they can read why.
    pub fn abort(&self, message: &str) {
        self.report_failure(message);
        // Closes the group (the handle's `Drop`, which exists with the `c10d` feature only).
        #[allow(clippy::drop_non_drop)]
        drop(self.lock_group().take());
        if self.launch.rank != 0 || self.launch.agent_store.is_some() {
            return;
        }
        let others: Vec<usize> = (1..self.world_size()).collect();
        let deadline = Instant::now() + self.timeout.min(Duration::from_secs(30));
        let mut last: Option<Vec<i64>> = None;
        while Instant::now() < deadline {
            let Ok(now) = others
                .iter()
                .map(|r| self.store.add(&format!("hb/{r}"), 0))
                .collect::<Result<Vec<i64>, String>>()
            else {
                return;
            };
            if last.as_ref() == Some(&now) {
                return;
            }
            last = Some(now);
            std::thread::sleep(HEARTBEAT_STALE);
        }
    }

    fn lock_group(&self) -> std::sync::MutexGuard<'_, Option<GroupHandle>> {
        self.group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the process group, or fails if this rank left it.
    fn with_group(
        &self,
        op: &str,
        f: impl FnOnce(&GroupHandle) -> Result<(), String>,
    ) -> Result<(), DistError> {
        let group = self.lock_group();
        let Some(g) = group.as_ref() else {
            return Err(DistError::Collective {
                rank: self.rank(),
                op: op.to_string(),
                cause: "this rank already left the group".into(),
                lost: Vec::new(),
                detail: String::new(),
            });
        };
        let result = f(g);
        drop(group);
        result.map_err(|e| self.collective_error(op, e))
    }

    /// Sums `tensors` in place across ranks (one c10d call).
    pub fn all_reduce_sum(&self, tensors: &[&Tensor]) -> Result<(), DistError> {
        self.all_reduce(tensors, 0, "all-reduce (sum)")
    }

    /// The maximum of `tensors` across ranks, in place.
    pub fn all_reduce_max(&self, tensors: &[&Tensor]) -> Result<(), DistError> {
        self.all_reduce(tensors, 1, "all-reduce (max)")
    }

    /// Averages `tensors` in place across ranks (sum, then divide: Gloo has no AVG).
    pub fn all_reduce_mean(&self, tensors: &[&Tensor]) -> Result<(), DistError> {
        self.all_reduce(tensors, 0, "all-reduce (mean)")?;
        let n = self.world_size() as f64;
        tch::no_grad(|| {
            for t in tensors {
                let _ = t.shallow_clone().g_div_scalar_(n);
            }
        });
        Ok(())
    }

    fn all_reduce(&self, tensors: &[&Tensor], op: i32, what: &str) -> Result<(), DistError> {
        if tensors.is_empty() {
            return Ok(());
        }
        self.with_group(&format!("{what} of {} tensor(s)", tensors.len()), |g| {
            g.all_reduce(tensors, op, 0)
        })
    }

    /// Averages gradients (or any tensors) across ranks in buckets of at most `bucket_bytes`:
    /// each bucket is flattened into one buffer, all-reduced in one call, and copied back
    /// (PyTorch DDP's gradient buckets). Tensors of different kinds or devices go in different
    /// buckets.
    pub fn all_reduce_mean_bucketed(
        &self,
        tensors: &[Tensor],
        bucket_bytes: usize,
    ) -> Result<usize, DistError> {
        let mut calls = 0;
        let mut start = 0;
        while start < tensors.len() {
            let (kind, device) = (tensors[start].kind(), tensors[start].device());
            let mut end = start;
            let mut bytes = 0;
            while end < tensors.len()
                && tensors[end].kind() == kind
                && tensors[end].device() == device
                && (end == start || bytes + byte_size(&tensors[end]) <= bucket_bytes)
            {
                bytes += byte_size(&tensors[end]);
                end += 1;
            }
            let bucket = &tensors[start..end];
            let flat = tch::no_grad(|| {
                Tensor::cat(
                    &bucket.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(),
                    0,
                )
            });
            self.all_reduce_mean(&[&flat])?;
            tch::no_grad(|| {
                let mut offset = 0;
                for t in bucket {
                    let n = t.numel() as i64;
                    t.shallow_clone()
                        .copy_(&flat.narrow(0, offset, n).view_as(t));
                    offset += n;
                }
            });
            calls += 1;
            start = end;
        }
        Ok(calls)
    }

    /// Copies rank `root`'s values of `tensors` into every rank's, in place.
    pub fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<(), DistError> {
        if tensors.is_empty() {
            return Ok(());
        }
        self.with_group(
            &format!("broadcast of {} tensor(s) from rank {root}", tensors.len()),
            |g| g.broadcast(tensors, root, 0),
        )
    }

    /// Every rank's `input` (same shape on every rank), concatenated along dimension 0 in rank
    /// order (with NCCL, on this rank's CUDA device).
    pub fn all_gather(&self, input: &Tensor) -> Result<Tensor, DistError> {
        let input = self.on_device(input.contiguous());
        let outputs: Vec<Tensor> = (0..self.world_size()).map(|_| input.empty_like()).collect();
        let refs: Vec<&Tensor> = outputs.iter().collect();
        self.with_group(&format!("all-gather of {:?}", input.size()), |g| {
            g.all_gather(&refs, &input, 0)
        })?;
        Ok(Tensor::cat(&outputs, 0))
    }

    /// Rank `root`'s bytes on every rank (`bytes` is read on `root` only).
    pub fn broadcast_bytes(&self, bytes: Option<&[u8]>, root: usize) -> Result<Vec<u8>, DistError> {
        let len = Tensor::from_slice(&[bytes.map_or(0, |b| b.len() as i64)]);
        let len = self.on_device(len);
        self.broadcast(&[&len], root)?;
        let n = len.int64_value(&[0]);
        let buffer = match (self.rank() == root, bytes) {
            (true, Some(b)) => Tensor::from_slice(b),
            _ => Tensor::zeros([n], (Kind::Uint8, Device::Cpu)),
        };
        let buffer = self.on_device(buffer);
        self.broadcast(&[&buffer], root)?;
        Ok(Vec::<u8>::try_from(buffer.to_device(Device::Cpu)).unwrap_or_default())
    }

    /// Whether `flag` is true on any rank (one all-reduce of one number).
    pub fn any(&self, flag: bool) -> Result<bool, DistError> {
        let t = self.on_device(Tensor::from_slice(&[flag as i64]));
        self.all_reduce_max(&[&t])?;
        Ok(t.int64_value(&[0]) != 0)
    }

    /// Waits for every rank, at most the group's timeout.
    pub fn barrier(&self) -> Result<(), DistError> {
        self.with_group("barrier", |g| g.barrier(0))
    }

    /// Waits for every rank, at most `timeout` (rank 0 evaluating while the others wait).
    pub fn barrier_within(&self, timeout: Duration) -> Result<(), DistError> {
        self.with_group("barrier", |g| g.barrier(millis(timeout)))
    }

    /// NCCL works on CUDA tensors only: CPU tensors (control values, digests) go to this
    /// rank's device.
    fn on_device(&self, t: Tensor) -> Tensor {
        match (self.backend, t.device()) {
            (Backend::Nccl, Device::Cpu) => t.to_device(Device::Cuda(self.local_rank())),
            _ => t,
        }
    }

    /// A failed collective, with the lost ranks found through the store.
    fn collective_error(&self, op: &str, detail: String) -> DistError {
        let (lost, cause) = self.find_lost_ranks();
        DistError::Collective {
            rank: self.rank(),
            op: op.to_string(),
            cause,
            lost,
            detail,
        }
    }

    /// Asks the store which ranks failed (they said so) or died (their heartbeat stopped).
    fn find_lost_ranks(&self) -> (Vec<usize>, String) {
        let others: Vec<usize> = (0..self.world_size())
            .filter(|r| *r != self.rank())
            .collect();
        let store_gone = |e: String| {
            let host = match self.launch.agent_store {
                Some(_) => "torchrun's agent".to_string(),
                None => "rank 0".to_string(),
            };
            let lost = match self.launch.agent_store {
                Some(_) => Vec::new(),
                None => vec![0],
            };
            (
                lost,
                format!(
                    "lost rank 0? the store that {host} serves at {}:{} is unreachable ({e})",
                    self.launch.master_addr, self.launch.master_port
                ),
            )
        };
        let mut reported = Vec::new();
        for &r in &others {
            match self.store.check(&format!("failed/{r}")) {
                Ok(true) => {
                    let why = self
                        .store
                        .get(&format!("failed/{r}"))
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    reported.push((r, why));
                }
                Ok(false) => {}
                Err(e) => return store_gone(e),
            }
        }
        if !reported.is_empty() {
            let lost = reported.iter().map(|(r, _)| *r).collect();
            let text = reported
                .iter()
                .map(|(r, why)| format!("rank {r} failed: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            return (lost, text);
        }
        let beats = || -> Result<Vec<i64>, String> {
            others
                .iter()
                .map(|r| self.store.add(&format!("hb/{r}"), 0))
                .collect()
        };
        let before = match beats() {
            Ok(b) => b,
            Err(e) => return store_gone(e),
        };
        let start = Instant::now();
        std::thread::sleep(HEARTBEAT_STALE);
        let after = match beats() {
            Ok(b) => b,
            Err(e) => return store_gone(e),
        };
        let lost: Vec<usize> = others
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a == b)
            .map(|(r, _)| *r)
            .collect();
        let waited = start.elapsed().as_secs_f64();
        let cause = match lost.len() {
            0 => format!(
                "no rank was lost (every heartbeat moved in {waited:.1} s): a rank may be stuck, \
                 or the ranks disagree on what to exchange"
            ),
            _ => format!(
                "lost rank {} (no heartbeat for {waited:.1} s: the process died or its machine is unreachable)",
                lost.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", rank ")
            ),
        };
        (lost, cause)
    }
}

fn byte_size(t: &Tensor) -> usize {
    t.numel() * t.kind().elt_size_in_bytes()
}

impl Drop for Dist {
    fn drop(&mut self) {
        self.heartbeat_stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>, DistError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn torchrun_variables_are_read_and_bad_ones_named() {
        assert_eq!(launch(&[]).expect("no launch"), None);
        let l = launch(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.2"),
            ("MASTER_PORT", "29400"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ])
        .expect("valid")
        .expect("a launch");
        assert_eq!(
            (l.rank, l.world_size, l.local_rank, l.master_port),
            (3, 4, 1, 29400)
        );
        assert_eq!(l.agent_store, Some(2));
        assert_eq!(l.store_prefix(), "/worker/attempt_2/ganlab/");
        let err = |vars: &[(&str, &str)]| launch(vars).expect_err("invalid").to_string();
        assert!(err(&[
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1")
        ])
        .contains("RANK is not"));
        assert!(err(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1")
        ])
        .contains("RANK=2 is not below WORLD_SIZE=2"));
        assert!(err(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "http")
        ])
        .contains("MASTER_PORT=\"http\" is not a TCP port"));
        assert!(err(&[("WORLD_SIZE", "two")]).contains("WORLD_SIZE=\"two\""));
    }
}
