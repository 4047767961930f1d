package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/store"
	"github.com/reel-video/reel/webhooks"
)

// WebhookQueue is the asynq queue of webhook deliveries, apart from the
// pipeline's so that a slow endpoint never holds up an encode.
const (
	WebhookQueue = "reel-webhooks"
	WebhookType  = TypePrefix + "webhook"
)

// Webhooks queues webhook deliveries on asynq.
type Webhooks struct {
	Client *asynq.Client
}

var _ webhooks.Queue = (*Webhooks)(nil)

// Enqueue queues a delivery once (its id is the endpoint's and the
// event's), retried with webhooks.RetryDelay up to webhooks.MaxRetries
// times.
func (w *Webhooks) Enqueue(ctx context.Context, t webhooks.Task) error {
	payload, err := json.Marshal(t)
	if err != nil {
		return err
	}
	task := asynq.NewTask(WebhookType, payload, asynq.TaskID("webhook:"+t.Endpoint+":"+t.EventID), asynq.Queue(WebhookQueue),
		asynq.MaxRetry(webhooks.MaxRetries), asynq.Timeout(webhooks.DeliveryTimeout+5*time.Second), asynq.Retention(Retention))
	_, err = w.Client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	if err != nil {
		return store.RedisError(err, "queue webhook delivery "+t.EventID)
	}
	return nil
}

// WebhookServer runs deliveries with d, concurrency at a time, until
// Shutdown. delay is the pause before retry n (0 is the first);
// webhooks.RetryDelay when nil.
func WebhookServer(opt asynq.RedisConnOpt, concurrency int, d *webhooks.Deliverer, delay func(n int) time.Duration) (*asynq.Server, error) {
	if delay == nil {
		delay = webhooks.RetryDelay
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{WebhookQueue: 1}, LogLevel: asynq.WarnLevel, TaskCheckInterval: CheckInterval,
		// Retries come due within a second of their time.
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           func(n int, _ error, _ *asynq.Task) time.Duration { return delay(n) },
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(WebhookType, func(ctx context.Context, at *asynq.Task) error {
		var t webhooks.Task
		if err := json.Unmarshal(at.Payload(), &t); err != nil {
			return fmt.Errorf("webhook task: %v: %w", err, asynq.SkipRetry)
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		err := d.Deliver(ctx, t, retried >= maxRetry)
		if errors.Is(err, webhooks.ErrGone) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	})
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	return srv, nil
}
