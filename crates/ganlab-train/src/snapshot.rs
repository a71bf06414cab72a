//! Snapshots: G, D, both optimisers' states and the training position in one safetensors file,
//! written atomically.

use crate::files::write_atomically;
use anyhow::{bail, Context, Result};
use ganlab_data::BatchPosition;
use ganlab_optim::Optimizer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Tensor};

/// Where training stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Real images shown to D so far.
    pub images_shown: u64,
    /// Ticks completed.
    pub ticks: u64,
    /// Critic steps taken.
    pub critic_steps: u64,
    /// Position in the stream of real batches.
    pub batches: BatchPosition,
}

/// The file name of the snapshot taken after `images_shown` images.
pub fn snapshot_name(images_shown: u64) -> String {
    format!(
        "snapshot-kimg{:07.2}.safetensors",
        images_shown as f64 / 1000.0
    )
}

fn with_prefix(
    prefix: &str,
    named: Vec<(String, Tensor)>,
) -> impl Iterator<Item = (String, Tensor)> + '_ {
    named
        .into_iter()
        .map(move |(k, t)| (format!("{prefix}.{k}"), t))
}

/// The kimg in a snapshot file name (`snapshot-kimg0012.50.safetensors` → 12.5).
pub fn kimg_of_name(name: &str) -> Option<f64> {
    name.strip_prefix("snapshot-kimg")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// The periodic snapshots of a run directory, oldest first (ordered by their kimg, not by name:
/// names pass 9999.99 kimg in width). Snapshots are written atomically, so each one listed is
/// complete; temporary files of an interrupted write are not listed.
pub fn list(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut snapshots: Vec<(f64, PathBuf)> = std::fs::read_dir(run_dir)
        .with_context(|| format!("cannot list {}", run_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            p.file_name()
                .and_then(|n| kimg_of_name(&n.to_string_lossy()))
                .map(|k| (k, p.clone()))
        })
        .collect();
    snapshots.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(snapshots.into_iter().map(|(_, p)| p).collect())
}

/// The newest periodic snapshot of a run directory (snapshots are written atomically, so every
/// one listed is complete).
pub fn newest(run_dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(run_dir)?.pop())
}

/// Retention: deletes all but the newest `keep` periodic snapshots (0 keeps all); returns the
/// deleted paths.
pub fn prune(run_dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let all = list(run_dir)?;
    if keep == 0 || all.len() <= keep {
        return Ok(Vec::new());
    }
    let old = all[..all.len() - keep].to_vec();
    for path in &old {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot delete old snapshot {}", path.display()))?;
    }
    Ok(old)
}

/// Writes the networks (`("G", &g_vs)`, `("D", &d_vs)`, `("G_ema", ..)`), the optimisers and the
/// progress to `path` (a run's `snapshot-kimgXXXX.XX.safetensors` or `best.safetensors`),
/// atomically.
pub fn save_as(
    path: &Path,
    networks: &[(&str, &VarStore)],
    opt_g: &dyn Optimizer,
    opt_d: &dyn Optimizer,
    progress: Progress,
    last_lod: Option<f64>,
    extra: Vec<(String, Tensor)>,
) -> Result<PathBuf> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (prefix, vs) in networks {
        named.extend(with_prefix(prefix, vs.variables().into_iter().collect()));
    }
    named.extend(with_prefix("opt_g", opt_g.state()));
    named.extend(with_prefix("opt_d", opt_d.state()));
    let counters = [
        ("progress.images_shown", progress.images_shown as i64),
        ("progress.ticks", progress.ticks as i64),
        ("progress.critic_steps", progress.critic_steps as i64),
        ("progress.batch_epoch", progress.batches.epoch as i64),
        ("progress.batch_index", progress.batches.index as i64),
    ];
    named.extend(
        counters
            .iter()
            .map(|(k, v)| (k.to_string(), Tensor::from(*v))),
    );
    if let Some(lod) = last_lod {
        named.push(("progress.last_lod".to_string(), Tensor::from(lod)));
    }
    named.extend(extra);
    // safetensors wants contiguous CPU tensors.
    let named: Vec<(String, Tensor)> = named
        .into_iter()
        .map(|(k, t)| (k, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    write_atomically(path, |tmp| {
        Tensor::write_safetensors(&named, tmp)
            .with_context(|| format!("cannot write snapshot {}", tmp.display()))
    })?;
    Ok(path.to_path_buf())
}

/// For a periodic snapshot that cannot be read (damaged after it was written, e.g. by a failing
/// disk or a copy cut short): the run's snapshot before it, which `--resume` reaches once the
/// damaged one is moved aside; nothing is chosen in the user's place.
fn previous_snapshot_hint(path: &Path) -> String {
    let (Some(dir), Some(kimg)) = (
        path.parent(),
        path.file_name()
            .and_then(|n| kimg_of_name(&n.to_string_lossy())),
    ) else {
        return String::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let previous = list(dir).ok().and_then(|all| {
        all.into_iter().rfind(|p| {
            p.file_name()
                .and_then(|n| kimg_of_name(&n.to_string_lossy()))
                < Some(kimg)
        })
    });
    match previous {
        Some(p) => format!(
            " (the run's previous snapshot is {}: move this one aside and resume again to \
             continue from there)",
            p.display()
        ),
        None => String::new(),
    }
}

/// A snapshot read back: tensors by name.
#[derive(Debug)]
pub struct Snapshot {
    pub tensors: BTreeMap<String, Tensor>,
    pub path: PathBuf,
}

impl Snapshot {
    /// Reads a snapshot file.
    pub fn read(path: &Path) -> Result<Snapshot> {
        let tensors = Tensor::read_safetensors(path).with_context(|| {
            format!(
                "{}: not a readable snapshot{}",
                path.display(),
                previous_snapshot_hint(path)
            )
        })?;
        Ok(Snapshot {
            tensors: tensors.into_iter().collect(),
            path: path.to_path_buf(),
        })
    }

    /// The tensors under `prefix.` with the prefix removed.
    pub fn section(&self, prefix: &str) -> BTreeMap<String, Tensor> {
        let p = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, t)| {
                k.strip_prefix(&p)
                    .map(|rest| (rest.to_string(), t.shallow_clone()))
            })
            .collect()
    }

    /// Copies the `prefix` section into a var store; every variable must be present with its shape.
    pub fn load_into(&self, prefix: &str, vs: &VarStore) -> Result<()> {
        let section = self.section(prefix);
        for (name, mut var) in vs.variables() {
            let saved = section.get(&name).with_context(|| {
                format!("{}: snapshot has no `{prefix}.{name}`", self.path.display())
            })?;
            if saved.size() != var.size() {
                bail!(
                    "{}: `{prefix}.{name}` has shape {:?}, the network expects {:?}",
                    self.path.display(),
                    saved.size(),
                    var.size()
                );
            }
            tch::no_grad(|| var.copy_(saved));
        }
        Ok(())
    }

    /// The training position stored in the snapshot.
    pub fn progress(&self) -> Result<Progress> {
        let get = |k: &str| -> Result<i64> {
            let t = self
                .tensors
                .get(k)
                .with_context(|| format!("{}: snapshot has no `{k}`", self.path.display()))?;
            Ok(t.int64_value(&[]))
        };
        Ok(Progress {
            images_shown: get("progress.images_shown")? as u64,
            ticks: get("progress.ticks")? as u64,
            critic_steps: get("progress.critic_steps")? as u64,
            batches: BatchPosition {
                epoch: get("progress.batch_epoch")? as u64,
                index: get("progress.batch_index")? as usize,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, images_shown: u64) -> PathBuf {
        let path = dir.join(snapshot_name(images_shown));
        let t = Tensor::from_slice(&[images_shown as f32]);
        Tensor::write_safetensors(&[("x", &t)], &path).expect("write");
        path
    }

    #[test]
    fn a_damaged_snapshot_names_the_one_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = write(dir.path(), 2_000);
        let second = write(dir.path(), 4_000);
        let newest = write(dir.path(), 12_000);
        assert_eq!(Snapshot::read(&second).expect("intact").tensors.len(), 1);
        // A copy cut short: the header promises more bytes than the file holds.
        let bytes = std::fs::read(&newest).expect("read");
        std::fs::write(&newest, &bytes[..bytes.len() - 2]).expect("cut");
        let message = format!("{:#}", Snapshot::read(&newest).expect_err("damaged"));
        assert!(
            message.contains("snapshot-kimg0012.00.safetensors: not a readable snapshot")
                && message.contains(&format!("previous snapshot is {}", second.display())),
            "{message}"
        );
        // The oldest has no snapshot before it, and a file outside a run's names gets no hint.
        std::fs::write(&first, b"not a snapshot").expect("overwrite");
        let message = format!("{:#}", Snapshot::read(&first).expect_err("damaged"));
        assert!(!message.contains("previous"), "{message}");
        let other = dir.path().join("best.safetensors");
        std::fs::write(&other, b"not a snapshot").expect("write");
        let message = format!("{:#}", Snapshot::read(&other).expect_err("damaged"));
        assert!(
            message.contains("best.safetensors: not a readable snapshot"),
            "{message}"
        );
        assert!(!message.contains("previous"), "{message}");
    }
}
