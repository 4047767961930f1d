#!/usr/bin/env bash
# `make bench`: prints a Markdown table of Reel's wall time against one
# hand-written ffmpeg, per-stage time, and the API's memory during a large
# upload. Ratios are measured side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./scripts/bench "$@"
