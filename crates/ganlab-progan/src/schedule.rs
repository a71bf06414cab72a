//! The training schedule as a pure function of images shown (official `TrainingSchedule`):
//! each phase trains `lod_training_kimg` at a resolution, then fades the next one in over
//! `lod_transition_kimg`; the level of detail (lod) counts down from log2(R / initial) to 0.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ProGAN's schedule settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Resolution training starts at (4).
    pub initial_resolution: i64,
    /// Final resolution R (a power of two, 8 … 1024).
    pub final_resolution: i64,
    /// Stable training per resolution, kimg (paper: 600; 800 in the 1-GPU v1 config).
    pub lod_training_kimg: f64,
    /// Fade-in per new resolution, kimg (paper: 600; 800 in the 1-GPU v1 config).
    pub lod_transition_kimg: f64,
    /// Batch size where the table has no entry (official `minibatch_base`).
    pub minibatch_base: usize,
    /// Batch size per resolution (official `minibatch_dict`); keys are resolutions.
    pub minibatch: BTreeMap<i64, usize>,
    /// Learning rate of G and D where the table has no entry (official `G_lrate_base`: 0.001).
    pub lr_base: f64,
    /// Learning rate per resolution (official `G_lrate_dict`, e.g. {1024: 0.0015}).
    pub lr: BTreeMap<i64, f64>,
    /// D's learning rate as a multiple of G's (1 in the paper; 4 for the two time-scale update
    /// rule, Heusel et al. 2017). Written only when not 1.
    #[serde(skip_serializing_if = "is_one")]
    pub lr_d_factor: f64,
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl Default for Schedule {
    /// The official defaults (`TrainingSchedule`: 600 + 600 kimg, minibatch 16, lr 0.001) with
    /// the minibatch table of the paper's single-GPU `preset-v2-1gpu`, for R = 32.
    fn default() -> Self {
        Schedule {
            initial_resolution: 4,
            final_resolution: 32,
            lod_training_kimg: 600.0,
            lod_transition_kimg: 600.0,
            minibatch_base: 16,
            minibatch: BTreeMap::from([
                (4, 128),
                (8, 128),
                (16, 128),
                (32, 64),
                (64, 32),
                (128, 16),
                (256, 8),
                (512, 4),
            ]),
            lr_base: 0.001,
            lr: BTreeMap::new(),
            lr_d_factor: 1.0,
        }
    }
}

/// Where training stands at a given number of images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub kimg: f64,
    /// Level of detail: log2(R / resolution being trained), fractional during a fade.
    pub lod: f64,
    /// The resolution of G's output and D's input (the new one during a fade).
    pub resolution: i64,
    /// Fade-in α of the newest block: 0 when it starts fading in, 1 when stable.
    pub alpha: f64,
    pub batch_size: usize,
    pub lr: f64,
    /// Index of the phase (stable + fade) the count falls in.
    pub phase_index: u64,
}

fn log2_exact(v: i64) -> Option<u32> {
    (v > 0 && v.count_ones() == 1).then(|| v.trailing_zeros())
}

impl Schedule {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what, expected: &str, got: String| {
            Err(Error::InvalidSetting {
                what,
                expected: expected.into(),
                got,
            })
        };
        match log2_exact(self.final_resolution) {
            Some(l) if (3..=10).contains(&l) => {}
            _ => {
                return bad(
                    "final_resolution",
                    "a power of two from 8 to 1024",
                    self.final_resolution.to_string(),
                )
            }
        }
        match log2_exact(self.initial_resolution) {
            Some(l) if l >= 2 && self.initial_resolution <= self.final_resolution => {}
            _ => {
                return bad(
                    "initial_resolution",
                    "a power of two from 4 to final_resolution",
                    self.initial_resolution.to_string(),
                )
            }
        }
        if !(self.lod_training_kimg >= 0.0
            && self.lod_transition_kimg >= 0.0
            && self.lod_training_kimg + self.lod_transition_kimg > 0.0)
        {
            return bad(
                "lod_training_kimg / lod_transition_kimg",
                ">= 0 with a positive sum",
                format!("{} / {}", self.lod_training_kimg, self.lod_transition_kimg),
            );
        }
        if self.minibatch_base == 0 || self.minibatch.values().any(|&b| b == 0) {
            return bad(
                "minibatch",
                "batch sizes >= 1",
                format!("{} / {:?}", self.minibatch_base, self.minibatch),
            );
        }
        let not_positive = |x: f64| x.is_nan() || x <= 0.0;
        if not_positive(self.lr_d_factor) || !self.lr_d_factor.is_finite() {
            return bad("lr_d_factor", "a number > 0", self.lr_d_factor.to_string());
        }
        if not_positive(self.lr_base) || self.lr.values().any(|&l| not_positive(l)) {
            return bad(
                "lr",
                "learning rates > 0",
                format!("{} / {:?}", self.lr_base, self.lr),
            );
        }
        Ok(())
    }

    /// The phase after `images_shown` images (official `TrainingSchedule`).
    pub fn at(&self, images_shown: u64) -> Phase {
        let kimg = images_shown as f64 / 1000.0;
        let final_log2 = self.final_resolution.trailing_zeros() as f64;
        let phase_duration = self.lod_training_kimg + self.lod_transition_kimg;
        let phase_index = (kimg / phase_duration).floor();
        let phase_kimg = kimg - phase_index * phase_duration;
        let mut lod = final_log2 - (self.initial_resolution as f64).log2().floor() - phase_index;
        if self.lod_transition_kimg > 0.0 {
            lod -= (phase_kimg - self.lod_training_kimg).max(0.0) / self.lod_transition_kimg;
        }
        let lod = lod.max(0.0);
        let resolution = 1i64 << (final_log2 as i64 - lod.floor() as i64);
        let alpha = 1.0 - (lod - lod.floor());
        Phase {
            kimg,
            lod,
            resolution,
            alpha,
            batch_size: *self
                .minibatch
                .get(&resolution)
                .unwrap_or(&self.minibatch_base),
            lr: *self.lr.get(&resolution).unwrap_or(&self.lr_base),
            phase_index: phase_index as u64,
        }
    }

    /// Images shown when training reaches the final resolution with α = 1.
    pub fn kimg_to_final_resolution(&self) -> f64 {
        let steps = (self.final_resolution / self.initial_resolution).trailing_zeros() as f64;
        steps * (self.lod_training_kimg + self.lod_transition_kimg)
    }

    /// The phase table: one row per stable stretch and per fade, for `--print-schedule`.
    pub fn table(&self) -> String {
        self.table_until(f64::INFINITY)
    }

    /// [`Schedule::table`] for a run of `run_kimg`: the row in which the run ends is marked,
    /// and the rows it never reaches are marked as such.
    pub fn table_until(&self, run_kimg: f64) -> String {
        let mut out =
            String::from("  kimg from → to      | resolution | α          | batch | lr\n");
        let steps = (self.final_resolution / self.initial_resolution).trailing_zeros() as i64;
        let mut start = 0.0;
        let mut resolution = self.initial_resolution;
        let mark = |from: f64, to: f64| -> &'static str {
            if from >= run_kimg {
                "   (not reached)"
            } else if run_kimg <= to && run_kimg.is_finite() {
                "   ← the run ends here"
            } else {
                ""
            }
        };
        for step in 0..=steps {
            let probe = self.at((start * 1000.0) as u64 + 1);
            let stable_end = if step == steps {
                f64::INFINITY
            } else {
                start + self.lod_training_kimg
            };
            let end = if stable_end.is_finite() {
                format!("{stable_end:>8.1}")
            } else {
                "     end".into()
            };
            out.push_str(&format!(
                "  {start:>8.1} → {end} | {resolution:>4}x{resolution:<5} | 1 (stable) | {:>5} | {}{}\n",
                probe.batch_size,
                probe.lr,
                mark(start, stable_end)
            ));
            if step == steps {
                break;
            }
            let next = resolution * 2;
            let fade_end = stable_end + self.lod_transition_kimg;
            let fade = self.at(((stable_end + self.lod_transition_kimg / 2.0) * 1000.0) as u64);
            out.push_str(&format!(
                "  {stable_end:>8.1} → {fade_end:>8.1} | {next:>4}x{next:<5} | 0 → 1 fade | {:>5} | {}{}\n",
                fade.batch_size,
                fade.lr,
                mark(stable_end, fade_end)
            ));
            start = fade_end;
            resolution = next;
        }
        out
    }

    /// For a run of `run_kimg` that stops before the final resolution is trained with α = 1:
    /// where it stops and how long a run that reaches the end would be. `None` when the run
    /// reaches it.
    pub fn shortfall(&self, run_kimg: f64) -> Option<String> {
        let needed = self.kimg_to_final_resolution();
        if run_kimg >= needed {
            return None;
        }
        let end = self.at((run_kimg * 1000.0).round() as u64);
        let place = if end.alpha < 1.0 {
            format!(
                "in the middle of the {r}x{r} fade-in (α = {:.2})",
                end.alpha,
                r = end.resolution
            )
        } else {
            format!("at {r}x{r}", r = end.resolution)
        };
        Some(format!(
            "the run stops at {run_kimg} kimg, {place}, before the final {f}x{f}, which the \
             schedule reaches at {needed} kimg (train longer with --kimg)",
            f = self.final_resolution
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(final_resolution: i64) -> Schedule {
        Schedule {
            final_resolution,
            minibatch: BTreeMap::new(),
            ..Default::default()
        }
    }

    #[test]
    fn resolution_and_alpha_match_the_hand_computed_table() {
        // By hand from the official formulas, R = 32, 600 + 600 kimg:
        //  kimg    lod   resolution  α
        //     0    3       4         1
        //   599    3       4         1
        //   900    2.5     8         0.5   (half-way through the 4 → 8 fade)
        //  1200    2       8         1
        //  1950    1.75   16         0.25  (a quarter into 8 → 16: 1800 + 150)
        //  3000    1      16 → 32 starts: lod 1, resolution 16, α 1
        //  3300    0.5    32         0.5
        //  3600+   0      32         1
        let s = paper(32);
        let cases = [
            (0.0, 3.0, 4, 1.0),
            (599.0, 3.0, 4, 1.0),
            (900.0, 2.5, 8, 0.5),
            (1200.0, 2.0, 8, 1.0),
            (1950.0, 1.75, 16, 0.25),
            (3000.0, 1.0, 16, 1.0),
            (3300.0, 0.5, 32, 0.5),
            (3600.0, 0.0, 32, 1.0),
            (10_000.0, 0.0, 32, 1.0),
        ];
        for (kimg, lod, resolution, alpha) in cases {
            let p = s.at((kimg * 1000.0) as u64);
            assert!(
                (p.lod - lod).abs() < 1e-12,
                "kimg {kimg}: lod {} vs {lod}",
                p.lod
            );
            assert_eq!(p.resolution, resolution, "kimg {kimg}");
            assert!(
                (p.alpha - alpha).abs() < 1e-12,
                "kimg {kimg}: α {} vs {alpha}",
                p.alpha
            );
        }
        assert_eq!(s.kimg_to_final_resolution(), 3600.0);
    }

    #[test]
    fn the_1gpu_v1_config_reaches_1024_after_8_phases_of_1600_kimg() {
        let s = Schedule {
            final_resolution: 1024,
            lod_training_kimg: 800.0,
            lod_transition_kimg: 800.0,
            ..Default::default()
        };
        assert_eq!(s.at(0).lod, 8.0);
        assert_eq!(s.at(0).resolution, 4);
        let p = s.at(12_800_000 - 400_000); // half-way through the 512 → 1024 fade
        assert_eq!((p.resolution, p.alpha), (1024, 0.5));
        assert_eq!(s.at(12_800_000).lod, 0.0);
        assert_eq!(s.kimg_to_final_resolution(), 12_800.0);
    }

    #[test]
    fn batch_size_and_lr_follow_the_tables() {
        let s = Schedule {
            lr: BTreeMap::from([(32, 0.0015)]),
            ..Default::default()
        };
        assert_eq!(s.at(0).batch_size, 128);
        assert_eq!(s.at(3_300_000).batch_size, 64);
        assert_eq!(s.at(0).lr, 0.001);
        assert_eq!(s.at(3_300_000).lr, 0.0015);
        assert!(s.table().contains("32x32"), "{}", s.table());
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Schedule {
            final_resolution: 48,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("final_resolution"), "{err}");
        let err = Schedule {
            lod_training_kimg: 0.0,
            lod_transition_kimg: 0.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("lod_training_kimg"), "{err}");
    }

    #[test]
    fn a_run_that_stops_before_the_final_resolution_is_marked_and_named() {
        let schedule = Schedule {
            final_resolution: 1024,
            lod_training_kimg: 30.0,
            lod_transition_kimg: 30.0,
            ..Default::default()
        };
        let table = schedule.table_until(240.0);
        let ends: Vec<&str> = table
            .lines()
            .filter(|l| l.contains("the run ends here"))
            .collect();
        assert_eq!(ends.len(), 1, "{table}");
        assert!(
            ends[0].contains("64x64") && ends[0].contains("fade"),
            "{table}"
        );
        assert_eq!(
            table
                .lines()
                .filter(|l| l.contains("(not reached)"))
                .count(),
            9,
            "{table}"
        );
        let note = schedule
            .shortfall(240.0)
            .expect("240 kimg stop short of 1024");
        assert!(
            note.contains("before the final 1024x1024") && note.contains("480 kimg"),
            "{note}"
        );
        let mid_fade = schedule.shortfall(225.0).expect("short");
        assert!(
            mid_fade.contains("in the middle of the 64x64 fade-in (α = 0.50)"),
            "{mid_fade}"
        );
        assert_eq!(schedule.shortfall(480.0), None);
        assert!(!schedule.table().contains("the run ends here"));
    }
}
