// Package history keeps what viewers watched: players' heartbeats in a
// live section that takes writes fast (pebble on one machine, Redis
// Cluster for more), moved by a scheduled job into a compressed section
// (zstd blocks per profile on S3), and read back from both, merged.
package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// Event is one heartbeat of a player: where in a title a profile was, at
// a moment, on a device.
type Event struct {
	Profile  string    `json:"profile"`
	Title    string    `json:"title"`
	Position float64   `json:"position"`           // seconds into the title
	Duration float64   `json:"duration,omitempty"` // the title's length, when the player knows it
	Device   string    `json:"device,omitempty"`
	At       time.Time `json:"at"`
}

// Key orders a profile's events and names each one: its time (in
// nanoseconds, fixed width) and device. Two heartbeats of one device at
// one instant are one event.
func (e Event) Key() string {
	return fmt.Sprintf("%019d/%s", e.At.UnixNano(), e.Device)
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Check says what is wrong with an event, if anything.
func (e Event) Check() error {
	switch {
	case !idRE.MatchString(e.Profile):
		return invalid("profile %q: 1 to 64 letters, digits or _.:-", e.Profile)
	case !idRE.MatchString(e.Title):
		return invalid("title %q: a title id (1 to 64 letters, digits or _.:-)", e.Title)
	case e.Position < 0 || e.Position > 7*24*3600 || e.Duration < 0 || e.Duration > 7*24*3600:
		return invalid("position %g and duration %g: seconds, from 0 to a week", e.Position, e.Duration)
	case utf8.RuneCountInString(e.Device) > 64 || strings.ContainsAny(e.Device, "/\n"):
		return invalid("device %q: at most 64 characters, no / or newline", e.Device)
	case e.At.IsZero():
		return invalid("at: the heartbeat's time is required")
	}
	return nil
}

// Error is a domain error: Code is invalid_input or not_found.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: "invalid_input", Message: fmt.Sprintf(format, args...)}
}

// Live is the live section: recent events, written often.
type Live interface {
	// Append stores events (writing one again is harmless).
	Append(ctx context.Context, evs ...Event) error
	// Events returns a profile's events in key order.
	Events(ctx context.Context, profile string) ([]Event, error)
	// Older calls f with each profile's events from before cutoff.
	Older(ctx context.Context, cutoff time.Time, f func(profile string, evs []Event) error) error
	// Delete removes events (missing ones are no error).
	Delete(ctx context.Context, evs []Event) error
}

// Blocks is the compressed section's object store.
type Blocks interface {
	PutBytes(ctx context.Context, bucket, key string, data []byte, contentType string) error
	GetBytes(ctx context.Context, bucket, key string, max int64) ([]byte, error)
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	RemovePrefix(ctx context.Context, bucket, prefix string) error
}

// Store reads and writes a history across both sections.
type Store struct {
	Live   Live
	Blocks Blocks
	Bucket string // where blocks go, under {Prefix}history/{profile}/
	Prefix string
	// MaxBlocks is how many blocks a profile keeps before a compaction
	// merges them into one (8).
	MaxBlocks int

	once sync.Once
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

// codec makes the zstd encoder and decoder once; both are safe for
// concurrent EncodeAll and DecodeAll.
func (s *Store) codec() {
	s.once.Do(func() {
		s.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		s.dec, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBlock*8), zstd.WithDecoderConcurrency(0))
	})
}

func (s *Store) compress(raw []byte) []byte {
	s.codec()
	return s.enc.EncodeAll(raw, nil)
}

func (s *Store) decompress(data []byte) ([]byte, error) {
	s.codec()
	return s.dec.DecodeAll(data, nil)
}

// maxBlock bounds one compressed block read back.
const maxBlock = 64 << 20

func (s *Store) blockPrefix(profile string) string { return s.Prefix + "history/" + profile + "/" }

// blockName names a block by its first and last event keys and a hash of
// all of them: a block written twice is the same object.
func (s *Store) blockName(profile string, evs []Event) string {
	h := fnv.New64a()
	for _, e := range evs {
		h.Write([]byte(e.Key() + "\n"))
	}
	first, last := evs[0].At.UnixNano(), evs[len(evs)-1].At.UnixNano()
	return fmt.Sprintf("%s%019d-%019d-%016x.jsonl.zst", s.blockPrefix(profile), first, last, h.Sum64())
}

// blockRange reads a block name's time range.
func blockRange(key string) (first, last int64, ok bool) {
	name := key[strings.LastIndex(key, "/")+1:]
	parts := strings.SplitN(name, "-", 3)
	if len(parts) != 3 {
		return 0, 0, false
	}
	f, err1 := strconv.ParseInt(parts[0], 10, 64)
	l, err2 := strconv.ParseInt(parts[1], 10, 64)
	return f, l, err1 == nil && err2 == nil
}

// Events returns a profile's history, live and compressed merged, newest
// first; an event in both (a compaction killed half-way) is listed once.
func (s *Store) Events(ctx context.Context, profile string) ([]Event, error) {
	if !idRE.MatchString(profile) {
		return nil, invalid("profile %q: 1 to 64 letters, digits or _.:-", profile)
	}
	live, err := s.Live.Events(ctx, profile)
	if err != nil {
		return nil, fmt.Errorf("live history: %w", err)
	}
	keys, err := s.Blocks.List(ctx, s.Bucket, s.blockPrefix(profile))
	if err != nil {
		return nil, fmt.Errorf("compressed history: %w", err)
	}
	byKey := map[string]Event{}
	for _, k := range keys {
		evs, err := s.readBlock(ctx, k)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			byKey[e.Key()] = e
		}
	}
	for _, e := range live {
		byKey[e.Key()] = e
	}
	out := make([]Event, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() > out[j].Key() })
	return out, nil
}

func (s *Store) readBlock(ctx context.Context, key string) ([]Event, error) {
	data, err := s.Blocks.GetBytes(ctx, s.Bucket, key, maxBlock)
	if err != nil {
		return nil, fmt.Errorf("compressed history: %w", err)
	}
	raw, err := s.decompress(data)
	if err != nil {
		return nil, fmt.Errorf("compressed history block %s: %w", key, err)
	}
	var evs []Event
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("compressed history block %s: %w", key, err)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// Rows counts the rows the profiles keep in the two sections, an event
// kept in both counted twice.
func (s *Store) Rows(ctx context.Context, profiles []string) (int, error) {
	n := 0
	for _, p := range profiles {
		live, err := s.Live.Events(ctx, p)
		if err != nil {
			return 0, err
		}
		n += len(live)
		keys, err := s.Blocks.List(ctx, s.Bucket, s.blockPrefix(p))
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			evs, err := s.readBlock(ctx, k)
			if err != nil {
				return 0, err
			}
			n += len(evs)
		}
	}
	return n, nil
}

// Progress is where a profile is in a title: the latest heartbeat.
type Progress struct {
	Title    string    `json:"title"`
	Position float64   `json:"position"`
	Duration float64   `json:"duration,omitempty"`
	Device   string    `json:"device,omitempty"`
	At       time.Time `json:"at"`
}

// Finished is the share of a title past which it counts as watched and
// leaves "continue watching".
const Finished = 0.95

// Continue lists the titles a profile has started and not finished, the
// most recently watched first, each at its latest position.
func (s *Store) Continue(ctx context.Context, profile string) ([]Progress, error) {
	evs, err := s.Events(ctx, profile)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []Progress{}
	for _, e := range evs { // newest first: the first of a title is its latest
		if seen[e.Title] {
			continue
		}
		seen[e.Title] = true
		if e.Duration > 0 && e.Position >= Finished*e.Duration {
			continue
		}
		out = append(out, Progress{Title: e.Title, Position: e.Position, Duration: e.Duration, Device: e.Device, At: e.At})
	}
	return out, nil
}

// Report is what a compaction did.
type Report struct {
	Profiles        int     `json:"profiles"`
	Rows            int     `json:"rows"`             // events moved
	Blocks          int     `json:"blocks"`           // blocks written
	LiveBytes       int64   `json:"live_bytes"`       // the moved events as JSON
	CompressedBytes int64   `json:"compressed_bytes"` // the blocks written
	BytesPerRow     float64 `json:"compressed_bytes_per_row"`
	Recovered       int     `json:"recovered"` // live events already in a block (an earlier run was stopped)
	Merged          int     `json:"merged"`    // blocks merged into others
}

// Compact moves every event from before cutoff from the live section into
// a zstd block per profile, then deletes it from the live section. Killed
// at any moment and run again, it leaves each event in exactly one
// section or (until the next run) in both, which reads merge: nothing is
// lost or doubled.
func (s *Store) Compact(ctx context.Context, cutoff time.Time) (Report, error) {
	var r Report
	// Merges a stopped run left half-done.
	unfinished, err := s.Blocks.List(ctx, s.Bucket, s.Prefix+"history-merging/")
	if err != nil {
		return r, err
	}
	for _, k := range unfinished {
		n, err := s.merge(ctx, k[strings.LastIndex(k, "/")+1:], true)
		r.Merged += n
		if err != nil {
			return r, err
		}
	}
	err = s.Live.Older(ctx, cutoff, func(profile string, evs []Event) error {
		if len(evs) == 0 {
			return nil
		}
		r.Profiles++
		// Events a stopped run put in a block already: drop them here
		// and from the live section.
		keys, err := s.Blocks.List(ctx, s.Bucket, s.blockPrefix(profile))
		if err != nil {
			return err
		}
		first, last := evs[0].At.UnixNano(), evs[len(evs)-1].At.UnixNano()
		done := map[string]bool{}
		for _, k := range keys {
			f, l, ok := blockRange(k)
			if !ok || l < first || f > last {
				continue
			}
			bevs, err := s.readBlock(ctx, k)
			if err != nil {
				return err
			}
			for _, e := range bevs {
				done[e.Key()] = true
			}
		}
		var move, already []Event
		for _, e := range evs {
			if done[e.Key()] {
				already = append(already, e)
			} else {
				move = append(move, e)
			}
		}
		if len(already) > 0 {
			if err := s.Live.Delete(ctx, already); err != nil {
				return err
			}
			r.Recovered += len(already)
		}
		if len(move) == 0 {
			return nil
		}
		var raw bytes.Buffer
		for _, e := range move {
			b, _ := json.Marshal(e)
			raw.Write(b)
			raw.WriteByte('\n')
		}
		data := s.compress(raw.Bytes())
		if err := s.Blocks.PutBytes(ctx, s.Bucket, s.blockName(profile, move), data, "application/zstd"); err != nil {
			return err
		}
		if err := s.Live.Delete(ctx, move); err != nil {
			return err
		}
		r.Rows += len(move)
		r.Blocks++
		r.LiveBytes += int64(raw.Len())
		r.CompressedBytes += int64(len(data))
		n, err := s.merge(ctx, profile, false)
		r.Merged += n
		return err
	})
	if r.Rows > 0 {
		r.BytesPerRow = float64(r.CompressedBytes) / float64(r.Rows)
	}
	return r, err
}

func (s *Store) mergingKey(profile string) string { return s.Prefix + "history-merging/" + profile }

// merge rewrites a profile's blocks as one when it has more than
// MaxBlocks (or, with force, more than one), so that a read fetches few
// objects. A marker is written first and removed last; the merged block,
// named by its events, is written before the old ones are removed. Stopped
// anywhere, the profile keeps every event (reads count each once), and
// the next compaction finds the marker and finishes the merge.
func (s *Store) merge(ctx context.Context, profile string, force bool) (int, error) {
	limit := s.MaxBlocks
	if limit <= 0 {
		limit = 8
	}
	if force {
		limit = 1
	}
	keys, err := s.Blocks.List(ctx, s.Bucket, s.blockPrefix(profile))
	if err != nil {
		return 0, err
	}
	if len(keys) <= limit {
		if force {
			return 0, s.Blocks.RemovePrefix(ctx, s.Bucket, s.mergingKey(profile))
		}
		return 0, nil
	}
	if err := s.Blocks.PutBytes(ctx, s.Bucket, s.mergingKey(profile), nil, "text/plain"); err != nil {
		return 0, err
	}
	byKey := map[string]Event{}
	for _, k := range keys {
		evs, err := s.readBlock(ctx, k)
		if err != nil {
			return 0, err
		}
		for _, e := range evs {
			byKey[e.Key()] = e
		}
	}
	all := make([]Event, 0, len(byKey))
	for _, e := range byKey {
		all = append(all, e)
	}
	sortEvents(all)
	var raw bytes.Buffer
	for _, e := range all {
		b, _ := json.Marshal(e)
		raw.Write(b)
		raw.WriteByte('\n')
	}
	merged := s.blockName(profile, all)
	if err := s.Blocks.PutBytes(ctx, s.Bucket, merged, s.compress(raw.Bytes()), "application/zstd"); err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if k == merged {
			continue
		}
		if err := s.Blocks.RemovePrefix(ctx, s.Bucket, k); err != nil {
			return n, err
		}
		n++
	}
	return n, s.Blocks.RemovePrefix(ctx, s.Bucket, s.mergingKey(profile))
}

// sortEvents puts events in key order.
func sortEvents(evs []Event) {
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Key(), b.Key()) })
}
