package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
)

// stack is a real API on a real Redis and MinIO, with no workers: jobs
// stay queued, which is all a client needs to be tested against.
type stack struct {
	url   string
	admin string // an admin key
	key   string // a key of tenant "acme"
	s3    *origin.S3
	// cut, while above 0, ends the next PATCH's connection after that
	// many bytes of its body, as a network that drops out.
	cut atomic.Int64
}

func setup(t *testing.T) *stack {
	addr := testenv.Redis(t)
	s3 := testenv.S3(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	keys := &store.Keys{C: rdb}
	res, err := api.NewResumable(api.ResumableConfig{Store: s3.UploadStore(t.TempDir()), MaxSize: 1 << 30, Locker: &store.UploadLocker{C: rdb}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Svc: &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}, Uploads: s3, PublicURL: s3.PublicURL,
		Keys: keys, Resumable: res, Workers: func(ctx context.Context) (any, error) { return q.Workers(ctx) }}
	s := &stack{s3: s3}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			if n := s.cut.Swap(0); n > 0 {
				r.Body = &cutBody{r: r.Body, left: n, w: w}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	if s.admin, _, err = keys.Create(context.Background(), "ops", true); err != nil {
		t.Fatal(err)
	}
	if s.key, _, err = keys.Create(context.Background(), "acme", false); err != nil {
		t.Fatal(err)
	}
	return s
}

// cutBody reads left bytes of a request body, then closes the client's
// connection.
type cutBody struct {
	r    io.ReadCloser
	left int64
	w    http.ResponseWriter
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		if conn, _, err := http.NewResponseController(c.w).Hijack(); err == nil {
			conn.Close()
		}
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

func TestJobsKeysAndErrors(t *testing.T) {
	s := setup(t)
	ctx := context.Background()
	c := client.New(s.url, s.key)
	v, err := c.Submit(ctx, strings.NewReader("not really a video"), "a.mp4", []byte(`{"rungs":[{"height":360,"bitrate":700000}]}`))
	if err != nil || v.Status != pipeline.StatusQueued || v.Name != "a.mp4" {
		t.Fatalf("submit: %+v %v", v, err)
	}
	if got, err := c.Job(ctx, v.ID); err != nil || got.ID != v.ID {
		t.Fatalf("job: %+v %v", got, err)
	}
	list, err := c.Jobs(ctx, 10, 0, "")
	if err != nil || list.Total != 1 || list.Jobs[0].ID != v.ID {
		t.Fatalf("jobs: %+v %v", list, err)
	}
	// An API error carries its status, code and message.
	_, err = c.Retry(ctx, v.ID)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "conflict" || ae.Message == "" || !client.IsStatus(err, 409) {
		t.Fatalf("retry of a queued job: %v", err)
	}
	if _, err := c.Job(ctx, "0c6f3c1e-4a2b-4c1d-9e8f-123456789abc"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("missing job: %v", err)
	}
	if _, err := client.New(s.url, "").Job(ctx, v.ID); !client.IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "REEL_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	if _, err := client.New("http://127.0.0.1:1", s.key).Job(ctx, v.ID); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("no API: %v", err)
	}
	// Events end with the job, which a cancel ends.
	var seen []pipeline.Status
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, v.ID, func(v *pipeline.View) error {
			mu.Lock()
			seen = append(seen, v.Status)
			mu.Unlock()
			return nil
		})
	}()
	if got, err := c.Cancel(ctx, v.ID); err != nil || got.Status != pipeline.StatusCanceled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("events: %v", err)
	}
	if mu.Lock(); seen[len(seen)-1] != pipeline.StatusCanceled {
		t.Errorf("events carried %v", seen)
	}
	mu.Unlock()
	if got, err := c.Wait(ctx, v.ID, 10*time.Millisecond); err != nil || got.Status != pipeline.StatusCanceled {
		t.Errorf("wait: %+v %v", got, err)
	}
	// Keys, with an admin key.
	a := client.New(s.url, s.admin)
	secret, k, err := a.CreateKey(ctx, "globex", false, false)
	if err != nil || !strings.HasPrefix(secret, "reel_") || k.Tenant != "globex" || k.ID == "" {
		t.Fatalf("create key: %q %+v %v", secret, k, err)
	}
	if _, err := client.New(s.url, secret).Job(ctx, v.ID); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("another tenant's job: %v", err)
	}
	keys, err := a.Keys(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := a.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(s.url, secret).Job(ctx, v.ID); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("revoked key: %v", err)
	}
	if ws, err := a.Workers(ctx); err != nil || len(ws) != 0 {
		t.Errorf("workers: %v %v", ws, err)
	}
	if err := c.Healthy(ctx); err != nil {
		t.Errorf("healthz: %v", err)
	}
}

// master writes size bytes that are not all the same.
func master(t *testing.T, size int) string {
	p := filepath.Join(t.TempDir(), "master.bin")
	if err := os.WriteFile(p, bytes.Repeat([]byte("reel master "), size/12+1)[:size], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUploadRidesOutADroppedConnection cuts the first PATCH off mid-way:
// the upload resumes from the server's offset and the job holds the
// whole file.
func TestUploadRidesOutADroppedConnection(t *testing.T) {
	s := setup(t)
	const size = 20 << 20
	file := master(t, size)
	s.cut.Store(3 << 20)
	var interruptions []int64
	v, err := client.New(s.url, s.key).Upload(context.Background(), file, client.UploadOptions{StateDir: t.TempDir(),
		Interrupted: func(offset, total int64, err error, wait time.Duration) {
			interruptions = append(interruptions, offset)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(interruptions) != 1 {
		t.Errorf("interruptions at %v, want one", interruptions)
	}
	if v.Status != pipeline.StatusQueued || v.Name != "master.bin" {
		t.Errorf("job %+v", v)
	}
	checkStored(t, s, size)
}

// TestUploadResumesInTheNextRun stops an upload part way (a command
// stopped while its connection was down) and runs it again: it goes on
// from the server's offset.
func TestUploadResumesInTheNextRun(t *testing.T) {
	s := setup(t)
	const size = 40 << 20
	file, state := master(t, size), t.TempDir()
	c := client.New(s.url, s.key)
	ctx, cancel := context.WithCancel(context.Background())
	s.cut.Store(20 << 20)
	_, err := c.Upload(ctx, file, client.UploadOptions{StateDir: state,
		Interrupted: func(int64, int64, error, time.Duration) { cancel() }})
	if err == nil {
		t.Fatal("the stopped upload finished")
	}
	var resumedAt int64 = -1
	v, err := c.Upload(context.Background(), file, client.UploadOptions{StateDir: state, Resumed: func(offset, total int64) { resumedAt = offset }})
	if err != nil {
		t.Fatal(err)
	}
	if resumedAt <= 0 || resumedAt >= size {
		t.Errorf("resumed at %d of %d", resumedAt, size)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("state left after the upload: %v", entries)
	}
	// Asking for the job of the same upload again gives the same job.
	if got, err := c.Job(context.Background(), v.ID); err != nil || got.ID != v.ID {
		t.Errorf("job: %v", err)
	}
	checkStored(t, s, size)
}

func TestUploadRefusesBadInput(t *testing.T) {
	s := setup(t)
	c := client.New(s.url, s.key)
	empty := filepath.Join(t.TempDir(), "empty.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]struct {
		file string
		opt  client.UploadOptions
		want string
	}{
		"empty":      {empty, client.UploadOptions{NoState: true}, "empty"},
		"folder":     {t.TempDir(), client.UploadOptions{NoState: true}, "not a regular file"},
		"bad ladder": {master(t, 100), client.UploadOptions{NoState: true, Ladder: []byte(`{"rungs":[{"height":1}]}`)}, "ladder"},
	} {
		if _, err := c.Upload(context.Background(), o.file, o.opt); err == nil || !strings.Contains(err.Error(), o.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkStored checks that exactly one whole upload of size bytes is
// stored.
func checkStored(t *testing.T, s *stack, size int64) {
	t.Helper()
	ctx := context.Background()
	keys, err := s.s3.List(ctx, s.s3.Bucket(), pipeline.UploadsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	whole := 0
	for _, k := range keys {
		if n, err := s.s3.Stat(ctx, s.s3.Bucket(), k); err == nil && n == size {
			whole++
		}
	}
	if whole != 1 {
		t.Errorf("%d uploads of %d bytes among %v", whole, size, keys)
	}
}
