package queue_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
)

// The queue and the job store on a Redis Cluster: a submitted job's
// probe runs on an asynq server of the cluster after the job's writes
// were confirmed by the replicas, a dropped task does not run, a
// requeued one runs again, and the workers' CPUs are read back.
func TestQueueOnCluster(t *testing.T) {
	c := testenv.RedisCluster(t)
	opt := asynq.RedisClusterClientOpt{Addrs: c.Addrs}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	q := queue.New(opt)
	q.Redis = rdb
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	durable := &store.Durable{C: rdb, Replicas: 1}
	svc := &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q,
		Commit: func(ctx context.Context, j *pipeline.Job, _ pipeline.Task) error {
			return durable.Wait(ctx, append(store.JobKeys(j), queue.SlotKey)...)
		}}
	ctx := context.Background()

	var (
		mu  sync.Mutex
		ran = map[string]int{}
	)
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.Type(pipeline.TaskProbe), func(ctx context.Context, at *asynq.Task) error {
		task, err := queue.ParsePayload(at)
		if err != nil {
			return err
		}
		mu.Lock()
		ran[task.JobID]++
		mu.Unlock()
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{queue.Name: 1}, LogLevel: asynq.ErrorLevel,
		TaskCheckInterval: queue.CheckInterval})
	host, _ := os.Hostname()
	if err := queue.AnnounceCPUs(ctx, rdb, host, os.Getpid(), queue.CPUs{List: []int{0, 1}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	runs := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return ran[id]
	}
	await := func(id string, n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); runs(id) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("job %s's probe ran %d times, want %d", id, runs(id), n)
			}
		}
	}

	for _, id := range []string{"job-clus-0001", "job-clus-0002"} {
		if err := svc.Submit(ctx, &pipeline.Job{ID: id, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		await(id, 1)
	}
	probe := pipeline.Task{Kind: pipeline.TaskProbe, JobID: "job-clus-0001"}
	if err := q.Requeue(ctx, probe); err != nil {
		t.Fatal(err)
	}
	await("job-clus-0001", 2)
	later := pipeline.Task{Kind: pipeline.TaskProbe, JobID: "job-clus-0003"}
	if err := q.Later(ctx, later, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := q.Drop(ctx, []pipeline.Task{later}); err != nil {
		t.Fatal(err)
	}
	if info, err := q.Inspector.GetTaskInfo(queue.Name, later.ID()); err == nil {
		t.Fatalf("dropped task still queued: %+v", info)
	}
	var ws []queue.Worker
	for deadline := time.Now().Add(20 * time.Second); len(ws) == 0; time.Sleep(50 * time.Millisecond) {
		var err error
		if ws, err = q.Workers(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the asynq server was never listed")
		}
	}
	if len(ws) != 1 || len(ws[0].List) != 2 {
		t.Fatalf("workers %+v, want this process with CPUs 0 and 1", ws)
	}
}
