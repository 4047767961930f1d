// Package gateway is Reel's API gateway, after Netflix's Zuul, Hystrix and
// ELB: a reverse proxy in front of any number of API instances with a
// filter chain (inbound, endpoint, outbound), two-tier round robin across
// zones and then instances with active health checks, and per-route
// timeouts, bulkheads, circuit breakers and fallbacks (failsafe-go), with
// metrics for each on /metrics.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/fallback"
	"github.com/failsafe-go/failsafe-go/policy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route is a class of requests with its own protection, as a Hystrix
// command.
type Route struct {
	Name   string `json:"name"`
	Method string `json:"method,omitempty"` // "" matches any
	Prefix string `json:"prefix"`           // path prefix
	// Bearer, when set, matches only requests whose bearer token starts
	// with it (a viewer's session rather than an API key).
	Bearer string `json:"bearer,omitempty"`
	// Group is the upstream group the route's requests go to, whatever
	// the canary and shard filters chose ("": theirs, MainGroup by
	// default): a companion service's instances, say.
	Group   string   `json:"group,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// MaxConcurrent bounds requests in flight to the upstreams (until
	// their response headers); more are refused at once with 503.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// Breaker opens when at least BreakerMinRequests requests in
	// BreakerWindow saw this share (0..1) fail (transport errors, 5xx,
	// timeouts); after BreakerDelay it lets probes through (half-open).
	BreakerFailureRate float64  `json:"breaker_failure_rate,omitempty"`
	BreakerMinRequests int      `json:"breaker_min_requests,omitempty"`
	BreakerWindow      Duration `json:"breaker_window,omitempty"`
	BreakerDelay       Duration `json:"breaker_delay,omitempty"`
	// Fallback answers a GET that failed with the last good answer to the
	// same request by the same key, marked X-Reel-Fallback: stale.
	Fallback bool `json:"fallback,omitempty"`

	proxy   *httputil.ReverseProxy
	breaker circuitbreaker.CircuitBreaker[*http.Response]
	exec    failsafe.Executor[*http.Response]
}

func (r *Route) matches(req *http.Request) bool {
	return (r.Method == "" || r.Method == req.Method) && strings.HasPrefix(req.URL.Path, r.Prefix) &&
		(r.Bearer == "" || strings.HasPrefix(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "), r.Bearer))
}

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

// UnmarshalJSON reads "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"10s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DefaultRoutes protect the API: uploads and job creation without a
// timeout (they last as long as the upload), reads with short timeouts
// and fallbacks.
func DefaultRoutes() []*Route {
	return []*Route{
		{Name: "uploads", Prefix: "/v1/uploads", MaxConcurrent: 64},
		{Name: "create", Method: http.MethodPost, Prefix: "/v1/jobs", MaxConcurrent: 64},
		{Name: "jobs", Prefix: "/v1/jobs", Timeout: Duration(10 * time.Second), MaxConcurrent: 256, Fallback: true},
		{Name: "play", Prefix: "/v1/play", Timeout: Duration(5 * time.Second), MaxConcurrent: 256, Fallback: true},
		{Name: "default", Prefix: "/", Timeout: Duration(30 * time.Second), MaxConcurrent: 128},
	}
}

// Cache keeps fallback answers; the evcache client is one.
type Cache interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte, ttl time.Duration)
}

// Config is a gateway's configuration.
type Config struct {
	// Groups maps a group name to its upstream API instances; MainGroup
	// is required.
	Groups map[string][]*Upstream
	Routes []*Route // default DefaultRoutes()
	// Filters run in phase order, in the order given within a phase. The
	// router (from Routes) and the metrics filter are added.
	Filters []Filter
	// HealthPath and HealthInterval drive the active checks; an upstream
	// is out after HealthFailures failed checks in a row. Defaults
	// /healthz, 1 s, 2.
	HealthPath     string
	HealthInterval time.Duration
	HealthFailures int
	// Fallbacks keeps last good answers; default an in-process cache.
	Fallbacks Cache
	// FallbackTTL is how long a last good answer is kept; default 1 h.
	FallbackTTL time.Duration
	// Report, if set, hears of the gateway's decisions for the event
	// pipeline: gateway.rejected (a filter, a bulkhead or an open breaker
	// refused a request: code and message as answered) and gateway.breaker_open, _half_open and
	// _closed (a route's circuit breaker changed state).
	Report func(typ, route, code, message string)
	Log    *slog.Logger
}

// Gateway is the proxy. Create it with New and run its health checks
// with Run.
type Gateway struct {
	cfg     Config
	pools   map[string]*pool
	filters [3][]Filter
	metrics *metrics
	checker *checker
	log     *slog.Logger
}

// New builds the gateway from c.
func New(c Config) (*Gateway, error) {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Routes == nil {
		c.Routes = DefaultRoutes()
	}
	if c.HealthPath == "" {
		c.HealthPath = "/healthz"
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = time.Second
	}
	if c.HealthFailures <= 0 {
		c.HealthFailures = 2
	}
	if c.Fallbacks == nil {
		c.Fallbacks = &memCache{}
	}
	if c.FallbackTTL <= 0 {
		c.FallbackTTL = time.Hour
	}
	if len(c.Groups[MainGroup]) == 0 {
		return nil, errors.New("gateway: the main upstream group needs at least one API instance")
	}
	log := c.Log.With("component", "gateway")
	g := &Gateway{cfg: c, pools: map[string]*pool{}, metrics: newMetrics(), log: log}
	for name, ups := range c.Groups {
		p, err := newPool(name, ups)
		if err != nil {
			return nil, err
		}
		g.pools[name] = p
	}
	transport := &http.Transport{
		Proxy: nil, DialContext: (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}
	bal := &balancer{pools: g.pools, transport: transport, log: log}
	for _, r := range c.Routes {
		if err := g.protect(r, bal); err != nil {
			return nil, err
		}
		if _, ok := g.pools[r.Group]; r.Group != "" && !ok {
			return nil, fmt.Errorf("gateway route %q: group %q has no upstreams", r.Name, r.Group)
		}
	}
	for _, f := range append(c.Filters, Router{Routes: c.Routes}, &routeMetrics{m: g.metrics}) {
		g.filters[f.Phase()] = append(g.filters[f.Phase()], f)
	}
	g.checker = &checker{path: c.HealthPath, interval: c.HealthInterval, failures: int32(c.HealthFailures),
		client: &http.Client{Timeout: c.HealthInterval * 8 / 10, Transport: transport}, log: log}
	g.metrics.register(g)
	return g, nil
}

// Run checks the upstreams until ctx ends.
func (g *Gateway) Run(ctx context.Context) {
	var all []*Upstream
	for _, p := range g.pools {
		all = append(all, p.all...)
	}
	g.checker.run(ctx, all)
}

// protect builds a route's policies, outermost first: fallback, circuit
// breaker, bulkhead, timeout; then the balancer.
func (g *Gateway) protect(r *Route, bal *balancer) error {
	if r.Name == "" || !strings.HasPrefix(r.Prefix, "/") {
		return fmt.Errorf("gateway route %q: a name and a path prefix starting with / are required", r.Name)
	}
	if r.BreakerFailureRate <= 0 || r.BreakerFailureRate > 1 {
		r.BreakerFailureRate = 0.5
	}
	if r.BreakerMinRequests <= 0 {
		r.BreakerMinRequests = 20
	}
	if r.BreakerWindow <= 0 {
		r.BreakerWindow = Duration(10 * time.Second)
	}
	if r.BreakerDelay <= 0 {
		r.BreakerDelay = Duration(5 * time.Second)
	}
	name := r.Name
	failed := func(resp *http.Response, err error) bool {
		if err != nil {
			return !errors.Is(err, context.Canceled) && !errors.Is(err, bulkhead.ErrFull)
		}
		return resp.StatusCode >= 500
	}
	r.breaker = circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(failed).
		WithFailureRateThreshold(r.BreakerFailureRate, uint(r.BreakerMinRequests), time.Duration(r.BreakerWindow)).
		WithDelay(time.Duration(r.BreakerDelay)).
		WithSuccessThreshold(3).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			g.log.Warn("circuit breaker", "route", name, "from", e.OldState.String(), "to", e.NewState.String())
			if g.cfg.Report != nil {
				to := strings.ReplaceAll(strings.ToLower(e.NewState.String()), "-", "_")
				g.cfg.Report("gateway.breaker_"+to, name, "breaker_"+to, "the route's circuit breaker went from "+e.OldState.String()+" to "+e.NewState.String())
			}
		}).Build()
	var policies []failsafe.Policy[*http.Response]
	if r.Fallback {
		policies = append(policies, fallback.NewBuilderWithFunc(func(exec failsafe.Execution[*http.Response]) (*http.Response, error) {
			return g.fallback(exec)
		}).HandleIf(func(resp *http.Response, err error) bool {
			return (err != nil && !errors.Is(err, bulkhead.ErrFull) && !errors.Is(err, context.Canceled)) || (resp != nil && resp.StatusCode >= 500)
		}).Build())
	}
	policies = append(policies, r.breaker)
	if r.MaxConcurrent > 0 {
		policies = append(policies, bulkhead.NewBuilder[*http.Response](uint(r.MaxConcurrent)).Build())
	}
	if r.Timeout > 0 {
		policies = append(policies, timeout.New[*http.Response](time.Duration(r.Timeout)))
	}
	r.exec = failsafe.With(policies...)
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream" // the balancer picks the instance
			pr.SetXForwarded()
		},
		Transport:      &guarded{route: r, inner: bal},
		FlushInterval:  -1, // server-sent events reach the client at once
		ModifyResponse: g.outbound,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	return nil
}

type exchangeKey struct{}

// exchange returns the exchange a request's context carries.
func exchange(ctx context.Context) *Exchange {
	x, _ := ctx.Value(exchangeKey{}).(*Exchange)
	return x
}

// guarded runs a route's upstream call under its policies.
type guarded struct {
	route *Route
	inner http.RoundTripper
}

func (t *guarded) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.route.exec.WithContext(req.Context()).GetWithExecution(func(exec failsafe.Execution[*http.Response]) (*http.Response, error) {
		resp, err := t.inner.RoundTrip(req.WithContext(exec.Context()))
		if err != nil {
			return nil, err
		}
		// The policies' context must outlive the call until the body is
		// read, as failsafehttp does it.
		if ei, ok := exec.(policy.ExecutionInternal[*http.Response]); ok {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: ei.DeferCancel()}
		}
		return resp, nil
	})
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
	once   sync.Once
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}

// ServeHTTP runs the filter chain and proxies the request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics":
		promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return
	case "/gateway/healthz":
		g.health(w)
		return
	}
	x := &Exchange{Req: r, Start: time.Now(), Group: MainGroup}
	for _, phase := range []Phase{Inbound, Endpoint} {
		for _, f := range g.filters[phase] {
			if err := f.Apply(x); err != nil {
				g.reject(w, x, err)
				return
			}
		}
	}
	if _, ok := g.pools[x.Group]; !ok {
		x.Group = MainGroup // a group with no instances configured
	}
	ctx := context.WithValue(r.Context(), exchangeKey{}, x)
	ctx = context.WithValue(ctx, groupKey{}, x.Group)
	x.Req = r.WithContext(ctx)
	x.Route.proxy.ServeHTTP(w, x.Req)
}

func (g *Gateway) reject(w http.ResponseWriter, x *Exchange, err error) {
	var rej *Reject
	if !errors.As(err, &rej) {
		rej = &Reject{Status: http.StatusInternalServerError, Code: "internal", Message: err.Error(), Reason: "filter"}
	}
	route := "none"
	if x.Route != nil {
		route = x.Route.Name
	}
	g.metrics.rejections.WithLabelValues(route, rej.Reason).Inc()
	if g.cfg.Report != nil {
		g.cfg.Report("gateway.rejected", route, rej.Code, rej.Message)
	}
	g.metrics.requests.WithLabelValues(route, x.Group, strconv.Itoa(rej.Status)).Inc()
	for k, vs := range rej.Header {
		w.Header()[k] = vs
	}
	if x.ID != "" {
		w.Header().Set("X-Request-ID", x.ID)
	}
	writeError(w, rej.Status, rej.Code, rej.Message)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// outbound runs the outbound filters on an upstream's response.
func (g *Gateway) outbound(resp *http.Response) error {
	x := exchange(resp.Request.Context())
	if x == nil {
		return nil
	}
	x.Resp = resp
	if x.Route.Fallback && !x.Fallback {
		g.remember(x)
	}
	for _, f := range g.filters[Outbound] {
		if err := f.Apply(x); err != nil {
			return err
		}
	}
	return nil
}

// proxyError answers a request the policies or the upstreams failed.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchange(r.Context())
	status, code, msg, reason := http.StatusBadGateway, "bad_gateway", "no API instance answered; try again shortly", ""
	switch {
	case errors.Is(err, bulkhead.ErrFull):
		status, code, msg, reason = http.StatusServiceUnavailable, "overloaded", "too many requests in flight on this route; try again shortly", "bulkhead"
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, circuitbreaker.ErrOpen):
		status, code, msg, reason = http.StatusServiceUnavailable, "unavailable", "the API is failing and the gateway stopped sending it requests for a moment; try again shortly", "breaker_open"
		w.Header().Set("Retry-After", "5")
	case errors.Is(err, timeout.ErrExceeded):
		status, code, msg = http.StatusGatewayTimeout, "timeout", "the API did not answer in time; try again shortly"
		g.metrics.timeouts.WithLabelValues(x.Route.Name).Inc()
	case errors.Is(err, context.Canceled):
		status = 499 // the client went away; nobody reads this
	default:
		g.log.Warn("upstream request failed", "route", x.Route.Name, "path", r.URL.Path, "err", err)
	}
	if reason != "" {
		g.metrics.rejections.WithLabelValues(x.Route.Name, reason).Inc()
		if g.cfg.Report != nil {
			g.cfg.Report("gateway.rejected", x.Route.Name, code, msg)
		}
	}
	g.metrics.requests.WithLabelValues(x.Route.Name, x.Group, strconv.Itoa(status)).Inc()
	g.metrics.latency.WithLabelValues(x.Route.Name).Observe(time.Since(x.Start).Seconds())
	if x.ID != "" {
		w.Header().Set("X-Request-ID", x.ID)
	}
	writeError(w, status, code, msg)
}

// fallbackKey names a request's last good answer: route, key and URL.
func fallbackKey(x *Exchange) string {
	return "gw:" + x.Route.Name + ":" + x.KeyHash + ":" + x.Req.URL.RequestURI()
}

// remember keeps a good GET answer (up to 1 MiB) for the fallback, as it
// streams to the client.
func (g *Gateway) remember(x *Exchange) {
	resp := x.Resp
	if x.Req.Method != http.MethodGet || resp.StatusCode != http.StatusOK || x.KeyHash == "" ||
		strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return
	}
	key, ctype := fallbackKey(x), resp.Header.Get("Content-Type")
	resp.Body = &teeBody{ReadCloser: resp.Body, limit: 1 << 20, done: func(b []byte) {
		raw, _ := json.Marshal(storedAnswer{ContentType: ctype, Body: b, At: time.Now()})
		g.cfg.Fallbacks.Set(key, raw, g.cfg.FallbackTTL)
	}}
}

type storedAnswer struct {
	ContentType string    `json:"content_type"`
	Body        []byte    `json:"body"`
	At          time.Time `json:"at"`
}

// fallback answers from the last good answer, or fails as the call did.
func (g *Gateway) fallback(exec failsafe.Execution[*http.Response]) (*http.Response, error) {
	resp, err := exec.LastResult(), exec.LastError()
	x := exchange(exec.Context())
	if x == nil || x.Req.Method != http.MethodGet || x.KeyHash == "" {
		return resp, err
	}
	raw, ok := g.cfg.Fallbacks.Get(fallbackKey(x))
	var a storedAnswer
	if !ok || json.Unmarshal(raw, &a) != nil {
		return resp, err
	}
	if resp != nil {
		resp.Body.Close()
	}
	x.Fallback = true
	g.metrics.fallbacks.WithLabelValues(x.Route.Name).Inc()
	h := http.Header{"Content-Type": {a.ContentType}, "X-Reel-Fallback": {"stale"},
		"Age": {strconv.Itoa(int(time.Since(a.At).Seconds()))}, "Cache-Control": {"no-store"}}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.Body)), ContentLength: int64(len(a.Body)), Request: x.Req}, nil
}

// teeBody copies what the client reads, up to limit, and hands it to done
// at a clean end.
type teeBody struct {
	io.ReadCloser
	buf   bytes.Buffer
	limit int
	done  func([]byte)
	over  bool
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if !t.over {
		if t.buf.Len()+n > t.limit {
			t.over = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(p[:n])
		}
	}
	if err == io.EOF && !t.over && t.done != nil {
		t.done(t.buf.Bytes())
		t.done = nil
	}
	return n, err
}

// UpstreamStatus is an instance as the gateway sees it.
type UpstreamStatus struct {
	Group   string `json:"group"`
	URL     string `json:"url"`
	Zone    string `json:"zone"`
	Healthy bool   `json:"healthy"`
}

// Upstreams lists every instance and its health.
func (g *Gateway) Upstreams() []UpstreamStatus {
	var out []UpstreamStatus
	for name, p := range g.pools {
		for _, u := range p.all {
			out = append(out, UpstreamStatus{Group: name, URL: u.URL, Zone: u.Zone, Healthy: u.Healthy()})
		}
	}
	return out
}

func (g *Gateway) health(w http.ResponseWriter) {
	ups := g.Upstreams()
	status := http.StatusOK
	healthy := 0
	for _, u := range ups {
		if u.Healthy && u.Group == MainGroup {
			healthy++
		}
	}
	if healthy == 0 {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": healthy > 0, "upstreams": ups})
}

// memCache is the in-process fallback cache: bounded, entries expire.
type memCache struct {
	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	v   []byte
	exp time.Time
}

func (c *memCache) Get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.exp) {
		return nil, false
	}
	return e.v, true
}

func (c *memCache) Set(key string, v []byte, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 10000 {
		c.m = map[string]memEntry{}
	}
	c.m[key] = memEntry{v, time.Now().Add(ttl)}
}
