package history_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/history"
	"github.com/reel-video/reel/internal/testenv"
)

func TestHTTP(t *testing.T) {
	s3 := testenv.S3(t)
	live, err := history.OpenPebble(filepath.Join(t.TempDir(), "live"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	h := &history.Handler{
		Store: &history.Store{Live: live, Blocks: s3, Bucket: s3.Bucket(), Prefix: "http/"},
		// Viewer "a" owns profile 1; nobody else owns anything.
		Viewers: func(r *http.Request, profile string) error {
			switch {
			case r.Header.Get("Authorization") != "Bearer a":
				return &history.Denied{Status: 401, Code: "unauthorized", Message: "sign in"}
			case profile != "1":
				return &history.Denied{Status: 404, Code: "not_found", Message: "not your profile"}
			}
			return nil
		},
		Admin:        func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer op" },
		CompactAfter: 24 * time.Hour,
		Now:          func() time.Time { return time.Unix(0, clock.Add(int64(10*time.Second))) },
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, auth, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	for i, beat := range []string{
		`{"profile":"1","title":"sintel","position":10,"duration":888,"device":"tv"}`,
		`{"profile":"1","title":"sintel","position":20,"duration":888,"device":"tv"}`,
		`{"profile":"1","title":"bbb","position":590,"duration":596,"device":"web"}`,
	} {
		if st, v := do("POST", "/v1/history/heartbeats", "a", beat); st != 202 {
			t.Fatalf("heartbeat %d: %d %v", i, st, v)
		}
	}
	for _, c := range []struct {
		auth, body string
		want       int
	}{
		{"b", `{"profile":"1","title":"x","position":1}`, 401},
		{"a", `{"profile":"2","title":"x","position":1}`, 404},
		{"a", `{"profile":"1","title":"../x","position":1}`, 400},
		{"a", `{"profile":"1","title":"x","position":-1}`, 400},
		{"a", `{"profile":"1","title":"x","position":1,"at":"2020-01-01T00:00:00Z"}`, 400},
		{"a", `not json`, 400},
	} {
		if st, v := do("POST", "/v1/history/heartbeats", c.auth, c.body); st != c.want {
			t.Errorf("heartbeat %s by %s: %d %v, want %d", c.body, c.auth, st, v, c.want)
		}
	}
	st, v := do("GET", "/v1/history/1?limit=2", "a", "")
	if st != 200 || v["total"].(float64) != 3 || len(v["events"].([]any)) != 2 {
		t.Fatalf("history: %d %v", st, v)
	}
	st, v = do("GET", "/v1/history/1/continue", "a", "")
	cont, _ := v["continue"].([]any)
	if st != 200 || len(cont) != 1 || cont[0].(map[string]any)["position"].(float64) != 20 {
		t.Fatalf("continue watching (bbb is finished): %d %v", st, v)
	}
	if st, _ := do("GET", "/v1/history/2", "a", ""); st != 404 {
		t.Fatalf("another's profile: %d", st)
	}
	if st, _ := do("POST", "/v1/history/compactions", "a", `{"older_than":"0s"}`); st != 403 {
		t.Fatalf("a viewer compacting: %d", st)
	}
	st, v = do("POST", "/v1/history/compactions", "op", `{"older_than":"0s"}`)
	if st != 200 || v["rows"].(float64) != 3 {
		t.Fatalf("compaction: %d %v", st, v)
	}
	if st, v = do("GET", "/v1/history/1", "a", ""); st != 200 || v["total"].(float64) != 3 {
		t.Fatalf("history after the compaction: %d %v", st, v)
	}
}
