package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// TestIngestFromURL runs a job whose master a worker fetches from a web
// server (through a redirect, as presigned and CDN URLs often are) all
// the way to a published title; a source that answers 404 fails the job
// with source_unavailable.
func TestIngestFromURL(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	dir := t.TempDir()
	testenv.Generate(t, filepath.Join(dir, "remote.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	files := http.FileServer(http.Dir(dir))
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/signed" {
			http.Redirect(w, r, "/remote.mp4", http.StatusFound)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer src.Close()
	submit := func(url string) string {
		t.Helper()
		body := `{"source":"` + url + `","ladder":{"rungs":[{"height":144,"bitrate":150000}],"segment_seconds":2}}`
		resp, err := s.raw("POST", "/v1/jobs", "application/json", strings.NewReader(body), true)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v pipeline.View
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 201 {
			t.Fatalf("submit %s: %d %v", url, resp.StatusCode, err)
		}
		return v.ID
	}
	id := submit(src.URL + "/signed?X-Amz-Signature=0123")
	v := s.awaitEnd(t, id, 3*time.Minute)
	if v.Status != pipeline.StatusComplete || v.Outputs == nil || v.Timings["ingest"] == nil {
		t.Fatalf("job from a URL: %s %+v %v", v.Status, v.Error, v.Timings)
	}
	if _, body := get(t, v.Outputs.HLS); !strings.Contains(string(body), "#EXT-X-STREAM-INF") {
		t.Fatalf("master playlist: %s", body)
	}
	t.Logf("a 4 s master fetched from a URL and published; ingest took %.2f s", v.Timings["ingest"].Seconds)
	gone := s.awaitEnd(t, submit(src.URL+"/gone.mp4"), time.Minute)
	if gone.Status != pipeline.StatusFailed || gone.Error == nil || gone.Error.Code != pipeline.CodeSourceUnavailable ||
		!strings.Contains(gone.Error.Message, "404") {
		t.Fatalf("a source that answers 404: %s %+v", gone.Status, gone.Error)
	}
}
