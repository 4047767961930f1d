package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// runPeriodic registers task as an asynq periodic task every interval on
// queue, and runs it, one at a time, in this process. Every process that
// registers it may run it, but each period's run is enqueued once
// (asynq.Unique), so it runs on one of them. stop shuts the scheduler,
// then the server down.
func runPeriodic(opt asynq.RedisConnOpt, queue, task string, every time.Duration, run func(ctx context.Context) error) (stop func(), err error) {
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1}, LogLevel: asynq.WarnLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task, func(ctx context.Context, _ *asynq.Task) error { return run(ctx) })
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("%s server: %w", task, err)
	}
	sch := asynq.NewScheduler(opt, &asynq.SchedulerOpts{LogLevel: asynq.WarnLevel})
	if _, err := sch.Register("@every "+every.String(), asynq.NewTask(task, nil),
		asynq.Queue(queue), asynq.Unique(every), asynq.MaxRetry(3), asynq.Timeout(max(every, time.Minute))); err != nil {
		srv.Shutdown()
		return nil, err
	}
	if err := sch.Start(); err != nil {
		srv.Shutdown()
		return nil, err
	}
	return func() { sch.Shutdown(); srv.Shutdown() }, nil
}
