//! Watching a run: metrics every N kimg, the stopping criteria (a target value, a plateau), the
//! best snapshot, and the diagnostics that need a metric (classes missing from the samples, the
//! convergence slope, falls of precision / recall / density / nn-coverage: mode collapse and
//! over-generalization on any images).
//!
//! The monitor's state is a function of the evaluations written to `stats.jsonl`, so a resumed
//! run rebuilds it from the lines it keeps and continues exactly as the uninterrupted run.

pub use crate::config::EvaluationSettings;
use crate::config::TrainConfig;
use crate::evaluation::Evaluation;
use crate::metric::Metric;
use crate::stats::TickStats;
use serde_json::{json, Map, Value};

/// Relative improvement per 100 kimg below which the slow-convergence warning is given.
pub const SLOW_RELATIVE_IMPROVEMENT_PER_100KIMG: f64 = 0.01;
/// Evaluations the convergence slope is fitted over.
pub const SLOPE_WINDOW: usize = 4;

/// Why the monitor stops a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Continue,
    TargetReached {
        metric: Metric,
        value: f64,
        target: f64,
    },
    Plateau {
        metric: Metric,
        best: f64,
        best_kimg: f64,
        evaluations: u32,
    },
}

/// What one evaluation told.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub value: f64,
    /// Whether this is the best value so far (a new best snapshot is due).
    pub improved: bool,
    /// Least-squares slope of the primary metric per kimg over the last evaluations.
    pub slope_per_kimg: Option<f64>,
    pub verdict: Verdict,
    /// One-line warnings (slow convergence).
    pub warnings: Vec<String>,
}

/// The history of the primary metric and the stopping rule.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub primary: Metric,
    lower_better: bool,
    target: Option<f64>,
    patience: u32,
    min_delta: f64,
    /// (kimg, value) of every evaluation.
    pub history: Vec<(f64, f64)>,
    /// (value, kimg) of the best evaluation.
    pub best: Option<(f64, f64)>,
    since_improvement: u32,
    /// The k-NN manifold scores of every evaluation so far, with their kimg (the references of
    /// their diagnostics).
    pub manifold_history: Vec<(f64, ManifoldScores)>,
}

/// Least-squares slope of y against x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

impl Monitor {
    /// A monitor for `config` with no evaluation yet.
    pub fn new(config: &TrainConfig) -> Monitor {
        let s = &config.evaluation;
        let primary = s.resolved_primary(config);
        Monitor {
            lower_better: primary.lower_is_better(),
            primary,
            target: s.target,
            patience: s.patience,
            min_delta: s.min_delta,
            history: Vec::new(),
            best: None,
            since_improvement: 0,
            manifold_history: Vec::new(),
        }
    }

    /// Replays the evaluations recorded in `stats.jsonl` lines (their `eval` objects).
    pub fn replay<'a>(&mut self, ticks: impl IntoIterator<Item = &'a TickStats>) {
        for tick in ticks {
            if let Some(value) = tick.eval_value(self.primary.name()) {
                self.observe(tick.kimg, value);
            }
            let scores = ManifoldScores::of_tick(tick);
            if scores != ManifoldScores::default() {
                self.manifold_history.push((tick.kimg, scores));
            }
        }
    }

    fn better(&self, a: f64, b: f64) -> bool {
        if self.lower_better {
            a < b - self.min_delta
        } else {
            a > b + self.min_delta
        }
    }

    /// The manifold diagnostics of an evaluation at `kimg` against the earlier ones; the history
    /// then includes it.
    pub fn observe_manifold(&mut self, kimg: f64, now: ManifoldScores) -> Vec<String> {
        if now == ManifoldScores::default() {
            return Vec::new();
        }
        let warnings = manifold_warnings(&self.manifold_history, &now);
        self.manifold_history.push((kimg, now));
        warnings
    }

    /// Records an evaluation of the primary metric at `kimg`.
    pub fn observe(&mut self, kimg: f64, value: f64) -> Observation {
        self.history.push((kimg, value));
        let improved = match self.best {
            None => true,
            Some((best, _)) => self.better(value, best),
        };
        if improved {
            self.best = Some((value, kimg));
            self.since_improvement = 0;
        } else {
            self.since_improvement += 1;
        }
        let window = &self.history[self.history.len().saturating_sub(SLOPE_WINDOW)..];
        let slope_per_kimg = slope(window);
        let mut warnings = Vec::new();
        if let (Some(s), true) = (slope_per_kimg, window.len() >= SLOPE_WINDOW) {
            // Improvement per 100 kimg relative to the current value (positive = improving).
            let gain = if self.lower_better { -s } else { s } * 100.0 / value.abs().max(1e-12);
            if gain < SLOW_RELATIVE_IMPROVEMENT_PER_100KIMG {
                warnings.push(format!(
                    "slow convergence: {} changed by {:+.3} per kimg over the last {} evaluations ({:+.1}% per 100 kimg)",
                    self.primary,
                    s,
                    window.len(),
                    gain * 100.0
                ));
            }
        }
        let reached = self.target.is_some_and(|t| {
            if self.lower_better {
                value <= t
            } else {
                value >= t
            }
        });
        let verdict = if reached {
            Verdict::TargetReached {
                metric: self.primary,
                value,
                target: self.target.unwrap_or(value),
            }
        } else if self.patience > 0 && self.since_improvement >= self.patience {
            let (best, best_kimg) = self.best.unwrap_or((value, kimg));
            Verdict::Plateau {
                metric: self.primary,
                best,
                best_kimg,
                evaluations: self.since_improvement,
            }
        } else {
            Verdict::Continue
        };
        Observation {
            value,
            improved,
            slope_per_kimg,
            verdict,
            warnings,
        }
    }
}

/// The per-metric scalars of an evaluation result, plus coverage's missing classes: what a
/// tick's `eval` record in `stats.jsonl` holds.
pub fn eval_summary(metrics: &[Metric], result: &Evaluation) -> Map<String, Value> {
    let mut out = Map::new();
    for m in metrics {
        if let Some(v) = m.scalar(result) {
            out.insert(m.name().to_string(), json!(v));
        }
    }
    if let Some(c) = &result.coverage {
        out.insert("coverage_missing".into(), json!(c.missing));
    }
    if let Some(c) = &result.conditional {
        out.insert(
            "class_accuracy_per_class".into(),
            json!(c.per_class_accuracy),
        );
        out.insert("class_domain_fid".into(), json!(c.per_class_domain_fid));
        out.insert("class_diversity".into(), json!(c.intra_class_diversity));
    }
    out
}

/// Fall of recall and of nn-coverage since an earlier evaluation (both, absolute) that is called
/// mode collapse; within it, recall is "the same" for over-generalization. One Fashion-MNIST class of ten left out of 1,000 Inception-feature samples
/// lowers them by 0.072 and 0.068 (`tests/tests/manifold_images.rs`), above this with room for
/// a class that is only thinned.
pub const COLLAPSE_FALL: f64 = 0.04;
/// Fall of precision (absolute) or density (relative) since an earlier evaluation at the same
/// recall that is called over-generalization: samples off the data's manifold. A quarter
/// of heavily noisy samples among 1,000 lowers precision by 0.21 and density by 28%
/// (`tests/tests/manifold_images.rs`).
pub const OVERGENERALIZATION_FALL: f64 = 0.1;
/// Recall below which G covers no more of the data than three images repeated do (below 0.1
/// in `tests/tests/manifold_images.rs`): a collapsed G, whose precision moves
/// as its few modes drift. A precision fall there is not called over-generalization (the
/// games study's collapsed min-max runs, at recall 0.000, drew it every few evaluations);
/// missing classes and a winning D are what speak for such a run.
pub const COLLAPSED_RECALL: f64 = 0.1;

/// The k-NN manifold metrics of one evaluation (those measured).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ManifoldScores {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub density: Option<f64>,
    pub nn_coverage: Option<f64>,
}

impl ManifoldScores {
    /// The scores of an evaluation result.
    pub fn of(result: &Evaluation) -> ManifoldScores {
        ManifoldScores {
            precision: result.precision,
            recall: result.recall,
            density: result.density,
            nn_coverage: result.nn_coverage,
        }
    }

    /// The scores a tick's `eval` record holds.
    pub fn of_tick(tick: &TickStats) -> ManifoldScores {
        ManifoldScores {
            precision: tick.eval_value(Metric::Precision.name()),
            recall: tick.eval_value(Metric::Recall.name()),
            density: tick.eval_value(Metric::Density.name()),
            nn_coverage: tick.eval_value(Metric::NnCoverage.name()),
        }
    }
}

/// The manifold diagnostics of an evaluation against every earlier one (`history`: kimg and
/// scores). Precision (and density) measure fidelity, recall (and nn-coverage) diversity, and a
/// generator trades one for the other as it trains, so each fall is judged against an earlier
/// evaluation at which the other side was comparable:
/// - **mode collapse**: recall and nn-coverage both fell by [`COLLAPSE_FALL`] or more (recall
///   alone when nn-coverage is not measured) since an earlier evaluation, and precision and
///   density did not fall by [`OVERGENERALIZATION_FALL`] (they may rise: a few good modes);
/// - **over-generalization**: precision fell by [`OVERGENERALIZATION_FALL`] or more, or density
///   by that share, since an evaluation whose recall was the same to within [`COLLAPSE_FALL`],
///   recall being at least [`COLLAPSED_RECALL`]: fidelity lost at equal diversity, samples
///   where the data has none. (While recall still rises by more, G is spreading to new parts
///   of the data, early training's trade.)
/// - **samples away from the data**: both fell since the same evaluation.
///
/// At most one warning of each kind, against the evaluation with the largest fall.
pub fn manifold_warnings(history: &[(f64, ManifoldScores)], now: &ManifoldScores) -> Vec<String> {
    let fall = |b: Option<f64>, n: Option<f64>| match (b, n) {
        (Some(b), Some(n)) => Some(b - n),
        _ => None,
    };
    let f3 = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    // (fall, message) of each kind, the largest kept.
    let mut found: [Option<(f64, String)>; 3] = [None, None, None];
    for (kimg, h) in history {
        let recall_fall = fall(h.recall, now.recall);
        let coverage_fall = fall(h.nn_coverage, now.nn_coverage);
        let precision_fall = fall(h.precision, now.precision);
        let density_fall = fall(h.density, now.density)
            .zip(h.density)
            .map(|(f, b)| f / b.max(1e-12));
        let diversity_lost = recall_fall.is_some_and(|f| f >= COLLAPSE_FALL)
            && coverage_fall.is_none_or(|f| f >= COLLAPSE_FALL);
        let fidelity_lost = precision_fall.is_some_and(|f| f >= OVERGENERALIZATION_FALL)
            || density_fall.is_some_and(|f| f >= OVERGENERALIZATION_FALL);
        let recall_same = recall_fall.is_some_and(|f| f.abs() < COLLAPSE_FALL)
            && now.recall.is_some_and(|r| r >= COLLAPSED_RECALL);
        let (p, r, d, c) = (
            format!(
                "precision {} ({} at {kimg:.1} kimg)",
                f3(now.precision),
                f3(h.precision)
            ),
            format!(
                "recall {} ({} at {kimg:.1} kimg)",
                f3(now.recall),
                f3(h.recall)
            ),
            format!("density {} ({})", f3(now.density), f3(h.density)),
            format!(
                "nn-coverage {} ({})",
                f3(now.nn_coverage),
                f3(h.nn_coverage)
            ),
        );
        let candidate = match (diversity_lost, fidelity_lost) {
            (true, false) => Some((0, recall_fall, format!(
                "mode collapse: {r} and {c} fell, {p} did not: parts of the data have no samples near them"
            ))),
            (false, true) if recall_same => Some((1, precision_fall.into_iter().chain(density_fall).reduce(f64::max), format!(
                "over-generalization: {p} and {d} fell at the same {r}: samples where the data has none"
            ))),
            (true, true) => Some((2, recall_fall, format!(
                "samples away from the data: {p} and {r} both fell ({d}, {c})"
            ))),
            _ => None,
        };
        if let Some((kind, size, message)) = candidate {
            let size = size.unwrap_or(0.0);
            if found[kind].as_ref().is_none_or(|(s, _)| size > *s) {
                found[kind] = Some((size, message));
            }
        }
    }
    found.into_iter().flatten().map(|(_, m)| m).collect()
}

/// E[sign D(train)] − E[sign D(held-out)] at or above which D has memorised its training reals:
/// it calls held-out reals fake 25 percentage points more often than the reals it trained on
/// (Karras et al. 2020, Figure 1b, shows the two outputs diverging as D overfits).
pub const OVERFIT_GAP: f64 = 0.5;

/// D's judgement of real images for the overfitting diagnostic: r_t over the tick's training
/// batches, and, where a held-out split exists (`max_images`), the mean sign of D's outputs on
/// training and on held-out reals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RealJudgement {
    pub rt: Option<f64>,
    pub train_sign: Option<f64>,
    pub held_out_sign: Option<f64>,
}

/// The warning when D has memorised the training set (see [`OVERFIT_GAP`]): it needs a
/// held-out split (`max_images`). r_t alone is no evidence: a healthy D on the whole dataset
/// puts most reals on the real side too (r_t near 1 from the first ticks of the main job), and
/// it is ADA's control signal, not a test.
pub fn overfitting_warning(j: RealJudgement) -> Option<String> {
    let (train, held) = (j.train_sign?, j.held_out_sign?);
    let gap = train - held;
    let rt = j.rt.map_or(String::new(), |rt| {
        format!(", r_t = E[sign D(real)] {rt:.2}")
    });
    (gap >= OVERFIT_GAP).then(|| {
        format!(
            "D overfitting: it calls {:.0}% of its training reals real but {:.0}% of held-out \
             reals (E[sign D] {train:.2} against {held:.2}, gap {gap:.2} >= {OVERFIT_GAP}{rt}): \
             it has memorised the training set; try augment = \"ada\" or \"diffaugment\", or \
             more data",
            50.0 * (1.0 + train),
            50.0 * (1.0 + held),
        )
    })
}

/// The mode-collapse warning of a coverage result, naming the missing classes.
pub fn coverage_warning(result: &Evaluation, class_names: &[String]) -> Option<String> {
    let c = result.coverage.as_ref()?;
    if c.missing.is_empty() {
        return None;
    }
    let described: Vec<String> = c
        .missing
        .iter()
        .map(|&k| {
            let name = class_names.get(k).cloned().unwrap_or_else(|| k.to_string());
            let fake = c.histogram.get(k).copied().unwrap_or(f64::NAN);
            let real = c.real_histogram.get(k).copied().unwrap_or(f64::NAN);
            format!(
                "\"{name}\" ({:.1}% of samples, {:.1}% of the data)",
                100.0 * fake,
                100.0 * real
            )
        })
        .collect();
    Some(format!(
        "mode collapse: classes missing from the samples: {}",
        described.join(", ")
    ))
}

/// A class of a conditional generator is weak when fewer than this share of its samples are
/// classified as it (a heuristic threshold: the domain classifiers are above 99% accurate on
/// real test images, so half is far from what the data gives).
pub const WEAK_CLASS_ACCURACY: f64 = 0.5;

/// A class has collapsed to a few styles when its samples are less than this share as varied
/// as its real images (intra-class diversity; a heuristic threshold, as the tick's diversity
/// check of all samples).
pub const CLASS_DIVERSITY_FLOOR: f64 = 0.5;

/// What the by-class judgement of a conditional generator (`class-accuracy`) shows: the classes
/// it does not draw when asked (weak), and the classes it draws in too few styles (collapsed
/// within the class, which class coverage alone cannot see).
pub fn class_warnings(result: &Evaluation, class_names: &[String]) -> Vec<String> {
    let Some(c) = &result.conditional else {
        return Vec::new();
    };
    // The classes whose value is below `floor`, each named with its value as a percentage.
    let below = |values: &[Option<f64>], floor: f64, unit: &str| -> Vec<String> {
        let name = |k: usize| class_names.get(k).cloned().unwrap_or_else(|| k.to_string());
        let low = values.iter().enumerate();
        low.filter_map(|(k, v)| v.filter(|&v| v < floor).map(|v| (k, v)))
            .map(|(k, v)| format!("\"{}\" ({:.0}% {unit})", name(k), 100.0 * v))
            .collect()
    };
    let mut warnings = Vec::new();
    let weak = below(&c.per_class_accuracy, WEAK_CLASS_ACCURACY, "of its samples");
    if !weak.is_empty() {
        warnings.push(format!(
            "conditional G: weak classes, asked for but rarely drawn (the classifier agrees \
             with the requested class for {:.0}% of all samples): {}",
            100.0 * c.accuracy,
            weak.join(", ")
        ));
    }
    let collapsed = below(
        &c.intra_class_diversity,
        CLASS_DIVERSITY_FLOOR,
        "of the data's variety",
    );
    if !collapsed.is_empty() {
        warnings.push(format!(
            "mode collapse within classes: few styles per class: {}",
            collapsed.join(", ")
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(primary: &str, target: Option<f64>, patience: u32) -> TrainConfig {
        TrainConfig {
            evaluation: EvaluationSettings {
                metrics: vec![Metric::Swd, Metric::Is],
                primary: Some(primary.parse().expect("a metric")),
                target,
                patience,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn target_is_reached_in_the_metric_direction() {
        let mut m = Monitor::new(&config("swd", Some(10.0), 0));
        assert_eq!(m.observe(50.0, 12.0).verdict, Verdict::Continue);
        assert!(
            matches!(m.observe(100.0, 9.5).verdict, Verdict::TargetReached { value, .. } if value == 9.5)
        );
        let mut m = Monitor::new(&config("is", Some(8.0), 0));
        assert_eq!(m.observe(50.0, 7.0).verdict, Verdict::Continue);
        assert!(matches!(
            m.observe(100.0, 8.5).verdict,
            Verdict::TargetReached { .. }
        ));
    }

    #[test]
    fn plateau_after_patience_evaluations_without_improvement_by_delta() {
        let mut c = config("swd", None, 2);
        c.evaluation.min_delta = 0.5;
        let mut m = Monitor::new(&c);
        assert!(m.observe(10.0, 20.0).improved);
        assert!(m.observe(20.0, 18.0).improved);
        // 17.8 is better, but not by more than δ = 0.5: no improvement.
        let o = m.observe(30.0, 17.8);
        assert!(!o.improved);
        assert_eq!(o.verdict, Verdict::Continue);
        let o = m.observe(40.0, 19.0);
        assert_eq!(
            o.verdict,
            Verdict::Plateau {
                metric: Metric::Swd,
                best: 18.0,
                best_kimg: 20.0,
                evaluations: 2
            }
        );
    }

    #[test]
    fn replay_rebuilds_the_same_state() {
        let lines: Vec<TickStats> = [(10.0, 5.0), (20.0, 4.0), (30.0, 4.5)]
            .iter()
            .map(|(k, v)| {
                serde_json::from_value(json!({"tick": 1, "kimg": k, "wall_s": 1.0, "images_per_s": 1.0, "lr_g": 1e-4, "lr_d": 1e-4, "eval": {"swd": v}}))
                    .expect("a tick")
            })
            .collect();
        let mut a = Monitor::new(&config("swd", None, 3));
        a.replay(&lines);
        let mut b = Monitor::new(&config("swd", None, 3));
        for (k, v) in [(10.0, 5.0), (20.0, 4.0), (30.0, 4.5)] {
            b.observe(k, v);
        }
        assert_eq!(a.history, b.history);
        assert_eq!(a.best, Some((4.0, 20.0)));
        assert_eq!(a.observe(40.0, 4.6), b.observe(40.0, 4.6));
    }

    #[test]
    fn manifold_diagnostics_judge_each_fall_at_comparable_fidelity_or_diversity() {
        let scores = |p: f64, r: f64, d: f64, c: f64| ManifoldScores {
            precision: Some(p),
            recall: Some(r),
            density: Some(d),
            nn_coverage: Some(c),
        };
        // Early training as the main job saw it: precise but narrow at 50 kimg, then spreading.
        let seen = [
            (50.0, scores(0.72, 0.40, 0.50, 0.29)),
            (100.0, scores(0.53, 0.82, 0.37, 0.49)),
            (150.0, scores(0.58, 0.84, 0.42, 0.62)),
        ];
        let lines: Vec<TickStats> = seen
            .iter()
            .map(|(k, s)| {
                serde_json::from_value(json!({"tick": 1, "kimg": k, "wall_s": 1.0, "images_per_s": 1.0, "lr_g": 1e-4, "lr_d": 1e-4,
                    "eval": {"precision": s.precision, "recall": s.recall, "density": s.density, "nn-coverage": s.nn_coverage}}))
                .expect("a tick")
            })
            .collect();
        let mut resumed = Monitor::new(&config("precision", None, 0));
        resumed.replay(&lines);
        let mut straight = Monitor::new(&config("precision", None, 0));
        for (k, s) in seen {
            // Recall rising while precision falls is the trade of a spreading G: no warning.
            assert!(straight.observe_manifold(k, s).is_empty(), "{k}");
        }
        assert_eq!(resumed.manifold_history, straight.manifold_history);
        // Recall and nn-coverage fall by 0.06 and 0.07 with precision held: mode collapse,
        // against the evaluation with the largest fall.
        let collapsed = scores(0.60, 0.78, 0.45, 0.55);
        let w = resumed.observe_manifold(200.0, collapsed);
        assert_eq!(w, straight.observe_manifold(200.0, collapsed));
        assert!(
            w.len() == 1 && w[0].starts_with("mode collapse: recall 0.780 (0.840 at 150.0 kimg)"),
            "{w:?}"
        );
        // Precision falls at the same recall: over-generalization; small moves: nothing.
        let w = manifold_warnings(&straight.manifold_history, &scores(0.45, 0.83, 0.33, 0.60));
        assert!(
            w.len() == 1 && w[0].starts_with("over-generalization: precision 0.450"),
            "{w:?}"
        );
        assert!(
            manifold_warnings(&straight.manifold_history, &scores(0.57, 0.83, 0.41, 0.60))
                .is_empty()
        );
        // A collapsed G (recall about 0) whose precision drops as its few modes drift is not
        // over-generalizing: the games study's min-max seed 2, precision 0.991 → 0.605 at
        // recall 0.000.
        let collapsed = [(20.0, scores(0.991, 0.0, 0.9, 0.01))];
        assert!(manifold_warnings(&collapsed, &scores(0.605, 0.0, 0.5, 0.01)).is_empty());
        // Both fall: away from the data.
        let w = manifold_warnings(&straight.manifold_history, &scores(0.3, 0.5, 0.2, 0.3));
        assert!(
            w.iter()
                .any(|m| m.starts_with("samples away from the data")),
            "{w:?}"
        );
        // Only recall measured: its fall alone is collapse.
        let only_recall = ManifoldScores {
            recall: Some(0.5),
            ..Default::default()
        };
        let w = manifold_warnings(&straight.manifold_history, &only_recall);
        assert!(w.len() == 1 && w[0].starts_with("mode collapse"), "{w:?}");
    }

    #[test]
    fn slope_and_slow_convergence() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), Some(2.0));
        let mut m = Monitor::new(&config("swd", None, 0));
        for (k, v) in [(50.0, 30.0), (100.0, 25.0), (150.0, 20.0), (200.0, 15.0)] {
            assert!(
                m.observe(k, v).warnings.is_empty(),
                "fast improvement is not slow"
            );
        }
        let mut m = Monitor::new(&config("swd", None, 0));
        let mut last = None;
        for (k, v) in [(50.0, 20.0), (100.0, 20.01), (150.0, 19.99), (200.0, 20.0)] {
            last = Some(m.observe(k, v));
        }
        let o = last.expect("observed");
        assert!(
            o.warnings
                .iter()
                .any(|w| w.starts_with("slow convergence: swd")),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn class_warnings_name_weak_and_collapsed_classes() {
        let of = |accuracy: Vec<f64>, diversity: Vec<f64>| Evaluation {
            conditional: Some(crate::evaluation::ConditionalResult {
                classifier: "mnist".into(),
                accuracy: accuracy.iter().sum::<f64>() / accuracy.len() as f64,
                per_class_domain_fid: vec![Some(1.0); accuracy.len()],
                samples_per_class: vec![100; accuracy.len()],
                reals_per_class: vec![100; accuracy.len()],
                per_class_accuracy: accuracy.into_iter().map(Some).collect(),
                intra_class_diversity: diversity.into_iter().map(Some).collect(),
            }),
            ..Default::default()
        };
        let names: Vec<String> = (0..3).map(|k| format!("d{k}")).collect();
        assert!(class_warnings(&of(vec![0.9, 0.8, 0.95], vec![1.0, 0.9, 0.7]), &names).is_empty());
        let w = class_warnings(&of(vec![0.9, 0.2, 0.95], vec![1.0, 0.9, 0.3]), &names);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("weak classes") && w[0].contains("\"d1\" (20% of its samples)"),
            "{w:?}"
        );
        assert!(!w[0].contains("\"d0\""), "{w:?}");
        assert!(
            w[1].contains("within classes") && w[1].contains("\"d2\" (30%"),
            "{w:?}"
        );
        assert!(class_warnings(&Evaluation::default(), &names).is_empty());
    }

    #[test]
    fn coverage_warning_names_the_missing_classes() {
        let of = |missing: Vec<usize>| Evaluation {
            coverage: Some(crate::evaluation::CoverageResult {
                classifier: "mnist".into(),
                histogram: vec![0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.003, 0.197],
                real_histogram: vec![0.1; 10],
                covered: 10 - missing.len(),
                missing,
            }),
            ..Default::default()
        };
        let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
        let w = coverage_warning(&of(vec![8]), &names).expect("warning");
        assert!(
            w.contains("\"8\" (0.3% of samples, 10.0% of the data)"),
            "{w}"
        );
        assert!(coverage_warning(&of(Vec::new()), &names).is_none());
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = TrainConfig::default();
        c.evaluation.metrics = vec![Metric::Jsd];
        assert!(c
            .evaluation
            .validate(&c)
            .unwrap_err()
            .to_string()
            .contains("unknown metric `jsd`"));
        c.evaluation.metrics = vec![Metric::Swd];
        c.evaluation.primary = Some(Metric::Fid);
        assert!(c
            .evaluation
            .validate(&c)
            .unwrap_err()
            .to_string()
            .contains("`evaluation.primary`"));
        c.evaluation.primary = None;
        c.evaluation.every_kimg = 0.0;
        c.evaluation.patience = 3;
        assert!(c
            .evaluation
            .validate(&c)
            .unwrap_err()
            .to_string()
            .contains("every_kimg"));
    }

    #[test]
    fn overfitting_is_named_by_the_held_out_gap() {
        assert_eq!(overfitting_warning(RealJudgement::default()), None);
        let healthy = RealJudgement {
            rt: Some(0.95),
            train_sign: Some(0.5),
            held_out_sign: Some(0.3),
        };
        assert_eq!(
            overfitting_warning(healthy),
            None,
            "a high r_t alone is no evidence"
        );
        let memorised = RealJudgement {
            train_sign: Some(0.8),
            held_out_sign: Some(0.2),
            ..healthy
        };
        let w = overfitting_warning(memorised).expect("warning");
        assert!(
            w.contains("held-out")
                && w.contains("gap 0.60")
                && w.contains("r_t")
                && w.contains("ada"),
            "{w}"
        );
        let just_below = RealJudgement {
            train_sign: Some(0.7),
            held_out_sign: Some(0.21),
            ..healthy
        };
        assert_eq!(overfitting_warning(just_below), None);
    }
}
