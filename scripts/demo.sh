#!/usr/bin/env bash
# `make demo`: runs `reel dev` with two edges, uploads a master (INPUT=path,
# or a generated 30 s 1080p test clip with audio), watches it with `reel
# watch`, and prints the playback URLs on the origin and on an edge. The stack keeps serving them until Ctrl-C (DEMO_EXIT=1
# stops it right after).
set -euo pipefail
cd "$(dirname "$0")/.."

addr="${REEL_DEMO_ADDR:-127.0.0.1:8080}"
data="${REEL_DEMO_DATA:-demo-data}"
mkdir -p "$data"
input="${INPUT:-}"
if [ -z "$input" ]; then
  input="$data/demo-1080p-30s.mp4"
  if ! [ -s "$input" ]; then
    echo "demo: generating a 30 s 1080p test clip with audio: $input"
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i "testsrc2=size=1920x1080:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
      -t 30 -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -shortest "$input"
  fi
fi
[ -f "$input" ] || { echo "demo: INPUT=$input is not a file" >&2; exit 2; }

./bin/reel dev --addr "$addr" --data "$data" --workers 2 --edges 2 2>"$data/reel-dev.log" &
dev=$!
trap 'kill -TERM $dev 2>/dev/null; wait $dev 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 300); do
  if curl -fsS "http://$addr/healthz" >/dev/null 2>&1; then break; fi
  kill -0 $dev 2>/dev/null || { echo "demo: reel dev exited; see $data/reel-dev.log" >&2; tail -20 "$data/reel-dev.log" >&2; exit 1; }
  sleep 0.2
done
export REEL_API="http://$addr"
# reel dev writes an admin API key to its data folder; the CLI reads it from
# REEL_API_KEY.
REEL_API_KEY="$(cat "$data/admin.key")"
export REEL_API_KEY
./bin/reel upload "$input" --watch
id="$(curl -fsS -H "Authorization: Bearer $REEL_API_KEY" "$REEL_API/v1/jobs?limit=1" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)"
echo
echo "Where a player in zone z1 plays it (GET /v1/play/$id):"
curl -fsS -H "Authorization: Bearer $REEL_API_KEY" -H "X-Client-Zone: z1" "$REEL_API/v1/play/$id"
echo
echo "Play the HLS URL in Safari or any hls.js page, or: ffplay <HLS URL>"
if [ "${DEMO_EXIT:-0}" = "1" ]; then exit 0; fi
echo "The stack keeps serving at $REEL_API; press Ctrl-C to stop it."
wait $dev
