//! A crawler: fetch 500 pages from an HTTP server, parse each, aggregate
//! the statistics with `tree_reduce`; the fetches are `#[delayed] async fn`
//! tasks, so they wait for the network without holding a thread, and the
//! graph is awaited from async code with `compute_async`.
//!
//! ```text
//! cargo run --release --example async_crawler --features tokio [-- --requests N] [--latency-ms MS] [--threads N]
//! ```
//!
//! The example starts its own server on the loopback interface (a tokio
//! `TcpListener`; each request answered after 20 ms, a minimal HTTP/1.1
//! exchange with one request per connection), then crawls it three ways
//! and prints their times:
//!
//! - a sequential loop (`fetch(i).await` one after the other): the time
//!   the graph saves;
//! - hand-written tokio: every fetch-and-parse a future, run at once with
//!   `futures::future::join_all`, then folded: the time to match;
//! - the graph, on a 4-thread runtime that polls its async tasks inside
//!   tokio's context (`RuntimeBuilder::tokio`), awaited from a tokio task.
//!
//! All three must find the same statistics, checked against the pages the
//! server makes.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use taskdag::{delayed, graph, Runtime};

// ---------------------------------------------------------------------------
// The pages and the server.

/// A deterministic mix of `x`, for page contents.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The page the server answers for `/page/{i}`: a title, a paragraph of
/// `3 + mix(i) % 40` words and `mix(i + 1) % 6` links to other pages.
pub fn page(i: u64) -> String {
    let words = 3 + mix(i) % 40;
    let links = mix(i + 1) % 6;
    let mut s = format!("<html><title>page {i}</title>\n<p>");
    for w in 0..words {
        if w > 0 {
            s.push(' ');
        }
        s.push_str(["lorem", "ipsum", "dolor", "sit", "amet"][((i + w) % 5) as usize]);
    }
    s.push_str("</p>\n");
    for l in 0..links {
        s.push_str(&format!(
            "<a href=\"/page/{}\">next</a>\n",
            mix(i * 8 + l) % 10_000
        ));
    }
    s.push_str("</html>\n");
    s
}

/// Serves [`page`]s on a free loopback port, each answered `latency` after
/// its request was read; returns the port. Call it outside async code:
/// the server runs on a thread of its own (a current-thread tokio runtime, a backlog of 4,096
/// connections), so the crawlers' load never delays an `accept`: a burst
/// of connections beyond the backlog would wait a second for the
/// client's retry and measure that instead.
pub fn serve(latency: Duration) -> io::Result<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("page-server".to_owned())
        .spawn(move || {
            let listen = || -> io::Result<(tokio::runtime::Runtime, TcpListener)> {
                let tokio = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let listener = tokio.block_on(async {
                    let socket = tokio::net::TcpSocket::new_v4()?;
                    socket.bind(([127, 0, 0, 1], 0).into())?;
                    socket.listen(4096)
                })?;
                Ok((tokio, listener))
            };
            match listen() {
                Ok((tokio, listener)) => {
                    let _ = tx.send(listener.local_addr().map(|a| a.port()));
                    tokio.block_on(accept(listener, latency));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    rx.recv()
        .map_err(|_| io::Error::other("the server thread ended"))?
}

/// The server's loop: a task per connection.
async fn accept(listener: TcpListener, latency: Duration) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req);
            let page = req
                .strip_prefix("GET /page/")
                .and_then(|r| r.split(' ').next())
                .and_then(|i| i.parse::<u64>().ok());
            tokio::time::sleep(latency).await;
            let (status, body) = match page {
                Some(i) => ("200 OK", self::page(i)),
                None => ("404 Not Found", String::new()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

// ---------------------------------------------------------------------------
// The crawler's steps, shared by the three versions.

/// Why a page could not be fetched.
#[derive(Debug)]
pub struct FetchError {
    /// The page.
    pub page: u64,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot fetch /page/{}: {}", self.page, self.message)
    }
}

impl std::error::Error for FetchError {}

/// GET `/page/{i}` from the server on `port` (one connection per request,
/// as a crawler of many hosts would): the body of a `200` answer.
pub async fn get(port: u16, i: u64) -> Result<String, FetchError> {
    let fail = |message: String| FetchError { page: i, message };
    let mut conn = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let request = format!("GET /page/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let answer = String::from_utf8(answer).map_err(|e| fail(e.to_string()))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("no end of headers".to_owned()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(fail(head.lines().next().unwrap_or("").to_owned()));
    }
    Ok(body.to_owned())
}

/// What the crawl counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pages parsed.
    pub pages: u64,
    /// Words in their paragraphs.
    pub words: u64,
    /// Links.
    pub links: u64,
    /// The largest page number a link points to.
    pub max_target: u64,
}

/// Counts a page's words and links.
pub fn parse_page(body: &str) -> Stats {
    let words = body
        .split_once("<p>")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map_or(0, |(p, _)| p.split_whitespace().count() as u64);
    let targets: Vec<u64> = body
        .split("<a href=\"/page/")
        .skip(1)
        .filter_map(|l| l.split('"').next()?.parse().ok())
        .collect();
    Stats {
        pages: 1,
        words,
        links: targets.len() as u64,
        max_target: targets.into_iter().max().unwrap_or(0),
    }
}

/// Two partial counts as one.
pub fn merge_stats(a: Stats, b: Stats) -> Stats {
    Stats {
        pages: a.pages + b.pages,
        words: a.words + b.words,
        links: a.links + b.links,
        max_target: a.max_target.max(b.max_target),
    }
}

/// The statistics of pages `0..n`, without the network: what every
/// version must find.
pub fn expected(n: u64) -> Stats {
    (0..n)
        .map(|i| parse_page(&page(i)))
        .fold(Stats::default(), merge_stats)
}

// ---------------------------------------------------------------------------
// The three versions.

/// One page after the other.
pub async fn sequential(port: u16, n: u64) -> Result<Stats, FetchError> {
    let mut total = Stats::default();
    for i in 0..n {
        total = merge_stats(total, parse_page(&get(port, i).await?));
    }
    Ok(total)
}

/// Hand-written tokio: every fetch-and-parse at once with `join_all`.
pub async fn join_all(port: u16, n: u64) -> Result<Stats, FetchError> {
    let pages = futures::future::join_all(
        (0..n).map(|i| async move { get(port, i).await.map(|b| parse_page(&b)) }),
    )
    .await;
    pages
        .into_iter()
        .try_fold(Stats::default(), |t, p| Ok(merge_stats(t, p?)))
}

#[delayed]
async fn fetch(port: u16, i: u64) -> Result<String, FetchError> {
    get(port, i).await
}

#[delayed]
fn parse(body: String) -> Stats {
    parse_page(&body)
}

#[delayed]
fn merge(a: Stats, b: Stats) -> Stats {
    merge_stats(a, b)
}

/// The graph: a `fetch` task per page (async: it holds no thread while it
/// waits), a `parse` task reading each, `tree_reduce` over the counts;
/// awaited without blocking the tokio task that awaits it.
pub async fn graph(rt: &Runtime, port: u16, n: u64) -> Result<Stats, taskdag::Error> {
    rt.compute_async(graph! {
        let mut counts = Vec::new();
        for i in 0..n {
            let body = fetch(port, i)?;
            counts.push(parse(body));
        }
        tree_reduce(counts, merge)
    })
    .await
}

/// A runtime of `threads` threads whose async tasks are polled inside the
/// current tokio runtime's context (for `tokio::net` in `fetch`).
pub fn runtime(threads: usize) -> Result<Runtime, taskdag::Error> {
    Runtime::builder()
        .threads(threads)
        .tokio(tokio::runtime::Handle::current())
        .build()
}

// ---------------------------------------------------------------------------

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|k| args.get(k + 1))
        .map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, got `{v}`"))
        })
}

/// The median of `rounds` runs of `f`, and its last result.
async fn timed<T, F: std::future::Future<Output = T>>(
    rounds: usize,
    mut f: impl FnMut() -> F,
) -> (Duration, T) {
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    (times[rounds / 2], last.expect("at least one round"))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = arg(&args, "--requests", 500);
    let latency = Duration::from_millis(arg(&args, "--latency-ms", 20));
    let threads = arg(&args, "--threads", 4) as usize;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let port = serve(latency)?;
    tokio.block_on(async {
        let rt = runtime(threads)?;
        let want = expected(n);
        println!(
            "{n} requests to 127.0.0.1:{port}, each answered after {} ms; {threads} taskgraph threads",
            latency.as_millis()
        );
        let (t_seq, seq) = timed(1, || sequential(port, n)).await;
        assert_eq!(seq?, want, "the sequential loop");
        let rounds = 5;
        let (t_join, joined) = timed(rounds, || join_all(port, n)).await;
        assert_eq!(joined?, want, "join_all");
        let (t_graph, counted) = timed(rounds, || graph(&rt, port, n)).await;
        assert_eq!(counted?, want, "the graph");
        println!("  {want:?}");
        println!("  sequential loop:        {:>9.1} ms", ms(t_seq));
        println!("  tokio + join_all:       {:>9.1} ms (median of {rounds})", ms(t_join));
        println!("  taskgraph, async tasks: {:>9.1} ms (median of {rounds})", ms(t_graph));
        println!(
            "  graph / join_all: {:.2}x; sequential / graph: {:.0}x",
            ms(t_graph) / ms(t_join),
            ms(t_seq) / ms(t_graph)
        );
        Ok(())
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
