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

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
)

// TestPriorities: with a worker busy on a queue of normal jobs, a high
// job submitted after them has its chunks run next, before the normal
// chunks that waited longer, and a low job runs last. The backlog counts
// every priority's tasks.
func TestPriorities(t *testing.T) {
	addr := testenv.Redis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	q := queue.New(opt)
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	enqueue := func(job, priority string, chunks int) {
		t.Helper()
		for k := range chunks {
			if err := q.Enqueue(ctx, pipeline.Task{Kind: pipeline.TaskEncode, JobID: job, Chunk: k, Priority: priority}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue("job-normal-1", "", 4)
	enqueue("job-normal-2", "", 4)
	enqueue("job-low", "low", 2)

	var mu sync.Mutex
	var order []string
	busy := make(chan struct{})
	release := make(chan struct{})
	all := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.Type(pipeline.TaskEncode), func(ctx context.Context, at *asynq.Task) error {
		var pt pipeline.Task
		_ = json.Unmarshal(at.Payload(), &pt)
		mu.Lock()
		order = append(order, fmt.Sprintf("%s:%d", pt.JobID, pt.Chunk))
		n := len(order)
		mu.Unlock()
		if n == 1 {
			close(busy)
			<-release // the worker is busy while the high job arrives
		}
		if n == 13 {
			close(all)
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: queue.ServerQueues(), StrictPriority: true,
		TaskCheckInterval: queue.CheckInterval, LogLevel: asynq.WarnLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	<-busy
	enqueue("job-high", "high", 3)
	d := &queue.Drain{Inspector: q.Inspector}
	if b, err := d.Sample(ctx); err != nil || b.Tasks != 13 {
		t.Errorf("backlog over every queue: %+v %v, want 13 tasks (1 active)", b, err)
	}
	close(release)
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("ran %v", order)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order[1:4], []string{"job-high:0", "job-high:1", "job-high:2"}) {
		t.Errorf("the high job's chunks did not run next: %v", order)
	}
	if !slices.Equal(order[11:], []string{"job-low:0", "job-low:1"}) {
		t.Errorf("the low job did not run last: %v", order)
	}
	t.Logf("order: %v", order)
}
