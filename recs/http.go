package recs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/jsonhttp"
)

// Job is the training batch job: the archive's viewing and the catalog's
// titles in, a model snapshot out.
type Job struct {
	Archive interface {
		Each(ctx context.Context, from, to time.Time, f func(events.Event) error) error
	}
	Titles  func(ctx context.Context) ([]Title, error)
	Store   Objects
	Bucket  string
	Options Options
	// Window is how far back viewing counts (0: all of the archive).
	Window time.Duration
	Now    func() time.Time
}

// Run trains and stores a model, and returns it.
func (j *Job) Run(ctx context.Context) (*Model, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	var from time.Time
	if j.Window > 0 {
		from = now().Add(-j.Window)
	}
	titles, err := j.Titles(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	fb := &Feedback{}
	if err := j.Archive.Each(ctx, from, time.Time{}, func(e events.Event) error { fb.Add(e); return nil }); err != nil {
		return nil, fmt.Errorf("read the archive: %w", err)
	}
	m, err := Train(ctx, fb, titles, j.Options)
	if err != nil {
		return nil, err
	}
	if err := Save(ctx, j.Store, j.Bucket, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Cache is the cache in front of the model (EVCache).
type Cache interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte, ttl time.Duration)
}

// PopularKey is the cache key of the popular titles, which the catalog
// shows while the recommender is away.
const PopularKey = "recs:popular"

// Service answers recommendations from the current model snapshot, with
// answers kept in Cache.
type Service struct {
	Store  Objects
	Bucket string
	Cache  Cache // nil: none
	// Viewer says whether a request may read profile's recommendations
	// (a *jsonhttp.Denied refuses it), and the profile's maturity.
	Viewer func(r *http.Request, profile string) (maturity string, err error)
	TTL    time.Duration // of cached answers (5 min)
	Log    *slog.Logger

	model atomic.Pointer[Model]
}

// Model is the model answers come from; nil before the first is loaded.
func (s *Service) Model() *Model { return s.model.Load() }

// Use makes m the model answers come from, and puts its popular titles
// in the cache.
func (s *Service) Use(m *Model) {
	s.model.Store(m)
	if s.Cache != nil {
		if data, err := json.Marshal(map[string]any{"version": m.Version, "titles": m.PopularTitles(50)}); err == nil {
			s.Cache.Set(PopularKey, data, 0)
		}
	}
}

// Refresh loads the current snapshot if it is not the model in use.
func (s *Service) Refresh(ctx context.Context) error {
	v, err := Current(ctx, s.Store, s.Bucket)
	if err != nil {
		return err
	}
	if v == "" || (s.Model() != nil && s.Model().Version == v) {
		return nil
	}
	m, err := Load(ctx, s.Store, s.Bucket, v)
	if err != nil {
		return err
	}
	s.Use(m)
	s.logger().Info("model loaded", "version", v, "titles", len(m.Titles), "profiles", len(m.Profiles))
	return nil
}

// Run refreshes the model every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.logger().Warn("cannot load the current model; answering from the one in use", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Routes registers the service's routes.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/recs/{profile}", s.rows)
	mux.HandleFunc("GET /v1/titles/{id}/similar", s.similar)
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func (s *Service) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return 5 * time.Minute
}

// cached answers from the cache under key, or from compute, which it
// then caches.
func (s *Service) cached(w http.ResponseWriter, key string, compute func() any) {
	if s.Cache != nil {
		if data, ok := s.Cache.Get(key); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Reel-Cache", "hit")
			_, _ = w.Write(data)
			return
		}
	}
	data, err := json.Marshal(compute())
	if err != nil {
		jsonhttp.Error(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	data = append(data, '\n')
	if s.Cache != nil {
		s.Cache.Set(key, data, s.ttl())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Reel-Cache", "miss")
	_, _ = w.Write(data)
}

func count(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 50 {
		return 0, fmt.Errorf("limit %q: a number from 1 to 50", v)
	}
	return n, nil
}

func (s *Service) rows(w http.ResponseWriter, r *http.Request) {
	profile := r.PathValue("profile")
	if !idRE.MatchString(profile) {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "profile "+strconv.Quote(profile)+": one of your account's profile ids")
		return
	}
	n, err := count(r, 10)
	if err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", err.Error())
		return
	}
	if s.Viewer == nil {
		jsonhttp.Error(w, http.StatusForbidden, "forbidden", "no viewer authentication is configured")
		return
	}
	maturity, err := s.Viewer(r, profile)
	if jsonhttp.Refused(w, err) {
		return
	}
	if err != nil {
		s.logger().Error("cannot check a viewer", "err", err)
		jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "cannot check your session now; try again")
		return
	}
	m := s.Model()
	if m == nil {
		jsonhttp.Error(w, http.StatusServiceUnavailable, "no_model", "no recommendations have been trained yet (reel recs train); show popular titles meanwhile")
		return
	}
	key := fmt.Sprintf("recs:%s:rows:%s:%s:%d", m.Version, profile, maturity, n)
	s.cached(w, key, func() any {
		return map[string]any{"profile": profile, "model": m.Version, "rows": m.Rows(profile, maturity, n)}
	})
}

func (s *Service) similar(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	maturity := r.URL.Query().Get("maturity")
	if maturity == "" {
		maturity = "adult"
	}
	if _, ok := levels[maturity]; !ok {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "maturity "+strconv.Quote(maturity)+": kids, teen or adult")
		return
	}
	n, err := count(r, 10)
	if err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", err.Error())
		return
	}
	if !idRE.MatchString(id) {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "title "+strconv.Quote(id)+": a title id")
		return
	}
	m := s.Model()
	if m == nil {
		jsonhttp.Error(w, http.StatusServiceUnavailable, "no_model", "no recommendations have been trained yet (reel recs train)")
		return
	}
	if _, ok := m.index[id]; !ok {
		jsonhttp.Error(w, http.StatusNotFound, "not_found", "title "+id+" is not in the recommendations model (it comes in at the next training)")
		return
	}
	key := fmt.Sprintf("recs:%s:similar:%s:%s:%d", m.Version, id, maturity, n)
	s.cached(w, key, func() any {
		sim, _ := m.Similar(id, maturity, n)
		return map[string]any{"title": id, "model": m.Version, "similar": sim}
	})
}
