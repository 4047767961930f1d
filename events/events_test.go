package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reel-video/reel/internal/jsonhttp"
)

// startLog starts an embedded NATS server in a temporary folder and
// returns the Log on it, with the server.
func startLog(t *testing.T, dir, addr string) (*JetStream, *Server) {
	t.Helper()
	s, err := StartServer(ServerOptions{Name: "t", Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	j, err := Connect(s.URL(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.EnsureStream(ctx, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return j, s
}

func TestCheck(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		e    Event
		want string // "" valid
	}{
		{Event{Type: "view.start", At: at, Profile: "1", Session: "s1", Title: "j1"}, ""},
		{Event{Type: "view.start", At: at, Profile: "1", Title: "j1"}, "view.start requires session"},
		{Event{Type: "view.heartbeat", At: at, Profile: "1", Session: "s", Title: "t", Position: 3}, ""},
		{Event{Type: "error.playback", At: at, Session: "s", Title: "t", Code: "MEDIA_ERR_DECODE"}, "requires message"},
		{Event{Type: "error.task", At: at, Code: "ffmpeg", Message: "exit 1"}, ""},
		{Event{Type: "perf.stall", At: at, Session: "s"}, "requires ms"},
		{Event{Type: "perf.cache_miss", At: at, Ms: 12}, ""},
		{Event{Type: "ui.search", At: at, Attrs: map[string]string{"q": "drama"}}, ""},
		{Event{Type: "ui.search", At: at, Attrs: map[string]string{"Q!": "x"}}, "attrs"},
		{Event{Type: "bogus.thing", At: at}, "unknown"},
		{Event{Type: "View.Start", At: at}, "FAMILY.NAME"},
		{Event{Type: "ui.page"}, "at:"},
		{Event{Type: "ui.page", At: at, User: "a.b"}, "user"},
		{Event{Type: "ui.page", At: at, Position: -1}, "position"},
	} {
		err := c.e.Check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.e, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: got %v, want %q", c.e, err, c.want)
		}
	}
}

func viewer(user string, profiles ...string) func(*http.Request) (Identity, error) {
	return func(r *http.Request) (Identity, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer viewer":
			return Identity{User: user, Profile: func(p string) bool {
				for _, q := range profiles {
					if p == q {
						return true
					}
				}
				return false
			}}, nil
		case "Bearer service":
			return Identity{Service: true}, nil
		}
		return Identity{}, &jsonhttp.Denied{Status: 401, Code: "unauthorized", Message: "sign in"}
	}
}

func post(t *testing.T, url, auth, body string) (int, Answer, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a Answer
	_ = json.Unmarshal(raw, &a)
	return resp.StatusCode, a, string(raw)
}

func TestCollector(t *testing.T) {
	log, _ := startLog(t, t.TempDir(), "")
	c := &Collector{Log: log, Auth: viewer("42", "7"), MaxEvents: 5}
	mux := http.NewServeMux()
	c.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	cons, err := log.Consumer(ctx, "test", []string{"events.>"})
	if err != nil {
		t.Fatal(err)
	}

	body := `{"type":"view.start","at":"2026-01-02T03:04:05Z","profile":"7","session":"s1","title":"j1","id":"e1"}
{"type":"view.start","at":"2026-01-02T03:04:05Z","profile":"7","title":"j1"}

{"type":"error.playback","at":"2026-01-02T03:04:06Z","session":"s1","title":"j1","code":"NETWORK","message":"segment 3: 404"}
{"type":"ui.page","at":"2026-01-02T03:04:06Z","colour":"red"}
{"type":"ui.page","at":"2026-01-02T03:04:06Z","profile":"8"}
`
	status, a, raw := post(t, srv.URL, "viewer", body)
	if status != 200 || a.Accepted != 2 || a.Rejected != 3 || len(a.Results) != 5 {
		t.Fatalf("status %d: %s", status, raw)
	}
	for i, want := range []string{"accepted", "session", "accepted", "unknown field", "not a profile"} {
		r := a.Results[i]
		if want == "accepted" && r.Status != "accepted" || want != "accepted" && (r.Error == nil || !strings.Contains(r.Error.Message, want)) {
			t.Errorf("line %d: %+v, want %q", r.Line, r, want)
		}
	}
	if a.Results[2].Line != 4 {
		t.Errorf("lines are counted with the blank one: %+v", a.Results[2])
	}
	// The same id again is stored once.
	if status, a, raw = post(t, srv.URL, "viewer", strings.SplitN(body, "\n", 2)[0]); status != 200 || a.Accepted != 1 {
		t.Fatalf("status %d: %s", status, raw)
	}
	ds, err := cons.Fetch(ctx, 10, time.Second)
	if err != nil || len(ds) != 2 {
		t.Fatalf("%d deliveries, %v", len(ds), err)
	}
	var e Event
	_ = json.Unmarshal(ds[1].Data, &e)
	if ds[0].Subject != "events.view.start.42" || e.User != "42" || e.Code != "NETWORK" || e.Received.IsZero() || e.ID == "" {
		t.Errorf("%s %+v", ds[0].Subject, e)
	}
	if err := cons.Ack(ctx, ds[1]); err != nil {
		t.Fatal(err)
	}
	if n, err := log.Count(ctx); n != 2 || err != nil {
		t.Errorf("count %d, %v", n, err)
	}

	// A viewer cannot report another user's events; a service can.
	if _, a, _ = post(t, srv.URL, "viewer", `{"type":"ui.page","at":"2026-01-02T03:04:06Z","user":"43"}`); a.Rejected != 1 {
		t.Errorf("another user's event: %+v", a)
	}
	if _, a, _ = post(t, srv.URL, "service", `{"type":"error.task","at":"2026-01-02T03:04:06Z","user":"43","code":"ffmpeg","message":"exit 1"}`); a.Accepted != 1 {
		t.Errorf("service event: %+v", a)
	}
	for _, c := range []struct {
		auth, body string
		status     int
	}{
		{"nobody", `{"type":"ui.page","at":"2026-01-02T03:04:06Z"}`, 401},
		{"viewer", "", 400},
		{"viewer", strings.Repeat(`{"type":"ui.page","at":"2026-01-02T03:04:06Z"}`+"\n", 6), 413},
		{"viewer", `{"type":"ui.page","at":"` + strings.Repeat("x", 2<<20) + `"}`, 413},
	} {
		if status, _, raw := post(t, srv.URL, c.auth, c.body); status != c.status {
			t.Errorf("%.40s: status %d, want %d: %s", c.body, status, c.status, raw)
		}
	}
}

// TestCollectorLogDown: with the log away, events are answered 503
// unavailable, not accepted, and go in once it is back.
func TestCollectorLogDown(t *testing.T) {
	dir := t.TempDir()
	log, s := startLog(t, dir, "127.0.0.1:0")
	addr := strings.TrimPrefix(s.URL(), "nats://")
	c := &Collector{Log: log, Auth: viewer("42")}
	mux := http.NewServeMux()
	c.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s.Shutdown()
	ev := `{"id":"x1","type":"ui.page","at":"2026-01-02T03:04:06Z"}`
	status, a, raw := post(t, srv.URL, "viewer", ev)
	if status != 503 || a.Unavailable != 1 || a.Results[0].Status != "unavailable" {
		t.Fatalf("status %d: %s", status, raw)
	}
	s2, err := StartServer(ServerOptions{Name: "t", Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, a, raw = post(t, srv.URL, "viewer", ev)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d after the log came back: %s", status, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := log.Count(context.Background()); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}

// TestEmitterBuffers: with the log away, Emit does not wait, keeps at
// most Max events (dropping the oldest), and publishes them once the log
// is back.
func TestEmitterBuffers(t *testing.T) {
	dir := t.TempDir()
	log, s := startLog(t, dir, "127.0.0.1:0")
	addr := strings.TrimPrefix(s.URL(), "nats://")
	s.Shutdown()
	e := &Emitter{Log: log, Source: "test", Max: 100, Batch: 30, Every: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	for i := range 150 {
		e.Emit(Event{Type: "perf.cache_miss", Ms: float64(i + 1)})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("150 Emits with the log down took %s", d)
	}
	if st := e.Stats(); st.Buffered != 100 || st.Dropped != 50 || st.Sent != 0 {
		t.Fatalf("stats %+v", st)
	}
	s2, err := StartServer(ServerOptions{Name: "t", Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for e.Stats().Buffered > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v after the log came back", e.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cons, err := log.Consumer(context.Background(), "check", nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cons.Fetch(context.Background(), 200, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The newest 100 are all there, once each; of the oldest, those the
	// connection had handed over before it noticed the server gone may
	// be there too.
	seen := map[float64]bool{}
	for _, d := range ds {
		var e Event
		_ = json.Unmarshal(d.Data, &e)
		if seen[e.Ms] || e.Source != "test" {
			t.Errorf("event %+v twice, or without its source", e)
		}
		seen[e.Ms] = true
	}
	for i := 51; i <= 150; i++ {
		if !seen[float64(i)] {
			t.Errorf("event %d is missing", i)
		}
	}
}

// TestEmitterClipsMessages: a service's long error message (an
// ffmpeg's stderr) is reported with its start, not dropped for breaking
// the schema.
func TestEmitterClipsMessages(t *testing.T) {
	log, _ := startLog(t, t.TempDir(), "127.0.0.1:0")
	e := &Emitter{Log: log, Source: "test", Every: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	long := strings.Repeat("é", MaxMessage+500) // two bytes each
	e.Emit(Event{Type: "error.task", Code: "encode", Message: long})
	e.Emit(Event{Type: "error.task", Code: "encode", Message: "bad \xff byte"})
	cons, err := log.Consumer(context.Background(), "check", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		ds, err := cons.Fetch(context.Background(), 10, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			var ev Event
			if err := json.Unmarshal(d.Data, &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
	}
	if len(got) != 2 || e.Stats().Dropped != 0 {
		t.Fatalf("%d events in the log, stats %+v", len(got), e.Stats())
	}
	if n := utf8.RuneCountInString(got[0].Message); n != MaxMessage || !strings.HasSuffix(got[0].Message, "é…") {
		t.Errorf("a long message reported with %d characters, ending %q", n, got[0].Message[len(got[0].Message)-8:])
	}
	if got[1].Message != "bad \uFFFD byte" {
		t.Errorf("a message with a bad byte reported as %q", got[1].Message)
	}
}

// TestConsumerResumes: a durable consumer stopped and opened again gets
// what it had not acknowledged, and nothing it had.
func TestConsumerResumes(t *testing.T) {
	log, _ := startLog(t, t.TempDir(), "")
	ctx := context.Background()
	var msgs []Message
	for i := range 10 {
		msgs = append(msgs, Message{Subject: fmt.Sprintf("events.ui.page.%d", i), ID: fmt.Sprint(i), Data: []byte(fmt.Sprint(i))})
	}
	for _, err := range log.Publish(ctx, msgs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, _ := log.Consumer(ctx, "r", []string{"events.ui.>"})
	ds, _ := c.Fetch(ctx, 4, time.Second)
	if len(ds) != 4 {
		t.Fatalf("%d", len(ds))
	}
	if err := c.Ack(ctx, ds[3]); err != nil {
		t.Fatal(err)
	}
	ds, _ = c.Fetch(ctx, 2, time.Second) // delivered, not acknowledged
	if lag, _ := c.Lag(ctx); lag != 6 {
		t.Errorf("lag %d, want 6", lag)
	}
	// Opened again, with the same name, it starts after the fourth.
	c2, err := log.Consumer(ctx, "r", []string{"events.ui.>"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("%d", len(ds))
	}
	var got []string
	cctx, cancel := context.WithCancel(ctx)
	Consume(cctx, c2, 3, 100*time.Millisecond, func(_ context.Context, ds []Delivery) error {
		for _, d := range ds {
			got = append(got, string(d.Data))
		}
		if len(got) >= 6 {
			cancel()
		}
		return nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if strings.Join(got, ",") != "4,5,6,7,8,9" {
		t.Errorf("after the restart: %v", got)
	}
}
