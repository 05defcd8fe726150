//! Requests per second through `HyperTransport` against a bare hyper-util legacy client, both
//! on the same loopback HTTP/1.1 keep-alive server (the test kit's `TestServer`), in the same
//! run: the transport alone, where the bench binary (`mastodon-auth-bench`) measures the
//! whole client.
//!
//! Run with `cargo bench -p mastodon-auth-http --bench transport`. Within each round the two
//! sides alternate in blocks, and the best of three rounds is kept for each, so background
//! noise hurts both sides alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mastodon_auth_core::HttpTransport;
use mastodon_auth_http::HyperTransport;
use mastodon_auth_tests::{Behaviour, TestServer};

const SEQUENTIAL: usize = 20_000;
const CONCURRENT_TOTAL: usize = 40_000;
const IN_FLIGHT: usize = 64;
const ROUNDS: usize = 3;
const BODY: &[u8] = br#"{"id":"1","username":"bench","acct":"bench","display_name":"Bench"}"#;

type Bare = Client<HttpConnector, Full<Bytes>>;

async fn start_server() -> TestServer {
    let answer = Arc::new(|_request: &http::request::Parts| {
        http::Response::builder()
            .header("content-type", "application/json; charset=utf-8")
            .body(Bytes::from_static(BODY))
            .expect("valid response")
    });
    TestServer::plain(Behaviour::Http(answer))
        .await
        .expect("bind loopback")
}

async fn bare_get(client: &Bare, uri: &http::Uri) {
    let request = http::Request::get(uri.clone())
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let response = client.request(request).await.expect("bare request");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("bare body")
        .to_bytes();
    assert_eq!(body.len(), BODY.len());
}

async fn ours_get(transport: &HyperTransport, uri: &http::Uri) {
    let request = http::Request::get(uri.clone())
        .body(Bytes::new())
        .expect("valid request");
    let response = transport.send(request).await.expect("transport request");
    assert_eq!(response.body().len(), BODY.len());
}

#[derive(Clone)]
enum Side {
    Bare(Arc<Bare>),
    Ours(HyperTransport),
}

impl Side {
    async fn get(&self, uri: &http::Uri) {
        match self {
            Side::Bare(client) => bare_get(client, uri).await,
            Side::Ours(transport) => ours_get(transport, uri).await,
        }
    }
}

/// Requests sent per block; a round alternates bare and ours block by block so that a change
/// in background load during the round hits both sides about equally.
const BLOCKS: usize = 10;

async fn sequential_block(side: &Side, uri: &http::Uri, requests: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..requests {
        side.get(uri).await;
    }
    start.elapsed()
}

async fn concurrent_block(side: &Side, uri: &http::Uri, requests: usize) -> Duration {
    let per_task = requests / IN_FLIGHT;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let side = side.clone();
        let uri = uri.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                side.get(&uri).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("bench task");
    }
    start.elapsed()
}

/// One round: `total` requests per side, in alternating blocks; returns requests/s for
/// (bare, ours).
async fn run_round(
    bare: &Side,
    ours: &Side,
    uri: &http::Uri,
    total: usize,
    concurrent: bool,
) -> (f64, f64) {
    let block = total / BLOCKS;
    let (mut bare_time, mut ours_time) = (Duration::ZERO, Duration::ZERO);
    for i in 0..BLOCKS {
        // Alternate which side goes first, so neither always follows the other's warm caches.
        let order = if i % 2 == 0 {
            [bare, ours]
        } else {
            [ours, bare]
        };
        for side in order {
            let took = if concurrent {
                concurrent_block(side, uri, block).await
            } else {
                sequential_block(side, uri, block).await
            };
            if std::ptr::eq(side, bare) {
                bare_time += took;
            } else {
                ours_time += took;
            }
        }
    }
    let done = if concurrent {
        (block / IN_FLIGHT) * IN_FLIGHT * BLOCKS
    } else {
        block * BLOCKS
    };
    (
        done as f64 / bare_time.as_secs_f64(),
        done as f64 / ours_time.as_secs_f64(),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let server = start_server().await;
        let uri: http::Uri = server
            .url("http", "/api/v1/accounts/verify_credentials")
            .parse()
            .expect("valid uri");

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let bare = Side::Bare(Arc::new(
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_max_idle_per_host(usize::MAX)
                .build(connector),
        ));
        let ours = Side::Ours(HyperTransport::new().expect("transport"));

        // Warm up both pools so connection setup is not measured.
        concurrent_block(&bare, &uri, CONCURRENT_TOTAL / BLOCKS).await;
        concurrent_block(&ours, &uri, CONCURRENT_TOTAL / BLOCKS).await;

        let mut best = [0f64; 4];
        for round in 0..ROUNDS {
            let (seq_bare, seq_ours) = run_round(&bare, &ours, &uri, SEQUENTIAL, false).await;
            let (con_bare, con_ours) = run_round(&bare, &ours, &uri, CONCURRENT_TOTAL, true).await;
            let results = [seq_bare, seq_ours, con_bare, con_ours];
            eprintln!(
                "round {}: seq bare {:.0} ours {:.0} | {IN_FLIGHT} in flight bare {:.0} ours {:.0}",
                round + 1,
                results[0],
                results[1],
                results[2],
                results[3]
            );
            for (b, r) in best.iter_mut().zip(results) {
                *b = b.max(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(server);

        println!();
        println!("GET, small JSON, loopback HTTP/1.1 keep-alive, best of {ROUNDS} (requests/s)");
        println!(
            "{:<28} {:>12} {:>14} {:>8}",
            "mode", "bare hyper", "HyperTransport", "ratio"
        );
        let rows = [
            (format!("sequential ({SEQUENTIAL})"), best[0], best[1]),
            (
                format!("{IN_FLIGHT} in flight ({CONCURRENT_TOTAL})"),
                best[2],
                best[3],
            ),
        ];
        for (mode, bare, ours) in rows {
            println!("{mode:<28} {bare:>12.0} {ours:>14.0} {:>8.3}", ours / bare);
        }
    });
}
