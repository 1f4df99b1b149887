//! The API's request queue is bounded: with the consumer loop not answering (busy with
//! a batch, or stuck), the first `QUEUE` requests wait for it and time out with 503, and
//! any further one gets 503 at once, naming the queue, instead of piling up.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use osfp::export::api::{self, ApiState, ANSWER_TIMEOUT, QUEUE};
use prometheus::Registry;
use std::io::{Read, Write};
use tokio::sync::mpsc;

/// One request on its own thread (a plain blocking client; the server runs on the
/// test's runtime).
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_answers_503_at_once() {
    let (tx, rx) = mpsc::channel(QUEUE);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(api::serve(l, ApiState::new(Arc::new(Registry::new()), tx)));

    // QUEUE requests fill the queue; the loop (rx) never takes them.
    let waiting: Vec<_> = (0..QUEUE)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/readyz".to_string()
            } else {
                format!("/api/v1/sources/10.0.0.{i}")
            };
            tokio::spawn(async move { get(addr, &path).await })
        })
        .collect();
    // Until every one of them is queued.
    let t = Instant::now();
    while rx.len() < QUEUE {
        assert!(
            t.elapsed() < ANSWER_TIMEOUT,
            "queued {} of {QUEUE}",
            rx.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for path in ["/readyz", "/api/v1/sources", "/api/v1/sources/192.0.2.1"] {
        let t = Instant::now();
        let r = get(addr, path).await;
        assert!(r.starts_with("HTTP/1.1 503"), "{path}: {r}");
        assert!(
            r.contains(&format!("busy: {QUEUE} requests already wait")),
            "{path}: {r}"
        );
        assert!(
            t.elapsed() < ANSWER_TIMEOUT / 3,
            "{path}: 503 after {:?}",
            t.elapsed()
        );
    }
    // The queued ones give up after the answer timeout, with 503 too.
    for w in waiting {
        let r = w.await.unwrap();
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        assert!(r.contains("did not answer within"), "{r}");
    }
    assert!(t.elapsed() >= ANSWER_TIMEOUT);
    drop(rx);
}
