#!/usr/bin/env bash
# Regenerates the pictures in docs/ (named in `taskdag::guide::seeing`)
# from real runs (needs Debian's chromium for the two screenshots).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --release --example pictures
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot=docs/report.png --window-size=1100,1050 \
    "file://$PWD/target/pictures/report.html"
TASKGRAPH_DASHBOARD_SHOT="$PWD/docs/dashboard.png" \
    cargo test --features dashboard --test dashboard
