// Package api is Reel's REST API: job submission with streamed and
// resumable (tus) uploads, job status and listing, cancel and retry,
// server-sent progress events, API keys with tenants and rate limits,
// play URLs on the best edge, edges, workers and health.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/protect"
	"github.com/reel-video/reel/webhooks"
)

// Uploads is the object storage the API writes masters to.
type Uploads interface {
	Bucket() string
	PutStream(ctx context.Context, bucket, key string, r io.Reader, contentType string) (int64, error)
	Stat(ctx context.Context, bucket, key string) (int64, error)
	RemovePrefix(ctx context.Context, bucket, prefix string) error
	OriginBucket() string
}

// Server serves the API.
type Server struct {
	Svc     *pipeline.Service
	Uploads Uploads
	// PublicURL turns an origin object key into the URL players use
	// for a public title (or for any title when Signer is nil).
	PublicURL func(key string) string
	// Signer, if set, signs the URLs of private titles: GET /v1/play's
	// edge URLs and, with Origin, the job's outputs and the fallback when
	// no edge is healthy. Nil: every title plays from PublicURL, for an
	// origin that is public itself.
	Signer *playtoken.Signer
	// KeyMaster, the operator's master key, keeps encrypted titles' content
	// keys (sealed in their jobs); nil, jobs cannot ask for encryption.
	// ServeKey answers the licence and key requests of their players.
	KeyMaster *protect.Master
	// Origin serves /t/{token}/vod/{id}/... from the origin bucket.
	Origin http.Handler
	// Quotas, if set, limits each tenant (admin keys aside) to
	// MaxJobsPerTenant unfinished jobs at once: new jobs and retries past
	// it get 429 quota_exceeded.
	Quotas           Quotas
	MaxJobsPerTenant int
	// Usage, if set, limits each tenant (admin keys aside) to
	// MaxBytesPerTenant bytes of finished titles and their masters: new
	// jobs past it get 429 quota_exceeded until titles are deleted.
	Usage             Usage
	MaxBytesPerTenant int64
	// PresignForeign, if set, signs a URL that reads bucket/key of
	// another S3 store, for a job's s3:// source with
	// source_credentials (origin.PresignForeign).
	PresignForeign func(ctx context.Context, src ForeignSource, bucket, key string, ttl time.Duration) (string, error)
	// IngestPolicy, if set, lets a job name its master by an http or
	// https URL at an address it allows, for a worker to fetch.
	IngestPolicy *netguard.Policy
	// Webhooks, if set, keeps the tenants' webhook endpoints (served at
	// /v1/webhooks); WebhookPolicy says which addresses they may be at.
	Webhooks      webhooks.Store
	WebhookPolicy *netguard.Policy
	// BaseURL is the API's URL as players reach it, for the Origin
	// path's URLs; "" takes the request's (X-Forwarded-Host and
	// X-Forwarded-Proto, else Host).
	BaseURL string
	// Workers lists live workers.
	Workers func(ctx context.Context) (any, error)
	// Ready reports whether the API's dependencies answer.
	Ready func(ctx context.Context) error
	// MaxUploadBytes bounds a request body; default 50 GiB.
	MaxUploadBytes int64
	// Keys authenticates every request but /healthz.
	Keys Keys
	// RateLimit is how many jobs a non-admin key may create a minute; 0
	// leaves it off.
	RateLimit int
	// StallTimeout ends an upload whose client sends nothing for this long;
	// default 60 s.
	StallTimeout time.Duration
	// Resumable serves tus uploads at /v1/uploads/ when set.
	Resumable *Resumable
	// Steering picks edges for GET /v1/play; without it titles play from
	// the origin.
	Steering Steering
	// Metrics, if set, counts requests and is served at /metrics.
	Metrics *metrics.Metrics
	// Monitoring, if set, is asynq's web UI, served at /monitoring/ to
	// admin keys.
	Monitoring http.Handler
	// Backlog, if set, is the latest estimate of the work waiting for the
	// workers; job creation is refused (503 busy, Retry-After) while its
	// Wait exceeds MaxQueueWait.
	Backlog      func() (pipeline.Backlog, bool)
	MaxQueueWait time.Duration
	// HLSJS is where the web page at /ui/ loads hls.js from: a URL, or a
	// local file the API serves; default DefaultHLSJS.
	HLSJS string
	Log   *slog.Logger
}

// DefaultStallTimeout is how long an upload may send nothing.
const DefaultStallTimeout = 60 * time.Second

// DefaultMaxUpload is the default request body limit.
const DefaultMaxUpload = 50 << 30

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", s.createJob)
	mux.HandleFunc("GET /v1/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/jobs/{id}", s.getJob)
	mux.HandleFunc("DELETE /v1/jobs/{id}", s.cancelJob)
	mux.HandleFunc("GET /v1/jobs/{id}/events", s.events)
	mux.HandleFunc("POST /v1/jobs/{id}/retry", s.retryJob)
	mux.HandleFunc("GET /v1/jobs/{id}/cpix", s.cpix)
	mux.HandleFunc("DELETE /v1/jobs/{id}/title", s.deleteTitle)
	mux.HandleFunc("GET /v1/workers", s.workers)
	mux.HandleFunc("GET /v1/play/{id}", s.play)
	mux.HandleFunc("GET /v1/edges", s.edges)
	if s.Origin != nil {
		mux.Handle("/"+playtoken.Root+"/", s.Origin)
	}
	if s.Webhooks != nil {
		mux.HandleFunc("POST /v1/webhooks", s.createWebhook)
		mux.HandleFunc("GET /v1/webhooks", s.listWebhooks)
		mux.HandleFunc("GET /v1/webhooks/{id}", s.getWebhook)
		mux.HandleFunc("DELETE /v1/webhooks/{id}", s.deleteWebhook)
		mux.HandleFunc("GET /v1/webhooks/{id}/deliveries", s.webhookDeliveries)
	}
	mux.HandleFunc("POST /v1/keys", s.createKey)
	mux.HandleFunc("GET /v1/keys", s.listKeys)
	mux.HandleFunc("DELETE /v1/keys/{id}", s.revokeKey)
	if s.Resumable != nil {
		// A new upload (POST to the endpoint) is a job to come: refused
		// while the queue is too deep, before any byte of it is sent.
		tus := s.Resumable.Handler()
		uploads := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/v1/uploads" && !s.admit(w) {
				return
			}
			tus.ServeHTTP(w, r)
		})
		mux.Handle("/v1/uploads/", uploads)
		mux.Handle("/v1/uploads", uploads)
	}
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /v1/openapi.json", s.openapi)
	mux.HandleFunc("GET /metrics", s.metrics)
	if s.Monitoring != nil {
		mux.HandleFunc("/monitoring/", s.monitoring)
		mux.Handle("GET /monitoring", http.RedirectHandler("/monitoring/", http.StatusMovedPermanently))
	}
	mux.Handle("GET /ui/", s.page())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route for %s %s; see the README's API reference", r.Method, r.URL.Path))
	})
	return s.observe(s.recoverer(s.authenticate(routed(mux))))
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default().With("component", "api")
	}
	return s.Log
}

func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log().Error("panic", "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

type errorBody struct {
	Error pipeline.JobError `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{pipeline.JobError{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps a domain error to a status and logs only internal errors.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, pipeline.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no job with id "+r.PathValue("id"))
	case errors.Is(err, pipeline.ErrJobEnded):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, pipeline.ErrUnavailable):
		s.log().Warn("request failed: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the job store cannot be reached now; try again shortly")
	case errors.Is(err, pipeline.ErrUnreplicated):
		s.log().Warn("job not acknowledged", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, pipeline.CodeUnreplicated,
			"the job store's replicas did not confirm the change in time, so it is not acknowledged (a new job is not accepted); try again shortly")
	default:
		s.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error; see the API log")
	}
}

func (s *Server) view(r *http.Request, j *pipeline.Job) (pipeline.View, error) {
	return s.viewFrom(r, s.Svc.Store, j)
}

// viewFrom is job j's view as its owner sees it in answer to r.
func (s *Server) viewFrom(r *http.Request, st pipeline.Store, j *pipeline.Job) (pipeline.View, error) {
	c, err := st.Counters(r.Context(), j.ID)
	if err != nil {
		return pipeline.View{}, err
	}
	return pipeline.NewView(j, c, s.originURLs(r, j)), nil
}

// writeView answers with the job's view.
func (s *Server) writeView(w http.ResponseWriter, r *http.Request, status int, j *pipeline.Job) {
	v, err := s.view(r, j)
	if err != nil {
		w.Header().Del("Location")
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) jobID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !pipeline.ValidID(id) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no job with id %q", id))
		return "", false
	}
	return id, true
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	s.writeView(w, r, http.StatusOK, j)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	limit, offset := 20, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "invalid", "limit must be a number from 1 to 100")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid", "offset must be a number of 0 or more")
			return
		}
		offset = n
	}
	tenant := caller(r).Tenant
	if caller(r).Admin {
		tenant = q.Get("tenant") // an admin sees every tenant's jobs, or one's
	}
	jobs, total, err := s.Svc.Store.List(r.Context(), tenant, offset, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Each view reads its job's counters; a page's are read at once.
	views := make([]pipeline.View, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i], errs[i] = s.view(r, j)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": views, "total": total, "offset": offset, "limit": limit})
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	id := j.ID
	j, err := s.Svc.Cancel(r.Context(), id)
	if err != nil && j == nil {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		s.log().Warn("cancel: some tasks could not be dropped", "job", id, "err", err)
	}
	s.writeView(w, r, http.StatusOK, j)
}

// events streams the job as server-sent events: one "job" event with the
// whole view on connect and after every change, until the job ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	j0, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	id, ctx := j0.ID, r.Context()
	changes, err := s.Svc.Store.Subscribe(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	// A change is notified before the cache lets go of the old job, so
	// what a change wakes this loop to read comes from the store itself.
	st := s.Svc.Store
	if c, ok := st.(*pipeline.CachedStore); ok {
		st = c.Store
	}
	var last []byte
	for {
		j, err := st.Get(ctx, id)
		if err != nil {
			return
		}
		v, err := s.viewFrom(r, st, j)
		if err != nil {
			return
		}
		data, _ := json.Marshal(v)
		if string(data) != string(last) {
			fmt.Fprintf(w, "event: job\ndata: %s\n\n", data)
			last = data
		}
		if flusher != nil {
			flusher.Flush()
		}
		if j.Status.Terminal() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
	}
}

// retryJob re-runs the stages a failed job did not finish.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	if j.Status == pipeline.StatusFailed && !s.reserve(w, r, j) {
		return
	}
	j, err := s.Svc.Retry(r.Context(), j.ID)
	if err != nil && j != nil && j.Status.Terminal() {
		s.release(r, j)
	}
	if errors.Is(err, pipeline.ErrNotFailed) {
		writeError(w, http.StatusConflict, "conflict", err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeView(w, r, http.StatusAccepted, j)
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	ws, err := s.Workers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workers": ws})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "not ready: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// createRequest is the JSON form of POST /v1/jobs.
type createRequest struct {
	Source string `json:"source,omitempty"`
	// SourceCredentials read an s3:// source in another store (the
	// worker fetches it through a URL presigned with them; they are not
	// kept).
	SourceCredentials *ForeignSource  `json:"source_credentials,omitempty"`
	Upload            string          `json:"upload,omitempty"` // a finished resumable upload's id
	Ladder            json.RawMessage `json:"ladder"`
	// SubtitleFiles are subtitle files sent with the job: their text by
	// the name the ladder's "subtitles" lists them under.
	SubtitleFiles map[string]string `json:"subtitle_files,omitempty"`
}

const maxLadderBytes = 64 << 10

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	limit := s.MaxUploadBytes
	if limit <= 0 {
		limit = DefaultMaxUpload
	}
	if !s.allowCreate(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, io.NopCloser(&stallReader{r: r.Body, rc: http.NewResponseController(w), d: s.stall()}), limit)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	switch mt {
	case "multipart/form-data":
		s.createFromMultipart(w, r, limit)
	case "application/json":
		s.createFromS3(w, r)
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send multipart/form-data with a 'file' part (and optional 'ladder' and 'subtitles' parts), or application/json with an 'upload' id or a 'source' s3:// URL")
	}
}

func parseLadder(raw []byte) (ladder.Ladder, error) {
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return ladder.Default().Normalize(), nil
	}
	return ladder.Parse(raw)
}

func (s *Server) createFromMultipart(w http.ResponseWriter, r *http.Request, limit int64) {
	start := time.Now()
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "malformed multipart body: "+err.Error())
		return
	}
	id := uuid.NewString()
	key := pipeline.MasterKey(id)
	var (
		uploaded  bool
		size      int64
		name      string
		ladderRaw []byte
		subs      subtitleFiles
	)
	cleanup := func() {
		if uploaded {
			_ = s.Uploads.RemovePrefix(context.WithoutCancel(r.Context()), s.Uploads.Bucket(), pipeline.MasterPrefix(id))
		}
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			cleanup()
			s.bodyError(w, err, limit)
			return
		}
		switch part.FormName() {
		case "file":
			if uploaded {
				cleanup()
				writeError(w, http.StatusBadRequest, "invalid", "send exactly one 'file' part")
				return
			}
			name = displayName(part.FileName())
			body := &readErrors{r: part}
			size, err = s.Uploads.PutStream(r.Context(), s.Uploads.Bucket(), key, body, "application/octet-stream")
			uploaded = err == nil
			if err != nil {
				// Nothing whole was stored: an aborted multipart upload leaves no object.
				if body.err != nil || r.Context().Err() != nil {
					s.bodyError(w, errors.Join(body.err, r.Context().Err()), limit)
					return
				}
				s.fail(w, r, err)
				return
			}
		case "ladder":
			ladderRaw, err = io.ReadAll(io.LimitReader(part, maxLadderBytes+1))
			if err != nil {
				cleanup()
				s.bodyError(w, err, limit)
				return
			}
			if len(ladderRaw) > maxLadderBytes {
				cleanup()
				writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the ladder part is larger than 64 KiB")
				return
			}
		case "subtitles":
			if part.FileName() == "" {
				cleanup()
				writeError(w, http.StatusBadRequest, "invalid_subtitles", "a 'subtitles' part needs the file's name (its Content-Disposition filename), which the ladder's \"subtitles\" lists")
				return
			}
			if err := subs.add(displayName(part.FileName()), &readErrors{r: part}); err != nil {
				cleanup()
				var re *requestError
				if errors.As(err, &re) {
					writeError(w, re.status, re.code, re.msg)
				} else {
					s.bodyError(w, err, limit)
				}
				return
			}
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<20))
		}
	}
	if !uploaded {
		writeError(w, http.StatusBadRequest, "invalid", "the request has no 'file' part: send the master as a multipart part named 'file'")
		return
	}
	if size == 0 {
		cleanup()
		writeError(w, http.StatusBadRequest, "invalid", "the uploaded file is empty")
		return
	}
	l, err := parseLadder(ladderRaw)
	if err != nil {
		cleanup()
		writeError(w, http.StatusBadRequest, "invalid_ladder", err.Error())
		return
	}
	j := &pipeline.Job{ID: id, Tenant: caller(r).Tenant, Ladder: l, Input: pipeline.SourceRef{Bucket: s.Uploads.Bucket(), Key: key, Name: name, Size: size}}
	if err := s.storeSidecars(r.Context(), j, subs); err != nil {
		cleanup()
		s.writeRequestError(w, r, err)
		return
	}
	j.AddTiming("upload", start.UTC(), time.Now().UTC())
	s.submit(w, r, j)
}

// readErrors remembers the first error reading the client's body, so that a
// failed upload is blamed on the client (4xx) or on storage (5xx).
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (s *Server) bodyError(w http.ResponseWriter, err error, limit int64) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body is larger than the limit of %d bytes (REEL_MAX_UPLOAD_BYTES)", limit))
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "upload_stalled",
			fmt.Sprintf("the upload sent nothing for %s and was dropped; nothing was stored. Use `reel upload`, which resumes", s.stall()))
		return
	}
	writeError(w, http.StatusBadRequest, "invalid", "the upload was cut short or malformed: "+err.Error())
}

func (s *Server) stall() time.Duration {
	if s.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return s.StallTimeout
}

func (s *Server) createFromS3(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20+2*maxSubtitleBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "malformed JSON body: "+err.Error())
		return
	}
	if req.Upload != "" {
		if req.Source != "" {
			writeError(w, http.StatusBadRequest, "invalid", `send either "source" or "upload", not both`)
			return
		}
		s.createFromResumable(w, r, req)
		return
	}
	if strings.HasPrefix(req.Source, "http://") || strings.HasPrefix(req.Source, "https://") {
		s.createFromURL(w, r, req)
		return
	}
	if req.SourceCredentials != nil {
		s.createFromForeign(w, r, req)
		return
	}
	if !strings.HasPrefix(req.Source, "s3://") {
		writeError(w, http.StatusBadRequest, "invalid", `source must be an http:// or https:// URL of the master (a presigned URL for a private object), or, with an admin key, "s3://BUCKET/KEY" in the masters bucket`)
		return
	}
	// The masters bucket holds every tenant's uploads: naming an object in
	// it is for operators, or a tenant could transcode another's master.
	if !caller(r).Admin {
		writeError(w, http.StatusForbidden, "forbidden", `a "source" in the masters bucket needs an admin key; upload the file instead (multipart, or tus with "upload")`)
		return
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(req.Source, "s3://"), "/")
	if !strings.HasPrefix(req.Source, "s3://") || !ok || key == "" {
		writeError(w, http.StatusBadRequest, "invalid", `source must be "s3://BUCKET/KEY"`)
		return
	}
	if bucket != s.Uploads.Bucket() {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("source must be in the masters bucket %q", s.Uploads.Bucket()))
		return
	}
	if path.Clean("/"+key) != "/"+key || strings.ContainsAny(key, "\x00\r\n") {
		writeError(w, http.StatusBadRequest, "invalid", "source key must be a clean path without '..', '//' or control characters")
		return
	}
	size, err := s.Uploads.Stat(r.Context(), bucket, key)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("source %s cannot be read: %v", req.Source, err))
		return
	}
	l, err := parseLadder(req.Ladder)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_ladder", err.Error())
		return
	}
	s.submitWith(w, r, &pipeline.Job{ID: uuid.NewString(), Tenant: caller(r).Tenant, Ladder: l, Input: pipeline.SourceRef{Bucket: bucket, Key: key, Name: path.Base(key), Size: size}}, req.SubtitleFiles)
}

// ForeignSource is another S3 store and credentials that read a job's
// s3:// source in it.
type ForeignSource struct {
	Endpoint  string `json:"endpoint"` // host[:port]
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	Insecure  bool   `json:"insecure"` // http instead of https
}

// ForeignTTL is how long the URL a foreign s3:// source is fetched
// through stays good: time for the job to wait in the queue and for its
// fetch's retries.
const ForeignTTL = 24 * time.Hour

// createFromForeign makes a job whose master is an object in another S3
// store: the URL a worker fetches is presigned here with the credentials
// sent, which are kept nowhere.
func (s *Server) createFromForeign(w http.ResponseWriter, r *http.Request, req createRequest) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(req.Source, "s3://"), "/")
	c := req.SourceCredentials
	switch {
	case !strings.HasPrefix(req.Source, "s3://") || !ok || bucket == "" || key == "":
		writeError(w, http.StatusBadRequest, "invalid", `with "source_credentials", source must be "s3://BUCKET/KEY"`)
		return
	case c.Endpoint == "" || c.AccessKey == "" || c.SecretKey == "" || strings.ContainsAny(c.Endpoint, "/?#@"):
		writeError(w, http.StatusBadRequest, "invalid", `source_credentials: want {"endpoint": "host[:port]", "region", "access_key", "secret_key"} (and "insecure": true for http)`)
		return
	}
	if s.PresignForeign == nil {
		writeError(w, http.StatusBadRequest, "invalid", "this server does not fetch masters from other S3 stores; upload the file instead")
		return
	}
	u, err := s.PresignForeign(r.Context(), *c, bucket, key, ForeignTTL)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "source: "+err.Error())
		return
	}
	req.Source, req.SourceCredentials = u, nil
	s.createFromURL(w, r, req)
}

// createFromURL makes a job whose master a worker fetches from an http or
// https URL (status ingesting). The URL must be at an address the ingest
// policy allows, checked now and again on every connection the worker
// opens.
func (s *Server) createFromURL(w http.ResponseWriter, r *http.Request, req createRequest) {
	if s.IngestPolicy == nil {
		writeError(w, http.StatusBadRequest, "invalid", "this server does not fetch masters from URLs; upload the file instead")
		return
	}
	if len(req.Source) > 8192 {
		writeError(w, http.StatusBadRequest, "invalid", "source: longer than 8192 characters")
		return
	}
	u, err := s.IngestPolicy.CheckURL(r.Context(), req.Source)
	if err != nil {
		msg := "source: " + err.Error()
		if errors.Is(err, netguard.ErrForbidden) {
			msg += "; masters are fetched from public addresses only, unless the operator allows the network (REEL_INGEST_ALLOW)"
		}
		writeError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	l, err := parseLadder(req.Ladder)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_ladder", err.Error())
		return
	}
	name := displayName(path.Base(u.Path))
	if name == "" || name == "." || name == "/" {
		name = u.Hostname()
	}
	s.submitWith(w, r, &pipeline.Job{ID: uuid.NewString(), Tenant: caller(r).Tenant, Ladder: l, Input: pipeline.SourceRef{URL: u.String(), Name: name}}, req.SubtitleFiles)
}

// submitWith stores the subtitle files of the JSON form with job j (see
// storeSidecars) and submits it.
func (s *Server) submitWith(w http.ResponseWriter, r *http.Request, j *pipeline.Job, files map[string]string) {
	subs, err := jsonSubtitles(files)
	if err == nil {
		err = s.storeSidecars(r.Context(), j, subs)
	}
	if err != nil {
		s.writeRequestError(w, r, err)
		return
	}
	s.submit(w, r, j)
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, j *pipeline.Job) {
	if !s.protectJob(w, j) {
		return
	}
	if !s.reserve(w, r, j) {
		return
	}
	if err := s.Svc.Submit(r.Context(), j); err != nil {
		s.release(r, j)
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	s.writeView(w, r, http.StatusCreated, j)
}

// displayName keeps an uploaded file's base name for display only: no
// path, no control characters, valid UTF-8, at most 200 bytes.
func displayName(s string) string {
	s = strings.ToValidUTF8(s, "_")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if s == "." || s == ".." {
		s = ""
	}
	for len(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
