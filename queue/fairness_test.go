package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// TestTenantFairness: tenant "batch" submits 12 jobs, then tenant
// "single" one, to one worker slot that runs each job's first task and
// ends the job. With a share of 2 running jobs a tenant, single's job
// runs third (behind the two of batch's already queued); with every job
// queued at once it runs last, after all 12. A canceled held job never
// runs, and batch's jobs run in the order they were submitted.
func TestTenantFairness(t *testing.T) {
	withShare := run(t, 2)
	without := run(t, 0)
	pos := func(order []string) int { return slices.Index(order, "single-0") + 1 }
	t.Logf("single's job ran %d of %d with a share of 2 a tenant, %d of %d with none", pos(withShare), len(withShare), pos(without), len(without))
	if pos(withShare) != 3 {
		t.Errorf("with a share of 2, single's job ran at %d: %v", pos(withShare), withShare)
	}
	if pos(without) != len(without) {
		t.Errorf("with no share, single's job ran at %d: %v", pos(without), without)
	}
	var batch []string
	for _, id := range withShare {
		if id != "single-0" {
			batch = append(batch, id)
		}
	}
	want := []string{"batch-0", "batch-1", "batch-2", "batch-3", "batch-4", "batch-5", "batch-6", "batch-7", "batch-8", "batch-9", "batch-11"}
	if !slices.Equal(batch, want) {
		t.Errorf("batch's jobs ran %v, want %v (batch-10 canceled while held)", batch, want)
	}
}

// sharedService is a pipeline on a Redis of its own whose tenants each
// have share running jobs (0: no share, adm nil).
func sharedService(t *testing.T, share int) (asynq.RedisClientOpt, *pipeline.Service, *store.Admission) {
	t.Helper()
	addr := testenv.Redis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(opt)
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	svc := &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}
	var adm *store.Admission
	if share > 0 {
		adm = &store.Admission{C: rdb, Share: share}
		svc.Admission = adm
	}
	return opt, svc, adm
}

// run submits the jobs under a share (0: none) and returns the order
// their first tasks ran in.
func run(t *testing.T, share int) []string {
	t.Helper()
	opt, svc, _ := sharedService(t, share)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	busy, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	mux := asynq.NewServeMux()
	first := pipeline.First(&pipeline.Job{})[0].Kind
	mux.HandleFunc(queue.Type(first), func(ctx context.Context, at *asynq.Task) error {
		var pt pipeline.Task
		_ = json.Unmarshal(at.Payload(), &pt)
		mu.Lock()
		order = append(order, pt.JobID)
		n := len(order)
		mu.Unlock()
		if n == 1 {
			close(busy)
			<-release // the slot is busy while the rest arrive
		}
		if n == 12 {
			close(done)
		}
		_, err := svc.Fail(ctx, pt.JobID, pipeline.CodeInternal, "the test ends every job here")
		return err
	})
	mux.HandleFunc(queue.Type(pipeline.TaskCleanup), func(context.Context, *asynq.Task) error { return nil })
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: queue.ServerQueues(), StrictPriority: true,
		TaskCheckInterval: queue.CheckInterval, LogLevel: asynq.WarnLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	submit := func(tenant string, i int) {
		t.Helper()
		j := &pipeline.Job{ID: fmt.Sprintf("%s-%d", tenant, i), Tenant: tenant, Input: pipeline.SourceRef{Key: "masters/x"}}
		if err := svc.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	submit("batch", 0)
	<-busy
	for i := 1; i < 12; i++ {
		submit("batch", i)
	}
	submit("single", 0)
	if _, err := svc.Cancel(ctx, "batch-10"); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("share %d: ran %v", share, order)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(order)
}

// TestTenantShareLostEnd: a running job whose end was never reported (a
// worker lost between the two) no longer holds its tenant's place: the
// next job that finds the share full finds it ended, and is queued.
func TestTenantShareLostEnd(t *testing.T) {
	_, svc, adm := sharedService(t, 1)
	q := svc.Queue.(*queue.Asynq)
	ctx := context.Background()
	for _, id := range []string{"a-1", "a-2"} {
		if id == "a-2" {
			// a-1 ends where nothing reports it.
			if _, err := svc.Store.Update(ctx, "a-1", func(j *pipeline.Job) error {
				return j.Fail(pipeline.CodeInternal, "ended elsewhere", j.UpdatedAt)
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.Submit(ctx, &pipeline.Job{ID: id, Tenant: "a", Input: pipeline.SourceRef{Key: "masters/x"}}); err != nil {
			t.Fatal(err)
		}
	}
	running, err := adm.Running(ctx, "a")
	if err != nil || !slices.Equal(running, []string{"a-2"}) {
		t.Fatalf("running %v %v, want a-2", running, err)
	}
	tasks, err := q.Inspector.ListPendingTasks(queue.QueueFor(""))
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for _, tk := range tasks {
		var pt pipeline.Task
		_ = json.Unmarshal(tk.Payload, &pt)
		queued = append(queued, pt.JobID)
	}
	if !slices.Equal(queued, []string{"a-1", "a-2"}) {
		t.Fatalf("queued %v, want both jobs' first tasks", queued)
	}
}
