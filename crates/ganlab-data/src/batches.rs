//! Seeded shuffling and batching. The order of epoch e is a pure function of (seed, e), so a
//! position (epoch, index) is all that a snapshot needs to resume the same stream of batches.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

/// Where a batch stream stands: the epoch and the next index into its permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BatchPosition {
    pub epoch: u64,
    pub index: usize,
}

/// The seeded order in which an endless stream visits the samples: every epoch visits every
/// index once, in an order drawn from (seed, epoch); a batch that would cross an epoch's end is
/// completed from the next epoch. It hands out indices, so any [`crate::ImageSource`] (in memory
/// or streamed) can serve the samples.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    len: usize,
    seed: u64,
    batch_size: usize,
    position: BatchPosition,
    permutation: Vec<i64>,
}

impl BatchOrder {
    /// The order over `len` samples, `batch_size` at a time, seeded by `seed`.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> BatchOrder {
        BatchOrder {
            len,
            seed,
            batch_size,
            position: BatchPosition::default(),
            permutation: permutation(len, seed, 0),
        }
    }

    /// The current position (for snapshots).
    pub fn position(&self) -> BatchPosition {
        self.position
    }

    /// Continues from a saved position.
    pub fn seek(&mut self, position: BatchPosition) {
        self.permutation = permutation(self.len, self.seed, position.epoch);
        self.position = position;
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Changes the batch size (schedules change it between phases).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size;
    }

    /// The indices [`BatchOrder::next_indices`] will hand out next, without moving on (what a
    /// streamed source prefetches).
    pub fn peek_indices(&self) -> Vec<i64> {
        let n = self.permutation.len();
        let mut indices = Vec::with_capacity(self.batch_size);
        let (mut epoch, mut index) = (self.position.epoch, self.position.index);
        let mut later: Option<Vec<i64>> = None;
        while indices.len() < self.batch_size && n > 0 {
            if index >= n {
                epoch += 1;
                index = 0;
                later = Some(permutation(n, self.seed, epoch));
            }
            let order = later.as_deref().unwrap_or(&self.permutation);
            let take = (self.batch_size - indices.len()).min(n - index);
            indices.extend_from_slice(&order[index..index + take]);
            index += take;
        }
        indices
    }

    /// The indices of the next batch.
    pub fn next_indices(&mut self) -> Vec<i64> {
        let n = self.permutation.len();
        let mut indices = Vec::with_capacity(self.batch_size);
        while indices.len() < self.batch_size && n > 0 {
            if self.position.index >= n {
                self.position = BatchPosition {
                    epoch: self.position.epoch + 1,
                    index: 0,
                };
                self.permutation = permutation(n, self.seed, self.position.epoch);
            }
            let take = (self.batch_size - indices.len()).min(n - self.position.index);
            indices.extend_from_slice(
                &self.permutation[self.position.index..self.position.index + take],
            );
            self.position.index += take;
        }
        indices
    }
}

/// An endless stream of shuffled batches of one in-memory tensor, in the order of a
/// [`BatchOrder`].
#[derive(Debug)]
pub struct Batches {
    images: Tensor,
    order: BatchOrder,
    device: Device,
}

impl Batches {
    /// Batches of `batch_size` images from `images` [N, ...], moved to `device`.
    pub fn new(images: &Tensor, batch_size: usize, seed: u64, device: Device) -> Batches {
        let n = images.size()[0] as usize;
        Batches {
            images: images.shallow_clone(),
            order: BatchOrder::new(n, batch_size, seed),
            device,
        }
    }

    /// The current position (for snapshots).
    pub fn position(&self) -> BatchPosition {
        self.order.position()
    }

    /// Continues from a saved position.
    pub fn seek(&mut self, position: BatchPosition) {
        self.order.seek(position);
    }

    /// Changes the batch size (schedules change it between phases).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.order.set_batch_size(batch_size);
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Tensor {
        let indices = self.order.next_indices();
        self.images
            .index_select(0, &Tensor::from_slice(&indices))
            .to_device(self.device)
    }
}

/// The order of epoch `epoch`: a Fisher–Yates shuffle of 0..n seeded by (seed, epoch).
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_visits_every_image_once_and_the_order_is_seeded() {
        let images = Tensor::arange(10, (tch::Kind::Int64, Device::Cpu));
        let mut a = Batches::new(&images, 5, 7, Device::Cpu);
        let mut seen: Vec<i64> = Vec::new();
        for _ in 0..2 {
            seen.extend(Vec::<i64>::try_from(a.next_batch()).expect("int64 batch"));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        let mut b = Batches::new(&images, 5, 7, Device::Cpu);
        let first_b = Vec::<i64>::try_from(b.next_batch()).expect("int64 batch");
        assert_eq!(first_b, seen[..5].to_vec());
        let mut c = Batches::new(&images, 5, 8, Device::Cpu);
        let first_c = Vec::<i64>::try_from(c.next_batch()).expect("int64 batch");
        assert_ne!(
            first_c,
            seen[..5].to_vec(),
            "another seed gives another order"
        );
    }

    #[test]
    fn peeking_shows_the_next_batch_also_across_an_epoch_end() {
        let mut order = BatchOrder::new(7, 3, 11);
        for step in 0..12 {
            if step == 5 {
                order.set_batch_size(4);
            }
            let peeked = order.peek_indices();
            assert_eq!(peeked, order.next_indices(), "step {step}");
        }
        assert!(order.position().epoch >= 5);
    }

    #[test]
    fn seeking_resumes_the_same_stream() {
        let images = Tensor::arange(7, (tch::Kind::Int64, Device::Cpu));
        let mut a = Batches::new(&images, 3, 1, Device::Cpu);
        let _ = a.next_batch();
        let _ = a.next_batch();
        let pos = a.position();
        let rest_a: Vec<Vec<i64>> = (0..4)
            .map(|_| Vec::<i64>::try_from(a.next_batch()).expect("int64"))
            .collect();
        let mut b = Batches::new(&images, 3, 1, Device::Cpu);
        b.seek(pos);
        let rest_b: Vec<Vec<i64>> = (0..4)
            .map(|_| Vec::<i64>::try_from(b.next_batch()).expect("int64"))
            .collect();
        assert_eq!(rest_a, rest_b);
    }
}
