//! Ctrl-C during a study: the run in progress writes its snapshot, the study stops (it does not
//! go on to the next run), and the same command resumes it. A file of its own: the stop request
//! is global to the process.

use ganlab_report::study::{self, StudyName, StudyOptions};
use ganlab_run::device::DeviceChoice;

#[test]
fn an_interrupted_study_stops_and_the_same_command_resumes_it() {
    let root = tempfile::tempdir().expect("tmp");
    let options = StudyOptions {
        name: StudyName::Toys,
        runs_root: root.path().join("runs"),
        out_dir: root.path().join("pages"),
        tiny: true,
        device: DeviceChoice::Cpu,
        pick_kimg: None,
        keep_snapshots: false,
        interactive: false,
    };
    ganlab_run::train::request_stop();
    let err = study::run(&options).expect_err("interrupted");
    assert!(format!("{err:#}").contains("study interrupted"), "{err:#}");
    let runs = options.runs_root.join("study").join("toys-tiny");
    let started: Vec<_> = std::fs::read_dir(&runs)
        .expect("runs")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(started.len(), 1, "the study stops at the interrupted run");
    let page = study::run(&options).expect("resumed");
    assert!(page.is_file());
}
