"""The workloads of versus_dask.rs written with dask.delayed, computed on a
LocalCluster started as taskgraph-cluster starts its own (processes, loopback,
a dashboard). versus_dask.rs embeds this file and runs it with the Python it
finds for dask; it can also be run by hand:

    python versus_dask.py WORKERS THREADS N SLEEP_MS BLOCKS LEVELS ROUNDS

It prints one JSON object on its last line of standard output: the
distributed version, the cluster's start-up time, and for each workload the
wall time of every round (seconds) and the result of the last round.

- tutorial: for i < N: a = inc(i); b = dec(i); c = add(a, b); then a pairwise
  tree sum of the c's with add. Every task sleeps SLEEP_MS first.
- independent: BLOCKS zero-work inc(i), computed together.
- chain: x = inc(0), then LEVELS times x = inc(x), zero work.

After a warm-up (4 zero-work tasks per thread), each workload is built and
computed ROUNDS times, each timed (building the delayed graph is inside the
time, as instantiating the graph! is on the Rust side). compute(..., optimize_graph=False): one dask task per call.
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
    workers, threads, n, sleep_ms, blocks, levels, rounds = map(int, sys.argv[1:8])
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
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    startup = time.perf_counter() - started

    out = {"version": distributed.__version__, "startup": startup}
    with client:
        # The first tasks on a worker pay for imports and connections.
        dask.compute(*[d_inc(i, 0) for i in range(4 * workers * threads)])
        for name, build in [
            ("tutorial", tutorial),
            ("independent", independent),
            ("chain", chain),
        ]:
            walls = []
            for _ in range(rounds):
                t = time.perf_counter()
                result = dask.compute(*build(), optimize_graph=False)
                walls.append(time.perf_counter() - t)
            out[name] = {"walls": walls, "result": list(result)}
    cluster.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
