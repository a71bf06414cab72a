//! What people look at after runs: `gan report` (plots of a run's statistics and metrics, a
//! strip of its sample grids, `report.md`), the studies (plans of runs and their pages under
//! `docs/study/`) and the games comparison. It reads run directories that `ganlab-run` wrote and
//! draws with plotters; it never trains except through `ganlab-run`.

pub mod games_comparison;
pub mod report;
pub mod study;
