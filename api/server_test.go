package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
)

type env struct {
	srv  *httptest.Server
	s3   *origin.S3
	keys *store.Keys
	api  *api.Server
	c    *http.Client // with a key of tenant "acme"
	key  string
}

// bearer adds an API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

func client(key string) *http.Client { return &http.Client{Transport: bearer{key}} }

func setup(t *testing.T, maxUpload int64, opts ...func(*api.Server)) *env {
	addr := testenv.Redis(t)
	s3 := testenv.S3(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { _ = q.Close(); _ = rdb.Close() })
	keys := &store.Keys{C: rdb}
	res, err := api.NewResumable(api.ResumableConfig{Store: s3.UploadStore(t.TempDir()), MaxSize: maxUpload,
		Locker: &store.UploadLocker{C: rdb}})
	if err != nil {
		t.Fatal(err)
	}
	s := &api.Server{
		Svc: &pipeline.Service{Store: &store.Redis{C: rdb}, Queue: q}, Uploads: s3, PublicURL: s3.PublicURL, MaxUploadBytes: maxUpload,
		Workers: func(ctx context.Context) (any, error) { return q.Workers(ctx) }, Keys: keys, Resumable: res,
	}
	for _, o := range opts {
		o(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	key, _, err := keys.Create(context.Background(), "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, s3: s3, keys: keys, api: s, c: client(key), key: key}
}

// newKey makes a key for tenant and a client that sends it.
func (e *env) newKey(t *testing.T, tenant string, admin bool) *http.Client {
	key, _, err := e.keys.Create(context.Background(), tenant, admin)
	if err != nil {
		t.Fatal(err)
	}
	return client(key)
}

type form struct {
	fileName string
	file     []byte
	ladder   string
	subs     [][2]string // subtitle files: name, text
}

func (e *env) post(t *testing.T, f form) (*http.Response, map[string]any) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if f.ladder != "" {
		_ = mw.WriteField("ladder", f.ladder)
	}
	if f.file != nil {
		w, _ := mw.CreateFormFile("file", f.fileName)
		_, _ = w.Write(f.file)
	}
	for _, sub := range f.subs {
		w, _ := mw.CreateFormFile("subtitles", sub[0])
		_, _ = w.Write([]byte(sub[1]))
	}
	_ = mw.Close()
	resp, err := e.c.Post(e.srv.URL+"/v1/jobs", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("response is not JSON: %s", data)
	}
	return m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestCreateAndGet(t *testing.T) {
	e := setup(t, 1<<20)
	resp, m := e.post(t, form{fileName: "../../etc/evil\nname.mp4", file: []byte("not really a video but stored")})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	if name, _ := m["name"].(string); m["status"] != "queued" || strings.ContainsAny(name, "/\n") || !strings.HasPrefix(name, "evil") {
		t.Errorf("job: %v", m)
	}
	if size, err := e.s3.Stat(context.Background(), e.s3.Bucket(), "masters/"+id+"/source"); err != nil || size != 29 {
		t.Errorf("master not stored whole: %d %v", size, err)
	}
	resp, err := e.c.Get(e.srv.URL + "/v1/jobs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	if g := decode(t, resp); resp.StatusCode != 200 || g["id"] != id {
		t.Errorf("get: %d %v", resp.StatusCode, g)
	}
	resp, _ = e.c.Get(e.srv.URL + "/v1/jobs?limit=1")
	if l := decode(t, resp); l["total"].(float64) != 1 {
		t.Errorf("list: %v", l)
	}
	// JSON form for a master already in S3: for admins only, as the bucket
	// holds every tenant's masters.
	body := `{"source":"s3://reel-masters/masters/` + id + `/source"}`
	if resp, err := e.c.Post(e.srv.URL+"/v1/jobs", "application/json", strings.NewReader(body)); err != nil || resp.StatusCode != 403 {
		t.Errorf("a tenant named another object in the masters bucket: %v %v", resp, err)
	}
	resp, err = e.newKey(t, "ops", true).Post(e.srv.URL+"/v1/jobs", "application/json", strings.NewReader(`{"source":"s3://reel-masters/masters/`+id+`/source","ladder":{"rungs":[{"height":240,"bitrate":300000}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if j := decode(t, resp); resp.StatusCode != 201 {
		t.Errorf("json create: %d %v", resp.StatusCode, j)
	}
	// Cancel works once, then conflicts.
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/v1/jobs/"+id, nil)
	resp, _ = e.c.Do(req)
	if c := decode(t, resp); resp.StatusCode != 200 || c["status"] != "canceled" {
		t.Errorf("cancel: %d %v", resp.StatusCode, c)
	}
	resp, _ = e.c.Do(req)
	if c := decode(t, resp); resp.StatusCode != 409 || errCode(c) != "conflict" {
		t.Errorf("second cancel: %d %v", resp.StatusCode, c)
	}
}

func TestRejects(t *testing.T) {
	e := setup(t, 64<<10)
	cases := []struct {
		name   string
		f      form
		status int
		code   string
	}{
		{"no file part", form{ladder: `{"rungs":[{"height":240,"bitrate":300000}]}`}, 400, "invalid"},
		{"empty file", form{fileName: "a.mp4", file: []byte{}}, 400, "invalid"},
		{"bad ladder", form{fileName: "a.mp4", file: []byte("x"), ladder: `{"rungs":[{"height":240,"bitrate":1}]}`}, 400, "invalid_ladder"},
		{"too large", form{fileName: "a.mp4", file: bytes.Repeat([]byte("x"), 100<<10)}, 413, "too_large"},
	}
	for _, c := range cases {
		resp, m := e.post(t, c.f)
		if resp.StatusCode != c.status || errCode(m) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, resp.StatusCode, m, c.status, c.code)
		}
	}
	keys, err := e.s3.List(context.Background(), e.s3.Bucket(), "masters/")
	if err != nil || len(keys) != 0 {
		t.Errorf("rejected uploads left objects: %v %v", keys, err)
	}
	admin := e.newKey(t, "ops", true)
	for _, c := range []struct {
		method, path, ctype, body string
		status                    int
	}{
		{"POST", "/v1/jobs", "text/plain", "hi", 415},
		{"POST", "/v1/jobs", "application/json", `{"source":"s3://other/x"}`, 400},
		{"POST", "/v1/jobs", "application/json", `{"source":"s3://reel-masters/../x"}`, 400},
		{"POST", "/v1/jobs", "application/json", `{"source":"s3://reel-masters/missing"}`, 400},
		{"POST", "/v1/jobs", "application/json", `{`, 400},
		{"GET", "/v1/jobs/0c6f3c1e-4a2b-4c1d-9e8f-123456789abc", "", "", 404},
		{"GET", "/v1/jobs/..%2f..%2fetc", "", "", 404},
		{"GET", "/v1/jobs?limit=0", "", "", 400},
		{"GET", "/v2/nothing", "", "", 404},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if m := decode(t, resp); resp.StatusCode != c.status || errCode(m) == "" {
			t.Errorf("%s %s: %d %v, want %d with an error code", c.method, c.path, resp.StatusCode, m, c.status)
		}
	}
}

// Subtitle files sent with a job: each listed one that reads is stored as
// WebVTT under the job; one that does not is refused with a warning that
// names it, and the job goes on; a file sent but not listed, or listed but
// not sent, refuses the request and leaves nothing stored.
func TestSubtitleFiles(t *testing.T) {
	e := setup(t, 1<<20)
	good := "1\n00:00:01,000 --> 00:00:02,000\nBonjour\n"
	backwards := "1\n00:00:05,000 --> 00:00:04,000\nbackwards\n"
	l := `{"rungs":[{"height":240,"bitrate":300000}],"subtitles":[{"file":"fr.srt","language":"fr"},{"file":"broken.srt","language":"de"},{"file":"image.srt","language":"es"}]}`
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("x"), ladder: l,
		subs: [][2]string{{"fr.srt", good}, {"broken.srt", backwards}, {"image.srt", "\x89PNG\x00\x00"}}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	warnings, _ := m["warnings"].([]any)
	if len(warnings) != 2 || !strings.Contains(fmt.Sprint(warnings[0]), "subtitles broken.srt: cue 1 ends at 00:00:04.000, not after it starts") ||
		!strings.Contains(fmt.Sprint(warnings[1]), "subtitles image.srt: is not a UTF-8 text file") || !strings.Contains(fmt.Sprint(warnings[0]), "made without it") {
		t.Errorf("warnings %q", warnings)
	}
	id := m["id"].(string)
	keys, err := e.s3.List(context.Background(), e.s3.Bucket(), "masters/"+id+"/subtitles/")
	if err != nil || len(keys) != 1 || keys[0] != "masters/"+id+"/subtitles/0.vtt" {
		t.Fatalf("stored %v %v, want the one file that reads", keys, err)
	}
	p := filepath.Join(t.TempDir(), "0.vtt")
	if err := e.s3.GetFile(context.Background(), e.s3.Bucket(), keys[0], p); err != nil {
		t.Fatal(err)
	}
	if vtt, _ := os.ReadFile(p); !strings.HasPrefix(string(vtt), "WEBVTT") || !strings.Contains(string(vtt), "00:00:01.000 --> 00:00:02.000\nBonjour") {
		t.Errorf("stored file:\n%s", vtt)
	}
	for _, c := range []struct {
		name string
		f    form
		want string
	}{
		{"unlisted", form{fileName: "a.mp4", file: []byte("x"), subs: [][2]string{{"fr.srt", good}}}, "not listed in the ladder"},
		{"missing", form{fileName: "a.mp4", file: []byte("x"), ladder: `{"subtitles":[{"file":"fr.srt","language":"fr"}]}`}, "which the request does not carry"},
		{"twice", form{fileName: "a.mp4", file: []byte("x"), ladder: `{"subtitles":[{"file":"fr.srt","language":"fr"}]}`, subs: [][2]string{{"fr.srt", good}, {"fr.srt", good}}}, "sent twice"},
		{"no language", form{fileName: "a.mp4", file: []byte("x"), ladder: `{"subtitles":[{"file":"fr.srt"}]}`, subs: [][2]string{{"fr.srt", good}}}, "needs one"},
	} {
		resp, m := e.post(t, c.f)
		if msg := fmt.Sprint(m["error"]); resp.StatusCode != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want 400 saying %q", c.name, resp.StatusCode, m, c.want)
		}
	}
	keys, _ = e.s3.List(context.Background(), e.s3.Bucket(), "masters/")
	for _, k := range keys {
		if !strings.HasPrefix(k, "masters/"+id+"/") {
			t.Errorf("a refused request left %s", k)
		}
	}
	// The JSON form carries the files' text.
	body, _ := json.Marshal(map[string]any{"source": "s3://reel-masters/masters/" + id + "/source",
		"ladder": json.RawMessage(`{"subtitles":[{"file":"fr.srt","language":"fr"}]}`), "subtitle_files": map[string]string{"fr.srt": good}})
	resp, err = e.newKey(t, "ops", true).Post(e.srv.URL+"/v1/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if j := decode(t, resp); resp.StatusCode != 201 || j["warnings"] != nil {
		t.Errorf("json create with a subtitle file: %d %v", resp.StatusCode, j)
	}
}

// A job the store's replicas do not confirm in time (here a Redis with
// none) is refused with 503 unreplicated and Retry-After; it stays,
// failed with that code; retrying it is not acknowledged either while no
// replica confirms.
func TestUnreplicatedJobIsRefused(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) {
		d := &store.Durable{C: s.Svc.Store.(*store.Redis).C, Replicas: 1, Timeout: 50 * time.Millisecond}
		s.Svc.Commit = func(ctx context.Context, j *pipeline.Job, _ pipeline.Task) error {
			return d.Wait(ctx, append(store.JobKeys(j), queue.SlotKey)...)
		}
	})
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("a master")})
	if resp.StatusCode != http.StatusServiceUnavailable || errCode(m) != pipeline.CodeUnreplicated || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q: %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	resp, _ = e.c.Get(e.srv.URL + "/v1/jobs?limit=1")
	l := decode(t, resp)
	jobs, _ := l["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("list: %v", l)
	}
	j := jobs[0].(map[string]any)
	if j["status"] != "failed" || errCode(j) != pipeline.CodeUnreplicated {
		t.Fatalf("the refused job: %v", j)
	}
	resp, err := e.c.Post(e.srv.URL+"/v1/jobs/"+j["id"].(string)+"/retry", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, resp); resp.StatusCode != http.StatusServiceUnavailable || errCode(r) != pipeline.CodeUnreplicated {
		t.Fatalf("retry without a replica: %d %v", resp.StatusCode, r)
	}
}

// While the workers need longer than MaxQueueWait to get through the
// queue, new jobs and new uploads are refused with 503 busy and a
// Retry-After of the excess; reads go on; once the queue drains, jobs are
// taken again.
func TestBusyQueueRefusesNewJobs(t *testing.T) {
	var mu sync.Mutex
	backlog := pipeline.Backlog{Tasks: 200, Rate: 1, Wait: 200 * time.Second}
	e := setup(t, 1<<20, func(s *api.Server) {
		s.MaxQueueWait = time.Minute
		s.Backlog = func() (pipeline.Backlog, bool) { mu.Lock(); defer mu.Unlock(); return backlog, true }
	})
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("a master")})
	if resp.StatusCode != http.StatusServiceUnavailable || errCode(m) != "busy" || resp.Header.Get("Retry-After") != "140" {
		t.Fatalf("busy: %d Retry-After %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	if msg, _ := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "200 tasks") || !strings.Contains(msg, "REEL_MAX_QUEUE_WAIT") {
		t.Errorf("message %q does not say why", msg)
	}
	for _, path := range []string{"/v1/uploads", "/v1/uploads/"} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "100")
		resp, err := e.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body.Close(); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a new upload (POST %s) while busy: %d", path, resp.StatusCode)
		}
	}
	if resp, err := e.c.Get(e.srv.URL + "/v1/jobs"); err != nil || resp.StatusCode != 200 {
		t.Errorf("listing while busy: %v %v", resp, err)
	}
	mu.Lock()
	backlog = pipeline.Backlog{Tasks: 20, Rate: 1, Wait: 20 * time.Second}
	mu.Unlock()
	if resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("a master")}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after draining: %d %v", resp.StatusCode, m)
	}
}
