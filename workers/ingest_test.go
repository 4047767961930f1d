package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
)

// TestIngest fetches masters given by URL on a real Redis and MinIO: one
// arrives whole in the masters bucket and the job goes on to its probe;
// a 404, an oversized master and an address the policy refuses fail the
// job at once with source_unavailable; a server error and a source that
// stalls are retried.
func TestIngest(t *testing.T) {
	addr := testenv.Redis(t)
	s3 := testenv.S3(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	master := bytes.Repeat([]byte("reel master "), 500_000) // 6 MB
	stalled := make(chan struct{})
	t.Cleanup(func() { close(stalled) })
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/films/master.mov":
			w.Header().Set("Content-Length", "6000000")
			_, _ = w.Write(master)
		case "/redirect":
			http.Redirect(w, r, "/films/master.mov", http.StatusFound)
		case "/big.mov":
			w.Header().Set("Content-Length", "100000000")
			_, _ = w.Write(master)
		case "/endless.mov": // no length: the limit counts what arrives
			for range 20 {
				if _, err := w.Write(master); err != nil {
					return
				}
			}
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/stall.mov":
			w.Header().Set("Content-Length", "6000000")
			_, _ = w.Write(master[:1000])
			w.(http.Flusher).Flush()
			select {
			case <-stalled:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(src.Close)
	allow := &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	w := &Worker{Svc: &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}, Objects: s3,
		Ingest: Ingest{Client: allow.Client(0), MaxBytes: 10_000_000, Stall: time.Second}}
	ctx := context.Background()
	ingest, _ := pipeline.StageOf(pipeline.TaskIngest)
	h := w.wrap(ingest, w.ingest)
	run := func(id, url string) (*pipeline.Job, error) {
		t.Helper()
		if err := w.Svc.Submit(ctx, &pipeline.Job{ID: id, Tenant: "acme", Input: pipeline.SourceRef{URL: url}}); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(pipeline.Task{Kind: pipeline.TaskIngest, JobID: id})
		err := h(ctx, asynq.NewTask(queue.Type(pipeline.TaskIngest), data))
		j, jerr := w.Svc.Job(ctx, id)
		if jerr != nil {
			t.Fatal(jerr)
		}
		return j, err
	}
	for _, path := range []string{"/films/master.mov", "/redirect"} {
		id := "job-ingest-" + strings.NewReplacer("/", "", ".", "").Replace(path)
		j, err := run(id, src.URL+path)
		if err != nil || j.Status != pipeline.StatusProbing || j.Input.Key != pipeline.MasterKey(id) || j.Input.Size != int64(len(master)) {
			t.Fatalf("%s: %v, job %s %+v", path, err, j.Status, j.Input)
		}
		got, err := s3.GetBytes(ctx, s3.Bucket(), j.Input.Key, 1<<30)
		if err != nil || !bytes.Equal(got, master) {
			t.Fatalf("%s: stored %d bytes (%v)", path, len(got), err)
		}
		if info, err := q.Inspector.GetTaskInfo(queue.Name, id+":probe"); err != nil || info.State != asynq.TaskStatePending {
			t.Fatalf("%s: the probe is not queued: %v %v", path, info, err)
		}
	}
	for path, want := range map[string]string{
		"/gone.mov":    "404",
		"/big.mov":     "over the limit",
		"/endless.mov": "over the limit",
	} {
		j, err := run("job-ingest-"+strings.NewReplacer("/", "", ".", "").Replace(path), src.URL+path)
		if err == nil || !errors.Is(err, asynq.SkipRetry) || j.Status != pipeline.StatusFailed || j.Error.Code != pipeline.CodeSourceUnavailable ||
			!strings.Contains(j.Error.Message, want) {
			t.Errorf("%s: %v, job %s %+v", path, err, j.Status, j.Error)
		}
	}
	// Not allowed: a worker with the default policy refuses loopback, at
	// the connection.
	strict := &Worker{Svc: w.Svc, Objects: s3, Ingest: Ingest{Client: (&netguard.Policy{}).Client(0)}}
	h2 := strict.wrap(ingest, strict.ingest)
	if err := w.Svc.Submit(ctx, &pipeline.Job{ID: "job-ingest-inside", Input: pipeline.SourceRef{URL: src.URL + "/films/master.mov"}}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(pipeline.Task{Kind: pipeline.TaskIngest, JobID: "job-ingest-inside"})
	if err := h2(ctx, asynq.NewTask(queue.Type(pipeline.TaskIngest), data)); !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("a loopback source with the default policy: %v", err)
	}
	if j, _ := w.Svc.Job(ctx, "job-ingest-inside"); j.Status != pipeline.StatusFailed || !strings.Contains(j.Error.Message, "not public") {
		t.Errorf("a loopback source: %s %+v", j.Status, j.Error)
	}
	// Transient: retried, the job left as it is.
	for _, path := range []string{"/busy", "/stall.mov"} {
		j, err := run("job-ingest-"+strings.NewReplacer("/", "", ".", "").Replace(path), src.URL+path)
		if err == nil || errors.Is(err, asynq.SkipRetry) || j.Status.Terminal() {
			t.Errorf("%s: %v, job %s", path, err, j.Status)
		}
	}
}
