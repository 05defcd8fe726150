//! How well the Pacer uses a server's budget, against a local server that enforces Mastodon's
//! fixed-window limit in compressed time (300 requests per 3 s instead of per 5 min) and sends
//! Mastodon's exact headers.
//!
//! `cargo bench -p mastodon-auth-ratelimit --bench pace`
//!
//! The server sends no `Date` header (as the Mastodon dev server in the cassettes): `Date` has
//! one-second resolution, so Mastodon.py's skew correction would move the reset by up to a
//! whole second, a third of a compressed window (0.3 % of a real one).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mastodon_auth_core::{
    RateLimitError, RateLimitInfo, RateLimitKey, RateLimitMethod, RateLimiter, Verdict,
};
use mastodon_auth_ratelimit::Pacer;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const LIMIT: u32 = 300;
const WINDOW: Duration = Duration::from_secs(3);
const KEY: RateLimitKey = RateLimitKey::ANONYMOUS;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Fixed windows aligned to the epoch, like Mastodon's (rack-attack) throttles.
#[derive(Default)]
struct Window {
    index: u64,
    count: u32,
}

fn window_index(now: SystemTime) -> u64 {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos() / WINDOW.as_nanos()).unwrap_or(u64::MAX)
}

/// `2026-10-14T19:05:00.445610Z`: ISO-8601 with microseconds, as Mastodon sends it.
fn iso8601(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn respond(window: &Mutex<Window>) -> Response<Full<Bytes>> {
    let now = SystemTime::now();
    let index = window_index(now);
    let count = {
        let mut w = window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.index != index {
            *w = Window { index, count: 0 };
        }
        w.count += 1;
        w.count
    };
    let reset = UNIX_EPOCH + WINDOW * u32::try_from(index + 1).unwrap_or(u32::MAX);
    let (status, body) = if count > LIMIT {
        (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":"Too many requests"}"#,
        )
    } else {
        (StatusCode::OK, "{}")
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    h.insert("x-ratelimit-limit", LIMIT.into());
    h.insert("x-ratelimit-remaining", LIMIT.saturating_sub(count).into());
    h.insert("x-ratelimit-reset", iso8601(reset).parse().unwrap());
    resp
}

/// Starts the server; aborting the returned task stops it and every connection.
async fn start_server() -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let window = Arc::new(Mutex::new(Window::default()));
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let window = Arc::clone(&window);
            connections.spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let resp = respond(&window);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = http1::Builder::new()
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

struct Client {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
    addr: std::net::SocketAddr,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            connection,
            addr,
        })
    }

    async fn get(&mut self) -> Result<(StatusCode, http::HeaderMap), BoxError> {
        let req = Request::get(format!("http://{}/api/v1/timelines/home", self.addr))
            .header("host", self.addr.to_string())
            .body(Empty::new())?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        body.collect().await?;
        Ok((parts.status, parts.headers))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    too_many: u64,
    /// Errors from the pacer (pace mode refusing to send without a usable reset, throw's Hit).
    errors: u64,
    first_error_at: Option<u64>,
    first_error: Option<String>,
}

/// One request as a client would make it: pace, send, and resend while the pacer says so.
async fn request(
    pacer: &Pacer,
    client: &mut Client,
    tally: &mut Tally,
    n: u64,
) -> Result<bool, BoxError> {
    if let Err(e) = pacer.before_request(KEY).await {
        note_error(tally, n, &e);
        if !matches!(e, RateLimitError::NoUsableReset) {
            return Ok(false);
        }
        // Mastodon.py would raise; a caller that tries again sends unpaced, which also
        // refreshes the pacer's state (otherwise it would refuse forever).
    }
    loop {
        let (status, headers) = client.get().await?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            tally.too_many += 1;
        }
        match pacer
            .after_response(KEY, status, RateLimitInfo::from_headers(&headers))
            .await
        {
            Ok(Verdict::Retry) => {}
            Ok(_) => {
                tally.ok += u64::from(status == StatusCode::OK);
                return Ok(true);
            }
            Err(e) => {
                note_error(tally, n, &e);
                return Ok(false);
            }
        }
    }
}

fn note_error(tally: &mut Tally, n: u64, e: &RateLimitError) {
    tally.errors += 1;
    tally.first_error_at.get_or_insert(n);
    tally.first_error.get_or_insert_with(|| e.to_string());
}

/// Waits until just after the start of the server's next window, so runs are comparable.
async fn align_to_window() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let into = Duration::from_nanos(u64::try_from(now.as_nanos() % WINDOW.as_nanos()).unwrap_or(0));
    tokio::time::sleep(WINDOW - into + Duration::from_millis(5)).await;
}

struct Row {
    scenario: &'static str,
    requests: u64,
    tally: Tally,
    elapsed: Duration,
    /// Whether the run filled whole windows, so that a fraction of the budget means something.
    timed: bool,
}

/// Sends as many requests as the pacer lets through in `windows` windows.
async fn for_windows(scenario: &'static str, pacer: Pacer, windows: u32) -> Result<Row, BoxError> {
    let (addr, server) = start_server().await?;
    let mut client = Client::connect(addr).await?;
    align_to_window().await;
    let start = Instant::now();
    let deadline = start + WINDOW * windows;
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        request(&pacer, &mut client, &mut tally, n).await?;
    }
    let elapsed = start.elapsed();
    server.abort();
    Ok(Row {
        scenario,
        requests: n,
        tally,
        elapsed,
        timed: true,
    })
}

/// Sends `count` requests, or stops at the first one that fails.
async fn for_count(scenario: &'static str, pacer: Pacer, count: u64) -> Result<Row, BoxError> {
    let (addr, server) = start_server().await?;
    let mut client = Client::connect(addr).await?;
    align_to_window().await;
    let start = Instant::now();
    let mut tally = Tally::default();
    let mut n = 0;
    while n < count {
        n += 1;
        if !request(&pacer, &mut client, &mut tally, n).await? {
            break;
        }
    }
    let elapsed = start.elapsed();
    server.abort();
    Ok(Row {
        scenario,
        requests: n,
        tally,
        elapsed,
        timed: false,
    })
}

#[allow(clippy::cast_precision_loss)]
fn print(rows: &[Row]) {
    println!(
        "{:<28} {:>8} {:>6} {:>5} {:>6} {:>8} {:>9}  first error",
        "scenario", "requests", "ok", "429s", "errors", "secs", "of L/W"
    );
    for r in rows {
        let secs = r.elapsed.as_secs_f64();
        let budget = f64::from(LIMIT) * secs / WINDOW.as_secs_f64();
        println!(
            "{:<28} {:>8} {:>6} {:>5} {:>6} {:>8.2} {:>9}  {}",
            r.scenario,
            r.requests,
            r.tally.ok,
            r.tally.too_many,
            r.tally.errors,
            secs,
            if r.timed {
                format!("{:.3}", r.tally.ok as f64 / budget)
            } else {
                "-".to_owned()
            },
            match (&r.tally.first_error_at, &r.tally.first_error) {
                (Some(n), Some(e)) => format!("request #{n}: {e}"),
                _ => "-".to_owned(),
            }
        );
    }
}

fn main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let quota = |method| Pacer::new(method).quota(LIMIT, WINDOW);
        let pace = RateLimitMethod::Pace { pacefactor: 1.1 };
        println!(
            "server: {LIMIT} requests per {WINDOW:?} (fixed windows); client: TokioClock, quota {LIMIT} per {WINDOW:?} unless noted\n"
        );
        let rows = vec![
            for_windows("pace, 4 windows", quota(pace)?, 4).await?,
            for_windows("pace, 4 windows, no quota", Pacer::new(pace).without_quota(), 4).await?,
            for_count("wait, 900 requests", quota(RateLimitMethod::Wait)?, 900).await?,
            for_count("wait, 900, no quota", Pacer::new(RateLimitMethod::Wait).without_quota(), 900).await?,
            for_count("throw, no quota", Pacer::new(RateLimitMethod::Throw).without_quota(), 1000).await?,
        ];
        print(&rows);
        Ok(())
    })
}
