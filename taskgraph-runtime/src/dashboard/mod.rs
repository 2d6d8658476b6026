//! The live dashboard (feature `dashboard`): an observer that keeps the
//! state of the runtime's runs, and a small HTTP server (tiny_http) on one
//! thread that serves it as a page, like dask's `/status` and `/graph`:
//! per-call-site progress, the task stream, and the graph's template
//! coloured by state, updated four times a second.
//!
//! - `/` (also `/status`, `/graph`): the page;
//! - `/state.json`: the state the page polls;
//! - `/graph.svg`: the template of the latest run.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::observe::{
    now_ns, same_site, BlockEvent, FusedSites, Observer, RunFinished, RunStarted, TaskEvent,
};
use crate::site::FamilyInfo;
use crate::site::Template;
use crate::stream::{json_str, thread_name};

/// How many finished tasks the stream keeps.
const STREAM: usize = 4000;
/// How many runs the page lists.
const RUNS: usize = 8;

/// The dashboard's observer and server.
pub(crate) struct Dashboard {
    state: Mutex<State>,
    url: String,
}

#[derive(Default)]
struct State {
    threads: usize,
    runs: VecDeque<RunState>,
    /// `(thread, site, start, end)` of the latest tasks.
    stream: VecDeque<(usize, &'static FamilyInfo, u64, u64)>,
    /// The latest template and its SVG (laid out once per template).
    graph: Option<(&'static Template, String)>,
}

struct RunState {
    run: u64,
    start: u64,
    end: Option<u64>,
    failed: bool,
    /// Cached calls loaded and computed (tasks and fused blocks).
    cache: crate::observe::CacheUse,
    sites: Vec<SiteState>,
    /// What the blocks of each fused loop run.
    fused: Vec<FusedSites>,
}

struct SiteState {
    site: &'static FamilyInfo,
    /// What the page calls it ([`FamilyInfo::labels`]).
    label: String,
    /// The call site's number in the template.
    node: Option<usize>,
    total: u64,
    done: u64,
    running: u64,
    failed: u64,
    /// Of `done`, tasks whose result was loaded from the result cache.
    cached: u64,
}

impl Dashboard {
    /// Listens at `addr` and serves the page on a thread of its own.
    pub(crate) fn start(addr: &str) -> Result<Arc<Dashboard>, String> {
        let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
        let url = match server.server_addr() {
            tiny_http::ListenAddr::IP(a) => format!("http://{a}/"),
            #[allow(unreachable_patterns)]
            _ => format!("http://{addr}/"),
        };
        let d = Arc::new(Dashboard {
            state: Mutex::new(State::default()),
            url,
        });
        let weak = Arc::downgrade(&d);
        std::thread::Builder::new()
            .name("taskgraph-dashboard".to_owned())
            .spawn(move || serve(server, weak))
            .map_err(|e| e.to_string())?;
        eprintln!("taskgraph dashboard: {}", d.url);
        Ok(d)
    }

    /// The page's address.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `/state.json`.
    fn json(&self) -> String {
        let s = self.state();
        let now = now_ns();
        let mut o = String::new();
        let _ = write!(o, "{{\"now\":{now},\"threads\":{},\"runs\":[", s.threads);
        for (k, r) in s.runs.iter().enumerate() {
            if k > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"run\":{},\"start\":{},\"end\":{},\"failed\":{},\"cache_hits\":{},\"cache_misses\":{},\"sites\":[",
                r.run,
                r.start,
                r.end.map_or("null".to_owned(), |e| e.to_string()),
                r.failed,
                r.cache.hits,
                r.cache.misses
            );
            for (j, x) in r.sites.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"name\":{},\"at\":{},\"node\":{},\"total\":{},\"done\":{},\"running\":{},\"failed\":{},\"cached\":{}}}",
                    json_str(&x.label),
                    json_str(&format!("{}:{}:{}", x.site.file, x.site.line, x.site.column)),
                    x.node.map_or("null".to_owned(), |n| n.to_string()),
                    x.total,
                    x.done,
                    x.running,
                    x.failed,
                    x.cached
                );
            }
            o.push_str("]}");
        }
        o.push_str("],\"stream\":[");
        for (k, (t, site, a, b)) in s.stream.iter().enumerate() {
            if k > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "[{},{},{},{}]",
                json_str(&thread_name(*t, s.threads)),
                json_str(s.label(site)),
                a,
                b
            );
        }
        o.push_str("]}");
        o
    }

    fn graph_svg(&self) -> String {
        match &self.state().graph {
            Some((_, svg)) => svg.clone(),
            None => "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"40\"><text x=\"10\" y=\"25\">no graph has run yet</text></svg>".to_owned(),
        }
    }

    /// The page, with the current state and graph in it, so that it shows
    /// them as soon as it loads.
    fn page(&self) -> String {
        include_str!("page.html")
            .replace("/*STATE*/null", &self.json())
            .replace("<!--GRAPH-->", &self.graph_svg())
    }
}

fn serve(server: tiny_http::Server, d: std::sync::Weak<Dashboard>) {
    for req in server.incoming_requests() {
        let Some(d) = d.upgrade() else { return };
        let (body, ty) = match req.url() {
            "/" | "/status" | "/graph" | "/index.html" => (d.page(), "text/html; charset=utf-8"),
            "/state.json" => (d.json(), "application/json"),
            "/graph.svg" => (d.graph_svg(), "image/svg+xml"),
            _ => {
                let _ = req
                    .respond(tiny_http::Response::from_string("not found").with_status_code(404));
                continue;
            }
        };
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], ty.as_bytes())
            .expect("a valid header");
        let _ = req.respond(tiny_http::Response::from_string(body).with_header(header));
    }
}

impl Observer for Dashboard {
    fn run_started(&self, run: &RunStarted<'_>) {
        let planned = run.planned();
        let infos: Vec<&FamilyInfo> = planned.iter().map(|p| p.site).collect();
        let sites = planned
            .iter()
            .zip(FamilyInfo::labels(&infos))
            .map(|(p, label)| SiteState {
                site: p.site,
                label,
                node: run.template.and_then(|t| t.site_of(p.site)),
                total: p.tasks,
                done: 0,
                running: 0,
                failed: 0,
                cached: 0,
            })
            .collect();
        let svg = run.template.map(|t| {
            let d = crate::view::draw::template(t, taskgraph_viz::RankDir::TopBottom);
            (t, taskgraph_viz::to_svg(&d))
        });
        let mut s = self.state();
        s.threads = run.threads;
        if let Some((t, svg)) = svg {
            if !matches!(&s.graph, Some((g, _)) if std::ptr::eq(*g, t)) {
                s.graph = Some((t, svg));
            }
        }
        s.runs.push_front(RunState {
            run: run.run,
            start: run.time,
            end: None,
            failed: false,
            cache: Default::default(),
            sites,
            fused: run.fused_sites(),
        });
        s.runs.truncate(RUNS);
    }

    fn block_finished(&self, b: &BlockEvent) {
        let mut s = self.state();
        s.count_cache(b.run, b.cache);
        let Some(f) = s
            .runs
            .iter()
            .find(|r| r.run == b.run)
            .and_then(|r| r.fused.iter().find(|f| std::ptr::eq(f.block, b.site)))
            .cloned()
        else {
            return;
        };
        f.block_tasks(b.lo, b.hi, |site, n| {
            if let Some(x) = s.site(b.run, site) {
                x.done += n;
            }
        });
        if s.stream.len() == STREAM {
            s.stream.pop_front();
        }
        s.stream.push_back((b.thread, b.site, b.start, b.end));
    }

    fn task_started(&self, t: &TaskEvent<'_>) {
        if let Some(x) = self.state().site(t.run, t.site) {
            x.running += 1;
        }
    }

    fn task_finished(&self, t: &TaskEvent<'_>) {
        let mut s = self.state();
        if let Some(x) = s.site(t.run, t.site) {
            x.running = x.running.saturating_sub(1);
            x.done += 1;
            x.failed += u64::from(t.failed);
            x.cached += u64::from(t.cache.is_hit());
        }
        s.count_cache(t.run, t.cache);
        if s.stream.len() == STREAM {
            s.stream.pop_front();
        }
        s.stream.push_back((t.thread, t.site, t.start, t.end));
    }

    fn run_finished(&self, run: &RunFinished<'_>) {
        let mut s = self.state();
        if let Some(r) = s.runs.iter_mut().find(|r| r.run == run.run) {
            r.end = Some(run.time);
            r.failed = run.error.is_some() || run.panicked;
            if !r.failed {
                // Every task ran (the combines that join fused blocks are
                // counted only here).
                for x in &mut r.sites {
                    x.done = x.total;
                    x.running = 0;
                }
            }
        }
    }
}

impl State {
    /// The label of call site `site` in the latest run that has it.
    fn label(&self, site: &'static FamilyInfo) -> &str {
        self.runs
            .iter()
            .flat_map(|r| &r.sites)
            .find(|x| same_site(x.site, site))
            .map_or(site.name, |x| &x.label)
    }

    fn site(&mut self, run: u64, site: &FamilyInfo) -> Option<&mut SiteState> {
        let r = self.runs.iter_mut().find(|r| r.run == run)?;
        let k = r
            .sites
            .iter()
            .position(|x| std::ptr::eq(x.site, site))
            .or_else(|| r.sites.iter().position(|x| same_site(x.site, site)))?;
        Some(&mut r.sites[k])
    }

    /// Adds cached calls to run `run`'s count.
    fn count_cache(&mut self, run: u64, u: crate::observe::CacheUse) {
        if u == crate::observe::CacheUse::default() {
            return;
        }
        if let Some(r) = self.runs.iter_mut().find(|r| r.run == run) {
            r.cache.hits += u.hits;
            r.cache.misses += u.misses;
        }
    }
}
