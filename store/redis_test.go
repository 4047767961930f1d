package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

func TestRedisStore(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	s := &store.Redis{C: rdb}
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"job-aaaa-0001", "job-aaaa-0002", "job-aaaa-0003"} {
		if err := s.Create(ctx, &pipeline.Job{ID: id, Status: pipeline.StatusQueued, CreatedAt: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, &pipeline.Job{ID: "job-aaaa-0001"}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	jobs, total, err := s.List(ctx, "", 0, 2)
	if err != nil || total != 3 || len(jobs) != 2 || jobs[0].ID != "job-aaaa-0003" {
		t.Fatalf("list: %v %d %v", err, total, jobs)
	}
	if _, err := s.Get(ctx, "job-none-0000"); err != pipeline.ErrNotFound {
		t.Fatalf("missing job: %v", err)
	}

	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	changes, err := s.Subscribe(sub, "job-aaaa-0001")
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent updates are all applied (optimistic locking retries).
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Update(ctx, "job-aaaa-0001", func(j *pipeline.Job) error { j.Renditions = append(j.Renditions, pipeline.Rendition{}); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	j, _ := s.Get(ctx, "job-aaaa-0001")
	if len(j.Renditions) != 20 {
		t.Fatalf("lost updates: %d of 20 applied", len(j.Renditions))
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification")
	}
	if err := s.SetCounter(ctx, "job-aaaa-0001", "chunk:0", 42); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counters(ctx, "job-aaaa-0001"); err != nil || c["chunk:0"] != 42 {
		t.Fatalf("counters %v %v", c, err)
	}
}
