package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/gateway"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// gatewayFile is the optional JSON configuration file of `reel gateway`
// (REEL_GATEWAY_CONFIG, --config), for what does not fit a variable.
type gatewayFile struct {
	Groups map[string][]*gateway.Upstream `json:"groups"` // more upstream groups (shards)
	Routes []*gateway.Route               `json:"routes"`
	Shard  *struct {
		Header string            `json:"header"` // a header name, or "tenant"
		Map    map[string]string `json:"map"`
		Groups []string          `json:"groups"`
	} `json:"shard"`
	Reject []struct {
		Header  string `json:"header"`
		Pattern string `json:"pattern"`
	} `json:"reject"`
	AddHeaders    map[string]string `json:"add_headers"`
	RemoveHeaders []string          `json:"remove_headers"`
}

// parseUpstreams reads "z1=http://host:port,z2=http://host:port".
func parseUpstreams(s string) ([]*gateway.Upstream, error) {
	var out []*gateway.Upstream
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		zone, u, ok := strings.Cut(part, "=")
		if !ok || zone == "" || !strings.HasPrefix(u, "http") {
			return nil, fmt.Errorf("upstream %q: want ZONE=http://HOST:PORT", part)
		}
		out = append(out, &gateway.Upstream{Zone: zone, URL: u})
	}
	return out, nil
}

// keyTenants checks API keys against the key store for the gateway.
type keyTenants struct{ keys *store.CachedKeys }

func (k keyTenants) Tenant(ctx context.Context, key string) (string, error) {
	rec, err := k.keys.Lookup(ctx, key)
	if errors.Is(err, pipeline.ErrNoKey) {
		return "", gateway.ErrUnknownKey
	}
	return rec.Tenant, err
}

func runGateway(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("gateway", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := c.Validate("gateway"); err != nil {
		return err
	}
	upstreams, canary, cfgFile, rejectUA := c.GatewayUpstreams, c.GatewayCanary, c.GatewayConfig, c.GatewayRejectUA
	share, rateLimit := c.GatewayCanaryShare, c.GatewayRateLimit
	log := logger("gateway", stderr)
	main, err := parseUpstreams(upstreams)
	if err != nil {
		return err
	}
	if len(main) == 0 {
		return errors.New("configuration: REEL_GATEWAY_UPSTREAMS (--upstream) is required: ZONE=URL of each API instance")
	}
	gc := gateway.Config{Groups: map[string][]*gateway.Upstream{gateway.MainGroup: main}, Log: log}
	if canary != "" {
		if gc.Groups[gateway.CanaryGroup], err = parseUpstreams(canary); err != nil {
			return err
		}
	}
	var file gatewayFile
	if cfgFile != "" {
		raw, err := os.ReadFile(cfgFile)
		if err != nil {
			return fmt.Errorf("gateway config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&file); err != nil {
			return fmt.Errorf("gateway config %s: %w", cfgFile, err)
		}
		for name, ups := range file.Groups {
			gc.Groups[name] = ups
		}
		gc.Routes = file.Routes
	}
	// The API's web pages need no key (they ask for one, or for a
	// viewer's sign-in), nor do a title's objects under /t/ (their
	// playback token guards them).
	check := gateway.APIKey{Open: []string{"/healthz", "/ui/", "/t/", "/v1/openapi.json"}}
	// The viewer side's services: each gets its group and a route in
	// front of the defaults. Viewers carry session tokens, not API keys:
	// the services check sessions and operators' keys themselves.
	for _, svc := range []struct {
		route, group, prefix, urls, env string
		fallback                        bool
	}{
		{"accounts", AccountsGroup, "/v1/accounts", c.GatewayAccounts, "REEL_GATEWAY_ACCOUNTS", false},
		{"catalog", CatalogGroup, "/v1/catalog", c.GatewayCatalog, "REEL_GATEWAY_CATALOG", true},
		{"history", HistoryGroup, "/v1/history", c.GatewayHistory, "REEL_GATEWAY_HISTORY", false},
		{"events", EventsGroup, "/v1/events", c.GatewayEvents, "REEL_GATEWAY_EVENTS", false},
		{"support", SupportGroup, "/v1/support", c.GatewaySupport, "REEL_GATEWAY_SUPPORT", false},
		{"recs", RecsGroup, "/v1/recs", c.GatewayRecs, "REEL_GATEWAY_RECS", false},
		{"recs-titles", RecsGroup, "/v1/titles", c.GatewayRecs, "REEL_GATEWAY_RECS", false},
	} {
		if svc.urls == "" {
			continue
		}
		if gc.Groups[svc.group], err = parseUpstreams(svc.urls); err != nil {
			return fmt.Errorf("%s: %w", svc.env, err)
		}
		if gc.Routes == nil {
			gc.Routes = gateway.DefaultRoutes()
		}
		gc.Routes = append([]*gateway.Route{{Name: svc.route, Prefix: svc.prefix, Group: svc.group,
			Timeout: gateway.Duration(15 * time.Second), MaxConcurrent: 256, Fallback: svc.fallback}}, gc.Routes...)
		check.Open = append(check.Open, svc.prefix)
		if svc.group == CatalogGroup {
			// Viewers' play requests: entitled playback in the catalog
			// service; API keys' still go to the API.
			gc.Routes = append([]*gateway.Route{{Name: "viewer-play", Prefix: "/v1/play", Bearer: accounts.SessionPrefix, Group: CatalogGroup,
				Timeout: gateway.Duration(5 * time.Second), MaxConcurrent: 256}}, gc.Routes...)
			check.Pass = append(check.Pass, accounts.SessionPrefix)
		}
	}
	filters := []gateway.Filter{gateway.RequestID{}}
	if rejectUA != "" {
		file.Reject = append(file.Reject, struct {
			Header  string `json:"header"`
			Pattern string `json:"pattern"`
		}{"User-Agent", rejectUA})
	}
	for _, r := range file.Reject {
		re, err := regexp.Compile(r.Pattern)
		if err != nil || r.Header == "" {
			return fmt.Errorf("gateway reject rule %q on %q: want a header and a valid regular expression", r.Pattern, r.Header)
		}
		filters = append(filters, gateway.RejectRule{Header: r.Header, Pattern: re})
	}
	if rdb := redisFor(c); rdb != nil {
		defer rdb.Close()
		check.Keys = keyTenants{&store.CachedKeys{Keys: &store.Keys{C: rdb}}}
	}
	filters = append(filters, check)
	if rateLimit > 0 {
		filters = append(filters, &gateway.RateLimit{PerSecond: rateLimit, Burst: int(2 * rateLimit)})
	}
	if share > 0 {
		filters = append(filters, gateway.Canary{Share: share})
	}
	if s := file.Shard; s != nil {
		for _, g := range append(s.Groups, groupsOf(s.Map)...) {
			if _, ok := gc.Groups[g]; !ok {
				return fmt.Errorf("gateway config: shard group %q has no upstreams in \"groups\"", g)
			}
		}
		filters = append(filters, gateway.Shard{Header: s.Header, Map: s.Map, Groups: s.Groups})
	}
	filters = append(filters, gateway.Gzip{}, gateway.Headers{Add: file.AddHeaders, Remove: file.RemoveHeaders})
	gc.Filters = filters
	if cache, err := cacheFor(c, log); err != nil {
		return err
	} else if cache != nil {
		gc.Fallbacks = cache
	}
	em, stopEvents := emitterFor(c, "gateway", log)
	defer stopEvents()
	if em != nil {
		gc.Report = func(typ, route, code, message string) {
			em.Emit(events.Event{Type: typ, Code: code, Message: message, Attrs: map[string]string{"route": route}})
		}
	}
	g, err := gateway.New(gc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("gateway listen %s: %w", c.Addr, err)
	}
	hctx, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	go g.Run(hctx)
	log.Info("gateway listening", "addr", ln.Addr().String(), "upstreams", len(main), "canary_share", share)
	return serve(ctx, ln, g)
}

// The gateway's upstream groups of the viewer side's services.
const (
	AccountsGroup = "accounts"
	CatalogGroup  = "catalog"
	HistoryGroup  = "history"
	EventsGroup   = "events"
	SupportGroup  = "support"
	RecsGroup     = "recs"
)

func groupsOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
