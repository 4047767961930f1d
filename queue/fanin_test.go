package queue_test

import (
	"context"
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

func setup(t *testing.T) (*pipeline.Service, *queue.Asynq) {
	addr := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	return &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}, q
}

func newJob(t *testing.T, svc *pipeline.Service, id string, chunks int, audio bool) *pipeline.Job {
	ctx := context.Background()
	if err := svc.Submit(ctx, &pipeline.Job{ID: id}); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.MakePlan(int64(chunks*120), 30, 1, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	j, err := svc.Store.Update(ctx, id, func(j *pipeline.Job) error { j.Plan, j.HasAudio = &p, audio; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func chunk(j *pipeline.Job, k int) pipeline.Task {
	return pipeline.Task{Kind: pipeline.TaskEncode, JobID: j.ID, Chunk: k}
}

func audio(j *pipeline.Job) pipeline.Task {
	return pipeline.Task{Kind: pipeline.TaskAudio, JobID: j.ID}
}

func countTasks(t *testing.T, q *asynq.Inspector, kind pipeline.TaskKind) int {
	t.Helper()
	tasks, err := q.ListPendingTasks(queue.Name, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ti := range tasks {
		if ti.Type == queue.Type(kind) {
			n++
		}
	}
	return n
}

func TestFanInFiresOnce(t *testing.T) {
	svc, q := setup(t)
	ctx := context.Background()
	j := newJob(t, svc, "fanin-job-0001", 3, true)
	for _, u := range []pipeline.Task{chunk(j, 0), audio(j), chunk(j, 1)} {
		if _, err := svc.Done(ctx, u, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := countTasks(t, q.Inspector, pipeline.TaskPackage); n != 0 {
		t.Fatalf("package queued before the last chunk: %d", n)
	}
	// The last chunk completes twice (asynq is at-least-once) and a duplicate
	// of an earlier chunk arrives too.
	for _, u := range []pipeline.Task{chunk(j, 2), chunk(j, 2), chunk(j, 0)} {
		if _, err := svc.Done(ctx, u, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := countTasks(t, q.Inspector, pipeline.TaskPackage); n != 1 {
		t.Fatalf("package queued %d times, want 1", n)
	}
}

func TestFanInConcurrentLastUnits(t *testing.T) {
	svc, q := setup(t)
	ctx := context.Background()
	j := newJob(t, svc, "fanin-job-0002", 8, false)
	var wg sync.WaitGroup
	for round := 0; round < 2; round++ {
		for k := 0; k < 8; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				if _, err := svc.Done(ctx, chunk(j, k), time.Now(), nil); err != nil {
					t.Error(err)
				}
			}(k)
		}
	}
	wg.Wait()
	if n := countTasks(t, q.Inspector, pipeline.TaskPackage); n != 1 {
		t.Fatalf("package queued %d times, want 1", n)
	}
}

func TestEnqueueIsIdempotentAndCancelDrops(t *testing.T) {
	svc, q := setup(t)
	ctx := context.Background()
	j := newJob(t, svc, "fanin-job-0003", 2, false)
	for i := 0; i < 3; i++ {
		if err := svc.Queue.Enqueue(ctx, chunk(j, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := countTasks(t, q.Inspector, pipeline.TaskEncode); n != 1 {
		t.Fatalf("encode queued %d times", n)
	}
	got, err := svc.Cancel(ctx, j.ID)
	if err != nil || got.Status != pipeline.StatusCanceled {
		t.Fatalf("cancel: %v %v", err, got)
	}
	if n := countTasks(t, q.Inspector, pipeline.TaskEncode) + countTasks(t, q.Inspector, pipeline.TaskProbe); n != 0 {
		t.Fatalf("%d tasks still queued after cancel", n)
	}
	if _, err := svc.Cancel(ctx, j.ID); err == nil {
		t.Fatal("second cancel succeeded")
	}
	if _, err := svc.Begin(ctx, chunk(j, 0)); err != pipeline.ErrJobEnded {
		t.Fatalf("Begin on canceled job: %v", err)
	}
}
