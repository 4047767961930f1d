package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// TestTopologies runs every Redis user of the store on one server, on a
// Sentinel-watched primary and on a Redis Cluster: multi-key commands,
// scripts and transactions must keep to one hash slot where a Cluster
// needs them to, and a new job's writes are confirmed by a replica.
func TestTopologies(t *testing.T) {
	var (
		ha      *devstack.RedisHA
		cluster *devstack.RedisCluster
		wg      sync.WaitGroup
	)
	testenv.Need(t, "redis-server", "redis-cli")
	single := testenv.Redis(t)
	wg.Add(2)
	go func() { defer wg.Done(); ha = startHA(t) }()
	go func() { defer wg.Done(); cluster = startCluster(t) }()
	wg.Wait()
	if ha == nil || cluster == nil {
		t.FailNow()
	}
	for _, tc := range []struct {
		name     string
		client   redis.UniversalClient
		replicas int
	}{
		{"server", redis.NewClient(&redis.Options{Addr: single}), 0},
		{"sentinel", redis.NewFailoverClient(&redis.FailoverOptions{MasterName: ha.Master, SentinelAddrs: ha.SentinelAddrs()}), 1},
		{"cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.client.Close()
			exercise(t, tc.client, tc.replicas)
		})
	}
}

func exercise(t *testing.T, c redis.UniversalClient, replicas int) {
	ctx := context.Background()
	s := &store.Redis{C: c}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		j := &pipeline.Job{ID: fmt.Sprintf("job-topo-%04d", i), Tenant: []string{"acme", "bolt"}[i%2], Status: pipeline.StatusQueued,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if err := s.Create(ctx, j); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	jobs, total, err := s.List(ctx, "bolt", 0, 10)
	if err != nil || total != 3 || len(jobs) != 3 || jobs[0].ID != "job-topo-0005" {
		t.Fatalf("tenant list: %v %d %v", err, total, jobs)
	}
	if _, total, err = s.List(ctx, "", 0, 2); err != nil || total != 6 {
		t.Fatalf("list: %v %d", err, total)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Update(ctx, "job-topo-0000", func(j *pipeline.Job) error { j.Retries++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if j, err := s.Get(ctx, "job-topo-0000"); err != nil || j.Retries != 10 {
		t.Fatalf("concurrent updates: %v %+v", err, j)
	}
	for _, u := range []string{"chunk:0", "chunk:1", "chunk:0"} {
		if _, err := s.AddDone(ctx, "job-topo-0000", u); err != nil {
			t.Fatal(err)
		}
	}
	if done, err := s.DoneUnits(ctx, "job-topo-0000"); err != nil || len(done) != 2 {
		t.Fatalf("done units: %v %v", done, err)
	}

	keys := &store.Keys{C: c}
	key, rec, err := keys.Create(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.Lookup(ctx, key); err != nil || got.Tenant != "acme" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if list, err := keys.List(ctx); err != nil || len(list) != 1 {
		t.Fatalf("keys: %+v %v", list, err)
	}
	if ok, _, err := keys.Allow(ctx, rec.ID, 1, time.Minute); err != nil || !ok {
		t.Fatalf("first request: %v %v", ok, err)
	}
	if ok, _, err := keys.Allow(ctx, rec.ID, 1, time.Minute); err != nil || ok {
		t.Fatalf("second request over a limit of 1: %v %v", ok, err)
	}
	if err := keys.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Lookup(ctx, key); !errors.Is(err, pipeline.ErrNoKey) {
		t.Fatalf("revoked key: %v", err)
	}

	edges := &store.Edges{C: c}
	for _, n := range []string{"edge-a", "edge-b", "edge-c"} {
		if err := edges.Register(ctx, edge.Info{Name: n, Zone: "z1", URL: "http://127.0.0.1:1"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := edges.Edges(ctx); err != nil || len(list) != 3 {
		t.Fatalf("edges: %+v %v", list, err)
	}
	if err := edges.Deregister(ctx, "edge-b"); err != nil {
		t.Fatal(err)
	}
	if list, err := edges.Edges(ctx); err != nil || len(list) != 2 {
		t.Fatalf("edges after one left: %+v %v", list, err)
	}
	if err := edges.Announce(ctx, "job-topo-0000", []string{"vod/job-topo-0000/master.m3u8"}); err != nil {
		t.Fatal(err)
	}
	if titles, err := edges.Read(ctx, ""); err != nil || len(titles) != 1 {
		t.Fatalf("announcements: %+v %v", titles, err)
	}

	locks := &store.Locks{C: c}
	unlock, err := locks.Lock(ctx, "title:job-topo-0000")
	if err != nil {
		t.Fatal(err)
	}
	busy, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := locks.Lock(busy, "title:job-topo-0000"); err == nil {
		t.Fatal("a held lock was taken twice")
	}
	cancel()
	unlock()
	if unlock, err = locks.Lock(ctx, "title:job-topo-0000"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock()

	leases := &store.Streams{C: c}
	for i, want := range []bool{true, true, false} {
		if ok, _, err := leases.Acquire(ctx, 7, fmt.Sprint("s", i), 2, time.Minute); err != nil || ok != want {
			t.Fatalf("stream %d: %v %v", i, ok, err)
		}
	}

	// A new job's record and first task, confirmed by the replicas.
	d := &store.Durable{C: c, Replicas: max(replicas, 1), Timeout: 300 * time.Millisecond}
	err = d.Wait(ctx, append(store.JobKeys(&pipeline.Job{ID: "job-topo-0000", Tenant: "acme"}), "asynq:{reel}")...)
	switch {
	case replicas > 0 && err != nil:
		t.Fatalf("with %d replicas: %v", replicas, err)
	case replicas == 0 && !errors.Is(err, pipeline.ErrUnreplicated):
		t.Fatalf("without replicas: %v, want ErrUnreplicated", err)
	}
}

// startHA and startCluster start their servers from a goroutine of the
// test, so they report with Error and return nil.
func startHA(t *testing.T) *devstack.RedisHA {
	h, err := devstack.StartRedisHA(context.Background(), "", t.TempDir(), "reel")
	if err != nil {
		t.Errorf("start redis with sentinels: %v", err)
		return nil
	}
	t.Cleanup(h.Stop)
	return h
}

func startCluster(t *testing.T) *devstack.RedisCluster {
	c, err := devstack.StartRedisCluster(context.Background(), "", t.TempDir(), 3, 1)
	if err != nil {
		t.Errorf("start redis cluster: %v", err)
		return nil
	}
	t.Cleanup(c.Stop)
	return c
}
