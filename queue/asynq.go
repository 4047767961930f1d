// Package queue runs pipeline tasks on Redis through asynq: enqueueing with
// unique task ids and timeouts that grow with the work, retry delays,
// dropping a canceled job's tasks, re-queueing a failed job's, listing
// workers and the CPUs they announce, and counting the chunk encodes those
// CPUs can run at once.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// Name is the asynq queue of the pipeline's normal-priority tasks;
// HighName and LowName hold those of high- and low-priority jobs.
const (
	Name     = "reel"
	HighName = "reel-high"
	LowName  = "reel-low"
)

// Names are the pipeline's queues, highest priority first.
func Names() []string { return []string{HighName, Name, LowName} }

// QueueFor is the queue of a job priority (ladder.Priority).
func QueueFor(priority string) string {
	switch priority {
	case ladder.PriorityHigh:
		return HighName
	case ladder.PriorityLow:
		return LowName
	}
	return Name
}

// ServerQueues is what a worker serves: every pipeline queue, taken in
// strict priority (asynq.Config.StrictPriority), high first.
func ServerQueues() map[string]int { return map[string]int{HighName: 3, Name: 2, LowName: 1} }

// SlotKey is a key in the Redis hash slot of the normal queue's tasks
// (asynq tags its keys with the queue name): in a Cluster, the node that
// holds them. SlotKeyFor is that of a priority's queue.
const SlotKey = "asynq:{" + Name + "}"

// SlotKeyFor is a key in the hash slot of the tasks of jobs of priority.
func SlotKeyFor(priority string) string { return "asynq:{" + QueueFor(priority) + "}" }

// TypePrefix prefixes every asynq task type Reel registers.
const TypePrefix = "reel:"

// Type returns the asynq task type of a pipeline task kind.
func Type(k pipeline.TaskKind) string { return TypePrefix + string(k) }

// RetryDelay returns how long a failed task waits before its next try: at
// once when its worker died (its lease expired); otherwise base doubled for
// each earlier retry (at most 10 minutes) or, with base 0, asynq's own
// growing delay (about 15 s to 45 s first, then longer). Either rides out
// a short Redis or S3 outage.
func RetryDelay(base time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return time.Second
		}
		if base <= 0 {
			return asynq.DefaultRetryDelayFunc(n, err, t)
		}
		return min(base<<min(n, 20), 10*time.Minute)
	}
}

// MaxRetry is how often a failing task is retried before its job fails.
const MaxRetry = 3

// Retention keeps finished tasks (and so their ids) so a duplicate enqueue
// of a stage that already ran is refused.
const Retention = 24 * time.Hour

// CheckInterval is how often an idle worker asks the queue for a task
// (asynq's TaskCheckInterval, whose default of a second, jittered to 0.5 to
// 1.5 s, a job's first task and each stage a sleeping worker takes would
// wait). An idle worker runs one dequeue script a check.
const CheckInterval = 200 * time.Millisecond

// Asynq is a pipeline.Queue on asynq.
type Asynq struct {
	Client    *asynq.Client
	Inspector *asynq.Inspector
	// Redis, if set, is where workers announce their CPUs (AnnounceCPUs),
	// which Workers reports.
	Redis redis.Cmdable
}

var _ pipeline.Queue = (*Asynq)(nil)

// New connects to Redis.
func New(opt asynq.RedisConnOpt) *Asynq {
	return &Asynq{Client: asynq.NewClient(opt), Inspector: asynq.NewInspector(opt)}
}

// Close closes the connections.
func (q *Asynq) Close() error {
	return errors.Join(q.Client.Close(), q.Inspector.Close())
}

// NewTask turns a pipeline task into an asynq task with its options.
func NewTask(t pipeline.Task) (*asynq.Task, error) {
	payload, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(Type(t.Kind), payload,
		asynq.TaskID(t.ID()), asynq.Queue(QueueFor(t.Priority)), asynq.MaxRetry(MaxRetry),
		asynq.Timeout(t.Timeout()), asynq.Retention(Retention)), nil
}

// Enqueue queues t once; a duplicate id is not an error.
func (q *Asynq) Enqueue(ctx context.Context, t pipeline.Task) error {
	task, err := NewTask(t)
	if err != nil {
		return err
	}
	_, err = q.Client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return store.RedisError(err, "enqueue "+t.ID())
	}
	return nil
}

// Later queues t to run after d; a duplicate id is not an error.
func (q *Asynq) Later(ctx context.Context, t pipeline.Task, d time.Duration) error {
	task, err := NewTask(t)
	if err != nil {
		return err
	}
	_, err = q.Client.EnqueueContext(ctx, task, asynq.ProcessIn(d))
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return store.RedisError(err, "enqueue "+t.ID())
	}
	return nil
}

// Requeue deletes what is left of an earlier task with t's ID (completed,
// archived, waiting to retry) and queues t afresh; a running one is left.
func (q *Asynq) Requeue(ctx context.Context, t pipeline.Task) error {
	info, err := q.Inspector.GetTaskInfo(QueueFor(t.Priority), t.ID())
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
	case err != nil:
		return store.RedisError(err, "requeue "+t.ID())
	case info.State == asynq.TaskStateActive:
		return nil
	default:
		if err := q.Inspector.DeleteTask(QueueFor(t.Priority), t.ID()); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return store.RedisError(err, "requeue "+t.ID())
		}
	}
	return q.Enqueue(ctx, t)
}

// Drop deletes the tasks still waiting and cancels the ones running.
func (q *Asynq) Drop(ctx context.Context, tasks []pipeline.Task) error {
	var errs []error
	for _, t := range tasks {
		info, err := q.Inspector.GetTaskInfo(QueueFor(t.Priority), t.ID())
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch info.State {
		case asynq.TaskStateActive:
			err = q.Inspector.CancelProcessing(t.ID())
		case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateAggregating:
			err = q.Inspector.DeleteTask(QueueFor(t.Priority), t.ID())
			if errors.Is(err, asynq.ErrTaskNotFound) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", t.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// Worker is a live worker process.
type Worker struct {
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Concurrency int       `json:"concurrency"`
	ActiveTasks int       `json:"active_tasks"`
	Started     time.Time `json:"started"`
	Status      string    `json:"status"`
	CPUs                  // as the worker announced them; empty when it did not
}

// Workers lists the worker processes serving Reel's queue.
func (q *Asynq) Workers(ctx context.Context) ([]Worker, error) {
	servers, err := q.Inspector.Servers()
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out := []Worker{}
	for _, s := range servers {
		if _, ok := s.Queues[Name]; !ok {
			continue // not a pipeline worker (webhook deliveries, periodic tasks)
		}
		out = append(out, Worker{Host: s.Host, PID: s.PID, Concurrency: s.Concurrency,
			ActiveTasks: len(s.ActiveWorkers), Started: s.Started, Status: s.Status})
	}
	if err := fillCPUs(ctx, q.Redis, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParsePayload reads a pipeline task back from an asynq task.
func ParsePayload(t *asynq.Task) (pipeline.Task, error) {
	var pt pipeline.Task
	if err := json.Unmarshal(t.Payload(), &pt); err != nil {
		return pt, fmt.Errorf("task %s: bad payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	if !pipeline.ValidID(pt.JobID) {
		return pt, fmt.Errorf("task %s: bad job id %q: %w", t.Type(), pt.JobID, asynq.SkipRetry)
	}
	return pt, nil
}
