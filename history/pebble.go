package history

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble is the live section in an embedded LSM (pebble, as
// CockroachDB's): one key per event, "e/{profile}/{key}", so a profile's
// events are one range in time order. Writes are synced to its log.
type Pebble struct{ db *pebble.DB }

var _ Live = (*Pebble)(nil)

// OpenPebble opens (or creates) the live section in dir.
func OpenPebble(dir string) (*Pebble, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("history live section %s: %w", dir, err)
	}
	return &Pebble{db: db}, nil
}

// Close closes it.
func (p *Pebble) Close() error { return p.db.Close() }

func pebbleKey(e Event) []byte { return []byte("e/" + e.Profile + "/" + e.Key()) }

// Append writes events in one synced batch.
func (p *Pebble) Append(_ context.Context, evs ...Event) error {
	b := p.db.NewBatch()
	defer b.Close()
	for _, e := range evs {
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Set(pebbleKey(e), v, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// Events returns a profile's events in key order.
func (p *Pebble) Events(_ context.Context, profile string) ([]Event, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte("e/" + profile + "/"), UpperBound: []byte("e/" + profile + "0")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Event
	for ok := it.First(); ok; ok = it.Next() {
		var e Event
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("history event %s: %w", it.Key(), err)
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// Older walks every profile's events from before cutoff, a profile at a
// time, skipping the rest of each profile's range.
func (p *Pebble) Older(ctx context.Context, cutoff time.Time, f func(string, []Event) error) error {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte("e/"), UpperBound: []byte("e0")})
	if err != nil {
		return err
	}
	defer it.Close()
	profile := ""
	var evs []Event
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		err := f(profile, evs)
		evs = nil
		return err
	}
	for ok := it.First(); ok; {
		if err := ctx.Err(); err != nil {
			return err
		}
		rest := strings.TrimPrefix(string(it.Key()), "e/")
		prof, _, _ := strings.Cut(rest, "/")
		if prof != profile {
			if err := flush(); err != nil {
				return err
			}
			profile = prof
		}
		var e Event
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("history event %s: %w", it.Key(), err)
		}
		if !e.At.Before(cutoff) {
			ok = it.SeekGE([]byte("e/" + prof + "0")) // the profile's later events stay
			continue
		}
		evs = append(evs, e)
		ok = it.Next()
	}
	if err := flush(); err != nil {
		return err
	}
	return it.Error()
}

// Delete removes events in one synced batch.
func (p *Pebble) Delete(_ context.Context, evs []Event) error {
	b := p.db.NewBatch()
	defer b.Close()
	for _, e := range evs {
		if err := b.Delete(pebbleKey(e), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// quietLogger drops pebble's informational lines, logs its errors and
// panics on its fatal ones, as pebble's own logger does.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	slog.Default().Error("history live section: "+fmt.Sprintf(format, args...), "component", "history")
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
