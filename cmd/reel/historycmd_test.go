package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/history"
	"github.com/reel-video/reel/internal/testenv"
)

// TestScheduledCompaction runs the compaction as the asynq periodic task
// on a real Redis, MinIO and pebble, and waits for it to move the
// heartbeats.
func TestScheduledCompaction(t *testing.T) {
	ctx := context.Background()
	addr := testenv.Redis(t)
	s3 := testenv.S3(t)
	live, queue, closeLive, err := openLive("pebble:" + filepath.Join(t.TempDir(), "live"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeLive()
	if !strings.HasPrefix(queue, "history-") {
		t.Fatalf("a pebble section's queue %q is not its own", queue)
	}
	st := &history.Store{Live: live, Blocks: s3, Bucket: s3.Bucket()}
	old := time.Now().Add(-time.Hour)
	for i := range 20 {
		if err := live.Append(ctx, history.Event{Profile: "7", Title: "t", Position: float64(i), At: old.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	stop, err := scheduleCompaction(time.Second, time.Minute, queue, st, asynq.RedisClientOpt{Addr: addr}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := live.Events(ctx, "7")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats still live after 30 s of a compaction every second", len(evs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	all, err := st.Events(ctx, "7")
	if err != nil || len(all) != 20 {
		t.Fatalf("after the scheduled compaction: %d events, %v; want 20", len(all), err)
	}
}

func TestOpenLive(t *testing.T) {
	for _, bad := range []string{"", "pebble:", "redis-cluster:", "cassandra:x"} {
		if _, _, _, err := openLive(bad); err == nil {
			t.Errorf("openLive(%q) opened", bad)
		}
	}
}
