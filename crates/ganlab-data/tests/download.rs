//! The download code against a local HTTP server on 127.0.0.1: a good file, a wrong checksum, a
//! connection cut mid-file, a closed port and a server that never answers. None leaves a file in
//! the cache; a verified file is never fetched twice.

use ganlab_data::download::{fetch_verified, DownloadOptions};
use ganlab_data::{DatasetRequest, Error, Split};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Behaviour {
    Serve,
    CutHalfway,
    NeverAnswer,
}

/// Serves `files` (name → bytes) on a free port; counts the requests it answered.
fn serve(files: Vec<(String, Vec<u8>)>, behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let files = files.clone();
            let counter = counter.clone();
            std::thread::spawn(move || handle(&mut stream, &files, behaviour, &counter));
        }
    });
    (base, hits)
}

fn handle(
    stream: &mut TcpStream,
    files: &[(String, Vec<u8>)],
    behaviour: Behaviour,
    hits: &AtomicUsize,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    if let Behaviour::NeverAnswer = behaviour {
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let line = String::from_utf8_lossy(&request);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    match files.iter().find(|(name, _)| *name == path) {
        Some((_, body)) => {
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let end = if let Behaviour::CutHalfway = behaviour {
                body.len() / 2
            } else {
                body.len()
            };
            let _ = stream.write_all(&body[..end]);
        }
        None => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn quick() -> DownloadOptions {
    DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
    }
}

fn no_files_left(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

#[test]
fn a_good_file_is_downloaded_once_and_verified() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (base, hits) = serve(vec![("data.bin".into(), body.clone())], Behaviour::Serve);
    let cache = tempfile::tempdir().expect("tmp");
    let dest = cache.path().join("data.bin");
    assert!(
        fetch_verified(&format!("{base}data.bin"), &dest, &sha256(&body), quick())
            .expect("download")
    );
    assert_eq!(std::fs::read(&dest).expect("read"), body);
    assert!(
        !fetch_verified(&format!("{base}data.bin"), &dest, &sha256(&body), quick())
            .expect("cached")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "never fetched twice");
}

#[test]
fn a_wrong_checksum_leaves_nothing_in_the_cache() {
    let (base, _) = serve(
        vec![("data.bin".into(), b"not what the manifest says".to_vec())],
        Behaviour::Serve,
    );
    let cache = tempfile::tempdir().expect("tmp");
    let err = fetch_verified(
        &format!("{base}data.bin"),
        &cache.path().join("data.bin"),
        &sha256(b"other"),
        quick(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(
        err.to_string().contains("data.bin") && err.to_string().contains("sha256"),
        "{err}"
    );
    assert!(no_files_left(cache.path()));
}

#[test]
fn a_connection_cut_mid_file_is_an_error_and_leaves_nothing() {
    let body = vec![7u8; 100_000];
    let (base, _) = serve(
        vec![("data.bin".into(), body.clone())],
        Behaviour::CutHalfway,
    );
    let cache = tempfile::tempdir().expect("tmp");
    let err = fetch_verified(
        &format!("{base}data.bin"),
        &cache.path().join("data.bin"),
        &sha256(&body),
        quick(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::Download { .. }) && text.contains("data.bin"),
        "{text}"
    );
    assert!(no_files_left(cache.path()));
}

#[test]
fn a_closed_port_fails_at_once_and_a_silent_server_times_out() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cache = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    let err = fetch_verified(
        &format!("http://127.0.0.1:{port}/x"),
        &cache.path().join("x"),
        "00",
        quick(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "a closed port answers at once"
    );

    let (base, _) = serve(vec![], Behaviour::NeverAnswer);
    let options = DownloadOptions {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_millis(500),
    };
    let start = Instant::now();
    let err =
        fetch_verified(&format!("{base}x"), &cache.path().join("x"), "00", options).unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "bounded by the read timeout: {:?}",
        start.elapsed()
    );
    assert!(no_files_left(cache.path()));
}

#[test]
fn fashion_mnist_downloads_from_a_mirror_into_the_cache() {
    // The real test split (from Debian's dataset-fashion-mnist, installed by `cargo xtask setup`)
    // served by the local server stands in for Zalando's server.
    let system = Path::new("/usr/share/datasets/fashion-mnist");
    let names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let bytes = std::fs::read(system.join(n)).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run `cargo xtask setup`)",
                    system.join(n).display()
                )
            });
            (n.to_string(), bytes)
        })
        .collect();
    let (base, hits) = serve(files, Behaviour::Serve);
    let root = tempfile::tempdir().expect("tmp");
    let request = DatasetRequest {
        split: Split::Test,
        data_root: root.path().to_path_buf(),
        mirrors: Some(vec![base]),
        system_dirs: false,
        download: quick(),
        ..DatasetRequest::new("fashion-mnist", 32)
    };
    let data = ganlab_data::load(&request).expect("downloaded fashion-mnist");
    assert_eq!(data.images.size(), [10_000, 1, 32, 32]);
    assert_eq!(data.class_names[9], "Ankle boot");
    assert!(data.source.contains("fashion-mnist-idx"), "{}", data.source);
    let again = ganlab_data::load(&request).expect("from the cache");
    assert_eq!(again.len(), 10_000);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "two files, each fetched once"
    );
}

#[test]
fn an_unreachable_host_is_tried_once_per_run_and_its_failure_named_in_a_few_words() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{port}/a");
    let first = fetch_verified(&url, &dir.path().join("a"), &"0".repeat(64), quick()).unwrap_err();
    assert_eq!(
        ganlab_data::download::short_reason(&first),
        "connection refused"
    );
    // Another file on the same host is not tried: the answer is at once and says why.
    let other = format!("http://127.0.0.1:{port}/b");
    let second =
        fetch_verified(&other, &dir.path().join("b"), &"0".repeat(64), quick()).unwrap_err();
    assert!(
        second.to_string().contains(&format!(
            "127.0.0.1:{port} was unreached earlier in this run"
        )),
        "{second}"
    );
    assert_eq!(
        ganlab_data::download::short_reason(&second),
        "unreachable earlier in this run"
    );
    assert!(no_files_left(dir.path()));
}
