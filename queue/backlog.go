package queue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/pipeline"
)

// Drain estimates how long the workers will take to work through the
// tasks that wait: the tasks queued over the rate tasks finished at in
// the last Window, and at least as long as the oldest waiting task has
// already waited (the only measure while long tasks run and none
// finishes).
type Drain struct {
	Inspector *asynq.Inspector
	// Window is how far back the finishing rate looks; default 2 min.
	Window time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	samples []drainSample
	last    pipeline.Backlog
	ok      bool
}

type drainSample struct {
	at       time.Time
	finished int // tasks processed, ever
}

func (d *Drain) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// Sample reads the queue once and returns the estimate it makes.
func (d *Drain) Sample(ctx context.Context) (pipeline.Backlog, error) {
	queues, err := d.Inspector.Queues()
	if err != nil {
		return pipeline.Backlog{}, fmt.Errorf("queue backlog: %w", err)
	}
	// Every priority's queue counts; a queue nothing was ever queued on
	// does not exist yet.
	info := &asynq.QueueInfo{}
	for _, name := range Names() {
		if !slices.Contains(queues, name) {
			continue
		}
		qi, err := d.Inspector.GetQueueInfo(name)
		if err != nil {
			return pipeline.Backlog{}, fmt.Errorf("queue backlog: %w", err)
		}
		info.ProcessedTotal += qi.ProcessedTotal
		info.Pending += qi.Pending
		info.Active += qi.Active
		info.Retry += qi.Retry
		info.Latency = max(info.Latency, qi.Latency)
	}
	window := d.Window
	if window <= 0 {
		window = 2 * time.Minute
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	// ProcessedTotal counts failed tasks too.
	d.samples = append(d.samples, drainSample{at: now, finished: info.ProcessedTotal})
	for len(d.samples) > 2 && now.Sub(d.samples[1].at) >= window {
		d.samples = d.samples[1:]
	}
	b := pipeline.Backlog{Tasks: info.Pending + info.Active + info.Retry, Oldest: info.Latency}
	if first, last := d.samples[0], d.samples[len(d.samples)-1]; last.at.Sub(first.at) > 0 && last.finished > first.finished {
		b.Rate = float64(last.finished-first.finished) / last.at.Sub(first.at).Seconds()
		b.Wait = time.Duration(float64(b.Tasks) / b.Rate * float64(time.Second))
	}
	b.Wait = max(b.Wait, b.Oldest)
	d.last, d.ok = b, true
	return b, nil
}

// Last is the latest estimate, and false before the first.
func (d *Drain) Last() (pipeline.Backlog, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.ok
}

// Run samples every interval until ctx ends; a failed sample keeps the
// last estimate.
func (d *Drain) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		_, _ = d.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
