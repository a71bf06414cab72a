//! Dynamic loss scaling for float16 training, with `torch.amp.GradScaler`'s semantics
//! (Micikevicius et al. 2018, "Mixed Precision Training", §3.2): the loss is multiplied by a
//! scale before the backward pass so that small float16 gradients do not flush to zero; the
//! gradients are divided by it again before the optimiser step; a step whose gradients hold an
//! infinity or a NaN is skipped and the scale backed off (×0.5); after `growth_interval` (2,000)
//! clean steps in a row the scale grows (×2). Initial scale 2^16. One scaler per optimiser.
//!
//! The unscale-and-check is `_amp_foreach_non_finite_check_and_unscale_`'s (each gradient is
//! checked for non-finite values, then multiplied by the float32 reciprocal of the scale), done
//! with plain operations because tch 0.24 does not bind it; the update is libtorch's own
//! `_amp_update_scale_`. The state (scale and the count of clean steps) is two tensors that go
//! into every snapshot, so a resumed run scales, skips and grows exactly as the uninterrupted
//! one.

use tch::{Device, Kind, Tensor};

/// `GradScaler`'s defaults.
pub const INIT_SCALE: f64 = 65536.0;
pub const GROWTH_FACTOR: f64 = 2.0;
pub const BACKOFF_FACTOR: f64 = 0.5;
pub const GROWTH_INTERVAL: i64 = 2000;

/// One optimiser's loss scale.
#[derive(Debug)]
pub struct GradScaler {
    /// The scale, float32 `[1]` (as PyTorch keeps it).
    pub scale: Tensor,
    /// Clean steps since the last growth or backoff, int32 `[1]`.
    pub growth_tracker: Tensor,
    pub growth_interval: i64,
    /// Steps skipped since the scaler was made or loaded (not persisted: a tick's count).
    pub skipped: u64,
}

impl GradScaler {
    /// A scaler with `GradScaler`'s defaults on `device`.
    pub fn new(device: Device) -> GradScaler {
        GradScaler::with_interval(device, GROWTH_INTERVAL)
    }

    /// A scaler that grows after `growth_interval` clean steps (tests use a short one).
    pub fn with_interval(device: Device, growth_interval: i64) -> GradScaler {
        GradScaler {
            scale: Tensor::full([1], INIT_SCALE, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([1], (Kind::Int, device)),
            growth_interval,
            skipped: 0,
        }
    }

    /// The scale now.
    pub fn scale_value(&self) -> f64 {
        self.scale.double_value(&[0])
    }

    /// `loss` times the scale (what the backward pass runs from).
    pub fn scale_loss(&self, loss: &Tensor) -> Tensor {
        loss * self.scale.to_kind(loss.kind()).squeeze()
    }

    /// Divides the gradients by the scale in place and says whether any held an infinity or a
    /// NaN before (`found_inf`, float32 `[1]`, 1 or 0): the step must then be skipped.
    pub fn unscale(&self, grads: &[Tensor]) -> Tensor {
        let inv = self
            .scale
            .to_kind(Kind::Double)
            .reciprocal()
            .to_kind(Kind::Float);
        let mut found = Tensor::zeros([1], (Kind::Float, self.scale.device()));
        for g in grads.iter().filter(|g| g.defined()) {
            let bad = g.isfinite().logical_not().any().to_kind(Kind::Float);
            found = found.maximum(&bad.reshape([1]));
            let mut g = g.shallow_clone();
            let _ = g.g_mul_(&inv.to_kind(g.kind()).squeeze());
        }
        found
    }

    /// `_amp_update_scale_`: after a step with `found_inf`, back off and restart the count;
    /// after a clean one, count it and grow at the interval. Returns whether the step was
    /// skipped.
    pub fn update(&mut self, found_inf: &Tensor) -> bool {
        let _ = self.scale.internal_amp_update_scale_(
            &self.growth_tracker,
            found_inf,
            GROWTH_FACTOR,
            BACKOFF_FACTOR,
            self.growth_interval,
        );
        let skipped = found_inf.double_value(&[0]) > 0.0;
        self.skipped += skipped as u64;
        skipped
    }

    /// The state as snapshot tensors: `PREFIX.scale`, `PREFIX.growth_tracker`.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}.scale"), self.scale.shallow_clone()),
            (
                format!("{prefix}.growth_tracker"),
                self.growth_tracker.shallow_clone(),
            ),
        ]
    }

    /// Loads the state `state` wrote from a snapshot's tensors; `false` when they are absent (a
    /// snapshot of a float32 or bf16 run: the scaler starts fresh).
    pub fn load(
        &mut self,
        tensors: &std::collections::BTreeMap<String, Tensor>,
        prefix: &str,
    ) -> bool {
        let get = |name: &str| tensors.get(&format!("{prefix}.{name}"));
        match (get("scale"), get("growth_tracker")) {
            (Some(scale), Some(tracker)) => {
                let device = self.scale.device();
                self.scale = scale.to_kind(Kind::Float).to_device(device).reshape([1]);
                self.growth_tracker = tracker.to_kind(Kind::Int).to_device(device).reshape([1]);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_injected_inf_skips_and_backs_off_clean_steps_grow_the_scale() {
        let mut s = GradScaler::with_interval(Device::Cpu, 3);
        let grad = || Tensor::from_slice(&[65536.0f32, -131072.0]);
        // A clean step: unscaled, counted.
        let g = grad();
        let found = s.unscale(std::slice::from_ref(&g));
        assert_eq!(Vec::<f32>::try_from(&g).expect("values"), [1.0, -2.0]);
        assert!(!s.update(&found));
        // An infinity: skipped, scale halved, count restarted.
        let bad = Tensor::from_slice(&[1.0f32, f32::INFINITY]);
        assert!(s.update(&s.unscale(&[bad])));
        assert_eq!((s.scale_value(), s.skipped), (32768.0, 1));
        assert_eq!(s.growth_tracker.int64_value(&[0]), 0);
        let nan = Tensor::from_slice(&[f32::NAN]);
        assert!(s.update(&s.unscale(&[nan])));
        assert_eq!(s.scale_value(), 16384.0);
        // Three clean steps in a row: the scale doubles and the count restarts.
        for i in 0..3 {
            assert!(!s.update(&s.unscale(&[grad()])));
            let expected = if i < 2 { 16384.0 } else { 32768.0 };
            assert_eq!(s.scale_value(), expected, "clean step {i}");
        }
        assert_eq!(s.growth_tracker.int64_value(&[0]), 0);
        // The state round-trips through snapshot tensors.
        let state: std::collections::BTreeMap<String, Tensor> =
            s.state("scaler_d").into_iter().collect();
        let mut fresh = GradScaler::with_interval(Device::Cpu, 3);
        assert!(fresh.load(&state, "scaler_d"));
        assert_eq!(fresh.scale_value(), 32768.0);
        assert!(!fresh.load(&std::collections::BTreeMap::new(), "scaler_d"));
    }
}
