//! Writes the pictures in `docs/` from real runs: `docs/pictures.sh` runs this,
//! then takes screenshots of the report and the dashboard.
//!
//! ```text
//! cargo run --release --example pictures
//! ```

use std::path::Path;
use std::sync::Arc;

use taskdag::stream::TaskStream;
use taskdag::{delayed, graph, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_micros(
        200 + (x as u64 * 37) % 300,
    ));
    x + 1
}
#[delayed]
fn dec(x: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_micros(
        150 + (x as u64 * 53) % 250,
    ));
    x - 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    std::thread::sleep(std::time::Duration::from_micros(
        100 + ((x + y) as u64 * 71) % 200,
    ));
    x + y
}

fn tutorial(n: i64) -> impl Graph<Output = i64> {
    graph! {
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        tree_reduce(zs, add)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs)?;
    tutorial(8)
        .view()
        .left_right()
        .visualize(docs.join("graph.svg"))?;
    tutorial(256)
        .view()
        .template()
        .visualize(docs.join("template.svg"))?;
    tutorial(1_000_000).visualize(docs.join("million.svg"))?;
    let rt = Runtime::new(4)?;
    let stream = Arc::new(TaskStream::new());
    let watching = rt.observe(stream.clone());
    rt.compute(tutorial(256))?;
    drop(watching);
    let out = root.join("target/pictures");
    std::fs::create_dir_all(&out)?;
    stream.write_report(out.join("report.html"))?;
    stream.write_chrome_trace(out.join("trace.json"))?;
    println!(
        "wrote docs/graph.svg, docs/template.svg, docs/million.svg, target/pictures/report.html"
    );
    Ok(())
}
