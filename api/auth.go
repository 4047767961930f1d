package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/pipeline"
)

// Keys authenticates API keys and counts their requests.
type Keys interface {
	Lookup(ctx context.Context, key string) (pipeline.Key, error)
	Create(ctx context.Context, tenant string, admin bool, opts ...pipeline.KeyOption) (string, pipeline.Key, error)
	List(ctx context.Context) ([]pipeline.Key, error)
	Revoke(ctx context.Context, id string) error
	Allow(ctx context.Context, id string, limit int, per time.Duration) (bool, time.Duration, error)
}

type callerKey struct{}

// caller returns the key a request was authenticated with.
func caller(r *http.Request) pipeline.Key {
	k, _ := r.Context().Value(callerKey{}).(pipeline.Key)
	return k
}

// authenticate lets a request through with a known key in
// "Authorization: Bearer KEY" and answers 401 otherwise.
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A title's objects under /t/ are guarded by their playback token.
		if r.URL.Path == "/healthz" || r.URL.Path == "/v1/openapi.json" || r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/") || strings.HasPrefix(r.URL.Path, "/t/") || r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/monitoring" || strings.HasPrefix(r.URL.Path, "/monitoring/") {
			basicAsBearer(r)
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="reel monitoring (any user name; an admin API key as password)"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", "sign in with an admin API key as the password")
				return
			}
		}
		const hint = "send an API key as 'Authorization: Bearer KEY' (an admin creates one with `reel keys create --tenant NAME`)"
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reel"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "no API key: "+hint)
			return
		}
		k, err := s.Keys.Lookup(r.Context(), strings.TrimSpace(key))
		if errors.Is(err, pipeline.ErrNoKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reel", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the API key is not known or was revoked: "+hint)
			return
		}
		if err != nil {
			s.log().Error("key lookup failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot check the API key now; try again shortly")
			return
		}
		if k.Support {
			writeError(w, http.StatusForbidden, "forbidden", "a support key only looks viewers up (/v1/support, through the gateway or the support service); use a tenant's key here")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, k)))
	})
}

// owns reports whether the caller may see job j: its tenant's own jobs, or
// any job for an admin.
func owns(r *http.Request, j *pipeline.Job) bool {
	c := caller(r)
	return c.Admin || (c.Tenant != "" && c.Tenant == j.Tenant)
}

// loadJob reads the job named in the path. Another tenant's job is
// answered like a missing one, so ids cannot be probed.
func (s *Server) loadJob(w http.ResponseWriter, r *http.Request) (*pipeline.Job, bool) {
	id, ok := s.jobID(w, r)
	if !ok {
		return nil, false
	}
	j, err := s.Svc.Store.Get(r.Context(), id)
	if err == nil && !owns(r, j) {
		err = pipeline.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return j, true
}

// requireAdmin answers 403 unless the caller holds an admin key.
func requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	if !caller(r).Admin {
		writeError(w, http.StatusForbidden, "forbidden", "this needs an admin key")
		return false
	}
	return true
}

// allowCreate refuses job creation while the queue is too deep (admit)
// and applies the per-key rate limit, which admin keys are free of.
func (s *Server) allowCreate(w http.ResponseWriter, r *http.Request) bool {
	if !s.admit(w) {
		return false
	}
	c := caller(r)
	if c.Admin || s.RateLimit <= 0 {
		return true
	}
	ok, wait, err := s.Keys.Allow(r.Context(), c.ID, s.RateLimit, time.Minute)
	if err != nil {
		s.log().Error("rate limit check failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot check the rate limit now; try again shortly")
		return false
	}
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("this key may create %d jobs a minute; try again in %d s", s.RateLimit, int(wait.Seconds())+1))
		return false
	}
	return true
}

// admit refuses a new job (503 busy, Retry-After) while the workers need
// longer than MaxQueueWait to get through the tasks already queued; the
// job would wait that long, and a client told when to come back can
// spread its batch instead of piling on.
func (s *Server) admit(w http.ResponseWriter) bool {
	if s.Backlog == nil || s.MaxQueueWait <= 0 {
		return true
	}
	b, ok := s.Backlog()
	if !ok || b.Wait <= s.MaxQueueWait {
		return true
	}
	after := min(max(b.Wait-s.MaxQueueWait, 5*time.Second), 10*time.Minute).Round(time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int(after.Seconds())))
	writeError(w, http.StatusServiceUnavailable, "busy", fmt.Sprintf(
		"the workers need about %s to get through the %d tasks queued, more than this API accepts (REEL_MAX_QUEUE_WAIT %s); try again in %s",
		b.Wait.Round(time.Second), b.Tasks, s.MaxQueueWait, after))
	return false
}

type createKeyRequest struct {
	Tenant  string `json:"tenant"`
	Admin   bool   `json:"admin"`
	Support bool   `json:"support"`
}

// KeyCreated is the answer to POST /v1/keys: the key, shown once, and its
// record.
type KeyCreated struct {
	Secret string `json:"key"`
	pipeline.Key
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	var req createKeyRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", `malformed JSON body: want {"tenant": "NAME", "admin": false, "support": false}: `+err.Error())
		return
	}
	if req.Admin && req.Support {
		writeError(w, http.StatusBadRequest, "invalid", `a key is "admin" or "support", not both: an admin key can look viewers up too`)
		return
	}
	if !pipeline.ValidTenant(req.Tenant) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("tenant %q: %s", req.Tenant, pipeline.TenantRule))
		return
	}
	var opts []pipeline.KeyOption
	if req.Support {
		opts = append(opts, pipeline.SupportKey())
	}
	key, rec, err := s.Keys.Create(r.Context(), req.Tenant, req.Admin, opts...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, KeyCreated{Secret: key, Key: rec})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	keys, err := s.Keys.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	id := r.PathValue("id")
	if id == caller(r).ID {
		writeError(w, http.StatusConflict, "conflict", "a key cannot revoke itself; use another admin key")
		return
	}
	err := s.Keys.Revoke(r.Context(), id)
	if errors.Is(err, pipeline.ErrNoKey) {
		writeError(w, http.StatusNotFound, "not_found", "no key with id "+strconv.Quote(id))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stallReader fails a read that waits longer than d for the client's next
// bytes, so a stalled upload ends instead of holding a connection and an
// S3 multipart upload open.
type stallReader struct {
	r  io.Reader
	rc *http.ResponseController
	d  time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	_ = s.rc.SetReadDeadline(time.Now().Add(s.d))
	return s.r.Read(p)
}
