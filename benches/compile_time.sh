#!/usr/bin/env bash
# Compile time of `graph!`: 20 `graph!`s of 10 call sites each,
# against the same computations written as plain sequential Rust.
#
#   benches/compile_time.sh [REPEATS]        (default 3)
#
# Generates two throwaway crates under target/compile-time/ that depend on this
# workspace by path, builds their dependencies once (untimed), then times
# `cargo build` of each crate alone (touching its source) REPEATS times, in the
# dev and release profiles, and prints the medians as a Markdown table.
#
# Expansion size: stable rustc has no way to print a macro expansion;
# `-Zunpretty=expanded` is nightly-only. The script reaches it on the stable
# compiler with RUSTC_BOOTSTRAP=1, for this measurement only (set
# SKIP_EXPANSION=1 to skip it). Lines are those of rustc's pretty-printer.
# (RUSTC_BOOTSTRAP changes cargo's fingerprints, so the next `cargo check` of
# these crates re-checks their dependencies; the timed runs are preceded by an
# untimed one for that reason.)
set -euo pipefail

repeats=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/compile-time"
# Under this checkout's own target/ by default: a target directory shared by
# two copies of the workspace can hold artifacts built from the other copy.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/compile-time-target"
mkdir -p "$work"

graphs=20

gen_common() {
    local delayed=$1
    cat <<EOF
${delayed}
pub fn inc(x: u64) -> u64 {
    x + 1
}
${delayed}
pub fn dec(x: u64) -> u64 {
    x - 1
}
${delayed}
pub fn add(x: u64, y: u64) -> u64 {
    x.wrapping_add(y)
}
${delayed}
pub fn mul(x: u64, y: u64) -> u64 {
    x.wrapping_mul(y)
}
EOF
}

# 10 call sites per graph: inc dec add mul, inc dec add in a loop, the
# tree_reduce's add, mul, add.
gen_graph_crate() {
    echo "use taskdag::{delayed, graph, Runtime};"
    gen_common "#[delayed]"
    for k in $(seq 1 $graphs); do
        cat <<EOF
pub fn g$k(rt: &Runtime, n: u64) -> u64 {
    rt.compute(graph! {
        let a = inc(n + $k);
        let b = dec(a);
        let c = add(a, b);
        let d = mul(c, a);
        let mut zs = Vec::new();
        for i in 0..n {
            let x = inc(i);
            let y = dec(x);
            let z = add(x, y);
            zs.push(z);
        }
        let s = tree_reduce(zs, add);
        let e = mul(s, d);
        add(e, c)
    })
    .expect("graph $k")
}
EOF
    done
    echo "fn main() {"
    echo "    let rt = Runtime::new(2).expect(\"runtime\");"
    echo "    let n: u64 = std::env::args().count() as u64 + 7;"
    echo "    let mut t = 0u64;"
    for k in $(seq 1 $graphs); do echo "    t = t.wrapping_add(g$k(&rt, n));"; done
    echo "    println!(\"{t}\");"
    echo "}"
}

gen_plain_crate() {
    gen_common ""
    cat <<'EOF'
fn tree_reduce(mut v: Vec<u64>, f: fn(u64, u64) -> u64) -> u64 {
    while v.len() > 1 {
        let n = v.len();
        let mut w = 0;
        let mut i = 0;
        while i + 1 < n {
            v[w] = f(v[i], v[i + 1]);
            w += 1;
            i += 2;
        }
        if i < n {
            v[w] = v[i];
            w += 1;
        }
        v.truncate(w);
    }
    v[0]
}
EOF
    for k in $(seq 1 $graphs); do
        cat <<EOF
pub fn g$k(n: u64) -> u64 {
    let a = inc(n + $k);
    let b = dec(a);
    let c = add(a, b);
    let d = mul(c, a);
    let mut zs = Vec::new();
    for i in 0..n {
        let x = inc(i);
        let y = dec(x);
        let z = add(x, y);
        zs.push(z);
    }
    let s = tree_reduce(zs, add);
    let e = mul(s, d);
    add(e, c)
}
EOF
    done
    echo "fn main() {"
    echo "    let n: u64 = std::env::args().count() as u64 + 7;"
    echo "    let mut t = 0u64;"
    for k in $(seq 1 $graphs); do echo "    t = t.wrapping_add(g$k(n));"; done
    echo "    println!(\"{t}\");"
    echo "}"
}

make_crate() {
    local name=$1 gen=$2
    mkdir -p "$work/$name/src"
    cat >"$work/$name/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
taskdag = { path = "$root" }

[workspace]
EOF
    $gen >"$work/$name/src/main.rs"
}

make_crate tg-compile-graph gen_graph_crate
make_crate tg-compile-plain gen_plain_crate

# Runs "$@" REPEATS times after touching the crate's source; prints the
# median wall-clock seconds and the median CPU seconds (user + system, which
# other processes on the machine disturb less).
time_build() {
    local dir=$1
    shift
    local log="$work/time.log"
    : >"$log"
    for _ in $(seq 1 "$repeats"); do
        touch "$dir/src/main.rs"
        (cd "$dir" && /usr/bin/time -a -o "$log" -f "%e %U %S" "$@" >/dev/null 2>&1)
    done
    local wall cpu
    wall=$(awk '{print $1}' "$log" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
    cpu=$(awk '{printf "%.3f\n", $2 + $3}' "$log" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
    echo "$wall $cpu"
}

declare -A result
for name in tg-compile-graph tg-compile-plain; do
    dir="$work/$name"
    for profile in dev release; do
        (cd "$dir" && cargo build --profile "$profile" --quiet) # dependencies, untimed; checks it builds
        result[$name.$profile]=$(time_build "$dir" cargo build --profile "$profile")
    done
    (cd "$dir" && cargo check --quiet) # dependencies, untimed
    result[$name.check]=$(time_build "$dir" cargo check)
    (cd "$dir" && cargo run --quiet --release) >"$work/$name.out"
done
if ! cmp -s "$work/tg-compile-graph.out" "$work/tg-compile-plain.out"; then
    echo "the two variants computed different results" >&2
    exit 1
fi

sites=$((graphs * 10))
cell() { read -r w c <<<"${result[$1]}"; echo "$w s ($c s)"; }
echo "| variant | cargo check | cargo build (dev) | cargo build (release) | source lines | expanded lines | expanded bytes |"
echo "|---|--:|--:|--:|--:|--:|--:|"
declare -A lines bytes
for name in tg-compile-graph tg-compile-plain; do
    dir="$work/$name"
    src=$(wc -l <"$dir/src/main.rs")
    if [ "${SKIP_EXPANSION:-0}" = 1 ]; then
        lines[$name]="n/a"
        bytes[$name]="n/a"
    else
        (cd "$dir" && RUSTC_BOOTSTRAP=1 cargo rustc --quiet --profile check -- -Zunpretty=expanded) \
            >"$work/$name.expanded.rs" 2>/dev/null
        lines[$name]=$(wc -l <"$work/$name.expanded.rs")
        bytes[$name]=$(wc -c <"$work/$name.expanded.rs")
    fi
    label=$([ "$name" = tg-compile-graph ] && echo "$graphs \`graph!\`s × 10 call sites" || echo "the same, plain sequential code")
    echo "| $label | $(cell "$name.check") | $(cell "$name.dev") | $(cell "$name.release") | $src | ${lines[$name]} | ${bytes[$name]} |"
done
if [ "${SKIP_EXPANSION:-0}" != 1 ]; then
    dl=$((lines[tg-compile-graph] - lines[tg-compile-plain]))
    db=$((bytes[tg-compile-graph] - bytes[tg-compile-plain]))
    echo
    echo "Expansion: $dl more lines ($db more bytes) for $sites call sites:" \
        "$((dl / sites)) lines ($((db / sites)) bytes) per call site, $((dl / graphs)) lines per \`graph!\`."
fi
text() { size "$CARGO_TARGET_DIR/release/$1" 2>/dev/null | awk 'NR == 2 { print $1 }'; }
tg_text=$(text tg-compile-graph)
plain_text=$(text tg-compile-plain)
if [ -n "$tg_text" ] && [ -n "$plain_text" ]; then
    echo
    echo "Release binary text: $tg_text bytes against $plain_text:" \
        "$(((tg_text - plain_text) / graphs)) bytes of machine code per \`graph!\`."
fi
per_graph() {
    local a b
    read -r -a a <<<"${result[tg-compile-graph.$1]}"
    read -r -a b <<<"${result[tg-compile-plain.$1]}"
    awk -v a="${a[0]}" -v b="${b[0]}" -v c="${a[1]}" -v d="${b[1]}" -v n="$graphs" \
        'BEGIN { printf "%.3f s (CPU %.3f s)", (a - b) / n, (c - d) / n }'
}
echo
echo "Added build time per \`graph!\` (10 call sites): check $(per_graph check)," \
    "dev $(per_graph dev), release $(per_graph release)."
echo
echo "Median of $repeats builds of the crate alone (dependencies already built): wall time (CPU time);" \
    "$(nproc) CPUs, $(rustc --version), load average $(cut -d' ' -f1 /proc/loadavg)."
