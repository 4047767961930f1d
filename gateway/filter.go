package gateway

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Phase is when a filter runs, as in Zuul: inbound filters see the
// request first and may refuse it, endpoint filters choose where it goes,
// outbound filters change the upstream's response.
type Phase int

// Filter phases, in the order they run.
const (
	Inbound Phase = iota
	Endpoint
	Outbound
)

func (p Phase) String() string { return [...]string{"inbound", "endpoint", "outbound"}[p] }

// Filter is one step of the chain.
type Filter interface {
	Name() string
	Phase() Phase
	// Apply sees the exchange; an inbound or endpoint filter refuses the
	// request by returning a *Reject.
	Apply(x *Exchange) error
}

// Exchange is one request on its way through the chain.
type Exchange struct {
	Req *http.Request
	// Resp is the upstream's response; set for outbound filters.
	Resp  *http.Response
	ID    string // request id
	Start time.Time
	// Route is the route the request matched; Group the upstream group
	// chosen (MainGroup unless an endpoint filter changed it).
	Route *Route
	Group string
	// KeyHash identifies the caller's API key (SHA-256, hex), or "".
	KeyHash string
	// Tenant is the key's tenant when the key check knows it.
	Tenant string
	// Fallback is set when the response was served from the fallback.
	Fallback bool
}

// Reject ends a request in the gateway with an error response.
type Reject struct {
	Status  int
	Code    string // error code of the JSON body, as the API's
	Message string
	Header  http.Header
	Reason  string // metrics label: auth, rule, rate_limit, ...
}

func (r *Reject) Error() string { return fmt.Sprintf("%d %s: %s", r.Status, r.Code, r.Message) }

// MainGroup is the upstream group requests go to by default; CanaryGroup
// gets the canary share.
const (
	MainGroup   = "main"
	CanaryGroup = "canary"
)

// RequestID gives every request an X-Request-ID (keeping a sane one the
// client sent) and sends it to the upstream and back to the client.
type RequestID struct{}

func (RequestID) Name() string { return "request-id" }
func (RequestID) Phase() Phase { return Inbound }
func (RequestID) Apply(x *Exchange) error {
	id := x.Req.Header.Get("X-Request-ID")
	if len(id) < 8 || len(id) > 64 || strings.Trim(id, "0123456789abcdefABCDEF-") != "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	x.ID = id
	x.Req.Header.Set("X-Request-ID", id)
	return nil
}

// KeyChecker finds an API key's tenant; ErrUnknownKey says it is not a
// key.
type KeyChecker interface {
	Tenant(ctx context.Context, key string) (string, error)
}

// ErrUnknownKey is a KeyChecker's answer for a key it does not know.
var ErrUnknownKey = errors.New("unknown API key")

// APIKey refuses requests without a bearer key, and with an unknown one
// when Keys is set. Paths in Open pass without a key. When the key store
// fails, the request goes on and the API decides.
type APIKey struct {
	Keys KeyChecker
	Open []string // path prefixes that need no key
	// Pass lists token prefixes let through unchecked: viewers' sessions,
	// which the services behind check themselves.
	Pass []string
}

func (APIKey) Name() string { return "api-key" }
func (APIKey) Phase() Phase { return Inbound }
func (f APIKey) Apply(x *Exchange) error {
	for _, p := range f.Open {
		if strings.HasPrefix(x.Req.URL.Path, p) {
			return nil
		}
	}
	if x.Req.Method == http.MethodOptions {
		return nil
	}
	key, ok := strings.CutPrefix(x.Req.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	for _, p := range f.Pass {
		if ok && strings.HasPrefix(key, p) {
			sum := sha256.Sum256([]byte(key))
			x.KeyHash = hex.EncodeToString(sum[:]) // rate-limited per session
			return nil
		}
	}
	if !ok || key == "" {
		return &Reject{Status: http.StatusUnauthorized, Code: "unauthorized", Reason: "auth",
			Message: "no API key: send one as 'Authorization: Bearer KEY'",
			Header:  http.Header{"Www-Authenticate": {`Bearer realm="reel"`}}}
	}
	sum := sha256.Sum256([]byte(key))
	x.KeyHash = hex.EncodeToString(sum[:])
	if f.Keys == nil {
		return nil
	}
	tenant, err := f.Keys.Tenant(x.Req.Context(), key)
	if errors.Is(err, ErrUnknownKey) {
		return &Reject{Status: http.StatusUnauthorized, Code: "unauthorized", Reason: "auth",
			Message: "the API key is not known or was revoked",
			Header:  http.Header{"Www-Authenticate": {`Bearer realm="reel", error="invalid_token"`}}}
	}
	if err == nil {
		x.Tenant = tenant
	}
	return nil
}

// RejectRule refuses requests whose header matches a pattern, such as
// a User-Agent of a known scraper.
type RejectRule struct {
	Header  string
	Pattern *regexp.Regexp
}

func (f RejectRule) Name() string { return "reject-" + strings.ToLower(f.Header) }
func (RejectRule) Phase() Phase   { return Inbound }
func (f RejectRule) Apply(x *Exchange) error {
	if f.Pattern.MatchString(x.Req.Header.Get(f.Header)) {
		return &Reject{Status: http.StatusForbidden, Code: "forbidden", Reason: "rule",
			Message: fmt.Sprintf("requests with this %s are refused by the gateway's rules", f.Header)}
	}
	return nil
}

// RateLimit allows each API key PerSecond requests a second with bursts
// of Burst, in this gateway (every gateway counts on its own). Requests
// without a key share one bucket per client address.
type RateLimit struct {
	PerSecond float64
	Burst     int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func (*RateLimit) Name() string { return "rate-limit" }
func (*RateLimit) Phase() Phase { return Inbound }
func (f *RateLimit) Apply(x *Exchange) error {
	id := x.KeyHash
	if id == "" {
		host, _, err := net.SplitHostPort(x.Req.RemoteAddr)
		if err != nil {
			host = x.Req.RemoteAddr
		}
		id = "addr:" + host
	}
	f.mu.Lock()
	if f.buckets == nil || len(f.buckets) > 100000 {
		f.buckets = map[string]*rate.Limiter{}
	}
	l := f.buckets[id]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(f.PerSecond), max(f.Burst, 1))
		f.buckets[id] = l
	}
	f.mu.Unlock()
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		secs := int(d.Seconds()) + 1
		return &Reject{Status: http.StatusTooManyRequests, Code: "rate_limited", Reason: "rate_limit",
			Message: fmt.Sprintf("this key may make %g requests a second through the gateway; try again in %d s", f.PerSecond, secs),
			Header:  http.Header{"Retry-After": {strconv.Itoa(secs)}}}
	}
	return nil
}

// Router matches a request to the first route whose method and path
// prefix fit.
type Router struct{ Routes []*Route }

func (Router) Name() string { return "router" }
func (Router) Phase() Phase { return Endpoint }
func (f Router) Apply(x *Exchange) error {
	for _, r := range f.Routes {
		if r.matches(x.Req) {
			x.Route = r
			if r.Group != "" {
				x.Group = r.Group
			}
			return nil
		}
	}
	return &Reject{Status: http.StatusNotFound, Code: "not_found", Reason: "no_route",
		Message: "no gateway route for " + x.Req.Method + " " + x.Req.URL.Path}
}

// Canary sends Share (0..1) of the requests to the canary group: those for
// which Draw (default math/rand/v2's Float64) returns less than Share.
type Canary struct {
	Share float64
	Draw  func() float64
}

func (Canary) Name() string { return "canary" }
func (Canary) Phase() Phase { return Endpoint }
func (f Canary) Apply(x *Exchange) error {
	if f.Share <= 0 || x.Group != MainGroup {
		return nil
	}
	draw := f.Draw
	if draw == nil {
		draw = mrand.Float64
	}
	if draw() < f.Share {
		x.Group = CanaryGroup
	}
	return nil
}

// Shard sends requests to a group by the value of a header, or of the
// caller's tenant when Header is "tenant": a value in Map goes to its
// group; any other value, when Groups is set, to one of Groups by hash, so
// a tenant always lands on the same shard.
type Shard struct {
	Header string
	Map    map[string]string
	Groups []string
}

func (f Shard) Name() string { return "shard-" + strings.ToLower(f.Header) }
func (Shard) Phase() Phase   { return Endpoint }
func (f Shard) Apply(x *Exchange) error {
	v := x.Tenant
	if !strings.EqualFold(f.Header, "tenant") {
		v = x.Req.Header.Get(f.Header)
	}
	if v == "" {
		return nil
	}
	if g, ok := f.Map[v]; ok {
		x.Group = g
		return nil
	}
	if len(f.Groups) > 0 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(v))
		x.Group = f.Groups[int(h.Sum32()%uint32(len(f.Groups)))]
	}
	return nil
}

// Gzip compresses a response the client accepts gzip for, when it is
// text-like, not already encoded and not an event stream.
type Gzip struct{}

func (Gzip) Name() string { return "gzip" }
func (Gzip) Phase() Phase { return Outbound }
func (Gzip) Apply(x *Exchange) error {
	resp := x.Resp
	ct := resp.Header.Get("Content-Type")
	if !acceptsGzip(x.Req) || resp.Header.Get("Content-Encoding") != "" || x.Req.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified ||
		resp.StatusCode == http.StatusPartialContent || strings.HasPrefix(ct, "text/event-stream") ||
		!(strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "xml") || strings.Contains(ct, "mpegurl")) {
		return nil
	}
	if resp.ContentLength >= 0 && resp.ContentLength < 256 {
		return nil // not worth it
	}
	pr, pw := io.Pipe()
	src := resp.Body
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, src)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		src.Close()
		pw.CloseWithError(err)
	}()
	resp.Body = pr
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	resp.Header.Set("Content-Encoding", "gzip")
	resp.Header.Add("Vary", "Accept-Encoding")
	return nil
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			q, err := strconv.ParseFloat(v, 64)
			return err == nil && q > 0
		}
		return true
	}
	return false
}

// Headers adds and removes response headers, and sends the request id
// back.
type Headers struct {
	Add    map[string]string
	Remove []string
}

func (Headers) Name() string { return "headers" }
func (Headers) Phase() Phase { return Outbound }
func (f Headers) Apply(x *Exchange) error {
	for _, k := range f.Remove {
		x.Resp.Header.Del(k)
	}
	for k, v := range f.Add {
		x.Resp.Header.Set(k, v)
	}
	if x.ID != "" {
		x.Resp.Header.Set("X-Request-ID", x.ID)
	}
	return nil
}
