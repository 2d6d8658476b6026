//! Looking at graphs without running them: task counts, DOT (pinned by
//! snapshots), the compile-time template, SVG structure, files.

use taskdag::view::{RankDir, ViewError};
use taskdag::{delayed, graph, Error, Graph, Runtime};

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}
#[delayed]
fn dec(x: i64) -> i64 {
    x - 1
}
#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}
#[delayed]
fn step(s: i64, t: i64) -> i64 {
    s + t
}

/// The tutorial's first graph.
fn small() -> impl Graph<Output = i64> {
    graph! {
        let x = inc(1);
        let y = dec(2);
        add(x, y)
    }
}

/// The tutorial's loop of `n` iterations and its tree summation.
fn seed(n: i64) -> impl Graph<Output = i64> {
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

#[test]
fn the_small_graph_in_dot() {
    let g = small();
    insta::assert_snapshot!("small_lr", g.view().left_right().to_dot().unwrap());
    assert_eq!(Runtime::new(2).unwrap().compute(g).unwrap(), 3);
}

#[test]
fn the_tutorial_loop_in_dot_one_node_per_task() {
    let dot = seed(4).to_dot().unwrap();
    insta::assert_snapshot!("seed_4", dot);
}

#[test]
fn the_tutorial_loop_template() {
    let g = seed(256);
    insta::assert_snapshot!("seed_template", g.template_dot());
}

#[test]
fn a_loop_carried_chain_template_labels_the_previous_iteration() {
    let steps = 10;
    let g = graph! {
        let mut s = inc(0);
        for t in 0..steps {
            s = step(s, t);
        }
        dec(s)
    };
    let dot = g.template_dot();
    insta::assert_snapshot!("chain_template", dot);
    assert!(dot.contains("label=\"s[t-1]\""), "{dot}");
    assert!(dot.contains("label=\"s[last t]\""), "{dot}");
    assert_eq!(g.tasks().unwrap().total, 12);
}

#[test]
fn the_tutorial_while_loop_template_draws_its_indexed_edges() {
    let n = 5;
    // Labelled, the loop is kept as written (unlabelled, this pairwise
    // loop is a `tree_reduce`: below).
    let g = graph! {
        let mut level: Vec<_> = (0..n).map(|i| inc(i)).collect();
        'pairs: while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
            continue 'pairs;
        }
        level[0]
    };
    let dot = g.template_dot();
    assert!(dot.contains("while level.len() > 1"), "{dot}");
    insta::assert_snapshot!("while_template", dot);
    // Each level's adds read the level below: 2 + 1 + 1 adds for 5 leaves.
    assert_eq!(g.tasks().unwrap().total, 5 + 4);
}

#[test]
fn the_pairwise_while_loop_is_drawn_as_a_tree_reduce() {
    let n = 5;
    let g = graph! {
        let mut level: Vec<_> = (0..n).map(|i| inc(i)).collect();
        while level.len() > 1 {
            let mut next = Vec::new();
            for i in (0..level.len()).step_by(2) {
                if i + 1 < level.len() {
                    next.push(add(level[i], level[i + 1]));
                } else {
                    next.push(level[i]);
                }
            }
            level = next;
        }
        level[0]
    };
    let dot = g.template_dot();
    assert!(!dot.contains("while"), "{dot}");
    assert!(
        dot.contains(r#"n1 [label="tree_reduce(level, add)""#),
        "{dot}"
    );
    assert!(dot.contains(r#"n0 -> n1 [label="level[all i]"]"#), "{dot}");
    // The same tasks as the loop: 5 leaves, 4 adds.
    assert_eq!(g.tasks().unwrap().total, 5 + 4);
}

#[test]
fn tasks_are_counted_per_call_site() {
    let t = seed(256).tasks().unwrap();
    assert_eq!(t.total, 3 * 256 + 255);
    let counts: Vec<(&str, u64)> = t.sites.iter().map(|s| (s.site.name, s.tasks)).collect();
    assert_eq!(
        counts,
        [("inc", 256), ("dec", 256), ("add", 256), ("add", 255)]
    );
    assert_eq!(t.of("add"), 511);
    let table = t.to_string();
    assert!(table.starts_with("1023 tasks\n"), "{table}");
    assert!(table.contains("tests/view.rs:"), "{table}");
}

#[test]
fn a_million_tasks_collapse_into_their_families() {
    let g = seed(1_000_000);
    let dot = g.to_dot().unwrap();
    assert!(dot.len() < 4000, "{} bytes:\n{dot}", dot.len());
    assert!(dot.contains("inc\\n×1000000"), "{dot}");
    assert!(dot.contains("tree_reduce(zs, add)\\n×999999"), "{dot}");
    assert!(dot.contains("for i in 0..n: 1000000 iterations"), "{dot}");
    insta::assert_snapshot!("seed_million", dot);
}

#[test]
fn the_threshold_and_expand_choose_the_instance_view() {
    let g = seed(300);
    let collapsed = g.to_dot().unwrap();
    let expanded = g.view().expand().to_dot().unwrap();
    let nodes = |d: &str| {
        d.lines()
            .map(str::trim_start)
            .filter(|l| {
                l.strip_prefix('n')
                    .and_then(|r| r.split_once(' '))
                    .is_some_and(|(k, rest)| {
                        k.parse::<u32>().is_ok() && rest.starts_with("[label=")
                    })
            })
            .count()
    };
    assert_eq!(nodes(&collapsed), 4);
    assert_eq!(nodes(&expanded), 3 * 300 + 299);
    assert_eq!(
        nodes(&g.view().collapse_above(2000).to_dot().unwrap()),
        1199
    );
    assert!(expanded.contains("label=\"inc[i=299]\""));
    assert!(
        expanded.contains("label=\"add[level=8, pos=0]\""),
        "the tree's root"
    );
}

#[test]
fn svg_has_one_node_per_task_and_one_path_per_edge() {
    let svg = seed(8).to_svg().unwrap();
    let doc = roxmltree::Document::parse(svg.as_str()).expect("well-formed SVG");
    let class = |c: &str| {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|k| k.split(' ').any(|w| w == c))
            })
            .count()
    };
    assert_eq!(class("node"), 3 * 8 + 7);
    // inc->dec, inc->add, dec->add per iteration, two per tree node.
    assert_eq!(class("edge"), 3 * 8 + 2 * 7);
    // One cluster per iteration, one for the tree.
    assert_eq!(class("cluster"), 9);
    let labels: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect::<String>()
        })
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    assert!(labels.contains(&"inc[i=7]"), "{labels:?}");
    assert!(labels.contains(&"tree_reduce(zs, add)"), "{labels:?}");
}

#[test]
fn left_right_and_top_bottom() {
    let g = small();
    assert!(g.to_dot().unwrap().contains("rankdir=TB"));
    assert!(g
        .view()
        .rankdir(RankDir::LeftRight)
        .to_dot()
        .unwrap()
        .contains("rankdir=LR"));
    assert!(g
        .view()
        .left_right()
        .template()
        .to_dot()
        .unwrap()
        .contains("rankdir=LR"));
}

#[test]
fn visualize_writes_svg_and_dot_by_extension() {
    let dir = std::env::temp_dir().join(format!("taskgraph-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = seed(4);
    let svg = g.visualize(dir.join("graph.svg")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("graph.svg")).unwrap(),
        svg.as_str()
    );
    g.visualize(dir.join("graph.dot")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("graph.dot")).unwrap(),
        g.to_dot().unwrap()
    );
    let e = g.visualize(dir.join("graph.jpeg")).unwrap_err();
    assert!(matches!(e, ViewError::Format { .. }));
    assert!(
        e.to_string().contains("write `.svg`, `.png` or `.dot`"),
        "{e}"
    );
    let e = g.visualize(dir.join("missing/graph.svg")).unwrap_err();
    assert!(matches!(e, ViewError::Io { .. }), "{e}");
    #[cfg(not(feature = "png"))]
    {
        let e = g.visualize(dir.join("graph.png")).unwrap_err();
        assert!(e.to_string().contains("the `png` feature"), "{e}");
    }
    #[cfg(feature = "png")]
    {
        g.visualize(dir.join("graph.png")).unwrap();
        let png = std::fs::read(dir.join("graph.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn svg_displays_itself_in_evcxr() {
    let svg = small().to_svg().unwrap();
    let shown = svg.evcxr_content();
    assert!(
        shown.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"),
        "{shown}"
    );
    assert!(shown.ends_with("</svg>\n\nEVCXR_END_CONTENT\n"), "{shown}");
}

#[test]
fn looking_at_a_graph_runs_no_task_and_it_computes_afterwards() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUNS: AtomicU32 = AtomicU32::new(0);
    #[delayed]
    fn counted(x: i64) -> i64 {
        RUNS.fetch_add(1, Ordering::Relaxed);
        x
    }
    let g = graph! {
        let xs: Vec<_> = (0..5).map(|i| counted(i)).collect();
        tree_reduce(xs, add)
    };
    g.to_dot().unwrap();
    g.tasks().unwrap();
    g.template_dot();
    assert_eq!(RUNS.load(Ordering::Relaxed), 0);
    assert_eq!(g.compute().unwrap(), 10);
    assert_eq!(RUNS.load(Ordering::Relaxed), 5);
}

#[test]
fn a_graph_that_cannot_be_instantiated_says_why() {
    let n = 0;
    let g = graph! {
        let xs: Vec<_> = (0..n).map(|i| inc(i)).collect();
        tree_reduce(xs, add)
    };
    assert!(matches!(g.to_dot(), Err(Error::EmptyReduce { .. })));
    assert!(matches!(
        g.visualize("never.svg"),
        Err(ViewError::Graph(Error::EmptyReduce { .. }))
    ));
    // The template needs no instantiation.
    assert!(g.template_dot().contains("tree_reduce(xs, add)"));
}

#[test]
fn instances_are_labelled_as_errors_name_their_tasks() {
    let g = seed(4);
    let inst = g.instantiate().unwrap();
    let dot = g.to_dot().unwrap();
    let mut seen = 0;
    inst.for_each_input(|p, c| {
        for n in [p, c] {
            let name = inst.family_info(n.family()).task(&inst.indices(n)).name();
            assert!(dot.contains(&format!("[label=\"{name}\"")), "{name}\n{dot}");
            seen += 1;
        }
    });
    assert!(seen > 0);
    assert!(dot.contains("[label=\"add[i=3]\""), "{dot}");
    assert!(dot.contains("[label=\"add[level=1, pos=0]\""), "{dot}");
}

#[delayed]
fn shout(s: String) -> String {
    s.to_uppercase()
}

#[delayed]
fn length(s: String) -> usize {
    s.len()
}

/// A graph that moves a captured `String` into a task: looking at it runs
/// its plain code on a clone of the captures, and computing it afterwards
/// still has the original.
#[test]
fn a_graph_that_moves_a_capture_is_looked_at_then_computed() -> Result<(), Error> {
    let word = String::from("graph");
    let g = graph! {
        let s = shout(word);
        length(s)
    };
    let dot = g.to_dot()?;
    assert!(dot.contains("shout") && dot.contains("length"), "{dot}");
    assert_eq!(g.tasks()?.total, 2);
    assert_eq!(g.compute()?, 5);
    Ok(())
}

/// The same through a function's `impl Graph`, with a captured vector.
fn words(ws: Vec<String>) -> impl Graph<Output = Vec<String>> {
    graph! {
        let mut out = Vec::new();
        for w in ws {
            out.push(shout(w));
        }
        out
    }
}

#[test]
fn a_returned_graph_with_owned_captures_is_drawn_and_computed() -> Result<(), Error> {
    let g = words(vec!["a".into(), "bc".into()]);
    assert_eq!(g.tasks()?.total, 2);
    assert!(g.to_svg()?.as_str().contains("shout"));
    assert_eq!(Runtime::new(2)?.compute(g)?, ["A", "BC"]);
    Ok(())
}

/// A graph chosen at run time, boxed, is drawn and computed like any other.
#[test]
fn a_boxed_graph_is_drawn_and_computed() -> Result<(), Error> {
    // (graph, its tasks, its value): `small` is inc(1) + dec(2); `seed(4)`
    // sums 2i + 1 over four iterations of three tasks, with three adds.
    for (big, tasks, value) in [(false, 3, 3), (true, 15, 16)] {
        let g: Box<dyn Graph<Output = i64> + Send> = if big {
            Box::new(seed(4))
        } else {
            Box::new(small())
        };
        assert_eq!(g.tasks()?.total, tasks);
        assert!(g.to_dot()?.contains("add"));
        assert_eq!(g.compute()?, value);
    }
    Ok(())
}
