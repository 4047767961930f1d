package support

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestLookUp(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "support"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var evs []events.Event
	for u := range 20 {
		user := fmt.Sprint(100 + u)
		evs = append(evs,
			events.Event{ID: user + "-1", Type: "view.start", User: user, Session: "s" + user, Title: "t1", At: at},
			events.Event{ID: user + "-2", Type: "perf.rung_switch", User: user, Session: "s" + user, Rung: "720p", Edge: "edge-z1", At: at.Add(time.Second)},
			events.Event{ID: user + "-3", Type: "error.playback", User: user, Session: "s" + user, Title: "t1", Edge: "edge-z1",
				Code: "NETWORK_ERROR", Message: "fragLoadError: segment 7 answered 503", At: at.Add(2 * time.Second)},
			events.Event{ID: user + "-4", Type: "ui.search", User: user, At: at.Add(time.Hour), Attrs: map[string]string{"q": "space western"}})
	}
	if err := x.Add(evs); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(evs[:10]); err != nil { // again: replaced, not duplicated
		t.Fatal(err)
	}
	if n, _ := x.Count(); n != 80 {
		t.Errorf("%d indexed, want 80", n)
	}
	h := &Handler{Index: x, Allowed: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer support" }}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, auth string) (int, Result) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r Result
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}
	for _, c := range []struct {
		path  string
		types []string // the answer's, in order
	}{
		{"/v1/support/users/105/events", []string{"ui.search", "error.playback", "perf.rung_switch", "view.start"}},
		{"/v1/support/users/105/events?type=error", []string{"error.playback"}},
		{"/v1/support/users/105/events?type=perf.rung_switch", []string{"perf.rung_switch"}},
		{"/v1/support/users/105/events?q=segment+503", []string{"error.playback"}},
		{"/v1/support/users/105/events?q=western", []string{"ui.search"}},
		{"/v1/support/users/105/events?q=edge-z1", []string{"error.playback", "perf.rung_switch"}},
		{"/v1/support/users/105/events?to=2026-12-04T10:00:01Z", []string{"perf.rung_switch", "view.start"}},
		{"/v1/support/users/105/events?from=2026-12-04T10:30:00Z", []string{"ui.search"}},
		{"/v1/support/users/999/events", nil},
		{"/v1/support/sessions/s107", []string{"error.playback", "perf.rung_switch", "view.start"}},
	} {
		status, r := get(c.path, "support")
		var types []string
		for _, e := range r.Events {
			types = append(types, e.Type)
			if e.User != "105" && !strings.Contains(c.path, "s"+e.User) {
				t.Errorf("%s: user %s's event %s in the answer", c.path, e.User, e.ID)
			}
		}
		if status != 200 && len(c.types) > 0 || strings.Join(types, ",") != strings.Join(c.types, ",") {
			t.Errorf("%s: %d %v, want %v", c.path, status, types, c.types)
		}
	}
	if r, _ := get("/v1/support/users/105/events", "viewer"); r != 403 {
		t.Errorf("without a support key: %d", r)
	}
	for _, p := range []string{"/v1/support/users/1.2/events", "/v1/support/users/1/events?from=yesterday", "/v1/support/users/1/events?type=Error*", "/v1/support/users/1/events?limit=0"} {
		if s, _ := get(p, "support"); s != 400 {
			t.Errorf("%s: %d, want 400", p, s)
		}
	}
	if s, _ := get("/v1/support/sessions/nope", "support"); s != 404 {
		t.Errorf("unknown session: %d", s)
	}
}

// TestIndexerRestarts feeds the index from the log through a collector,
// finds a player's error within 2 s of its report, and stops and starts
// the indexer (its index closed and opened again) while events flow:
// the index ends with each event once, as many as the log holds.
func TestIndexerRestarts(t *testing.T) {
	log, _ := testenv.Events(t)
	dir := filepath.Join(t.TempDir(), "support")
	ctx := context.Background()
	start := func() (stop func(), x *Index) {
		x, err := Open(dir, 4)
		if err != nil {
			t.Fatal(err)
		}
		c, err := log.Consumer(ctx, "support-indexer", []string{"events.>"})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			events.Consume(rctx, c, 50, 100*time.Millisecond, (&Indexer{Index: x}).Handle, quiet)
			close(done)
		}()
		return func() { cancel(); <-done; x.Close() }, x
	}
	col := &events.Collector{Log: log, Auth: func(*http.Request) (events.Identity, error) {
		return events.Identity{User: "42", Profile: func(string) bool { return true }}, nil
	}}
	mux := http.NewServeMux()
	col.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	postN := func(from, n int) {
		var b strings.Builder
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, `{"id":"h%d","type":"view.heartbeat","at":"2026-12-04T10:00:00Z","profile":"1","session":"s1","title":"t1","position":%d}`+"\n", i, i)
		}
		resp, err := http.Post(srv.URL+"/v1/events", "application/x-ndjson", strings.NewReader(b.String()))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	stop, x := start()
	postN(0, 300)
	// A playback error, reported now, is found within 2 s.
	reported := time.Now()
	resp, err := http.Post(srv.URL+"/v1/events", "application/x-ndjson", strings.NewReader(
		`{"id":"err1","type":"error.playback","at":"2026-12-04T10:00:05Z","session":"s1","title":"t1","code":"MEDIA_ERR_DECODE","message":"bufferAppendError"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	for {
		r, err := x.UserEvents(ctx, "42", Query{Text: "bufferAppendError"})
		if err == nil && len(r.Events) == 1 {
			break
		}
		if time.Since(reported) > 2*time.Second {
			t.Fatalf("the error is not searchable %s after its report", time.Since(reported))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("a reported error was searchable after %s", time.Since(reported))
	// Stop it part way through more events, three times.
	for round := range 3 {
		postN(1000*(round+1), 400)
		stop()
		stop, x = start()
	}
	want, _ := log.Count(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := x.Count()
		if n == want {
			break
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("%d events indexed, %d in the log", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if want != 1501 {
		t.Errorf("%d events in the log, want 1501", want)
	}
}
