package events

import (
	"context"
	"log/slog"
	"time"
)

// Log is the append-only, replicated log events are published to and
// consumed from. JetStream implements it; a Kafka client (franz-go, with
// a topic per family and consumer groups) could too, which is why Reel's
// producers and consumers see only this.
type Log interface {
	// Publish stores msgs and returns one error per message: nil once the
	// log has stored it (and its replicas have). A message whose ID the
	// log stored recently is stored once.
	Publish(ctx context.Context, msgs []Message) []error
	// Consumer opens, or resumes where it stopped, the durable consumer
	// name of the messages on subjects (wildcards: * one token, > the
	// rest).
	Consumer(ctx context.Context, name string, subjects []string) (Consumer, error)
	// Count is how many messages the log holds.
	Count(ctx context.Context) (uint64, error)
}

// Message is one message to publish.
type Message struct {
	Subject string
	ID      string
	Data    []byte
}

// Delivery is one message as a consumer receives it.
type Delivery struct {
	Seq     uint64 // its position in the log, increasing
	Subject string
	Data    []byte
	ack     func(context.Context) error
}

// Consumer is one durable consumer: what it acknowledged is not
// delivered to it again, across restarts.
type Consumer interface {
	// Fetch returns up to max deliveries in log order, waiting at most
	// wait for the first.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)
	// Ack acknowledges d and everything delivered before it, once the
	// log has recorded it.
	Ack(ctx context.Context, d Delivery) error
	// Lag is how many messages wait for it: not yet delivered, or
	// delivered and not acknowledged.
	Lag(ctx context.Context) (uint64, error)
}

// Consume runs a consumer until ctx ends: it fetches batches of up to max
// deliveries, hands each to handle, and acknowledges the batch once
// handle returns nil. A batch handle fails on is handed to it again after
// a pause, so handle sees every message in log order, and must tolerate
// seeing one again (after a crash between handling and acknowledging).
func Consume(ctx context.Context, c Consumer, max int, wait time.Duration, handle func(context.Context, []Delivery) error, log *slog.Logger) {
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	backoff := func(n int) time.Duration { return min(100*time.Millisecond<<min(n, 6), 5*time.Second) }
	for fails := 0; ctx.Err() == nil; {
		ds, err := c.Fetch(ctx, max, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if fails == 0 {
				log.Warn("cannot fetch events; trying again", "err", err)
			}
			fails++
			if !pause(backoff(fails)) {
				return
			}
			continue
		}
		if fails > 0 {
			log.Info("fetching events again")
		}
		fails = 0
		if len(ds) == 0 {
			continue
		}
		for n := 0; ; n++ {
			err := handle(ctx, ds)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			log.Warn("cannot handle events; trying again", "events", len(ds), "first_seq", ds[0].Seq, "err", err)
			if !pause(backoff(n)) {
				return
			}
		}
		for n := 0; ; n++ {
			err := c.Ack(ctx, ds[len(ds)-1])
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			// The log redelivers what it did not record as acknowledged;
			// handle tolerates that.
			log.Warn("cannot acknowledge events", "last_seq", ds[len(ds)-1].Seq, "err", err)
			if n == 2 || !pause(backoff(n)) {
				break
			}
		}
	}
}
