package history_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/history"
	"github.com/reel-video/reel/internal/testenv"
)

// eachLive runs f on every live section: embedded pebble and a real
// Redis Cluster (3 masters, a replica each).
func eachLive(t *testing.T, f func(t *testing.T, live history.Live)) {
	t.Run("pebble", func(t *testing.T) {
		t.Parallel()
		p, err := history.OpenPebble(filepath.Join(t.TempDir(), "live"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		f(t, p)
	})
	t.Run("redis-cluster", func(t *testing.T) {
		t.Parallel()
		c := testenv.RedisCluster(t)
		rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
		t.Cleanup(func() { rc.Close() })
		f(t, &history.Redis{C: rc})
	})
}

var base = time.Date(2026, 11, 1, 20, 0, 0, 0, time.UTC)

// viewing makes n heartbeats every 10 s of profiles p0..p{profiles-1}
// watching a few titles.
func viewing(n, profiles int) []history.Event {
	r := rand.New(rand.NewPCG(7, 7))
	out := make([]history.Event, n)
	for i := range out {
		out[i] = history.Event{Profile: fmt.Sprintf("p%d", i%profiles), Title: fmt.Sprintf("title-%d", r.IntN(4)),
			Position: float64(i/profiles) * 10, Duration: 3600, Device: []string{"tv", "web"}[r.IntN(2)],
			At: base.Add(time.Duration(i) * 10 * time.Second)}
	}
	return out
}

func keys(evs []history.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Profile + "/" + e.Key()
	}
	sort.Strings(out)
	return out
}

func TestLiveSection(t *testing.T) {
	eachLive(t, func(t *testing.T, live history.Live) {
		ctx := context.Background()
		evs := viewing(100, 5)
		if err := live.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		if err := live.Append(ctx, evs[3]); err != nil { // again: still one
			t.Fatal(err)
		}
		got, err := live.Events(ctx, "p3")
		if err != nil || len(got) != 20 {
			t.Fatalf("p3: %d events, %v; want 20", len(got), err)
		}
		for i := 1; i < len(got); i++ {
			if !got[i].At.After(got[i-1].At) {
				t.Fatalf("events out of order at %d", i)
			}
		}
		cutoff := base.Add(500 * time.Second) // events 0..49
		var older []history.Event
		err = live.Older(ctx, cutoff, func(p string, es []history.Event) error {
			for _, e := range es {
				if e.Profile != p || !e.At.Before(cutoff) {
					t.Errorf("Older gave %+v for %s", e, p)
				}
			}
			older = append(older, es...)
			return nil
		})
		if err != nil || len(older) != 50 {
			t.Fatalf("older: %d, %v; want 50", len(older), err)
		}
		if err := live.Delete(ctx, older); err != nil {
			t.Fatal(err)
		}
		got, _ = live.Events(ctx, "p3")
		if len(got) != 10 || got[0].At.Before(cutoff) {
			t.Fatalf("p3 after deleting the older events: %d", len(got))
		}
	})
}

// blocks wraps the real object store and, when armed, cancels the
// compaction's context after a number of calls: a kill at that point.
type blocks struct {
	history.Blocks
	left   atomic.Int64 // calls before the kill; <0 never
	cancel context.CancelFunc
	puts   atomic.Int64
}

func (b *blocks) tick() error {
	if b.left.Load() >= 0 && b.left.Add(-1) < 0 {
		b.cancel()
		return context.Canceled
	}
	return nil
}

func (b *blocks) PutBytes(ctx context.Context, bucket, key string, data []byte, ct string) error {
	if err := b.Blocks.PutBytes(ctx, bucket, key, data, ct); err != nil {
		return err
	}
	b.puts.Add(1)
	return b.tick() // killed after the block is stored, before the live rows go
}

func (b *blocks) RemovePrefix(ctx context.Context, bucket, prefix string) error {
	if err := b.tick(); err != nil {
		return err
	}
	return b.Blocks.RemovePrefix(ctx, bucket, prefix)
}

func (b *blocks) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	if err := b.tick(); err != nil {
		return nil, err
	}
	return b.Blocks.List(ctx, bucket, prefix)
}

func TestCompaction(t *testing.T) {
	s3 := testenv.S3(t)
	eachLive(t, func(t *testing.T, live history.Live) {
		ctx := context.Background()
		evs := viewing(1000, 5)
		if err := live.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		st := &history.Store{Live: live, Blocks: s3, Bucket: s3.Bucket(), Prefix: t.Name() + "/"}
		cutoff := base.Add(6000 * time.Second) // events 0..599
		r, err := st.Compact(ctx, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rows != 600 || r.Profiles != 5 || r.Blocks != 5 {
			t.Fatalf("compaction: %+v; want 600 rows of 5 profiles in 5 blocks", r)
		}
		t.Logf("%d rows: %d bytes as JSON, %d compressed, %.1f bytes a row (%.1fx)", r.Rows, r.LiveBytes, r.CompressedBytes,
			r.BytesPerRow, float64(r.LiveBytes)/float64(r.CompressedBytes))
		var all []history.Event
		for p := range 5 {
			got, err := st.Events(ctx, fmt.Sprintf("p%d", p))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got...)
			live, _ := live.Events(ctx, fmt.Sprintf("p%d", p))
			if len(live) != 80 {
				t.Errorf("p%d keeps %d live events, want 80", p, len(live))
			}
		}
		if fmt.Sprint(keys(all)) != fmt.Sprint(keys(evs)) {
			t.Fatalf("live and compressed merged: %d events, want the %d written", len(all), len(evs))
		}
		r, err = st.Compact(ctx, cutoff)
		if err != nil || r.Rows != 0 || r.Blocks != 0 {
			t.Fatalf("a second run: %+v, %v; want nothing to do", r, err)
		}
		cont, err := st.Continue(ctx, "p0")
		if err != nil || len(cont) == 0 || cont[0].At != evs[995].At {
			t.Fatalf("continue watching: %+v, %v", cont, err)
		}
		// Compactions in small steps leave at most MaxBlocks blocks a
		// profile, merged, with nothing lost or doubled.
		st.MaxBlocks = 3
		for c := 6100; c <= 10000; c += 100 {
			if _, err := st.Compact(ctx, base.Add(time.Duration(c)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		ks, err := s3.List(ctx, s3.Bucket(), st.Prefix+"history/p0/")
		if err != nil || len(ks) > 3 {
			t.Fatalf("p0 keeps %d blocks, %v; want at most 3", len(ks), err)
		}
		var names []string
		for p := range 5 {
			names = append(names, fmt.Sprintf("p%d", p))
		}
		if rows, err := st.Rows(ctx, names); err != nil || rows != len(evs) {
			t.Fatalf("after the merges: %d rows kept, %v; want %d", rows, err, len(evs))
		}
	})
}

// TestCompactionKilledAnywhere kills the compaction at every point it
// talks to the object store, then runs it again whole: each time the
// merged history is exactly what was written, and afterwards no event is
// kept twice.
func TestCompactionKilledAnywhere(t *testing.T) {
	s3 := testenv.S3(t)
	eachLive(t, func(t *testing.T, live history.Live) {
		evs := viewing(300, 2)
		if err := live.Append(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		for kill := int64(0); ; kill++ {
			ctx, cancel := context.WithCancel(context.Background())
			b := &blocks{Blocks: s3, cancel: cancel}
			b.left.Store(kill)
			prefix := fmt.Sprintf("%s/%d/", t.Name(), kill)
			// A block a profile already has, so that the stopped run
			// also merges.
			first := &history.Store{Live: live, Blocks: s3, Bucket: s3.Bucket(), Prefix: prefix}
			if _, err := first.Compact(context.Background(), base.Add(1000*time.Second)); err != nil {
				t.Fatal(err)
			}
			st := &history.Store{Live: live, Blocks: b, Bucket: s3.Bucket(), Prefix: prefix, MaxBlocks: 1}
			cutoff := base.Add(2000 * time.Second)
			_, err := st.Compact(ctx, cutoff)
			cancel()
			finished := err == nil
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("kill %d: %v", kill, err)
			}
			check := &history.Store{Live: live, Blocks: s3, Bucket: s3.Bucket(), Prefix: st.Prefix, MaxBlocks: 1}
			merged := 0
			for p := range 2 {
				got, err := check.Events(context.Background(), fmt.Sprintf("p%d", p))
				if err != nil {
					t.Fatal(err)
				}
				merged += len(got)
			}
			if merged != len(evs) {
				t.Fatalf("killed after %d calls: the merged history has %d events, want %d", kill, merged, len(evs))
			}
			// Run again whole: no event stays in both sections.
			r, err := check.Compact(context.Background(), cutoff)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := check.Rows(context.Background(), []string{"p0", "p1"})
			if err != nil {
				t.Fatal(err)
			}
			if rows != len(evs) {
				t.Fatalf("killed after %d calls, run again (%+v): %d rows kept in the two sections, want %d", kill, r, rows, len(evs))
			}
			if finished {
				t.Logf("killed at each of %d points", kill)
				return
			}
			// Put the moved events back live for the next round.
			all := []history.Event{}
			for p := range 2 {
				got, _ := check.Events(context.Background(), fmt.Sprintf("p%d", p))
				all = append(all, got...)
			}
			if err := live.Append(context.Background(), all...); err != nil {
				t.Fatal(err)
			}
		}
	})
}
