package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
)

// The backlog estimate: the tasks queued over the rate tasks finished at
// in the window, and never less than the oldest task's wait.
func TestDrainEstimate(t *testing.T) {
	addr := testenv.Redis(t)
	opt := asynq.RedisClientOpt{Addr: addr}
	q := queue.New(opt)
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &queue.Drain{Inspector: q.Inspector, Now: func() time.Time { return clock }}
	if b, err := d.Sample(ctx); err != nil || b.Tasks != 0 || b.Wait != 0 {
		t.Fatalf("empty queue: %+v %v", b, err)
	}
	enqueue := func(from, n int) {
		for i := from; i < from+n; i++ {
			if err := q.Enqueue(ctx, pipeline.Task{Kind: pipeline.TaskProbe, JobID: "job-" + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue(0, 5)
	// Five tasks run to the end on a worker that then stops.
	var wg sync.WaitGroup
	wg.Add(5)
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.Type(pipeline.TaskProbe), func(context.Context, *asynq.Task) error { wg.Done(); return nil })
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{queue.Name: 1}, LogLevel: asynq.ErrorLevel,
		TaskCheckInterval: queue.CheckInterval})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	srv.Shutdown()
	enqueue(5, 10)
	clock = clock.Add(10 * time.Second)
	b, err := d.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 5 finished in 10 s: 10 queued take 20 s.
	if b.Tasks != 10 || b.Rate != 0.5 || b.Wait < 20*time.Second || b.Wait > 21*time.Second {
		t.Fatalf("after 5 of 15 ran in 10 s: %+v", b)
	}
	if last, ok := d.Last(); !ok || last != b {
		t.Fatalf("last estimate %+v, want %+v", last, b)
	}
	// Out of the window, nothing finished: the oldest task's wait is the
	// estimate.
	clock = clock.Add(5 * time.Minute)
	if _, err := d.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(5 * time.Minute)
	if b, err = d.Sample(ctx); err != nil || b.Rate != 0 || b.Wait != b.Oldest || b.Oldest <= 0 {
		t.Fatalf("nothing finished lately: %+v %v", b, err)
	}
}
