"""The workloads of versus_dask.rs written with dask.delayed, computed on a
LocalCluster started as taskgraph-cluster starts its own (processes, loopback,
a dashboard, the same dask settings). versus_dask.rs embeds this file, runs it
with the Python it finds for dask and asks it for one round at a time, in turn
with its own rounds, so that both sides see the same load. It can also be run
by hand:

    echo tutorial independent chain | python versus_dask.py WORKERS THREADS N SLEEP_MS BLOCKS LEVELS

It starts its cluster, warms it up (4 zero-work tasks per thread) and prints
one JSON object a line on standard output: first the distributed version and
the cluster's start-up time, then for each workload name it reads (words on
standard input) the wall time of one round (seconds) and its result.

- tutorial: for i < N: a = inc(i); b = dec(i); c = add(a, b); then a pairwise
  tree sum of the c's with add. Every task sleeps SLEEP_MS first.
- independent: BLOCKS zero-work inc(i), computed together.
- chain: x = inc(0), then LEVELS times x = inc(x), zero work.

Each round builds the workload and computes it, timed (building the delayed
graph is inside the time, as instantiating the graph! is on the Rust side).
compute(..., optimize_graph=False): one dask task per call.
"""

import json
import sys
import time


def inc(x, secs):
    if secs > 0:
        time.sleep(secs)
    return x + 1


def dec(x, secs):
    if secs > 0:
        time.sleep(secs)
    return x - 1


def add(x, y, secs):
    if secs > 0:
        time.sleep(secs)
    return x + y


def main():
    workers, threads, n, sleep_ms, blocks, levels = map(int, sys.argv[1:7])
    import dask
    import distributed
    from dask import delayed
    from distributed import Client, LocalCluster

    d_inc, d_dec, d_add = delayed(inc), delayed(dec), delayed(add)
    secs = sleep_ms / 1000.0

    def tutorial():
        zs = []
        for i in range(n):
            a = d_inc(i, secs)
            b = d_dec(i, secs)
            zs.append(d_add(a, b, secs))
        while len(zs) > 1:
            pairs = [d_add(zs[i], zs[i + 1], secs) for i in range(0, len(zs) - 1, 2)]
            if len(zs) % 2:
                pairs.append(zs[-1])
            zs = pairs
        return [zs[0]]

    def independent():
        return [d_inc(i, 0) for i in range(blocks)]

    def chain():
        x = d_inc(0, 0)
        for _ in range(levels):
            x = d_inc(x, 0)
        return [x]

    started = time.perf_counter()
    # The settings taskgraph-cluster's driver gives the LocalCluster of
    # `Dask::local` (driver.py, `start_local`): workers forked from a
    # forkserver; dask's default worker-saturation, as there.
    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    startup = time.perf_counter() - started

    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    builds = {"tutorial": tutorial, "independent": independent, "chain": chain}
    with client:
        # The first tasks on a worker pay for imports and connections.
        dask.compute(*[d_inc(i, 0) for i in range(4 * workers * threads)])
        say({"version": distributed.__version__, "startup": startup})
        for line in sys.stdin:
            for name in line.split():
                t = time.perf_counter()
                result = dask.compute(*builds[name](), optimize_graph=False)
                wall = time.perf_counter() - t
                say({"name": name, "wall": wall, "result": list(result)})
    cluster.close()


if __name__ == "__main__":
    main()
