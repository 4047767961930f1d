// Package archive keeps every event for good: a durable consumer of the
// event log that writes gzip-compressed JSON-lines objects to S3, one
// folder an hour (events/YYYY/MM/DD/HH/), with exactly one copy of each
// event across crashes and restarts; and reads them back for batch jobs.
package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/reel-video/reel/events"
)

// Objects is the object store the archive lives in.
type Objects interface {
	PutBytes(ctx context.Context, bucket, key string, data []byte, contentType string) error
	GetBytes(ctx context.Context, bucket, key string, max int64) ([]byte, error)
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	RemovePrefix(ctx context.Context, bucket, prefix string) error
}

// Prefix is where the archive's objects are in the bucket.
const Prefix = "events/"

const stateKey = Prefix + "_state/archiver.json"

// maxObject is the largest archive object read back (compressed).
const maxObject = 1 << 30

// Archiver writes the events a consumer delivers to hourly objects.
//
// Exactly once: each batch's objects are named after the batch's first
// log sequence, and a state object records the last sequence archived.
// Before writing a batch's objects the archiver records their names as
// pending; after, the new last sequence without them. A restart removes
// objects still pending (a crash between the two) and skips what the
// log delivers again up to the last sequence archived (a crash before
// the acknowledgement).
type Archiver struct {
	Store  Objects
	Bucket string
	Log    *slog.Logger
	// crash, in tests, is called between writing a batch's objects and
	// recording them; an error from it stops the batch there.
	crash func() error

	st state
}

type state struct {
	Done    uint64   `json:"done"`
	Pending []string `json:"pending,omitempty"`
}

// Recover reads the archiver's state and removes the objects of a batch
// a crash left half recorded. Call it before the first Handle.
func (a *Archiver) Recover(ctx context.Context) error {
	found, err := a.Store.List(ctx, a.Bucket, stateKey)
	if err != nil {
		return fmt.Errorf("archive state: %w", err)
	}
	if len(found) == 0 {
		a.st = state{}
		return nil
	}
	data, err := a.Store.GetBytes(ctx, a.Bucket, stateKey, 1<<20)
	if err != nil {
		return fmt.Errorf("archive state: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("archive state %s: %w", stateKey, err)
	}
	for _, key := range st.Pending {
		if err := a.Store.RemovePrefix(ctx, a.Bucket, key); err != nil {
			return fmt.Errorf("remove the unrecorded archive object %s: %w", key, err)
		}
	}
	if len(st.Pending) > 0 {
		a.logger().Info("removed the objects of a batch not recorded before a stop; its events come again", "objects", len(st.Pending), "after_seq", st.Done)
		st.Pending = nil
		if err := a.save(ctx, st); err != nil {
			return err
		}
	}
	a.st = st
	return nil
}

// Done is the last log sequence archived.
func (a *Archiver) Done() uint64 { return a.st.Done }

// Handle archives a batch of deliveries, in log order.
func (a *Archiver) Handle(ctx context.Context, ds []events.Delivery) error {
	hours := map[string][]byte{}
	var first, last uint64
	for _, d := range ds {
		if d.Seq <= a.st.Done {
			continue // archived before a crash, delivered again
		}
		if first == 0 {
			first = d.Seq
		}
		last = d.Seq
		var e struct {
			At time.Time `json:"at"`
		}
		if err := json.Unmarshal(d.Data, &e); err != nil || e.At.IsZero() {
			// The collector only publishes valid events; something else
			// wrote this one. Keep it, in the hour it is archived in.
			e.At = time.Now()
		}
		h := e.At.UTC().Format("2006/01/02/15")
		hours[h] = append(append(hours[h], bytes.TrimSpace(d.Data)...), '\n')
	}
	if first == 0 {
		return nil
	}
	keys := make([]string, 0, len(hours))
	for h := range hours {
		keys = append(keys, h)
	}
	slices.Sort(keys)
	objs := make([][]byte, len(keys))
	for i, h := range keys {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(hours[h])
		if err := zw.Close(); err != nil {
			return err
		}
		objs[i] = buf.Bytes()
		keys[i] = fmt.Sprintf("%s%s/%020d.jsonl.gz", Prefix, h, first)
	}
	if err := a.save(ctx, state{Done: a.st.Done, Pending: keys}); err != nil {
		return err
	}
	for i, key := range keys {
		if err := a.Store.PutBytes(ctx, a.Bucket, key, objs[i], "application/gzip"); err != nil {
			return fmt.Errorf("archive %s: %w", key, err)
		}
	}
	if a.crash != nil {
		if err := a.crash(); err != nil {
			return err
		}
	}
	if err := a.save(ctx, state{Done: last}); err != nil {
		return err
	}
	a.st = state{Done: last}
	return nil
}

func (a *Archiver) save(ctx context.Context, st state) error {
	data, _ := json.Marshal(st)
	if err := a.Store.PutBytes(ctx, a.Bucket, stateKey, data, "application/json"); err != nil {
		return fmt.Errorf("archive state: %w", err)
	}
	return nil
}

func (a *Archiver) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// Run consumes the log until ctx ends: Recover, then batches of up to
// batch events, or what arrived within wait.
func (a *Archiver) Run(ctx context.Context, c events.Consumer, batch int, wait time.Duration) {
	for {
		err := a.Recover(ctx)
		if err == nil {
			break
		}
		a.logger().Warn("cannot read the archive's state; trying again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	failed := false
	events.Consume(ctx, c, batch, wait, func(ctx context.Context, ds []events.Delivery) error {
		// A batch that failed part way is retried from the stored
		// state: undo what it half wrote first.
		if failed {
			if err := a.Recover(ctx); err != nil {
				return err
			}
		}
		err := a.Handle(ctx, ds)
		failed = err != nil
		return err
	}, a.logger())
}

// Reader reads the archive back.
type Reader struct {
	Store  Objects
	Bucket string
}

// Objects lists the archive's objects of the hours from from to to
// (inclusive; zero times: all), oldest first.
func (r *Reader) Objects(ctx context.Context, from, to time.Time) ([]string, error) {
	keys, err := r.Store.List(ctx, r.Bucket, Prefix)
	if err != nil {
		return nil, fmt.Errorf("list the archive: %w", err)
	}
	var out []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, Prefix)
		if strings.HasPrefix(rest, "_") || !strings.HasSuffix(k, ".jsonl.gz") || len(rest) < 13 {
			continue
		}
		h, err := time.Parse("2006/01/02/15", rest[:13])
		if err != nil {
			continue
		}
		if !from.IsZero() && h.Before(from.Truncate(time.Hour)) || !to.IsZero() && h.After(to) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// Each calls f with every archived event of the hours from from to to.
func (r *Reader) Each(ctx context.Context, from, to time.Time, f func(events.Event) error) error {
	keys, err := r.Objects(ctx, from, to)
	if err != nil {
		return err
	}
	for _, k := range keys {
		data, err := r.Store.GetBytes(ctx, r.Bucket, k, maxObject)
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e events.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if err := f(e); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", k, err)
		}
	}
	return nil
}

// Count is how many events the archive holds.
func (r *Reader) Count(ctx context.Context) (int, error) {
	n := 0
	err := r.Each(ctx, time.Time{}, time.Time{}, func(events.Event) error { n++; return nil })
	return n, err
}
