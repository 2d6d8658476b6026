//! Helpers shared by the integration tests: measuring how many sleeping
//! tasks ran at the same time (overlap, never a wall-clock bound).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The (start, end) of every logged sleep.
pub type Spans = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// Sleeps for `d` and logs when.
pub fn sleep_logged(log: &Spans, d: Duration) {
    let start = Instant::now();
    std::thread::sleep(d);
    log.lock().unwrap().push((start, Instant::now()));
}

/// The largest number of logged sleeps that were running at one moment.
pub fn max_concurrent(log: &Spans) -> usize {
    let spans = log.lock().unwrap().clone();
    spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap_or(0)
}
