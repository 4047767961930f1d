package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Emitter is how a service reports events without ever waiting on the
// log: Emit puts an event in a bounded buffer and returns; Run publishes
// the buffer in batches, and while the log is unreachable keeps the
// events (dropping the oldest past Max) and tries again.
type Emitter struct {
	Log    Log
	Source string // set on events that name none (worker, edge, ...)
	// Max is how many events wait at most (10000); Batch how many go in
	// one publish (500); Every how often the buffer is sent (500 ms).
	Max    int
	Batch  int
	Every  time.Duration
	Logger *slog.Logger

	mu      sync.Mutex
	buf     []Event
	kick    chan struct{}
	dropped uint64
	sent    uint64
}

// Emit queues ev; it never blocks. A nil Emitter drops it (events off).
func (e *Emitter) Emit(ev Event) {
	if e == nil {
		return
	}
	if ev.ID == "" {
		ev.ID = NewID()
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	if ev.Source == "" {
		ev.Source = e.Source
	}
	// A service's error message (an ffmpeg's stderr, an origin's answer)
	// may run long; its start says what happened.
	if !utf8.ValidString(ev.Message) {
		ev.Message = strings.ToValidUTF8(ev.Message, "\uFFFD")
	}
	if len(ev.Message) > MaxMessage {
		if r := []rune(ev.Message); len(r) > MaxMessage {
			ev.Message = string(r[:MaxMessage-1]) + "…"
		}
	}
	if err := ev.Check(); err != nil {
		// A service's own event that breaks its schema is a bug there:
		// say so, and keep the log clean.
		e.logger().Warn("an event breaks its schema and is not reported", "type", ev.Type, "err", err)
		return
	}
	e.mu.Lock()
	kick := e.kickLocked()
	max := e.Max
	if max <= 0 {
		max = 10000
	}
	if len(e.buf) >= max {
		n := len(e.buf) - max + 1
		e.buf = append(e.buf[:0], e.buf[n:]...)
		e.dropped += uint64(n)
	}
	e.buf = append(e.buf, ev)
	full := len(e.buf) >= e.batch()
	e.mu.Unlock()
	if full {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// kickLocked is the channel that wakes Run for a full batch, made on
// first use; e.mu is held.
func (e *Emitter) kickLocked() chan struct{} {
	if e.kick == nil {
		e.kick = make(chan struct{}, 1)
	}
	return e.kick
}

func (e *Emitter) batch() int {
	if e.Batch <= 0 {
		return 500
	}
	return e.Batch
}

// Stats are the emitter's counts: events waiting, published, and
// dropped because the buffer was full.
type Stats struct{ Buffered, Sent, Dropped uint64 }

// Stats returns the emitter's counts.
func (e *Emitter) Stats() Stats {
	if e == nil {
		return Stats{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Buffered: uint64(len(e.buf)), Sent: e.sent, Dropped: e.dropped}
}

// Run publishes until ctx ends, then tries once more, for a second, to
// publish what is left.
func (e *Emitter) Run(ctx context.Context) {
	e.mu.Lock()
	kick := e.kickLocked()
	e.mu.Unlock()
	every := e.Every
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.Background(), time.Second)
			e.flush(last)
			cancel()
			return
		case <-t.C:
		case <-kick:
		}
		if err := e.flush(ctx); err != nil {
			if fails == 0 {
				e.logger().Warn("cannot publish events; keeping them and trying again", "err", err, "buffered", e.Stats().Buffered)
			}
			fails++
			// Back off while the log is away, up to 5 s.
			select {
			case <-ctx.Done():
			case <-time.After(min(every<<min(fails, 4), 5*time.Second)):
			}
			continue
		}
		if fails > 0 {
			e.logger().Info("publishing events again", "dropped_so_far", e.Stats().Dropped)
		}
		fails = 0
	}
}

// flush publishes the buffer batch by batch; an event the log did not
// take stays, in order, at the front.
func (e *Emitter) flush(ctx context.Context) error {
	for {
		e.mu.Lock()
		n := min(len(e.buf), e.batch())
		evs := append([]Event(nil), e.buf[:n]...)
		e.mu.Unlock()
		if n == 0 {
			return nil
		}
		msgs := make([]Message, 0, n)
		keep := make([]bool, n)
		for _, ev := range evs {
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			msgs = append(msgs, Message{Subject: ev.Subject(), ID: ev.ID, Data: data})
		}
		var failed error
		for i, err := range e.Log.Publish(ctx, msgs) {
			if err != nil {
				keep[i] = errors.Is(err, ErrUnavailable)
				failed = err
			}
		}
		e.mu.Lock()
		// The buffer may have lost its oldest events to new ones since
		// (it drops from the front): take out of it the batch's events
		// still there.
		var back []Event
		sent := 0
		for i, ev := range evs {
			if keep[i] {
				back = append(back, ev)
			} else {
				sent++
			}
		}
		inBatch := make(map[string]bool, n)
		for _, ev := range evs {
			inBatch[ev.ID] = true
		}
		drop := 0
		for drop < len(e.buf) && inBatch[e.buf[drop].ID] {
			drop++
		}
		e.buf = append(back, e.buf[drop:]...)
		e.sent += uint64(sent)
		e.mu.Unlock()
		if failed != nil {
			return failed
		}
	}
}

func (e *Emitter) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}
