package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is a real HTTP origin on loopback that counts the requests for
// each key and can be slowed down.
type testOrigin struct {
	*httptest.Server
	mu      sync.Mutex
	objects map[string][]byte
	gets    map[string]int
	// cache overrides the Cache-Control of a key (immutable otherwise);
	// notModified counts the 304s answered to conditional requests.
	cache       map[string]string
	notModified int
	delay       time.Duration
	down        atomic.Bool
}

func newOrigin(t *testing.T) *testOrigin {
	o := &testOrigin{objects: map[string][]byte{}, gets: map[string]int{}, cache: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		key := strings.TrimPrefix(r.URL.Path, "/")
		o.mu.Lock()
		o.gets[key]++
		data, ok := o.objects[key]
		delay := o.delay
		cache := o.cache[key]
		o.mu.Unlock()
		time.Sleep(delay)
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(data)
		etag := fmt.Sprintf(`"%x"`, sum[:8])
		if cache == "" {
			cache = "public, max-age=31536000, immutable"
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT")
		w.Header().Set("Content-Type", "video/iso.segment")
		w.Header().Set("Cache-Control", cache)
		if r.Header.Get("If-None-Match") == etag {
			o.mu.Lock()
			o.notModified++
			o.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) put(key string, n int) []byte {
	data := bytes.Repeat([]byte(key[len(key)-1:]), n)
	o.mu.Lock()
	o.objects[key] = data
	o.mu.Unlock()
	return data
}

func (o *testOrigin) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gets[key]
}

func newEdge(t *testing.T, o *testOrigin, dir string, budget int64, fill FillConfig, now func() time.Time) (*Edge, *httptest.Server) {
	t.Helper()
	e, err := New(Config{Name: "edge-t", Zone: "z1", Origin: o.URL, Dir: dir, Budget: budget, Fill: fill, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return e, srv
}

func fetch(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return fetch(t, req)
}

func TestCoalescingRangesAndConditionals(t *testing.T) {
	o := newOrigin(t)
	key := "vod/job-0001/720p/seg_00000.m4s"
	want := o.put(key, 100_000)
	o.delay = 300 * time.Millisecond
	e, srv := newEdge(t, o, t.TempDir(), 1<<20, FillConfig{}, nil)

	// 20 clients ask at once: the origin is asked once.
	var wg sync.WaitGroup
	caches := make([]string, 20)
	for i := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := get(t, srv.URL+"/"+key)
			if resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Errorf("client %d: %d, %d bytes", i, resp.StatusCode, len(body))
			}
			caches[i] = resp.Header.Get("X-Cache")
		}()
	}
	wg.Wait()
	if n := o.count(key); n != 1 {
		t.Fatalf("origin asked %d times for 20 concurrent clients, want 1", n)
	}
	for i, c := range caches {
		if c != "MISS" {
			t.Errorf("client %d of the first wave: X-Cache %q, want MISS", i, c)
		}
	}
	// Then from disk.
	resp, body := get(t, srv.URL+"/"+key)
	if resp.Header.Get("X-Cache") != "HIT" || !bytes.Equal(body, want) || o.count(key) != 1 {
		t.Fatalf("second request: X-Cache %q, origin asked %d times", resp.Header.Get("X-Cache"), o.count(key))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm != "Tue, 24 Nov 2026 10:00:00 GMT" || resp.Header.Get("Content-Type") != "video/iso.segment" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers: %v", resp.Header)
	}
	// Byte ranges.
	resp, body = get(t, srv.URL+"/"+key, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[100:200]) ||
		resp.Header.Get("Content-Range") != "bytes 100-199/100000" || resp.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("range: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	resp, _ = get(t, srv.URL+"/"+key, "Range", "bytes=200000-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %d", resp.StatusCode)
	}
	// Conditional requests.
	if resp, _ = get(t, srv.URL+"/"+key, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ = get(t, srv.URL+"/"+key, "If-Modified-Since", lm); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-Modified-Since: %d", resp.StatusCode)
	}
	if resp, _ = get(t, srv.URL+"/"+key, "If-None-Match", `"other"`); resp.StatusCode != 200 {
		t.Fatalf("If-None-Match with another tag: %d", resp.StatusCode)
	}
	// HEAD.
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/"+key, nil)
	if resp, body = fetch(t, req); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 100_000 {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	// Missing objects and paths that are not published objects.
	if resp, _ = get(t, srv.URL+"/vod/job-0001/missing.m4s"); resp.StatusCode != 404 || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("missing: %d %q", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	for _, p := range []string{"/vod/../etc/passwd", "/vod/job-0001/../../x", "/vod/job-0001/.hidden", "/masters/x", "/vod/%2e%2e/x"} {
		if resp, _ = get(t, srv.URL+p); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	// The origin down: what is held is still served.
	o.down.Store(true)
	if resp, body = get(t, srv.URL+"/"+key); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("held object with the origin down: %d", resp.StatusCode)
	}
	if resp, _ = get(t, srv.URL+"/vod/job-0001/other.m4s"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("miss with the origin down: %d, want 502", resp.StatusCode)
	}
	st := e.Status()
	if st.Hits < 5 || st.Misses < 20 || st.TitlesHeld != 1 || st.BytesHeld != 100_000 || st.Load <= 0 {
		t.Fatalf("status: %+v", st)
	}
}

func TestLRUBudgetAndRestart(t *testing.T) {
	o := newOrigin(t)
	keys := []string{"vod/job-0001/a/seg_00000.m4s", "vod/job-0001/a/seg_00001.m4s", "vod/job-0002/a/seg_00000.m4s", "vod/job-0003/a/seg_00000.m4s"}
	for _, k := range keys {
		o.put(k, 1000)
	}
	dir := t.TempDir()
	e, srv := newEdge(t, o, dir, 3000, FillConfig{}, nil)
	for _, k := range keys[:3] {
		get(t, srv.URL+"/"+k)
	}
	time.Sleep(20 * time.Millisecond) // distinct use times on disk
	get(t, srv.URL+"/"+keys[0])       // keys[1] is now the least recently used
	get(t, srv.URL+"/"+keys[3])
	if e.disk.has(keys[1]) || !e.disk.has(keys[0]) || !e.disk.has(keys[2]) || !e.disk.has(keys[3]) {
		t.Fatal("the least recently used object was not the one evicted")
	}
	if st := e.Status(); st.BytesHeld != 3000 || st.ObjectsHeld != 3 || st.TitlesHeld != 3 {
		t.Fatalf("after eviction: %+v", st)
	}
	// An object larger than the whole budget is passed through, not held.
	big := o.put("vod/job-0004/a/seg_00000.m4s", 5000)
	resp, body := get(t, srv.URL+"/vod/job-0004/a/seg_00000.m4s")
	if resp.StatusCode != 200 || !bytes.Equal(body, big) || e.disk.has("vod/job-0004/a/seg_00000.m4s") {
		t.Fatalf("oversized object: %d, %d bytes", resp.StatusCode, len(body))
	}
	srv.Close()

	// A restarted edge keeps what it held, in the same order of use.
	before := map[string]int{}
	for _, k := range keys {
		before[k] = o.count(k)
	}
	e2, srv2 := newEdge(t, o, dir, 3000, FillConfig{}, nil)
	if st := e2.Status(); st.BytesHeld != 3000 || st.TitlesHeld != 3 {
		t.Fatalf("after restart: %+v", st)
	}
	// Least recently used before the restart: keys[2]. Reading keys[1]
	// evicts it.
	get(t, srv2.URL+"/"+keys[1])
	if e2.disk.has(keys[2]) || !e2.disk.has(keys[1]) {
		t.Fatal("after restart, eviction did not follow the order of use")
	}
	for _, k := range []string{keys[0], keys[3]} {
		if resp, _ := get(t, srv2.URL+"/"+k); resp.Header.Get("X-Cache") != "HIT" || o.count(k) != before[k] {
			t.Fatalf("%s after restart: X-Cache %q", k, resp.Header.Get("X-Cache"))
		}
	}
}

// announcements is the narrow stand-in for the Redis stream: titles handed
// to the edge in order.
type announcements struct{ ch chan Title }

func (a *announcements) Read(ctx context.Context, cursor string) ([]Title, error) {
	select {
	case t := <-a.ch:
		return []Title{t}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil, nil
	}
}

// startFill runs e.Fill until the returned stop is called or the test
// ends; stop waits for Fill to return, so nothing is still writing to the
// edge's directory when the test removes it.
func startFill(t *testing.T, e *Edge, ann *announcements) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Fill(ctx, ann) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestFillWindowAndRate(t *testing.T) {
	o := newOrigin(t)
	title := Title{Cursor: "1-0", ID: "job-0009"}
	for _, k := range []string{"master.m3u8", "manifest.mpd", "poster.jpg", "thumbs/thumbs.vtt", "thumbs/sprite_001.jpg"} {
		title.Keys = append(title.Keys, "vod/job-0009/"+k)
		o.put("vod/job-0009/"+k, 500)
	}
	for _, r := range []string{"360p", "720p", "audio"} {
		for _, k := range []string{"index.m3u8", "init.mp4"} {
			title.Keys = append(title.Keys, "vod/job-0009/"+r+"/"+k)
			o.put("vod/job-0009/"+r+"/"+k, 500)
		}
		for i := range 6 {
			k := fmt.Sprintf("vod/job-0009/%s/seg_%05d.m4s", r, i)
			title.Keys = append(title.Keys, k)
			o.put(k, 20_000)
		}
	}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano()) // outside 02:00-06:00
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	window, err := ParseWindow("02:00-06:00")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const rate = 200_000 // bytes a second
	e, _ := newEdge(t, o, dir, 10<<20, FillConfig{First: 2, Window: window, Rate: rate}, now)
	ann := &announcements{ch: make(chan Title, 1)}
	stop := startFill(t, e, ann)
	ann.ch <- title

	// At once: manifests, init segments, the poster, the first two
	// segments of every rendition. The rest waits for the window.
	waitFor(t, 10*time.Second, func() bool { return e.Status().FillPending == 13 })
	for _, k := range title.Keys {
		seg := strings.HasSuffix(k, ".m4s")
		first := strings.HasSuffix(k, "seg_00000.m4s") || strings.HasSuffix(k, "seg_00001.m4s")
		if want := !seg && !strings.HasSuffix(k, "sprite_001.jpg") || first; e.disk.has(k) != want {
			t.Errorf("%s held %v before the window opened, want %v", k, e.disk.has(k), want)
		}
	}
	time.Sleep(time.Second)
	if st := e.Status(); st.FillPending != 13 || st.FillWindowOpen {
		t.Fatalf("deferred fill ran outside the window: %+v", st)
	}

	// A restart keeps the pending list.
	stop()
	e, _ = newEdge(t, o, dir, 10<<20, FillConfig{First: 2, Window: window, Rate: rate}, now)
	if st := e.Status(); st.FillPending != 13 {
		t.Fatalf("pending after restart: %d", st.FillPending)
	}
	// The window opens: the rest comes, no faster than the fill rate.
	clock.Store(time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC).UnixNano())
	startFill(t, e, ann)
	start := time.Now()
	waitFor(t, 30*time.Second, func() bool { return e.Status().FillPending == 0 && e.Status().ObjectsHeld == len(title.Keys) })
	took := time.Since(start)
	// 12 deferred objects of 20 kB and a 500 B sprite: at 200 kB/s, after
	// a first burst of at most 200 kB, at least (240.5 - 200) / 200 s.
	if min := 200 * time.Millisecond; took < min {
		t.Fatalf("deferred fill of 240 kB took %v, faster than the %d B/s limit allows (%v)", took, rate, min)
	}
	for _, k := range title.Keys {
		if o.count(k) != 1 {
			t.Errorf("%s fetched %d times", k, o.count(k))
		}
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestParseWindow(t *testing.T) {
	w, err := ParseWindow("22:00-04:00")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 30, 0, 0, time.UTC) }
	if !w.Open(at(23)) || !w.Open(at(1)) || w.Open(at(12)) || w.Open(at(4)) {
		t.Fatal("wrapping window")
	}
	if w, _ := ParseWindow(""); !w.Open(at(12)) {
		t.Fatal("empty window must be always open")
	}
	for _, bad := range []string{"2-4", "02:00", "25:00-01:00", "03:00-03:00"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
}

// TestClientJoinsPacedFill: a client asking for an object the deferred fill
// is fetching slowly joins that fetch (the origin is asked once) and ends
// its pacing instead of waiting for it.
func TestClientJoinsPacedFill(t *testing.T) {
	o := newOrigin(t)
	keys := []string{"vod/job-0010/a/seg_00000.m4s", "vod/job-0010/a/seg_00001.m4s"}
	o.put(keys[0], 100)
	want := o.put(keys[1], 60_000)
	// At 2 kB/s the second segment would take half a minute.
	e, srv := newEdge(t, o, t.TempDir(), 10<<20, FillConfig{First: 1, Rate: 2000}, nil)
	ann := &announcements{ch: make(chan Title, 1)}
	startFill(t, e, ann)
	ann.ch <- Title{Cursor: "1-0", ID: "job-0010", Keys: keys}
	waitFor(t, 10*time.Second, func() bool { return o.count(keys[1]) == 1 })
	// Paced, the answer would take 30 s; unpaced it is at once.
	rctx, rcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer rcancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, srv.URL+"/"+keys[1], nil)
	resp, body := fetch(t, req)
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || o.count(keys[1]) != 1 {
		t.Fatalf("client during a paced fill: %d, %d bytes, origin asked %d times", resp.StatusCode, len(body), o.count(keys[1]))
	}
}

// TestManifestsRevalidated: an object whose Cache-Control gives a max-age
// and is not immutable (a growing title's manifests) is served from disk
// for that long, then revalidated with the origin (a 304 keeps it, a new
// version replaces it, a removed one is a 404), and served as held when
// the origin cannot answer; an immutable segment is never asked for
// again.
func TestManifestsRevalidated(t *testing.T) {
	o := newOrigin(t)
	pl, seg := "vod/job-0010/720p/index.m3u8", "vod/job-0010/720p/seg_00000.m4s"
	o.put(seg, 1000)
	o.mu.Lock()
	o.objects[pl] = []byte("#EXTM3U version 1")
	o.cache[pl] = "public, max-age=1"
	o.mu.Unlock()
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, srv := newEdge(t, o, t.TempDir(), 1<<20, FillConfig{}, clock)
	body := func(key, wantCache string) string {
		t.Helper()
		resp, b := get(t, srv.URL+"/"+key)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache") != wantCache {
			t.Fatalf("%s: %d %s, want 200 %s", key, resp.StatusCode, resp.Header.Get("X-Cache"), wantCache)
		}
		return string(b)
	}
	if b := body(pl, "MISS"); b != "#EXTM3U version 1" {
		t.Fatalf("first: %q", b)
	}
	body(seg, "MISS")
	body(pl, "HIT")
	if n := o.count(pl); n != 1 {
		t.Fatalf("origin asked %d times within max-age", n)
	}
	advance(2 * time.Second)
	if b := body(pl, "HIT"); b != "#EXTM3U version 1" || o.count(pl) != 2 || o.notModified != 1 {
		t.Fatalf("after max-age, unchanged: %q, %d requests, %d not modified", b, o.count(pl), o.notModified)
	}
	body(pl, "HIT")
	if o.count(pl) != 2 {
		t.Fatal("a confirmed object was asked for again within max-age")
	}
	o.mu.Lock()
	o.objects[pl] = []byte("#EXTM3U version 2, longer")
	o.mu.Unlock()
	advance(2 * time.Second)
	if b := body(pl, "HIT"); b != "#EXTM3U version 2, longer" {
		t.Fatalf("after a change: %q", b)
	}
	// The origin down: what is held is served.
	advance(2 * time.Second)
	o.down.Store(true)
	if b := body(pl, "HIT"); b != "#EXTM3U version 2, longer" {
		t.Fatalf("origin down: %q", b)
	}
	body(seg, "HIT")
	o.down.Store(false)
	if n := o.count(seg); n != 1 {
		t.Errorf("an immutable segment was fetched %d times", n)
	}
	// Removed at the origin (a canceled job): gone from the edge too.
	o.mu.Lock()
	delete(o.objects, pl)
	o.mu.Unlock()
	advance(2 * time.Second)
	if resp, _ := get(t, srv.URL+"/"+pl); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed manifest: %d", resp.StatusCode)
	}
}

// TestReports: an edge reports a miss with the fetch's time, not a hit;
// an answer past SlowAfter; and an origin it cannot fetch from.
func TestReports(t *testing.T) {
	o := newOrigin(t)
	key := "vod/job-0002/720p/seg_00000.m4s"
	o.put(key, 1000)
	var mu sync.Mutex
	var got []string
	e, err := New(Config{Name: "edge-r", Zone: "z1", Origin: o.URL, Dir: t.TempDir(), SlowAfter: 200 * time.Millisecond,
		Report: func(typ, k, code, _ string, ms float64) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s %s %s %t", typ, k, code, ms > 0))
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	get(t, srv.URL+"/"+key) // a miss
	get(t, srv.URL+"/"+key) // a hit
	o.delay = 300 * time.Millisecond
	slow := "vod/job-0002/720p/seg_00001.m4s"
	o.put(slow, 10)
	get(t, srv.URL+"/"+slow) // a slow miss
	o.delay = 0
	o.down.Store(true)
	get(t, srv.URL+"/vod/job-0002/720p/seg_00002.m4s") // the origin is down
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"perf.cache_miss " + key + " miss true",
		"perf.cache_miss " + slow + " miss true",
		"perf.slow_response " + slow + " slow_response true",
		"error.edge vod/job-0002/720p/seg_00002.m4s origin_unreachable true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reports:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for in, want := range map[string]string{"/t/abc.def/vod/j/m.m3u8": "vod/j/m.m3u8", "/vod/j/a.m4s": "vod/j/a.m4s", "/t/x": "t"} {
		if got := untokened(in); got != want {
			t.Errorf("untokened(%q) = %q, want %q", in, got, want)
		}
	}
}
