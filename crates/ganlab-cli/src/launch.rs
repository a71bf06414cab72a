//! Data-parallel launching: joining a group from torchrun's environment, and `gan train
//! --nproc-per-node N`, which starts N local workers itself for users without torchrun (as
//! `torchrun --standalone --nproc-per-node N --no-python gan train ...` would).

use anyhow::{bail, Context, Result};
use ganlab_dist::{Backend, Dist, Launch};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default of `--dist-timeout`: how long a rank waits in one collective (PyTorch's Gloo
/// default is 30 minutes; a lost rank is usually found at once, since its connections close).
pub const DEFAULT_TIMEOUT_S: f64 = 300.0;

/// This process's data-parallel group, when torchrun (or `--nproc-per-node`) launched it with a
/// `WORLD_SIZE` above 1; `None` for a single process.
pub fn join(device: tch::Device, timeout: Duration) -> Result<Option<Arc<Dist>>> {
    let Some(launch) = Launch::from_env()? else {
        return Ok(None);
    };
    if launch.world_size == 1 {
        return Ok(None);
    }
    let backend = Backend::for_device(device);
    let dist = Dist::connect(&launch, backend, timeout)?;
    Ok(Some(Arc::new(dist)))
}

/// A free TCP port on 127.0.0.1 (the store of a local launch).
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// The command line without `--nproc-per-node N` (or `--nproc-per-node=N`).
fn worker_args(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        match a.to_str() {
            Some("--nproc-per-node") => skip = true,
            Some(s) if s.starts_with("--nproc-per-node=") => {}
            _ => out.push(a.clone()),
        }
    }
    out
}

/// How a worker ended, in words.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(9)) => "was killed by SIGKILL".into(),
        (None, Some(15)) => "was stopped by SIGTERM".into(),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

static FORWARD_STOP: AtomicBool = AtomicBool::new(false);

/// Starts `n` workers of this same command (`RANK` 0..n on 127.0.0.1), waits for all of them,
/// and fails naming the first rank that failed. When one fails, the others get `timeout` plus
/// a grace period to notice and stop by themselves (they exit naming the lost rank), then are
/// killed. Ctrl-C reaches the workers directly (same process group); SIGTERM to this process is
/// forwarded to them.
pub fn local_workers(n: usize, timeout: Duration) -> Result<()> {
    if n == 0 {
        bail!("--nproc-per-node must be at least 1");
    }
    let exe = std::env::current_exe().context("cannot find the gan executable to start workers")?;
    let args = worker_args(&std::env::args_os().skip(1).collect::<Vec<_>>());
    let port = match std::env::var("MASTER_PORT") {
        Ok(p) => p,
        Err(_) => free_port()?.to_string(),
    };
    // The workers handle SIGINT themselves (a snapshot, then exit); this process only waits.
    let _ = ctrlc::set_handler(|| FORWARD_STOP.store(true, Ordering::SeqCst));
    eprintln!("gan: starting {n} workers on 127.0.0.1:{port}");
    let mut children: Vec<(usize, Child)> = Vec::new();
    for rank in 0..n {
        let child = Command::new(&exe)
            .args(&args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("LOCAL_WORLD_SIZE", n.to_string())
            .env("GROUP_RANK", "0")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .spawn()
            .with_context(|| format!("cannot start worker {rank} ({})", exe.display()));
        match child {
            Ok(c) => children.push((rank, c)),
            Err(e) => {
                for (_, c) in &mut children {
                    let _ = c.kill();
                }
                return Err(e);
            }
        }
    }
    let mut failures: Vec<String> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut forwarded = false;
    while !children.is_empty() {
        if FORWARD_STOP.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            for (_, c) in &children {
                let _ = Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
            }
        }
        let mut still = Vec::new();
        for (rank, mut child) in children {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {}
                Ok(Some(status)) => {
                    failures.push(format!(
                        "rank {rank} (pid {}) {}",
                        child.id(),
                        describe(status)
                    ));
                    deadline.get_or_insert(Instant::now() + timeout + Duration::from_secs(30));
                }
                Ok(None) => still.push((rank, child)),
                Err(e) => failures.push(format!("rank {rank}: cannot wait for it: {e}")),
            }
        }
        children = still;
        if deadline.is_some_and(|d| Instant::now() > d) {
            for (rank, c) in &mut children {
                let _ = c.kill();
                let _ = c.wait();
                failures.push(format!("rank {rank} did not stop by itself and was killed"));
            }
            children.clear();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !failures.is_empty() {
        bail!("{n} workers: {}", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workers_get_the_command_line_without_the_launch_option() {
        let args: Vec<OsString> = [
            "train",
            "--nproc-per-node",
            "2",
            "--kimg",
            "1",
            "--nproc-per-node=3",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            worker_args(&args),
            ["train", "--kimg", "1"].map(OsString::from).to_vec()
        );
    }
}
