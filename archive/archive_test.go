package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/testenv"
)

func publish(t *testing.T, log events.Log, n, from int, at time.Time) {
	t.Helper()
	var msgs []events.Message
	for i := from; i < from+n; i++ {
		e := events.Event{ID: fmt.Sprintf("e%d", i), Type: "view.heartbeat", At: at.Add(time.Duration(i) * time.Minute),
			User: fmt.Sprint(i % 7), Profile: "p", Session: "s", Title: "t", Position: float64(i)}
		data, _ := json.Marshal(e)
		msgs = append(msgs, events.Message{Subject: e.Subject(), ID: e.ID, Data: data})
	}
	for _, err := range log.Publish(context.Background(), msgs) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestExactlyOnce crashes the archiver (its process stops: its context
// ends) between writing a batch's objects and recording them, and again
// after recording them but before the log has the acknowledgement, then
// starts it again: the archive holds each event once, as many as the
// stream.
func TestExactlyOnce(t *testing.T) {
	log, _ := testenv.Events(t)
	s3 := testenv.S3(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Date(2026, 12, 4, 1, 30, 0, 0, time.UTC)
	publish(t, log, 250, 0, start) // across five hours

	run := func(crash func(a *Archiver, cancel func()) func() error) *Archiver {
		t.Helper()
		c, err := log.Consumer(ctx, "archiver", []string{"events.>"})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		a := &Archiver{Store: s3, Bucket: s3.Bucket(), Log: quiet}
		if crash != nil {
			a.crash = crash(a, cancel)
		}
		done := make(chan struct{})
		go func() { a.Run(rctx, c, 40, 100*time.Millisecond); close(done) }()
		// Without a crash, run until the archiver is level with the log.
		deadline := time.Now().Add(30 * time.Second)
		for crash == nil {
			if lag, err := c.Lag(ctx); err == nil && lag == 0 && a.Done() > 0 {
				cancel()
			}
			if rctx.Err() != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		<-done
		cancel()
		return a
	}
	// First run: the third batch's objects are written, then the process
	// dies before recording them.
	var batches atomic.Int32
	a := run(func(a *Archiver, cancel func()) func() error {
		return func() error {
			if batches.Add(1) == 3 {
				cancel()
				return errors.New("crash")
			}
			return nil
		}
	})
	if a.Done() != 80 {
		t.Fatalf("archived up to %d before the crash, want 80", a.Done())
	}
	r := &Reader{Store: s3, Bucket: s3.Bucket()}
	if n, _ := r.Count(ctx); n <= 80 {
		t.Fatalf("%d events in the archive after the crash: the crash should leave a batch half recorded", n)
	}
	// Second run: more events arrive; it stops after recording a batch,
	// before acknowledging it (the log delivers it again).
	publish(t, log, 100, 250, start)
	batches.Store(0)
	run(func(a *Archiver, cancel func()) func() error {
		return func() error {
			if batches.Add(1) == 2 {
				cancel() // the batch is recorded, the acknowledgement never made
			}
			return nil
		}
	})
	// Third run, to the end.
	if a = run(nil); a.Done() != 350 {
		t.Errorf("archived up to %d, want 350", a.Done())
	}
	want, _ := log.Count(ctx)
	n, err := r.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(n) != want || want != 350 {
		t.Fatalf("archive %d events, stream %d: want both 350", n, want)
	}
	seen := map[string]bool{}
	_ = r.Each(ctx, time.Time{}, time.Time{}, func(e events.Event) error {
		if seen[e.ID] {
			t.Errorf("%s archived twice", e.ID)
		}
		seen[e.ID] = true
		return nil
	})
	keys, _ := r.Objects(ctx, time.Time{}, time.Time{})
	hours := map[string]bool{}
	for _, k := range keys {
		hours[k[:len(Prefix)+13]] = true
		if !strings.HasSuffix(k, ".jsonl.gz") {
			t.Errorf("object %s", k)
		}
	}
	if len(hours) != 7 { // 01:30 to 07:19, the events' times
		t.Errorf("hour folders: %v", hours)
	}
	// One hour's events read alone.
	h := 0
	from := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	_ = r.Each(ctx, from, from, func(e events.Event) error {
		if e.At.Hour() != 2 {
			t.Errorf("event at %s read for hour 02", e.At)
		}
		h++
		return nil
	})
	if h != 60 {
		t.Errorf("%d events in hour 02, want 60", h)
	}
}
