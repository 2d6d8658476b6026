//! `#[delayed] async fn` tasks: results against a sequential run, the
//! thread limit and the in-flight limit, failures, cancellation.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskdag::{delayed, graph, Error, Runtime};

/// A future ready after `d`, woken by a plain thread: no reactor needed.
struct Timer {
    d: Duration,
    shared: Option<Arc<Mutex<(bool, Option<Waker>)>>>,
}

fn sleep(d: Duration) -> Timer {
    Timer { d, shared: None }
}

impl Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let d = self.d;
        let shared = self.shared.get_or_insert_with(|| {
            let s = Arc::new(Mutex::new((false, None::<Waker>)));
            let t = Arc::clone(&s);
            std::thread::spawn(move || {
                std::thread::sleep(d);
                let mut g = t.lock().unwrap();
                g.0 = true;
                if let Some(w) = g.1.take() {
                    w.wake();
                }
            });
            s
        });
        let mut g = shared.lock().unwrap();
        if g.0 {
            Poll::Ready(())
        } else {
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[delayed]
async fn fetch(i: u64) -> u64 {
    sleep(Duration::from_millis(1 + i % 3)).await;
    i * 10
}

#[delayed]
fn add(a: u64, b: &u64) -> u64 {
    a + b
}

#[delayed]
async fn scale(x: &u64, k: u64) -> u64 {
    sleep(Duration::from_millis(1)).await;
    x * k
}

fn sequential(n: u64) -> u64 {
    (0..n).map(|i| i * 10 * 3 + i * 10).sum()
}

#[test]
fn results_match_a_sequential_run() {
    for threads in [1, 2, 4] {
        let rt = Runtime::new(threads).unwrap();
        let n = 40u64;
        let total = rt
            .compute(graph! {
                let mut v = Vec::new();
                for i in 0..n {
                    let f = fetch(i);
                    let s = scale(&f, 3);
                    v.push(add(s, &f));
                }
                v
            })
            .unwrap();
        assert_eq!(total.iter().sum::<u64>(), sequential(n), "{threads} threads");
    }
}
