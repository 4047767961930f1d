// Package edge is Reel's edge cache, after Netflix's Open Connect
// appliances: an HTTP cache in front of the origin for published titles
// that fetches each object once however many clients ask (request
// coalescing), keeps it on disk under a byte budget with LRU eviction,
// pre-positions newly published titles (fill), and reports its health and
// load; and the steering that sends each player to the best edge.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/playtoken"
)

// Config is an edge's configuration. Zero values of optional fields are
// the documented defaults.
type Config struct {
	Name string // unique edge name
	Zone string // zone the edge serves, e.g. "z1"
	// Origin is the base URL of the published titles: origin object key K
	// is at Origin + "/" + K.
	Origin string
	// OriginURL, if set, returns the URL of a GET or HEAD (method) of
	// object key the edge makes instead: a presigned URL of the private
	// origin bucket.
	OriginURL func(ctx context.Context, method, key string) (string, error)
	// Tokens, if set, checks the playback token of every request for a
	// title (/t/{token}/vod/{id}/...) before the edge looks at its disk
	// or the origin; untokened requests (/vod/{id}/...) are served only
	// for titles Public says are public. Nil serves every title without
	// a token, for an origin that is public itself.
	Tokens *playtoken.Checker
	// Public says whether a title plays without a token; nil: none does.
	Public func(ctx context.Context, title string) (bool, error)
	// KeyService, if set, is the base URL (the API's) that requests for
	// encrypted titles' licences and keys are passed on to.
	KeyService string
	Dir        string // cache folder; kept across restarts
	// Budget is the most bytes held on disk; default 10 GiB.
	Budget int64
	// Fill pre-positions published titles.
	Fill FillConfig
	// FetchTimeout bounds one origin fetch; default 2 min.
	FetchTimeout time.Duration
	// Report, if set, hears of what the event pipeline collects from an
	// edge: perf.cache_miss (an object fetched from the origin for a
	// player, ms the fetch took), perf.slow_response (an answer that took
	// SlowAfter or longer) and error.edge (an origin the edge could not
	// fetch from), with the object's key.
	Report func(typ, key, code, message string, ms float64)
	// SlowAfter is what a slow answer takes; default 2 s.
	SlowAfter time.Duration
	Log       *slog.Logger
	// Now is the clock of the fill window; default time.Now.
	Now func() time.Time
}

// Edge serves cached origin objects. Create it with New.
type Edge struct {
	cfg    Config
	disk   *disk
	flight singleflight.Group
	client *http.Client
	log    *slog.Logger

	keys    *httputil.ReverseProxy
	active  atomic.Int64
	hits    atomic.Int64
	misses  atomic.Int64
	fetches atomic.Int64 // origin fetches, including fill
	refused atomic.Int64 // requests refused for their token
	load    rateWindow

	fillMu      sync.Mutex
	fillPending []string
	fillCursor  string
	// paced holds, by key, the flag that ends the pacing of a fill
	// download a client is now waiting for.
	paced sync.Map
	// public caches Public's answers.
	public publicCache
}

// New opens the cache folder (keeping what it holds) and returns an edge.
func New(cfg Config) (*Edge, error) {
	if cfg.Name == "" || cfg.Zone == "" || (cfg.Origin == "" && cfg.OriginURL == nil) || cfg.Dir == "" {
		return nil, errors.New("edge: name, zone, origin URL and cache folder are required")
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 10 << 30
	}
	if cfg.SlowAfter <= 0 {
		cfg.SlowAfter = 2 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Fill.defaults()
	cfg.Origin = strings.TrimRight(cfg.Origin, "/")
	d, err := openDisk(cfg.Dir, cfg.Budget)
	if err != nil {
		return nil, fmt.Errorf("edge cache %s: %w", cfg.Dir, err)
	}
	e := &Edge{cfg: cfg, disk: d, log: cfg.Log.With("component", "edge", "edge", cfg.Name),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, ResponseHeaderTimeout: 30 * time.Second}}}
	if cfg.KeyService != "" {
		u, err := relay.ParseKeyService(cfg.KeyService)
		if err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
		// An edge faces its players: the peer is the client.
		e.keys = relay.KeyProxy(u, playtoken.PeerAddr)
	}
	e.loadFillState()
	return e, nil
}

// Handler serves published objects under /vod/, the edge's status at
// /healthz and the titles it holds at /titles.
func (e *Edge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", e.health)
	mux.HandleFunc("GET /titles", e.titles)
	mux.HandleFunc("/vod/", e.serve)
	mux.HandleFunc("/"+playtoken.Root+"/", e.serve)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: the edge serves published titles under /t/{token}/vod/ (and public ones under /vod/)", http.StatusNotFound)
	})
	return mux
}

// Status is what an edge reports about itself.
type Status struct {
	Name    string `json:"name"`
	Zone    string `json:"zone"`
	PID     int    `json:"pid"`
	Healthy bool   `json:"healthy"`
	// Load is requests a second over the last 10 s; Active is requests in
	// flight now.
	Load           float64 `json:"load"`
	Active         int64   `json:"active"`
	BytesHeld      int64   `json:"bytes_held"`
	ObjectsHeld    int     `json:"objects_held"`
	TitlesHeld     int     `json:"titles_held"`
	TitlesVersion  int64   `json:"titles_version"`
	Budget         int64   `json:"budget"`
	Hits           int64   `json:"hits"`
	Misses         int64   `json:"misses"`
	OriginFetches  int64   `json:"origin_fetches"`
	Refused        int64   `json:"refused"` // requests refused for their playback token
	FillPending    int     `json:"fill_pending"`
	FillWindowOpen bool    `json:"fill_window_open"`
}

// Status returns the edge's current status.
func (e *Edge) Status() Status {
	bytes, objects, titles, version := e.disk.usage()
	e.fillMu.Lock()
	pending := len(e.fillPending)
	e.fillMu.Unlock()
	return Status{
		Name: e.cfg.Name, Zone: e.cfg.Zone, PID: os.Getpid(), Healthy: true,
		Load: e.load.rate(time.Now()), Active: e.active.Load(),
		BytesHeld: bytes, ObjectsHeld: objects, TitlesHeld: titles, TitlesVersion: version, Budget: e.cfg.Budget,
		Hits: e.hits.Load(), Misses: e.misses.Load(), OriginFetches: e.fetches.Load(), Refused: e.refused.Load(),
		FillPending: pending, FillWindowOpen: e.cfg.Fill.Window.Open(e.cfg.Now()),
	}
}

func (e *Edge) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(e.Status())
}

func (e *Edge) titles(w http.ResponseWriter, r *http.Request) {
	_, _, _, version := e.disk.usage()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Version int64    `json:"version"`
		Titles  []string `json:"titles"`
	}{version, e.disk.titleList()})
}

// serve answers GET and HEAD for a published object from disk, fetching it
// from the origin first on a miss.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request) {
	e.active.Add(1)
	defer e.active.Add(-1)
	start := time.Now()
	e.load.add(start)
	if e.cfg.Report != nil {
		defer func() {
			if d := time.Since(start); d >= e.cfg.SlowAfter {
				// Without the playback token: the event outlives it in
				// the archive and the support index.
				path := untokened(r.URL.Path)
				e.cfg.Report("perf.slow_response", path, "slow_response",
					r.Method+" /"+path+" took "+d.Round(time.Millisecond).String(), float64(d.Milliseconds()))
			}
		}()
	}
	h := w.Header()
	h.Set("X-Edge", e.cfg.Name)
	if isKeyRequest(r) {
		e.serveKey(w, r)
		return
	}
	if !relay.Admit(w, r, ", X-Cache, X-Edge") {
		return
	}
	key, refused := e.authorize(r)
	if refused != nil {
		e.refused.Add(1)
		refused.Write(w)
		return
	}
	if !validKey(key) {
		h.Set("X-Cache", "MISS")
		http.Error(w, "not found: not a published object's path", http.StatusNotFound)
		return
	}
	if o, ok := e.disk.get(key); ok {
		if !e.disk.fresh(o, e.cfg.Now()) {
			// A manifest of a title still growing: ask the origin
			// whether it changed; with the origin down, what is held is
			// served.
			switch n, err := e.revalidate(key, o); {
			case err == nil:
				o = n
			case errors.Is(err, errNotFound):
				http.Error(w, "not found at the origin: "+key, http.StatusNotFound)
				return
			default:
				e.log.Warn("origin revalidation failed; serving what is held", "key", key, "err", err)
			}
		}
		e.hits.Add(1)
		e.serveObject(w, r, o, "HIT")
		return
	}
	e.misses.Add(1)
	h.Set("X-Cache", "MISS")
	if urgent, ok := e.paced.Load(key); ok {
		urgent.(*atomic.Bool).Store(true) // a client waits: no more pacing
	}
	fetchStart := time.Now()
	o, err := e.fetch(key, nil)
	if e.cfg.Report != nil {
		ms := float64(time.Since(fetchStart).Microseconds()) / 1000
		switch {
		case err == nil:
			e.cfg.Report("perf.cache_miss", key, "miss", "fetched from the origin", max(ms, 0.001))
		case !errors.Is(err, errNotFound) && !errors.Is(err, errTooLarge):
			e.cfg.Report("error.edge", key, "origin_unreachable", err.Error(), ms)
		}
	}
	switch {
	case err == nil:
		e.serveObject(w, r, o, "MISS")
	case errors.Is(err, errNotFound):
		http.Error(w, "not found at the origin: "+key, http.StatusNotFound)
	case errors.Is(err, errTooLarge):
		e.passThrough(w, r, key)
	default:
		e.log.Warn("origin fetch failed", "key", key, "err", err)
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
	}
}

func (e *Edge) serveObject(w http.ResponseWriter, r *http.Request, o *object, cache string) {
	f, err := os.Open(o.file)
	if err != nil {
		// Evicted between lookup and open: fetch it again.
		if o, err = e.fetch(o.Key, nil); err == nil {
			f, err = os.Open(o.file)
		}
		if err != nil {
			http.Error(w, "the object was evicted and cannot be fetched again now", http.StatusBadGateway)
			return
		}
	}
	defer f.Close()
	h := w.Header()
	h.Set("X-Cache", cache)
	if o.ETag != "" {
		h.Set("ETag", o.ETag)
	}
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if o.CacheControl != "" {
		h.Set("Cache-Control", o.CacheControl)
	}
	// ServeContent answers Range (206), If-None-Match, If-Modified-Since
	// and If-Range from the ETag and Last-Modified set here.
	http.ServeContent(w, r, "", o.LastModified, f)
}

// passThrough streams an object too large to cache from the origin.
func (e *Edge) passThrough(w http.ResponseWriter, r *http.Request, key string) {
	u, err := e.originURL(r.Context(), r.Method, key)
	if err != nil {
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
		return
	}
	req, err := relay.Request(r, u)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp, err := e.client.Do(req)
	if err != nil {
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	relay.Copy(w, resp)
}

var errNotFound = errors.New("not found at the origin")

// fetch downloads key from the origin into the cache once, however many
// callers ask at the same time. lim, if set, paces the download (fill).
func (e *Edge) fetch(key string, lim *rate.Limiter) (*object, error) {
	v, err, _ := e.flight.Do(key, func() (any, error) {
		if o, ok := e.disk.get(key); ok {
			return o, nil
		}
		// Detached from any one client: the others still want it.
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.FetchTimeout)
		defer cancel()
		return e.download(ctx, key, lim, nil)
	})
	if err != nil {
		return nil, err
	}
	return v.(*object), nil
}

// revalidate asks the origin whether held, no longer fresh, is still its
// object for key (a conditional GET on its ETag), once however many
// clients ask at the same time: it returns held, confirmed, or the
// origin's new version, stored in its place. An object the origin no
// longer has is dropped (errNotFound).
func (e *Edge) revalidate(key string, held *object) (*object, error) {
	v, err, _ := e.flight.Do("revalidate:"+key, func() (any, error) {
		if !e.disk.fresh(held, e.cfg.Now()) {
			// Briefly: a client waits, and what is held can be served.
			ctx, cancel := context.WithTimeout(context.Background(), revalidateTimeout)
			defer cancel()
			return e.download(ctx, key, nil, held)
		}
		return held, nil
	})
	if errors.Is(err, errNotFound) {
		e.disk.drop(held)
	}
	if err != nil {
		return nil, err
	}
	return v.(*object), nil
}

// revalidateTimeout bounds the origin's answer to a revalidation.
const revalidateTimeout = 2 * time.Second

// download fetches key from the origin into the cache. With held, the
// request is conditional on held's ETag (or Last-Modified): when the
// origin answers 304 held is confirmed and returned, else the new version
// replaces it.
func (e *Edge) download(ctx context.Context, key string, lim *rate.Limiter, held *object) (*object, error) {
	e.fetches.Add(1)
	u, err := e.originURL(ctx, http.MethodGet, key)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if held != nil {
		if held.ETag != "" {
			req.Header.Set("If-None-Match", held.ETag)
		} else {
			req.Header.Set("If-Modified-Since", held.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	started := e.cfg.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && held != nil:
		e.disk.confirmed(held, started)
		return held, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		// MinIO answers 403 for a missing key in a bucket that allows
		// reads but not listing.
		return nil, fmt.Errorf("%s: %w", key, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %s: origin answered %s", key, resp.Status)
	}
	if resp.ContentLength > e.cfg.Budget {
		return nil, fmt.Errorf("%s (%d bytes): %w", key, resp.ContentLength, errTooLarge)
	}
	tmp, err := e.disk.tempFile()
	if err != nil {
		return nil, err
	}
	var body io.Reader = resp.Body
	if lim != nil {
		urgent := new(atomic.Bool)
		e.paced.Store(key, urgent)
		defer e.paced.Delete(key)
		body = &pacedReader{ctx: ctx, r: resp.Body, lim: lim, urgent: urgent}
	}
	n, err := io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("short body: %d of %d bytes", n, resp.ContentLength)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	lm, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	if lm.IsZero() {
		lm = time.Now().UTC().Truncate(time.Second)
	}
	o := &object{Key: key, Size: n, ETag: resp.Header.Get("ETag"), LastModified: lm,
		ContentType: resp.Header.Get("Content-Type"), CacheControl: resp.Header.Get("Cache-Control"), Fetched: started}
	return e.disk.put(o, tmp.Name(), held != nil)
}

// pacedReader reads no faster than its limiter allows, until urgent is
// set.
type pacedReader struct {
	ctx    context.Context
	r      io.Reader
	lim    *rate.Limiter
	urgent *atomic.Bool
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.urgent.Load() {
		return p.r.Read(b)
	}
	if burst := p.lim.Burst(); len(b) > burst {
		b = b[:burst]
	}
	n, err := p.r.Read(b)
	if n > 0 && !p.urgent.Load() {
		if werr := p.lim.WaitN(p.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// rateWindow counts events a second over the last 10 seconds.
type rateWindow struct {
	mu      sync.Mutex
	buckets [10]int64
	stamps  [10]int64 // unix second of each bucket
}

func (w *rateWindow) add(t time.Time) {
	s := t.Unix()
	w.mu.Lock()
	i := s % 10
	if w.stamps[i] != s {
		w.stamps[i], w.buckets[i] = s, 0
	}
	w.buckets[i]++
	w.mu.Unlock()
}

func (w *rateWindow) rate(t time.Time) float64 {
	s := t.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for i := range w.buckets {
		if s-w.stamps[i] < 10 {
			n += w.buckets[i]
		}
	}
	return float64(n) / 10
}

// untokened is a request path without its leading slash and without the
// playback token of a /t/{token}/... path.
func untokened(path string) string {
	if _, key, ok := playtoken.Split(path); ok {
		if key == "" {
			return playtoken.Root
		}
		return key
	}
	return strings.TrimPrefix(path, "/")
}
