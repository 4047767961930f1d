package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/evcache"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// TestCachedStore runs pipeline.CachedStore over Redis and two memcached
// replicas: reads come from the cache, changes invalidate it, and losing
// either side of it does not fail a read it can answer.
func TestCachedStore(t *testing.T) {
	testenv.Need(t, "redis-server", "memcached")
	ctx := context.Background()
	rp, err := devstack.StartRedis(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rp.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	m1, m2 := testenv.Memcached(t), testenv.Memcached(t)
	cache, err := evcache.New(evcache.Config{Zone: "z1", Replicas: map[string][]string{"z1": {m1.Addr}, "z2": {m2.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	inner := &store.Redis{C: rdb}
	s := &pipeline.CachedStore{Store: inner, Cache: cache}
	id := "job-cache-0001"
	if err := s.Create(ctx, &pipeline.Job{ID: id, Status: pipeline.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Get(ctx, id); err != nil || j.Status != pipeline.StatusQueued {
		t.Fatalf("%v %v", j, err)
	}
	// A change behind the cache's back is not seen for CacheInFlight...
	if _, err := inner.Update(ctx, id, func(j *pipeline.Job) error { j.Tenant = "sneaky"; return nil }); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Get(ctx, id); j.Tenant != "" {
		t.Fatal("read did not come from the cache")
	}
	// ...but one through the cached store is seen at once.
	if _, err := s.Update(ctx, id, func(j *pipeline.Job) error { return j.Move(pipeline.StatusProbing, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Get(ctx, id); j.Status != pipeline.StatusProbing || j.Tenant != "sneaky" {
		t.Fatalf("after Update: %+v", j)
	}
	if err := s.SetCounter(ctx, id, "probe", 0.5); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counters(ctx, id); c["probe"] != 0.5 {
		t.Fatalf("counters: %v", c)
	}
	if err := s.SetCounter(ctx, id, "probe", 1); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counters(ctx, id); c["probe"] != 1 {
		t.Fatalf("counters after SetCounter: %v", c)
	}

	// A finished job is cached for long: it is read while Redis is down,
	// and while one memcached server is down too.
	if _, err := s.Update(ctx, id, func(j *pipeline.Job) error { return j.Fail("x", "y", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pipeline.InvalidateAgain + 100*time.Millisecond)
	if j, _ := s.Get(ctx, id); j.Status != pipeline.StatusFailed {
		t.Fatalf("status %s", j.Status)
	}
	rp.Stop()
	m1.Stop()
	if j, err := s.Get(ctx, id); err != nil || j.Status != pipeline.StatusFailed {
		t.Fatalf("with Redis and the local cache down: %v %v", j, err)
	}
	if _, err := s.Get(ctx, "job-cache-0002"); err == nil {
		t.Fatal("a job never cached was read with Redis down")
	}
}
