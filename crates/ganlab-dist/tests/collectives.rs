//! Two real processes on 127.0.0.1 exchanging through c10d (Gloo): every collective against the
//! values computed locally, a lost rank named, an unreachable master reported. Each test starts
//! this test binary twice more, as rank 0 and rank 1 of the same test (`GANLAB_DIST_CHILD`).

use ganlab_dist::{Backend, Dist, Launch};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs `test` as two ranks; returns each rank's output.
fn two_ranks(test: &str, extra: &[(&str, &str)]) -> Vec<Output> {
    let port = free_port().to_string();
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|rank| {
            let mut cmd = Command::new(&exe);
            cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env("GANLAB_DIST_CHILD", "1")
                .env("WORLD_SIZE", "2")
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port);
            for (k, v) in extra {
                cmd.env(k, v);
            }
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a rank")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for a rank"))
        .collect()
}

fn child() -> Option<Dist> {
    std::env::var_os("GANLAB_DIST_CHILD")?;
    let launch = Launch::from_env().expect("launch").expect("a launch");
    Some(Dist::connect(&launch, Backend::Gloo, Duration::from_secs(20)).expect("connect"))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn collectives_agree_with_local_arithmetic() {
    let Some(dist) = child() else {
        for o in two_ranks("collectives_agree_with_local_arithmetic", &[]) {
            assert!(o.status.success(), "{}", text(&o));
        }
        return;
    };
    let r = dist.rank() as f64;
    // Sum and mean: rank r holds r + [0, 1, 2].
    let t = Tensor::from_slice(&[0.0f32, 1.0, 2.0]) + r;
    dist.all_reduce_sum(&[&t]).expect("sum");
    assert_eq!(Vec::<f32>::try_from(&t).expect("f32"), vec![1.0, 3.0, 5.0]);
    let m = Tensor::from_slice(&[2.0f64]) * (r + 1.0);
    dist.all_reduce_mean(&[&m]).expect("mean");
    assert_eq!(m.double_value(&[0]), 3.0);
    let x = Tensor::from_slice(&[dist.rank() as i64 * 7]);
    dist.all_reduce_max(&[&x]).expect("max");
    assert_eq!(x.int64_value(&[0]), 7);
    // Buckets: 5 tensors of 3 shapes, a bucket of 64 bytes, so several calls; each tensor is
    // the mean of the two ranks' values.
    tch::manual_seed(1234);
    let base: Vec<Tensor> = [[3, 4], [10, 1], [2, 2], [1, 1], [5, 3]]
        .iter()
        .map(|s| Tensor::randn(*s, (Kind::Float, tch::Device::Cpu)))
        .collect();
    let mine: Vec<Tensor> = base.iter().map(|b| b * (r + 1.0)).collect();
    let calls = dist.all_reduce_mean_bucketed(&mine, 64).expect("buckets");
    assert!(calls >= 3, "{calls} bucket calls");
    for (b, m) in base.iter().zip(&mine) {
        let expect = b * 1.5;
        assert!(
            m.allclose(&expect, 1e-6, 1e-6, false),
            "{m:?} vs {expect:?}"
        );
    }
    // Broadcast from rank 1; bytes from rank 0; all-gather in rank order.
    let b = Tensor::from_slice(&[r as f32, r as f32 + 10.0]);
    dist.broadcast(&[&b], 1).expect("broadcast");
    assert_eq!(Vec::<f32>::try_from(&b).expect("f32"), vec![1.0, 11.0]);
    let payload = b"a config, in bytes".to_vec();
    let got = dist
        .broadcast_bytes((dist.rank() == 0).then_some(payload.as_slice()), 0)
        .expect("bytes");
    assert_eq!(got, payload);
    let g = dist
        .all_gather(&Tensor::from_slice(&[r as f32, -r as f32]).view([1, 2]))
        .expect("gather");
    assert_eq!(g.size(), vec![2, 2]);
    assert_eq!(
        Vec::<f32>::try_from(g.view([-1])).expect("f32"),
        vec![0.0, 0.0, 1.0, -1.0]
    );
    assert!(dist.any(dist.rank() == 1).expect("any"));
    assert!(!dist.any(false).expect("any"));
    dist.barrier().expect("barrier");
}

#[test]
fn a_killed_rank_is_named_by_the_survivor() {
    let Some(dist) = child() else {
        let start = Instant::now();
        let outs = two_ranks("a_killed_rank_is_named_by_the_survivor", &[]);
        let elapsed = start.elapsed();
        let survivor = text(&outs[0]);
        assert!(outs[0].status.success(), "{survivor}");
        assert!(survivor.contains("lost rank 1"), "{survivor}");
        assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
        return;
    };
    dist.barrier().expect("both joined");
    if dist.rank() == 1 {
        // SIGKILL: no chance to say anything.
        let _ = Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(30));
        unreachable!("rank 1 should be dead");
    }
    let t = Tensor::ones([1000], (Kind::Float, tch::Device::Cpu));
    let err = dist.all_reduce_sum(&[&t]).expect_err("the peer is dead");
    println!("{err}");
    assert_eq!(err.lost_ranks(), &[1]);
}

#[test]
fn a_failing_rank_says_why() {
    let Some(dist) = child() else {
        let outs = two_ranks("a_failing_rank_says_why", &[]);
        let survivor = text(&outs[0]);
        assert!(outs[0].status.success(), "{survivor}");
        assert!(
            survivor.contains("rank 1 failed: could not read batch 7"),
            "{survivor}"
        );
        assert_eq!(outs[1].status.code(), Some(3), "{}", text(&outs[1]));
        return;
    };
    dist.barrier().expect("both joined");
    if dist.rank() == 1 {
        dist.report_failure("could not read batch 7");
        std::process::exit(3);
    }
    let t = Tensor::ones([10], (Kind::Float, tch::Device::Cpu));
    let err = dist.all_reduce_sum(&[&t]).expect_err("the peer left");
    println!("{err}");
    assert_eq!(err.lost_ranks(), &[1]);
}

#[test]
fn an_unreachable_master_is_a_clear_error() {
    let launch = Launch {
        rank: 1,
        world_size: 2,
        local_rank: 1,
        master_addr: "127.0.0.1".into(),
        master_port: free_port(),
        agent_store: None,
        gloo_interface: None,
    };
    let start = Instant::now();
    let err = Dist::connect(&launch, Backend::Gloo, Duration::from_secs(2)).expect_err("no master");
    let message = err.to_string();
    assert!(
        message.contains("rank 1: rendezvous at 127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("MASTER_ADDR and MASTER_PORT"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn rank_zero_failing_is_named_though_it_serves_the_store() {
    let Some(dist) = child() else {
        let start = Instant::now();
        let outs = two_ranks("rank_zero_failing_is_named_though_it_serves_the_store", &[]);
        let other = text(&outs[1]);
        assert!(outs[1].status.success(), "{other}");
        assert!(
            other.contains("rank 0 failed: the dataset folder is empty"),
            "{other}"
        );
        assert_eq!(outs[0].status.code(), Some(4), "{}", text(&outs[0]));
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
        return;
    };
    dist.barrier().expect("both joined");
    if dist.rank() == 0 {
        dist.abort("the dataset folder is empty");
        std::process::exit(4);
    }
    let t = Tensor::ones([10], (Kind::Float, tch::Device::Cpu));
    let err = dist.all_reduce_sum(&[&t]).expect_err("rank 0 left");
    println!("{err}");
    assert_eq!(err.lost_ranks(), &[0]);
    // Let rank 0 see this rank stop before the test process exits.
    drop(dist);
}
