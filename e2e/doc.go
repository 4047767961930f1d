// Package e2e holds Reel's end-to-end tests: real `reel dev`, `reel api`,
// `reel edge` and `reel gateway` processes on redis-server, MinIO and
// memcached they start on free ports, real ffmpeg, and hls.js and dash.js
// in headless Chromium. Each test waits on observable state (health
// checks, job status, processes, objects) and never sleeps for an event.
// They take minutes; `go test -short ./...` leaves them out and `make
// test` runs them.
package e2e
