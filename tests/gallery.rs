//! The examples gallery at small sizes: each example's graph against its
//! sequential reference. The examples are included as modules, so the test
//! runs the very functions `cargo run --example` does (their `main`s are
//! not called here).

#[cfg(feature = "tokio")]
#[path = "../examples/async_crawler.rs"]
#[allow(dead_code)]
mod async_crawler;
#[path = "../examples/build_system.rs"]
#[allow(dead_code)]
mod build_system;
#[path = "../examples/edit_distance.rs"]
#[allow(dead_code)]
mod edit_distance;
#[path = "../examples/file_pipeline.rs"]
#[allow(dead_code)]
mod file_pipeline;
#[path = "../examples/image_tiles.rs"]
#[allow(dead_code)]
mod image_tiles;
#[path = "../examples/monte_carlo.rs"]
#[allow(dead_code)]
mod monte_carlo;

use std::path::Path;

use taskdag::{Error, Runtime};

fn runtime() -> Runtime {
    Runtime::new(3).unwrap()
}

#[test]
fn file_pipeline_matches_sequential_and_names_a_bad_file() {
    use file_pipeline::{generate, parallel, sequential, PipelineError};

    // Per process: this test breaks a file, which another test run at the
    // same time must not read.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gallery-file_pipeline-{}", std::process::id()));
    let paths = generate(&dir, 24, 300).unwrap();
    let rt = runtime();
    let want = sequential(&paths).unwrap();
    assert_eq!(want.files, 24);
    assert_eq!(parallel(&rt, &paths).unwrap(), want);

    let bad = &paths[7];
    let text = std::fs::read_to_string(bad).unwrap();
    std::fs::write(bad, format!("{text}s01;2;x\n")).unwrap();
    let err = parallel(&rt, &paths).unwrap_err();
    assert!(matches!(err, Error::TaskFailed { .. }), "{err:?}");
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<PipelineError>());
    match source {
        Some(PipelineError::BadLine { path, text, .. }) => {
            assert_eq!(path, bad);
            assert_eq!(text, "s01;2;x");
        }
        other => panic!("unexpected source {other:?}"),
    }
    assert!(matches!(
        sequential(&paths),
        Err(PipelineError::BadLine { .. })
    ));

    std::fs::write(bad, text).unwrap();
    assert_eq!(parallel(&rt, &paths).unwrap(), want);
    std::fs::remove_file(&paths[3]).unwrap();
    let err = parallel(&rt, &paths).unwrap_err();
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<PipelineError>());
    assert!(matches!(source, Some(PipelineError::Io { .. })), "{err}");
}

#[test]
fn monte_carlo_matches_sequential_bit_for_bit() {
    use monte_carlo::{parallel, sequential};

    let want = sequential(7, 40, 2_000);
    assert_eq!(want.points, 80_000);
    for threads in [1, 3] {
        let rt = Runtime::new(threads).unwrap();
        assert_eq!(parallel(&rt, 7, 40, 2_000).unwrap(), want);
    }
    assert!((want.pi() - std::f64::consts::PI).abs() < 6.0 * want.std_error());
    assert_ne!(sequential(8, 40, 2_000), want, "another seed, other points");
}

#[test]
fn image_tiles_match_the_whole_image_filter() {
    use image_tiles::{parallel, Image};

    let rt = runtime();
    // Tiles that do not divide the image: smaller ones at the right and bottom.
    for (w, h, size, steps) in [(50, 37, 16, 5), (64, 64, 64, 3), (20, 9, 4, 7)] {
        let image = Image::generate(w, h);
        let want = image.smoothed(steps);
        assert_eq!(
            parallel(&rt, &image, size, steps).unwrap(),
            want,
            "{w} x {h} by {size}"
        );
    }
}

#[test]
fn build_system_matches_sequential() {
    use build_system::{generate, parallel, parse, sequential, ListError};

    let rt = runtime();
    let targets = parse(&generate(60, 6)).unwrap();
    assert_eq!(targets.len(), 60);
    for (i, t) in targets.iter().enumerate() {
        assert!(t.deps.iter().all(|&d| d < i), "dependencies come first");
    }
    let want = sequential(&targets);
    assert_eq!(want.iter().map(|a| a.depth).max(), Some(6));
    assert_eq!(parallel(&rt, &targets).unwrap(), want);

    let small = parse("app: net util\nutil:\nnet: util\n").unwrap();
    let names: Vec<_> = small.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["util", "net", "app"]);
    assert_eq!(parallel(&rt, &small).unwrap(), sequential(&small));

    assert_eq!(
        parse("a: b\nb: a\n").unwrap_err(),
        ListError::Cycle("a".into())
    );
    assert_eq!(parse("a: a\n").unwrap_err(), ListError::Cycle("a".into()));
    assert_eq!(
        parse("a: c\n").unwrap_err(),
        ListError::Unknown {
            target: "a".into(),
            dep: "c".into()
        }
    );
    assert_eq!(
        parse("a:\na:\n").unwrap_err(),
        ListError::Duplicate("a".into())
    );
    assert_eq!(parse("a\n").unwrap_err(), ListError::BadLine(1));
}

#[test]
fn edit_distance_matches_the_plain_table() {
    use edit_distance::{generate, parallel, sequential};

    let rt = runtime();
    assert_eq!(sequential(b"kitten", b"sitting"), 3);
    assert_eq!(parallel(&rt, b"kitten", b"sitting", 2).unwrap(), 3);
    assert_eq!(parallel(&rt, b"", b"abc", 2).unwrap(), 3);
    let (a, b) = generate(700, 11);
    let want = sequential(&a, &b);
    for size in [7, 64, 100, 700, 1000] {
        assert_eq!(
            parallel(&rt, &a, &b, size).unwrap(),
            want,
            "blocks of {size}"
        );
    }
}

/// The crawler (feature `tokio`) at 40 pages with 2 ms of latency: the
/// sequential loop, `join_all` and the graph find the pages' statistics;
/// a server that is not there is a task error naming the page's `fetch`.
#[cfg(feature = "tokio")]
#[test]
fn async_crawler_counts_the_same_three_ways_and_names_a_failed_fetch() {
    use async_crawler::{expected, graph, join_all, runtime, sequential, serve, FetchError};

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = serve(std::time::Duration::from_millis(2)).unwrap();
    tokio.block_on(async {
        let rt = runtime(3).unwrap();
        let n = 40;
        let want = expected(n);
        assert_eq!((want.pages, want.words > 0), (40, true));
        assert_eq!(sequential(port, n).await.unwrap(), want);
        assert_eq!(join_all(port, n).await.unwrap(), want);
        assert_eq!(graph(&rt, port, n).await.unwrap(), want);

        // A port with no server: the first fetch to fail stops the graph.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = graph(&rt, closed, 8).await.unwrap_err();
        let Error::TaskFailed { task, source, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(task.function(), "fetch");
        let source = source.downcast_ref::<FetchError>().expect("a FetchError");
        assert_eq!(task.indices, [source.page as u32]);
    });
}
