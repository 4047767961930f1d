package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Upstream is one API instance.
type Upstream struct {
	URL  string `json:"url"`
	Zone string `json:"zone"`

	u        *url.URL
	healthy  atomic.Bool
	failures atomic.Int32
}

// Healthy reports the last health check's verdict.
func (u *Upstream) Healthy() bool { return u.healthy.Load() }

// pool balances over a group's upstreams in two tiers, as Netflix's ELBs
// did: round robin across the zones that have a healthy instance, then
// round robin across the healthy instances of the chosen zone.
type pool struct {
	name   string
	zones  []string
	byZone map[string][]*Upstream
	all    []*Upstream
	zoneRR atomic.Uint64
	instRR map[string]*atomic.Uint64
}

func newPool(name string, ups []*Upstream) (*pool, error) {
	p := &pool{name: name, byZone: map[string][]*Upstream{}, instRR: map[string]*atomic.Uint64{}}
	for _, u := range ups {
		parsed, err := url.Parse(u.URL)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return nil, fmt.Errorf("upstream group %s: %q is not an http(s) URL", name, u.URL)
		}
		if u.Zone == "" {
			u.Zone = "default"
		}
		u.u = parsed
		u.healthy.Store(true) // until a check says otherwise
		if _, ok := p.byZone[u.Zone]; !ok {
			p.zones = append(p.zones, u.Zone)
			p.instRR[u.Zone] = new(atomic.Uint64)
		}
		p.byZone[u.Zone] = append(p.byZone[u.Zone], u)
		p.all = append(p.all, u)
	}
	if len(p.all) == 0 {
		return nil, fmt.Errorf("upstream group %s has no instances", name)
	}
	sort.Strings(p.zones)
	return p, nil
}

// next picks an upstream not in tried. When no instance is healthy it
// picks among all of them (panic routing), since health checks can be
// wrong and a request that may fail beats one refused for certain.
func (p *pool) next(tried map[*Upstream]bool) *Upstream {
	if u := p.pick(tried, true); u != nil {
		return u
	}
	for _, u := range p.all {
		if u.Healthy() && !tried[u] {
			return nil // healthy ones exist but were all tried
		}
	}
	return p.pick(tried, false)
}

func (p *pool) pick(tried map[*Upstream]bool, healthyOnly bool) *Upstream {
	ok := func(u *Upstream) bool { return !tried[u] && (!healthyOnly || u.Healthy()) }
	var zones []string
	for _, z := range p.zones {
		for _, u := range p.byZone[z] {
			if ok(u) {
				zones = append(zones, z)
				break
			}
		}
	}
	if len(zones) == 0 {
		return nil
	}
	z := zones[int((p.zoneRR.Add(1)-1)%uint64(len(zones)))]
	var insts []*Upstream
	for _, u := range p.byZone[z] {
		if ok(u) {
			insts = append(insts, u)
		}
	}
	return insts[int((p.instRR[z].Add(1)-1)%uint64(len(insts)))]
}

// checker checks every upstream actively: an instance is out after
// Failures checks in a row fail and back after one answers.
type checker struct {
	path     string
	interval time.Duration
	failures int32
	client   *http.Client
	log      *slog.Logger
}

func (c *checker) run(ctx context.Context, ups []*Upstream) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, u := range ups {
			wg.Add(1)
			go func() { defer wg.Done(); c.check(ctx, u) }()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *checker) check(ctx context.Context, u *Upstream) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u.URL, "/")+c.path, nil)
	resp, err := c.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("health check answered %s", resp.Status)
		}
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if c.failures > 0 && u.failures.Add(1) >= c.failures && u.healthy.Swap(false) {
			c.log.Warn("upstream out of rotation", "upstream", u.URL, "zone", u.Zone, "err", err)
		}
		return
	}
	u.failures.Store(0)
	if !u.healthy.Swap(true) {
		c.log.Info("upstream back in rotation", "upstream", u.URL, "zone", u.Zone)
	}
}

// balancer is the innermost RoundTripper: it sends a request to an
// instance of the group the endpoint filters chose, and to another
// instance when the first could not be reached (and, for requests without
// a body, when the connection broke before an answer).
type balancer struct {
	pools     map[string]*pool
	transport http.RoundTripper
	log       *slog.Logger
}

type groupKey struct{}

func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	group, _ := req.Context().Value(groupKey{}).(string)
	p := b.pools[group]
	if p == nil {
		p = b.pools[MainGroup]
	}
	tried := map[*Upstream]bool{}
	var body *onceBody
	if req.Body != nil && req.Body != http.NoBody {
		// The transport closes a request's body when it fails; this one
		// stays open for the next instance as long as none of it was
		// sent.
		body = &onceBody{r: req.Body}
	}
	var lastErr error
	for range len(p.all) {
		u := p.next(tried)
		if u == nil {
			break
		}
		tried[u] = true
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = u.u.Scheme, u.u.Host
		out.Host = u.u.Host
		if body != nil {
			out.Body = body
		}
		resp, err := b.transport.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retryable(req, err) || (body != nil && body.read.Load()) {
			break
		}
		// Passive check: out of rotation until the active check says
		// it answers again.
		if isDial(err) && u.healthy.Swap(false) {
			b.log.Warn("upstream refused a connection; out of rotation", "upstream", u.URL, "err", err)
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no upstream instance available")
	}
	return nil, lastErr
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retryable reports whether a failed request may go to another instance:
// one that never reached its instance, or one without a body whose
// connection broke.
func retryable(req *http.Request, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if isDial(err) {
		return true
	}
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
	return idempotent && (req.Body == nil || req.Body == http.NoBody)
}

// onceBody is a request body that records whether any of it was read and
// ignores Close (the server closes the real one).
type onceBody struct {
	r    io.ReadCloser
	read atomic.Bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.read.Store(true)
	}
	return n, err
}

func (b *onceBody) Close() error { return nil }
