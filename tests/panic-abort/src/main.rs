//! Built with `panic = "abort"`: failures that are not panics must come
//! back as values. Run with no argument it checks every case and exits 0;
//! `panic` (a child mode) makes a task panic, which must abort the process
//! after printing the panic's message.

use std::future::Future;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskdag::{delayed, graph, Error, Graph, Runtime};

#[delayed]
fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
    s.trim().parse()
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn check(i: u64) -> Result<u64, String> {
    if i == 137 {
        Err(format!("item {i} is bad"))
    } else {
        Ok(i * 2)
    }
}

#[delayed]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[delayed]
fn boom(x: i64) -> i64 {
    if x > 0 {
        panic!("boom at {x}");
    }
    x
}

fn runtimes() -> Vec<(String, Runtime)> {
    let mut v = Vec::new();
    for threads in [1, 2, 4] {
        for fuse in [true, false] {
            let rt = Runtime::builder()
                .threads(threads)
                .fuse_loops(fuse)
                .build()
                .expect("a runtime");
            v.push((format!("{threads} threads, fused {fuse}"), rt));
        }
    }
    v
}

/// Checks `cond`, printing `what` when it fails.
fn expect(ok: &mut bool, cond: bool, what: String) {
    if !cond {
        eprintln!("FAILED: {what}");
        *ok = false;
    }
}

#[delayed]
fn add_u64(a: u64, b: u64) -> u64 {
    a + b
}

/// `check(from + i)` for 1,000 values of `i`: item 137 fails.
fn checks(from: u64) -> impl Graph<Output = Vec<u64>> {
    graph! {
        let mut v = Vec::new();
        for i in 0..1000u64 {
            let y = check(from + i)?;
            v.push(y);
        }
        v
    }
}

/// A 40 × 40 wavefront whose cell (21, 17) fails (fused in tiles).
fn wave() -> impl Graph<Output = u64> {
    graph! {
        let mut grid = Vec::new();
        for r in 0..40usize {
            for c in 0..40usize {
                let cell = if r == 0 || c == 0 {
                    check(c as u64)?
                } else {
                    join(grid[(r - 1) * 40 + c], grid[r * 40 + c - 1], r, c)?
                };
                grid.push(cell);
            }
        }
        grid[40 * 40 - 1]
    }
}

#[delayed]
fn join(a: u64, b: u64, r: usize, c: usize) -> Result<u64, String> {
    if (r, c) == (21, 17) {
        Err(format!("cell ({r}, {c}) is bad"))
    } else {
        Ok((a + b) % 1_000_003)
    }
}

/// Pending once (waking itself), then fails for an odd number.
#[delayed]
async fn parse_later(x: i64) -> Result<i64, String> {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
    if x % 2 == 1 {
        Err(format!("{x} is odd"))
    } else {
        Ok(x)
    }
}

/// Checks that `r` is `Error::TaskFailed` naming task `task` (by its name
/// with loop indices) with the source message `source`.
fn expect_failed<T: std::fmt::Debug>(
    ok: &mut bool,
    r: &Result<T, Error>,
    task: &str,
    source: &str,
    name: &str,
) {
    match r {
        Err(Error::TaskFailed {
            task: t, source: s, ..
        }) => {
            expect(ok, t.name() == task, format!("{name}: task {}", t.name()));
            expect(ok, s.to_string() == source, format!("{name}: source {s}"));
        }
        other => expect(ok, false, format!("{name}: {task} gave {other:?}")),
    }
}

/// Wakes the thread that polls.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this thread until it is ready, parking in between.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn check_all() -> bool {
    let mut ok = true;
    for (name, rt) in runtimes() {
        // `?` on a task's `Err`: `Error::TaskFailed`, naming the task.
        let s = String::from("not a number");
        let r = rt.compute(graph! {
            let x = parse(s)?;
            inc(x)
        });
        expect_failed(&mut ok, &r, "parse", "invalid digit found in string", &name);

        // An async task's `Err`, after it was pending once: the same.
        let r = rt.compute(graph! {
            let x = parse_later(7)?;
            inc(x)
        });
        expect_failed(&mut ok, &r, "parse_later", "7 is odd", &name);

        // The same in a loop of 1,000: the failing task is named by its
        // loop index, and the other blocks stop with it.
        let r = rt.compute(checks(0));
        expect_failed(&mut ok, &r, "check[i=137]", "item 137 is bad", &name);

        // The same in a wavefront's tile: named by its row and column.
        let r = rt.compute(wave());
        expect_failed(
            &mut ok,
            &r,
            "join[r=21, c=17]",
            "cell (21, 17) is bad",
            &name,
        );

        // The same in a spawned graph and in an awaited one; a graph that
        // reads the failed spawned graph fails with `InputFailed`.
        let h = rt.spawn(checks(0));
        let reader = rt.compute(graph! { tree_reduce(&h, add_u64) });
        expect(
            &mut ok,
            matches!(reader, Err(Error::InputFailed { .. })),
            format!("{name}: reading a failed graph gave {reader:?}"),
        );
        let r = h.wait();
        expect_failed(&mut ok, &r, "check[i=137]", "item 137 is bad", &name);
        let r = block_on(rt.compute_async(checks(0)));
        expect_failed(&mut ok, &r, "check[i=137]", "item 137 is bad", &name);

        // A build error: an index out of range is returned, not unwound.
        let r = rt.compute(graph! {
            let v: Vec<_> = (0..4).map(|i| inc(i)).collect();
            add(v[1], v[9])
        });
        expect(
            &mut ok,
            matches!(r, Err(Error::IndexOutOfRange { .. })),
            format!("{name}: out of range gave {r:?}"),
        );

        // An empty reduction.
        let none: Vec<i64> = Vec::new();
        let r = rt.compute(graph! { tree_reduce(none, add) });
        expect(
            &mut ok,
            matches!(r, Err(Error::EmptyReduce { .. })),
            format!("{name}: empty reduce gave {r:?}"),
        );

        // A cancellation and a deadline.
        let h = rt.spawn(graph! {
            let v: Vec<_> = (0..64).map(|_| nap(20)).collect();
            v
        });
        std::thread::sleep(Duration::from_millis(5));
        h.cancel();
        let r = h.wait();
        expect(
            &mut ok,
            matches!(r, Err(Error::Cancelled)),
            format!("{name}: cancel gave {r:?}"),
        );
        let r = rt.compute_timeout(
            graph! {
                let v: Vec<_> = (0..64).map(|_| nap(20)).collect();
                v
            },
            Duration::from_millis(10),
        );
        expect(
            &mut ok,
            matches!(r, Err(Error::TimedOut { .. })),
            format!("{name}: timeout gave {r:?}"),
        );

        // And the runtime still works, with every value right.
        let r = rt.compute(checks(1000));
        let want: Vec<u64> = (0..1000u64).map(|i| (i + 1000) * 2).collect();
        expect(
            &mut ok,
            r.as_ref().ok() == Some(&want),
            format!("{name}: the run after the failures gave {r:?}"),
        );
    }
    ok
}

/// Child mode: a task panics, which under `panic = "abort"` ends the
/// process after the panic's message is printed.
fn panic_in_a_task() {
    let rt = Runtime::new(2).expect("a runtime");
    let r = rt.compute(graph! {
        let v: Vec<_> = (0..8).map(|i| boom(i)).collect();
        v
    });
    // Not reached: the panic aborted the process.
    println!("compute returned {r:?}");
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("panic") {
        panic_in_a_task();
        return ExitCode::SUCCESS;
    }
    let mut ok = check_all();
    // A panic aborts, and says why first.
    let me = std::env::current_exe().expect("the program's path");
    let out = Command::new(me)
        .arg("panic")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        expect(
            &mut ok,
            out.status.signal() == Some(6),
            format!("a panicking task ended the child with {:?}", out.status),
        );
    }
    expect(
        &mut ok,
        stderr.contains("boom at "),
        format!("the child's stderr names the panic: {stderr:?}"),
    );
    expect(
        &mut ok,
        !String::from_utf8_lossy(&out.stdout).contains("compute returned"),
        "compute did not return after a panic under abort".to_owned(),
    );
    if ok {
        println!("panic = \"abort\": every failure came back as an Error; a panic aborted after its message");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
