package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig is the JetStream stream events are kept in.
type StreamConfig struct {
	// Name is the stream's name (EVENTS).
	Name string
	// Replicas is how many servers hold each event (1; 3 on a cluster,
	// which then keeps every acknowledged event through the loss of one).
	Replicas int
	// MaxAge is how long the stream keeps events (7 days); the archive
	// keeps them after that.
	MaxAge time.Duration
}

// JetStream is the Log on a NATS JetStream stream.
type JetStream struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
}

var _ Log = (*JetStream)(nil)

// Connect connects to the NATS servers at url (comma-separated), named
// client. The connection reconnects for ever; while it is down, Publish
// fails at once with ErrUnavailable and consumers wait. It does not wait
// for a server: a service starts while NATS is away.
func Connect(url, client string) (*JetStream, error) {
	nc, err := nats.Connect(url, nats.Name(client), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", url, err)
	}
	return &JetStream{nc: nc, js: js, stream: "EVENTS"}, nil
}

// tryTimeout bounds one request of a loop that tries until its context
// ends: while a cluster has no meta leader yet its servers leave a
// request unanswered, and a try bound only by the loop's context would
// wait out all of it.
const tryTimeout = 5 * time.Second

// EnsureStream creates the stream, or brings its settings up to date,
// trying again until ctx ends while the servers start or elect a leader.
func (j *JetStream) EnsureStream(ctx context.Context, cfg StreamConfig) error {
	if cfg.Name == "" {
		cfg.Name = "EVENTS"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	j.stream = cfg.Name
	sc := jetstream.StreamConfig{
		Name:        cfg.Name,
		Description: "Reel's events: viewing, UI, errors and performance, by type and user",
		Subjects:    []string{SubjectRoot + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.MaxAge,
		Replicas:    cfg.Replicas,
		Duplicates:  2 * time.Minute,
	}
	for {
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		_, err := j.js.CreateOrUpdateStream(tctx, sc)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create the %s stream: %w", cfg.Name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Close closes the connection.
func (j *JetStream) Close() { j.nc.Close() }

// Publish publishes msgs asynchronously and waits for each one's
// acknowledgement by the stream.
func (j *JetStream) Publish(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	futures := make([]jetstream.PubAckFuture, len(msgs))
	if !j.nc.IsConnected() {
		for i := range errs {
			errs[i] = ErrUnavailable
		}
		return errs
	}
	for i, m := range msgs {
		var opts []jetstream.PublishOpt
		if m.ID != "" {
			opts = append(opts, jetstream.WithMsgID(m.ID))
		}
		f, err := j.js.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Data}, opts...)
		if err != nil {
			errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, err)
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	return errs
}

// ErrUnavailable is the error of a message the log did not store
// because it cannot be reached; sending it again later is right.
var ErrUnavailable = errors.New("the event log is unavailable")

// Count is the number of messages in the stream.
func (j *JetStream) Count(ctx context.Context) (uint64, error) {
	s, err := j.js.Stream(ctx, j.stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Consumer creates or resumes a durable pull consumer, from the message
// after the last one it acknowledged; one process at a time uses a name.
// Acknowledging one message acknowledges all before it (AckAll), so a
// consumer acknowledges a batch with one round trip.
func (j *JetStream) Consumer(ctx context.Context, name string, subjects []string) (Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:        name,
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        time.Minute,
		MaxAckPending:  100000,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	var c jetstream.Consumer
	var err error
	for {
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		c, err = j.js.CreateOrUpdateConsumer(tctx, j.stream, cfg)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("consumer %s: %w", name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	// What an earlier run was delivered and did not acknowledge comes
	// again now, in order, rather than after AckWait behind newer events:
	// a consumer name has one process at a time, so what is in flight
	// belongs to one that died.
	if _, err := j.js.ResetConsumer(ctx, j.stream, name); err != nil {
		return nil, fmt.Errorf("consumer %s: start again from its last acknowledgement: %w", name, err)
	}
	return &jsConsumer{c: c, js: j.js, stream: j.stream, name: name}, nil
}

// jsConsumer is one durable pull consumer. It numbers what the server
// delivered to it (the consumer sequence): a delivery lost in flight (a
// fetch's answer sent while the connection failed over) shows as a gap,
// and acknowledging past it (AckAll) would acknowledge what never
// arrived, so on a gap the consumer drops the batch and starts again
// after its last acknowledgement.
type jsConsumer struct {
	c            jetstream.Consumer
	js           jetstream.JetStream
	stream, name string
	last         uint64 // the last consumer sequence received; 0: unknown
}

func (c *jsConsumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivery, error) {
	b, err := c.c.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var ds []Delivery
	for m := range b.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if c.last != 0 && meta.Sequence.Consumer != c.last+1 {
			missed := c.last + 1
			c.last = 0
			if _, err := c.js.ResetConsumer(ctx, c.stream, c.name); err != nil {
				return nil, fmt.Errorf("deliveries from %d on never arrived, and the consumer cannot start again after its last acknowledgement: %w", missed, err)
			}
			return nil, fmt.Errorf("deliveries %d to %d never arrived; the consumer starts again after its last acknowledgement", missed, meta.Sequence.Consumer-1)
		}
		c.last = meta.Sequence.Consumer
		ds = append(ds, Delivery{Seq: meta.Sequence.Stream, Subject: m.Subject(), Data: m.Data(), ack: m.DoubleAck})
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(ds) == 0 {
		return nil, err
	}
	return ds, ctx.Err()
}

func (c *jsConsumer) Ack(ctx context.Context, d Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return d.ack(ctx)
}

func (c *jsConsumer) Lag(ctx context.Context) (uint64, error) {
	info, err := c.c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}
