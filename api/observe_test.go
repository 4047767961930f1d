package api_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/queue"
)

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestMetricsAndMonitoring: /metrics and /monitoring answer admin keys
// only; a browser's own login prompt (Basic, the key as password) opens
// /monitoring; requests are counted by route.
func TestMetricsAndMonitoring(t *testing.T) {
	m := metrics.New()
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: asynq.RedisClientOpt{Addr: testenv.Redis(t)}})
	t.Cleanup(func() { _ = mon.Close() })
	e := setup(t, 1<<20, func(s *api.Server) {
		s.Metrics, s.Monitoring = m, mon
		m.Registry.MustRegister(queue.Collector{Inspector: s.Svc.Queue.(*queue.Asynq).Inspector})
	})
	adminKey, _, err := e.keys.Create(context.Background(), "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	admin := client(adminKey)
	plain := http.DefaultClient

	if resp, _ := get(t, e.c, e.srv.URL+"/metrics"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tenant key /metrics: %d, want 403", resp.StatusCode)
	}
	if resp, _ := get(t, plain, e.srv.URL+"/v1/jobs/nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	_, _ = get(t, e.c, e.srv.URL+"/v1/jobs")
	resp, body := get(t, admin, e.srv.URL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`reel_api_requests_total{code="200",route="GET /v1/jobs"} 1`,
		`reel_api_requests_total{code="401",route="unauthenticated"} 1`,
		`reel_api_requests_total{code="403",route="GET /metrics"} 1`,
		`reel_queue_tasks{queue="reel",state="pending"} 0`,
		`reel_queue_up 1`,
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	resp, _ = get(t, plain, e.srv.URL+"/monitoring/")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("/monitoring without a key: %d %q, want 401 with a Basic challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/monitoring/", nil)
	req.SetBasicAuth("anyone", e.key)
	if r, err := plain.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Errorf("/monitoring with a tenant key: %v %v, want 403", r.StatusCode, err)
	} else {
		r.Body.Close()
	}
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/monitoring/", nil)
	req.SetBasicAuth("ops", adminKey)
	r, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(page), "<html") {
		t.Errorf("/monitoring with an admin key: %d %.200s", r.StatusCode, page)
	}
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/monitoring/api/queues", nil)
	req.SetBasicAuth("ops", adminKey)
	if r, err = plain.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("asynqmon API: %v %v", r.StatusCode, err)
	} else {
		r.Body.Close()
	}
}

// TestWebPage: /ui/ needs no key and loads hls.js from where it is told.
func TestWebPage(t *testing.T) {
	js := filepath.Join(t.TempDir(), "hls.min.js")
	if err := os.WriteFile(js, []byte("window.Hls = null;"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := setup(t, 1<<20, func(s *api.Server) { s.HLSJS = js })
	resp, body := get(t, http.DefaultClient, e.srv.URL+"/ui/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script src="/ui/hls.min.js">`) {
		t.Fatalf("/ui/: %d %.300s", resp.StatusCode, body)
	}
	if resp, body := get(t, http.DefaultClient, e.srv.URL+"/ui/hls.min.js"); resp.StatusCode != http.StatusOK || body != "window.Hls = null;" {
		t.Errorf("/ui/hls.min.js: %d %q", resp.StatusCode, body)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, _ := get(t, noRedirect, e.srv.URL+"/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, http.DefaultClient, e.srv.URL+"/ui/../v1/jobs"); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound {
		t.Errorf("/ui/../v1/jobs: %d", resp.StatusCode)
	}
	e2 := setup(t, 1<<20)
	if _, body := get(t, http.DefaultClient, e2.srv.URL+"/ui/"); !strings.Contains(body, api.DefaultHLSJS) {
		t.Errorf("default page does not load %s", api.DefaultHLSJS)
	}
}
