//! The live dashboard in a real browser: headless Chromium loads the page
//! while a graph runs, and what it shows is checked (call sites listed,
//! counts rising, tasks in the stream, the graph coloured by state); a
//! screenshot is taken. Runs with `--features dashboard`; installs Debian's
//! `chromium` package when it is missing.
#![cfg(feature = "dashboard")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use taskdag::{delayed, graph, Runtime};

/// Tasks `i` run once the gate is above `i`.
static GATE: (Mutex<i64>, Condvar) = (Mutex::new(0), Condvar::new());

#[delayed]
fn gated(i: i64) -> i64 {
    let (m, c) = &GATE;
    let mut open = m.lock().unwrap();
    while *open <= i {
        open = c.wait(open).unwrap();
    }
    i
}

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn open_gate(to: i64) {
    let (m, c) = &GATE;
    *m.lock().unwrap() = to;
    c.notify_all();
}

/// The browser, installed from Debian's packages if it is not there.
fn chromium() -> &'static str {
    let found = |b: &str| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for b in ["chromium", "chromium-browser"] {
        if found(b) {
            return if b == "chromium" {
                "chromium"
            } else {
                "chromium-browser"
            };
        }
    }
    let ok = Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && found("chromium"),
        "the dashboard test needs headless Chromium: install Debian's `chromium` package (apt-get install chromium)"
    );
    "chromium"
}

fn browser(args: &[&str], url: &str) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// `GET path` on the dashboard, by hand (HTTP/1.0, the body to the end).
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The `gated` call site's `(done, running)` in the latest run.
fn gated_done(addr: &str) -> Option<(u64, u64)> {
    let state: serde_json::Value = serde_json::from_str(&get(addr, "/state.json")).ok()?;
    let site = state["runs"][0]["sites"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "gated")?
        .clone();
    Some((site["done"].as_u64()?, site["running"].as_u64()?))
}

/// Waits (bounded) until `want` tasks of `gated` are done.
fn wait_for(addr: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while gated_done(addr).map(|d| d.0) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed {want} tasks done: {:?}",
            gated_done(addr)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `data-done` of the `gated` row in a dumped DOM.
fn shown_done(dom: &str) -> u64 {
    let row = dom
        .split("<div class=\"site\"")
        .find(|r| r.contains("data-name=\"gated\""))
        .expect("`gated` is listed");
    let v = row
        .split("data-done=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a count");
    assert!(row.contains("data-total=\"40\""), "{row}");
    v.parse().unwrap()
}

#[test]
fn the_dashboard_shows_a_run_in_a_real_browser() {
    chromium();
    // Node by node, so that counts rise task by task (a fused loop's rise
    // block by block).
    let rt = Runtime::builder()
        .threads(2)
        .fuse_loops(false)
        .dashboard("127.0.0.1:0")
        .build()
        .unwrap();
    let url = rt.dashboard_url().expect("a dashboard").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "loopback: {url}");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            rt.compute(graph! {
                let xs: Vec<_> = (0..40).map(|i| gated(i)).collect();
                tree_reduce(xs, add)
            })
        });
        open_gate(10);
        wait_for(&addr, 10);
        let dom = browser(&["--dump-dom"], &url);
        assert_eq!(shown_done(&dom), 10, "{dom}");
        assert!(dom.contains("data-name=\"add\""), "the reduction is listed");
        assert!(
            dom.matches("class=\"task\"").count() >= 10,
            "tasks in the stream"
        );
        assert!(
            dom.contains("class=\"node state-running\""),
            "the graph is coloured: {dom}"
        );

        open_gate(25);
        wait_for(&addr, 25);
        let dom = browser(&["--dump-dom"], &url);
        assert_eq!(shown_done(&dom), 25, "the count rose");
        assert!(dom.matches("class=\"task\"").count() >= 25);

        let shot =
            std::env::temp_dir().join(format!("taskgraph-dashboard-{}.png", std::process::id()));
        browser(
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1200,1000",
            ],
            &url,
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h) = (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        );
        assert_eq!((w, h), (1200, 1000));
        if let Ok(dir) = std::env::var("TASKGRAPH_DASHBOARD_SHOT") {
            std::fs::copy(&shot, dir).unwrap();
        }
        std::fs::remove_file(&shot).unwrap();

        open_gate(i64::MAX);
        assert_eq!(run.join().unwrap().unwrap(), (0..40).sum::<i64>());
    });
    wait_for(&addr, 40);
    let dom = browser(&["--dump-dom"], &url);
    assert_eq!(shown_done(&dom), 40);
    assert!(dom.contains("(finished)"), "the run is over");
    assert!(dom.contains("class=\"node state-done\""));
    assert!(!dom.contains("class=\"node state-running\""));
    // The page's other routes.
    assert!(get(&addr, "/graph.svg").starts_with("<svg"));
    assert!(get(&addr, "/nothing").contains("not found"));
}

#[test]
fn the_state_names_two_call_sites_of_one_function_by_their_line() {
    // No browser needed: the JSON the page shows.
    let rt = Runtime::builder()
        .threads(2)
        .dashboard("127.0.0.1:0")
        .build()
        .unwrap();
    let addr = rt
        .dashboard_url()
        .expect("a dashboard")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let line = line!() + 3;
    let v = rt
        .compute(graph! {
            let xs: Vec<_> = (0..8).map(|i| add(i, 1)).collect();
            tree_reduce(xs, add)
        })
        .unwrap();
    assert_eq!(v, 36);
    let state: serde_json::Value = serde_json::from_str(&get(&addr, "/state.json")).unwrap();
    let names: Vec<&str> = state["runs"][0]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let a = format!("add @ tests/dashboard.rs:{line}");
    let b = format!("add @ tests/dashboard.rs:{}", line + 1);
    assert_eq!(names, [a.as_str(), b.as_str()], "{state}");
}

#[delayed(cache)]
fn cached_square(x: i64) -> i64 {
    x * x
}

#[test]
fn the_state_counts_results_loaded_from_the_cache() {
    // Per process: two test runs at once must not share one cache.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dashboard-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = Runtime::builder()
        .threads(2)
        .fuse_loops(false)
        .cache(&dir)
        .dashboard("127.0.0.1:0")
        .build()
        .unwrap();
    let addr = rt
        .dashboard_url()
        .expect("a dashboard")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let run = || {
        rt.compute(graph! {
            let xs: Vec<_> = (0..8).map(|i| cached_square(i)).collect();
            xs
        })
        .unwrap()
    };
    assert_eq!(run(), (0..8).map(|i| i * i).collect::<Vec<i64>>());
    assert_eq!(run(), (0..8).map(|i| i * i).collect::<Vec<i64>>());
    let state: serde_json::Value = serde_json::from_str(&get(&addr, "/state.json")).unwrap();
    // Newest run first: all loaded; the one before computed all.
    let (second, first) = (&state["runs"][0], &state["runs"][1]);
    assert_eq!(
        (&second["cache_hits"], &second["cache_misses"]),
        (&8.into(), &0.into()),
        "{state}"
    );
    assert_eq!(
        (&first["cache_hits"], &first["cache_misses"]),
        (&0.into(), &8.into()),
        "{state}"
    );
    assert_eq!(second["sites"][0]["cached"], 8, "{state}");
    assert_eq!(first["sites"][0]["cached"], 0, "{state}");
}
