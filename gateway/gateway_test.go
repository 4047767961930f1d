package gateway

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a real API stand-in on loopback that counts its requests
// and whose behaviour the test changes.
type upstream struct {
	*httptest.Server
	name   string
	hits   atomic.Int64
	status atomic.Int64                  // answer with this status; 0 is 200
	delay  atomic.Int64                  // nanoseconds before answering
	block  atomic.Pointer[chan struct{}] // wait on it before answering
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		u.hits.Add(1)
		if d := u.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if ch := u.block.Load(); ch != nil {
			<-*ch
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", u.name)
		w.Header().Set("X-Internal", "secret")
		if s := u.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		fmt.Fprintf(w, `{"upstream":%q,"path":%q,"request_id":%q,"pad":%q}`, u.name, r.URL.Path, r.Header.Get("X-Request-ID"), strings.Repeat("x", 400))
	}))
	t.Cleanup(u.Close)
	return u
}

func startGateway(t *testing.T, c Config) (*Gateway, string) {
	t.Helper()
	c.HealthInterval = 200 * time.Millisecond
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go g.Run(ctx)
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); cancel() })
	return g, srv.URL
}

func call(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer key-a")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestTwoTierRoundRobinAndHealth(t *testing.T) {
	a := newUpstream(t, "a")                                                       // zone z1, alone
	b1, b2, b3 := newUpstream(t, "b1"), newUpstream(t, "b2"), newUpstream(t, "b3") // zone z2
	g, gw := startGateway(t, Config{Groups: map[string][]*Upstream{MainGroup: {
		{URL: a.URL, Zone: "z1"}, {URL: b1.URL, Zone: "z2"}, {URL: b2.URL, Zone: "z2"}, {URL: b3.URL, Zone: "z2"}}}})
	for range 600 {
		if resp, _ := call(t, "GET", gw+"/v1/jobs"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Half to each zone, then evenly within the zone.
	if a.hits.Load() != 300 || b1.hits.Load() != 100 || b2.hits.Load() != 100 || b3.hits.Load() != 100 {
		t.Fatalf("hits a %d, b1 %d, b2 %d, b3 %d; want 300, 100, 100, 100", a.hits.Load(), b1.hits.Load(), b2.hits.Load(), b3.hits.Load())
	}
	// An instance dies: no request fails (a refused connection goes to
	// another instance) and the health checks take it out.
	b2.Close()
	for range 60 {
		if resp, body := call(t, "GET", gw+"/v1/jobs"); resp.StatusCode != 200 {
			t.Fatalf("after b2 died: %d %s", resp.StatusCode, body)
		}
	}
	healthy := func(url string) bool {
		for _, x := range g.Upstreams() {
			if x.URL == url {
				return x.Healthy
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); healthy(b2.URL); {
		if time.Now().After(deadline) {
			t.Fatal("dead instance still in rotation after 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, body := call(t, "GET", gw+"/gateway/healthz")
	if resp.StatusCode != 200 || !strings.Contains(body, `"healthy":false`) {
		t.Fatalf("gateway health: %d %s", resp.StatusCode, body)
	}
	// The whole zone z1 dies: everything goes to z2.
	a.Close()
	before := b1.hits.Load() + b3.hits.Load()
	for range 40 {
		if resp, _ := call(t, "GET", gw+"/v1/jobs"); resp.StatusCode != 200 {
			t.Fatalf("after zone z1 died: %d", resp.StatusCode)
		}
	}
	if got := b1.hits.Load() + b3.hits.Load() - before; got != 40 {
		t.Fatalf("z2 served %d of 40", got)
	}
}

func TestFilterChain(t *testing.T) {
	main1, canary, shardB := newUpstream(t, "main"), newUpstream(t, "canary"), newUpstream(t, "shard-b")
	keys := keyMap{"key-a": "acme", "key-b": "bravo"}
	// Every fourth request draws under the share: the chain's canary count
	// is exact here (TestCanaryShare checks the random draw's share).
	var draws atomic.Int64
	everyFourth := func() float64 { return float64(draws.Add(1)%4) / 4 }
	_, gw := startGateway(t, Config{
		Groups: map[string][]*Upstream{MainGroup: {{URL: main1.URL}}, CanaryGroup: {{URL: canary.URL}}, "b": {{URL: shardB.URL}}},
		Filters: []Filter{RequestID{}, RejectRule{Header: "User-Agent", Pattern: regexp.MustCompile(`(?i)badbot`)},
			APIKey{Keys: keys, Open: []string{"/healthz"}}, &RateLimit{PerSecond: 5, Burst: 20},
			Canary{Share: 0.25, Draw: everyFourth}, Shard{Header: "tenant", Map: map[string]string{"bravo": "b"}},
			Gzip{}, Headers{Add: map[string]string{"X-Served-By": "reel-gateway"}, Remove: []string{"X-Internal"}}},
	})
	// Inbound: request id, key check, reject rule.
	resp, body := call(t, "GET", gw+"/v1/jobs/x", "X-Request-ID", "0123456789abcdef")
	if resp.Header.Get("X-Request-ID") != "0123456789abcdef" || !strings.Contains(body, `"request_id":"0123456789abcdef"`) {
		t.Fatalf("request id: %v %s", resp.Header, body)
	}
	if resp, _ = call(t, "GET", gw+"/v1/jobs", "X-Request-ID", "bad id <script>"); len(resp.Header.Get("X-Request-ID")) != 24 {
		t.Fatalf("generated request id: %q", resp.Header.Get("X-Request-ID"))
	}
	if resp, body = call(t, "GET", gw+"/v1/jobs", "Authorization", ""); resp.StatusCode != 401 || !strings.Contains(body, "unauthorized") {
		t.Fatalf("no key: %d %s", resp.StatusCode, body)
	}
	if resp, _ = call(t, "GET", gw+"/v1/jobs", "Authorization", "Bearer nope"); resp.StatusCode != 401 {
		t.Fatalf("unknown key: %d", resp.StatusCode)
	}
	if resp, _ = call(t, "GET", gw+"/healthz", "Authorization", ""); resp.StatusCode != 200 {
		t.Fatalf("open path: %d", resp.StatusCode)
	}
	if resp, body = call(t, "GET", gw+"/v1/jobs", "User-Agent", "BadBot/1.0"); resp.StatusCode != 403 || !strings.Contains(body, "User-Agent") {
		t.Fatalf("reject rule: %d %s", resp.StatusCode, body)
	}
	// Outbound: headers and gzip.
	resp, body = call(t, "GET", gw+"/v1/jobs", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("X-Internal") != "" || resp.Header.Get("X-Served-By") != "reel-gateway" {
		t.Fatalf("outbound headers: %v", resp.Header)
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), `"path":"/v1/jobs"`) {
		t.Fatalf("gunzipped body: %s", plain)
	}
	if resp, _ = call(t, "GET", gw+"/v1/jobs"); resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip without Accept-Encoding")
	}
	// Endpoint: tenant bravo's requests go to its shard; a quarter of the
	// others to the canary.
	for range 10 {
		if resp, _ = call(t, "GET", gw+"/v1/jobs", "Authorization", "Bearer key-b"); resp.Header.Get("X-Upstream") != "shard-b" {
			t.Fatalf("tenant bravo went to %s", resp.Header.Get("X-Upstream"))
		}
	}
	// Rate limit: key-a has made a few requests; a burst runs past 20.
	var limited *http.Response
	for range 30 {
		if resp, _ := call(t, "GET", gw+"/v1/jobs"); resp.StatusCode == 429 {
			limited = resp
			break
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" {
		t.Fatal("no 429 with Retry-After after a burst past the limit")
	}
	if resp, _ = call(t, "GET", gw+"/v1/jobs", "Authorization", "Bearer key-b"); resp.StatusCode != 200 {
		t.Fatalf("another key is limited too: %d", resp.StatusCode)
	}
	if n := canary.hits.Load(); n < 1 || n > main1.hits.Load() {
		t.Fatalf("canary got %d requests, main %d", n, main1.hits.Load())
	}
}

func TestCanaryShare(t *testing.T) {
	main1, canary := newUpstream(t, "main"), newUpstream(t, "canary")
	_, gw := startGateway(t, Config{
		Groups:  map[string][]*Upstream{MainGroup: {{URL: main1.URL}}, CanaryGroup: {{URL: canary.URL}}},
		Filters: []Filter{Canary{Share: 0.2}},
	})
	for range 1000 {
		call(t, "GET", gw+"/v1/jobs")
	}
	// Binomial(1000, 0.2): mean 200, sd 12.6; 130..270 is over 5 sd.
	if n := canary.hits.Load(); n < 130 || n > 270 {
		t.Fatalf("canary got %d of 1000 at a 20%% share", n)
	}
}

// TestRouteGroup sends a route's requests to its own group (a companion
// service) whatever the canary drew, and refuses a group with no
// upstreams at start.
func TestRouteGroup(t *testing.T) {
	api, canary, accounts := newUpstream(t, "api"), newUpstream(t, "canary"), newUpstream(t, "accounts")
	routes := append([]*Route{{Name: "accounts", Prefix: "/v1/accounts", Group: "accounts"}}, DefaultRoutes()...)
	_, gw := startGateway(t, Config{
		Groups:  map[string][]*Upstream{MainGroup: {{URL: api.URL}}, CanaryGroup: {{URL: canary.URL}}, "accounts": {{URL: accounts.URL}}},
		Routes:  routes,
		Filters: []Filter{Canary{Share: 0.5}},
	})
	for range 20 {
		if resp, _ := call(t, "GET", gw+"/v1/accounts/me"); resp.Header.Get("X-Upstream") != "accounts" {
			t.Fatalf("/v1/accounts went to %q", resp.Header.Get("X-Upstream"))
		}
		call(t, "GET", gw+"/v1/jobs")
	}
	if accounts.hits.Load() != 20 || api.hits.Load()+canary.hits.Load() != 20 {
		t.Fatalf("hits: accounts %d, api %d, canary %d", accounts.hits.Load(), api.hits.Load(), canary.hits.Load())
	}
	_, err := New(Config{Groups: map[string][]*Upstream{MainGroup: {{URL: api.URL}}},
		Routes: []*Route{{Name: "accounts", Prefix: "/v1/accounts", Group: "accounts"}}})
	if err == nil || !strings.Contains(err.Error(), `group "accounts" has no upstreams`) {
		t.Fatalf("a route to a group with no upstreams: %v", err)
	}
}

type keyMap map[string]string

func (k keyMap) Tenant(_ context.Context, key string) (string, error) {
	if t, ok := k[key]; ok {
		return t, nil
	}
	return "", ErrUnknownKey
}

func metricsText(t *testing.T, gw string) string {
	t.Helper()
	_, body := call(t, "GET", gw+"/metrics")
	return body
}

func TestBulkheadTimeoutBreakerFallback(t *testing.T) {
	u := newUpstream(t, "api")
	routes := []*Route{
		{Name: "slow", Prefix: "/v1/slow", Timeout: Duration(300 * time.Millisecond)},
		{Name: "narrow", Prefix: "/v1/narrow", MaxConcurrent: 2},
		{Name: "jobs", Prefix: "/v1/jobs", Fallback: true, BreakerMinRequests: 10, BreakerWindow: Duration(10 * time.Second), BreakerDelay: Duration(time.Second)},
	}
	var mu sync.Mutex
	reports := map[string]int{}
	report := func(typ, route, code, _ string) {
		mu.Lock()
		defer mu.Unlock()
		reports[typ+" "+route+" "+code]++
	}
	g, gw := startGateway(t, Config{Groups: map[string][]*Upstream{MainGroup: {{URL: u.URL}}}, Routes: routes, Filters: []Filter{APIKey{}}, Report: report})

	// Timeout: 504 after the route's limit.
	u.delay.Store(int64(time.Second))
	start := time.Now()
	resp, body := call(t, "GET", gw+"/v1/slow")
	if resp.StatusCode != http.StatusGatewayTimeout || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("timeout: %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}
	u.delay.Store(0)

	// Bulkhead: two in flight, the third is refused at once.
	block := make(chan struct{})
	u.block.Store(&block)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); call(t, "GET", gw+"/v1/narrow") }()
	}
	for u.hits.Load() < 3 { // the timed-out call and the two blocked ones
		time.Sleep(10 * time.Millisecond)
	}
	if resp, body = call(t, "GET", gw+"/v1/narrow"); resp.StatusCode != 503 || !strings.Contains(body, "overloaded") {
		t.Fatalf("bulkhead: %d %s", resp.StatusCode, body)
	}
	close(block)
	wg.Wait()
	u.block.Store(nil)

	// Fallback: a good answer, then the upstream fails; the last good
	// answer comes back, marked stale.
	resp, good := call(t, "GET", gw+"/v1/jobs?limit=5")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	u.status.Store(500)
	resp, body = call(t, "GET", gw+"/v1/jobs?limit=5")
	if resp.StatusCode != 200 || body != good || resp.Header.Get("X-Reel-Fallback") != "stale" {
		t.Fatalf("fallback: %d %q %s", resp.StatusCode, resp.Header.Get("X-Reel-Fallback"), body)
	}
	// Another key has no last good answer: the error passes through.
	if resp, _ = call(t, "GET", gw+"/v1/jobs?limit=5", "Authorization", "Bearer key-other"); resp.StatusCode != 500 {
		t.Fatalf("no fallback for another key: %d", resp.StatusCode)
	}
	// Breaker: failures past the rate open it; then calls do not reach
	// the upstream.
	for range 12 {
		call(t, "GET", gw+"/v1/jobs/x", "Authorization", "Bearer key-other")
	}
	hits := u.hits.Load()
	resp, body = call(t, "GET", gw+"/v1/jobs/x", "Authorization", "Bearer key-other")
	if resp.StatusCode != 503 || !strings.Contains(body, "stopped sending") || u.hits.Load() != hits {
		t.Fatalf("open breaker: %d %s (upstream hits %d -> %d)", resp.StatusCode, body, hits, u.hits.Load())
	}
	// The fallback still answers while the breaker is open.
	if resp, body = call(t, "GET", gw+"/v1/jobs?limit=5"); resp.StatusCode != 200 || body != good {
		t.Fatalf("fallback with the breaker open: %d", resp.StatusCode)
	}
	m := metricsText(t, gw)
	for _, want := range []string{`reel_gateway_breaker_state{route="jobs"} 2`, `reel_gateway_timeouts_total{route="slow"} 1`,
		`reel_gateway_rejections_total{reason="bulkhead",route="narrow"} 1`, `reel_gateway_rejections_total{reason="breaker_open",route="jobs"}`,
		`reel_gateway_fallbacks_total{route="jobs"}`, `reel_gateway_requests_total{code="504",group="main",route="slow"} 1`,
		`reel_gateway_upstream_healthy{`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Half-open after the delay: probes reach the upstream, which works
	// again, and the breaker closes.
	u.status.Store(0)
	time.Sleep(1100 * time.Millisecond)
	for range 3 {
		if resp, _ = call(t, "GET", gw+"/v1/jobs/x", "Authorization", "Bearer key-other"); resp.StatusCode != 200 {
			t.Fatalf("half-open probe: %d", resp.StatusCode)
		}
	}
	for _, r := range g.cfg.Routes {
		if r.Name == "jobs" && !r.breaker.IsClosed() {
			t.Fatal("breaker not closed after successful probes")
		}
	}
	// Each decision was reported for the event pipeline.
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"gateway.rejected narrow overloaded", "gateway.rejected jobs unavailable",
		"gateway.breaker_open jobs breaker_open", "gateway.breaker_half_open jobs breaker_half_open", "gateway.breaker_closed jobs breaker_closed"} {
		if reports[want] == 0 {
			t.Errorf("no %q reported: %v", want, reports)
		}
	}
}

func TestUploadsStreamThrough(t *testing.T) {
	var got atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]int64{"bytes": n})
	}))
	defer up.Close()
	_, gw := startGateway(t, Config{Groups: map[string][]*Upstream{MainGroup: {{URL: up.URL}}}})
	const size = 64 << 20
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 1<<20)
		for range size / len(buf) {
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", gw+"/v1/jobs", pr)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || got.Load() != size {
		t.Fatalf("upload through the gateway: %d, upstream got %d bytes", resp.StatusCode, got.Load())
	}
}
