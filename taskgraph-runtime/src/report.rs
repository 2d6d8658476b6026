//! The performance report: one self-contained HTML file (no script, no
//! external file) with a summary, per-call-site statistics (count, total,
//! mean and longest duration, share of the time), the task stream drawn
//! per thread, and the graph's template with where the time went.
//!
//! Made by `TaskStream::write_report`, or around some computes by
//! `Runtime::performance_report`.

// Each element of the page ends its own line.
#![allow(clippy::write_with_newline)]

use std::fmt::Write as _;
use std::path::Path;

use taskgraph_viz::{Rgb, Style};

use crate::stream::{thread_name, SiteStats, SpanKind, TaskStream};

/// At most this many task spans are drawn in the stream (the longest).
const DRAWN: usize = 20_000;

/// Colours of call sites, in the order of their total time.
const COLOURS: [&str; 10] = [
    "#4c6ef5", "#f76707", "#37b24d", "#e64980", "#1098ad", "#f59f00", "#7048e8", "#d6336c",
    "#74b816", "#495057",
];

/// `1.2 ms`, `340 µs`, `56 ns`, `2.1 s`.
pub(crate) fn duration(ns: u64) -> String {
    let ns = ns as f64;
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report of everything `stream` recorded.
pub(crate) fn html(stream: &TaskStream, title: &str) -> String {
    let spans = stream.spans();
    let stats = stream.stats();
    let runs = stream.runs();
    let threads = runs.iter().map(|r| r.threads).max().unwrap_or(0);
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end).max().unwrap_or(t0);
    let wall = t1 - t0;
    let tasks: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Task).collect();
    let busy: u64 = tasks.iter().map(|s| s.duration()).sum();
    let mut tids: Vec<usize> = spans.iter().map(|s| s.thread).collect();
    tids.sort_unstable();
    tids.dedup();
    let colour = |site: &crate::FamilyInfo| {
        let k = stats
            .iter()
            .position(|s| std::ptr::eq(s.site, site) || s.site == site)
            .unwrap_or(COLOURS.len() - 1);
        COLOURS[k.min(COLOURS.len() - 1)]
    };

    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} — taskgraph performance report</title>\n<style>\
body{{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#212529}}\
h1{{font-size:22px}}h2{{font-size:17px;margin-top:28px}}\
table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #dee2e6;text-align:right}}\
td:first-child,th:first-child,td.at{{text-align:left}}\
.bar{{display:inline-block;height:10px;background:#4c6ef5;vertical-align:middle}}\
.sw{{display:inline-block;width:10px;height:10px;margin-right:6px}}\
svg text{{font-size:11px}}\
</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    let _ = write!(
        o,
        "<p id=\"summary\">{} runs, {} tasks on {} threads in {} of wall time; the tasks ran for {} in all ({:.0}% of {} thread-time).</p>\n",
        runs.len(),
        tasks.len(),
        threads,
        duration(wall),
        duration(busy),
        if wall > 0 && !tids.is_empty() {
            100.0 * busy as f64 / (wall as f64 * tids.len() as f64)
        } else {
            0.0
        },
        tids.len(),
    );

    // Per call site.
    o.push_str("<h2>Where time went</h2>\n<table id=\"sites\"><tr><th>function</th><th>call site</th><th>tasks</th><th>total</th><th>mean</th><th>max</th><th>share</th></tr>\n");
    let sites: Vec<&crate::site::FamilyInfo> = stats.iter().map(|s| s.site).collect();
    for (s, label) in stats.iter().zip(crate::site::FamilyInfo::labels(&sites)) {
        site_row(&mut o, s, &label, colour(s.site));
    }
    o.push_str("</table>\n");

    // The task stream.
    let _ = write!(
        o,
        "<h2>Task stream</h2>\n<p>One row per thread; a grey band is a block of fused iterations, each coloured bar a task (hover for its name and duration).{}</p>\n",
        if tasks.len() > DRAWN {
            format!(" The {DRAWN} longest of {} tasks are drawn.", tasks.len())
        } else {
            String::new()
        }
    );
    let (w, row, left) = (1100.0, 24.0, 110.0);
    let h = row * tids.len() as f64 + 24.0;
    let x = |t: u64| left + (t - t0) as f64 / wall.max(1) as f64 * (w - left - 10.0);
    let _ = write!(
        o,
        "<svg id=\"stream\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n"
    );
    for (r, &t) in tids.iter().enumerate() {
        let y = row * r as f64;
        let _ = write!(
            o,
            "<text x=\"4\" y=\"{:.1}\" fill=\"#495057\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e9ecef\"/>\n",
            y + row * 0.65,
            esc(&thread_name(t, threads)),
            w - 10.0,
            y + row,
            y + row
        );
    }
    let row_of = |t: usize| tids.binary_search(&t).unwrap_or(0) as f64 * row;
    for s in spans.iter().filter(|s| s.kind == SpanKind::Block) {
        let _ = write!(
            o,
            "<rect class=\"block\" x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"#dee2e6\"><title>{} ({})</title></rect>\n",
            x(s.start),
            row_of(s.thread) + 1.0,
            (x(s.end) - x(s.start)).max(0.5),
            row - 2.0,
            esc(&s.name()),
            duration(s.duration())
        );
    }
    let mut drawn = tasks.clone();
    if drawn.len() > DRAWN {
        drawn.sort_by_key(|s| std::cmp::Reverse(s.duration()));
        drawn.truncate(DRAWN);
    }
    for s in drawn {
        let _ = write!(
            o,
            "<rect class=\"task\" x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{}\"><title>{} ({})</title></rect>\n",
            x(s.start),
            row_of(s.thread) + 4.0,
            (x(s.end) - x(s.start)).max(0.5),
            row - 8.0,
            if s.failed {
                "#e03131"
            } else if s.cache.is_hit() {
                // Loaded from the result cache.
                "#adb5bd"
            } else {
                colour(s.site)
            },
            esc(&s.name()),
            duration(s.duration())
        );
    }
    let _ = write!(
        o,
        "<text x=\"{left}\" y=\"{:.1}\" fill=\"#495057\">0</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#495057\" text-anchor=\"end\">{}</text>\n</svg>\n",
        h - 6.0,
        w - 10.0,
        h - 6.0,
        esc(&duration(wall))
    );

    // The graph, with where the time went.
    if let Some(t) = runs.iter().rev().find_map(|r| r.template) {
        let mut d = crate::view::draw::template(t, taskgraph_viz::RankDir::TopBottom);
        for (i, site) in t.sites.iter().enumerate() {
            let st = stats.iter().find(|s| {
                s.site.name == site.name && s.site.line == site.line && s.site.column == site.column
            });
            if let Some(st) = st {
                let n = &mut d.nodes[i];
                n.label = format!(
                    "{}\n{:.0}% · {}",
                    n.label,
                    100.0 * st.share,
                    duration(st.total)
                );
                let k = (255.0 * (1.0 - st.share.clamp(0.0, 1.0) * 0.7)) as u8;
                n.style = Style::Fill(Rgb::new(255, k, k));
            }
        }
        o.push_str("<h2>The graph</h2>\n<p>The template of the last run's graph: each call site with its share of the task time (redder is more).</p>\n<div id=\"graph\">");
        o.push_str(&taskgraph_viz::to_svg(&d));
        o.push_str("</div>\n");
    }
    o.push_str("</body></html>\n");
    o
}

fn site_row(o: &mut String, s: &SiteStats, label: &str, colour: &str) {
    let _ = write!(
        o,
        "<tr><td><span class=\"sw\" style=\"background:{colour}\"></span>{}</td><td class=\"at\">{}:{}:{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"bar\" style=\"width:{:.0}px;background:{colour}\"></span> {:.1}%</td></tr>\n",
        esc(label),
        esc(s.site.file),
        s.site.line,
        s.site.column,
        s.count,
        match (s.failed, s.cache_hits) {
            (0, 0) => String::new(),
            (f, 0) => format!(" ({f} failed)"),
            (0, h) => format!(" ({h} from the cache)"),
            (f, h) => format!(" ({f} failed, {h} from the cache)"),
        },
        duration(s.total),
        duration(s.mean()),
        duration(s.max),
        120.0 * s.share,
        100.0 * s.share
    );
}

// The report is a view of a task stream: `stream.rs` knows nothing of it.
impl TaskStream {
    /// A self-contained HTML performance report, like dask's
    /// `performance_report`: a summary, per call site the tasks' count,
    /// total, mean and longest duration and share of the time, the task
    /// stream drawn per thread, and the graph's template with each call
    /// site's share. No script and no external file.
    pub fn report(&self, title: &str) -> String {
        html(self, title)
    }

    /// Writes [`TaskStream::report`] to `path`.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn write_report(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let title = path
            .as_ref()
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("taskgraph")
            .to_owned();
        std::fs::write(path, self.report(&title))
    }
}
