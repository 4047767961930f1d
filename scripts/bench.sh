#!/usr/bin/env bash
# `make bench`: prints Markdown tables and one line per target: Reel's wall
# time against one hand-written ffmpeg and where it goes, scaling over
# pinned workers, a simulated fleet under CPU quotas, the API's memory
# and throughput during a large upload, job status latency under load,
# per-title ladders against the fixed one, and the gateway's overhead.
# Ratios are measured side by side in one run; flags (go run
# ./scripts/bench -h) pick sections and sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./scripts/bench "$@"
