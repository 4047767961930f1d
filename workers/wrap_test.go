package workers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
)

func TestRegisterCoversEveryStage(t *testing.T) {
	mux := asynq.NewServeMux()
	(&Worker{}).Register(mux)
	for _, st := range pipeline.Stages {
		if _, pattern := mux.Handler(asynq.NewTask(queue.Type(st.Kind), nil)); pattern != queue.Type(st.Kind) {
			t.Errorf("stage %s has no handler (pattern %q)", st.Kind, pattern)
		}
	}
}

// TestWrap runs handlers through the wrapper on a real Redis: a handler
// that does not hand back its result fails, a task of an ended job is
// skipped without running, and a task stopped by its job's cancel is not
// retried.
func TestWrap(t *testing.T) {
	addr := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	w := &Worker{Svc: &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}}
	ctx := context.Background()
	if err := w.Svc.Submit(ctx, &pipeline.Job{ID: "job-wrap-0001"}); err != nil {
		t.Fatal(err)
	}
	probe, _ := pipeline.StageOf(pipeline.TaskProbe)
	task := func(kind pipeline.TaskKind) *asynq.Task {
		data, _ := json.Marshal(pipeline.Task{Kind: kind, JobID: "job-wrap-0001"})
		return asynq.NewTask(queue.Type(kind), data)
	}
	ran := 0
	forgetful := w.wrap(probe, func(context.Context, *run) error { ran++; return nil })
	if err := forgetful(ctx, task(pipeline.TaskProbe)); err == nil || !strings.Contains(err.Error(), "without recording its result") {
		t.Errorf("a handler that did not call done: %v", err)
	}
	// The job moved to the stage's status as the task began.
	if st, _ := w.Svc.Status(ctx, "job-wrap-0001"); st != pipeline.StatusProbing {
		t.Errorf("status %s", st)
	}
	// A cancel stops the running task (asynq cancels its context): it
	// ends as skipped.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := w.wrap(probe, func(ctx context.Context, r *run) error {
		if _, err := w.Svc.Cancel(context.Background(), r.task.JobID); err != nil {
			return err
		}
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if err := stopped(cctx, task(pipeline.TaskProbe)); err != nil {
		t.Errorf("a task stopped by its job's cancel: %v", err)
	}
	// The job ended: a late task is skipped before its handler runs.
	ran = 0
	if err := forgetful(ctx, task(pipeline.TaskProbe)); err != nil || ran != 0 {
		t.Errorf("a task of a canceled job: %v, ran %d", err, ran)
	}
	// A failure that is not a cancel stays a failure, to be retried.
	if err := w.Svc.Submit(ctx, &pipeline.Job{ID: "job-wrap-0002"}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(pipeline.Task{Kind: pipeline.TaskProbe, JobID: "job-wrap-0002"})
	broken := w.wrap(probe, func(context.Context, *run) error { return errors.New("s3 down") })
	if err := broken(ctx, asynq.NewTask(queue.Type(pipeline.TaskProbe), data)); err == nil {
		t.Error("a failing task succeeded")
	}
}
