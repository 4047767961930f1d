package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// FillConfig says how an edge pre-positions published titles.
type FillConfig struct {
	// First is how many media segments of every rung are fetched at once
	// with the manifests and init segments; default 3.
	First int
	// Window is when the rest is fetched; the zero Window is always open.
	Window Window
	// Rate bounds the deferred fill in bytes a second; 0 is unbounded.
	Rate int64
	// MaxShare is the share of the budget past which the deferred fill
	// stops, so it never evicts what clients asked for; default 0.9.
	MaxShare float64
}

func (f *FillConfig) defaults() {
	if f.First <= 0 {
		f.First = 3
	}
	if f.MaxShare <= 0 || f.MaxShare > 1 {
		f.MaxShare = 0.9
	}
}

// Window is a daily span of UTC time, such as 02:00-06:00; it may wrap
// past midnight. The zero Window is always open.
type Window struct {
	From, To time.Duration // since midnight UTC
	set      bool
}

// ParseWindow reads "HH:MM-HH:MM" (UTC); "" or "always" is always open.
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "always" {
		return Window{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if !ok || err1 != nil || err2 != nil || from == to {
		return Window{}, fmt.Errorf("fill window %q: want HH:MM-HH:MM in UTC, such as 02:00-06:00, or \"always\"", s)
	}
	return Window{From: from, To: to, set: true}, nil
}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Open reports whether t falls in the window.
func (w Window) Open(t time.Time) bool {
	if !w.set {
		return true
	}
	t = t.UTC()
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if w.From < w.To {
		return d >= w.From && d < w.To
	}
	return d >= w.From || d < w.To
}

func (w Window) String() string {
	if !w.set {
		return "always"
	}
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(w.From) + "-" + f(w.To)
}

// Title is a published title as announced to the edges.
type Title struct {
	Cursor string   // position in the announcements, to resume after
	ID     string   // job id
	Keys   []string // every object key of the title in the origin
}

// Announcements delivers published titles in order.
type Announcements interface {
	// Read blocks until titles after cursor ("" is the start) are
	// announced, or a few seconds pass, or ctx ends.
	Read(ctx context.Context, cursor string) ([]Title, error)
}

// fillState is kept in DIR/fill.json so a restarted edge goes on where it
// stopped.
type fillState struct {
	Cursor  string   `json:"cursor"`
	Pending []string `json:"pending"`
}

func (e *Edge) statePath() string { return filepath.Join(e.cfg.Dir, "fill.json") }

func (e *Edge) loadFillState() {
	raw, err := os.ReadFile(e.statePath())
	if err != nil {
		return
	}
	var st fillState
	if json.Unmarshal(raw, &st) == nil {
		e.fillCursor, e.fillPending = st.Cursor, st.Pending
	}
}

func (e *Edge) saveFillState() {
	e.fillMu.Lock()
	raw, _ := json.Marshal(fillState{Cursor: e.fillCursor, Pending: e.fillPending})
	e.fillMu.Unlock()
	tmp := e.statePath() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err == nil {
		_ = os.Rename(tmp, e.statePath())
	}
}

// splitFill returns the keys to fetch at once (manifests, init segments,
// the poster, the first n segments of every rendition) and the rest.
func splitFill(keys []string, n int) (now, later []string) {
	segs := map[string][]string{}
	for _, k := range keys {
		base := path.Base(k)
		switch ext := path.Ext(base); {
		case ext == ".m3u8" || ext == ".mpd" || ext == ".vtt" || base == "init.mp4" || base == "poster.jpg":
			now = append(now, k)
		case ext == ".m4s":
			segs[path.Dir(k)] = append(segs[path.Dir(k)], k)
		default:
			later = append(later, k)
		}
	}
	dirs := make([]string, 0, len(segs))
	for d := range segs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		s := segs[d]
		sort.Strings(s)
		now = append(now, s[:min(n, len(s))]...)
		later = append(later, s[min(n, len(s)):]...)
	}
	return now, later
}

// Fill follows the announcements until ctx ends: each new title's
// manifests and first segments are fetched at once, the rest when the
// fill window is open, paced by the fill rate.
func (e *Edge) Fill(ctx context.Context, src Announcements) {
	done := make(chan struct{})
	go func() { defer close(done); e.deferredFill(ctx) }()
	backoff := time.Second
	for ctx.Err() == nil {
		e.fillMu.Lock()
		cursor := e.fillCursor
		e.fillMu.Unlock()
		titles, err := src.Read(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.log.Warn("cannot read published titles; serving what is held", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = time.Second
		for _, t := range titles {
			e.fillTitle(ctx, t)
		}
	}
	<-done
}

func (e *Edge) fillTitle(ctx context.Context, t Title) {
	var keys []string
	for _, k := range t.Keys {
		if validKey(k) {
			keys = append(keys, k)
		}
	}
	now, later := splitFill(keys, e.cfg.Fill.First)
	start := time.Now()
	var failed int
	for _, k := range now {
		if ctx.Err() != nil {
			return // the cursor is not advanced: the title is filled again
		}
		if _, err := e.fetch(k, nil); err != nil {
			failed++
			e.log.Warn("fill fetch failed", "key", k, "err", err)
		}
	}
	e.fillMu.Lock()
	e.fillCursor = t.Cursor
	e.fillPending = append(e.fillPending, later...)
	e.fillMu.Unlock()
	e.saveFillState()
	e.log.Info("title pre-positioned", "title", t.ID, "now", len(now), "failed", failed, "later", len(later), "took", time.Since(start).Round(time.Millisecond))
}

// deferredFill fetches the pending keys while the window is open.
func (e *Edge) deferredFill(ctx context.Context) {
	var lim *rate.Limiter
	if r := e.cfg.Fill.Rate; r > 0 {
		lim = rate.NewLimiter(rate.Limit(r), int(min(r, 256<<10)))
	}
	var sinceSave int
	for {
		e.fillMu.Lock()
		var key string
		if len(e.fillPending) > 0 && e.cfg.Fill.Window.Open(e.cfg.Now()) {
			key = e.fillPending[0]
			e.fillPending = e.fillPending[1:]
		}
		e.fillMu.Unlock()
		if key == "" {
			if sinceSave > 0 {
				e.saveFillState()
				sinceSave = 0
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if !e.disk.has(key) && e.disk.room(int64(float64(e.cfg.Budget)*(1-e.cfg.Fill.MaxShare))) {
			if _, err := e.fetch(key, lim); err != nil {
				if ctx.Err() != nil {
					e.fillMu.Lock()
					e.fillPending = append([]string{key}, e.fillPending...)
					e.fillMu.Unlock()
					e.saveFillState()
					return
				}
				if !errors.Is(err, errNotFound) {
					e.log.Warn("deferred fill fetch failed", "key", key, "err", err)
				}
			}
		}
		if sinceSave++; sinceSave >= 20 {
			e.saveFillState()
			sinceSave = 0
		}
	}
}
