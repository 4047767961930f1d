package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Info is how an edge registers itself.
type Info struct {
	Name string `json:"name"`
	Zone string `json:"zone"`
	URL  string `json:"url"` // base URL players fetch from
	PID  int    `json:"pid"`
}

// Registry lists the registered edges.
type Registry interface {
	Edges(ctx context.Context) ([]Info, error)
}

// View is an edge as steering sees it: what it registered and what its
// last health check said.
type View struct {
	Name       string  `json:"name"`
	Zone       string  `json:"zone"`
	URL        string  `json:"url"`
	PID        int     `json:"pid"`
	Healthy    bool    `json:"healthy"`
	Load       float64 `json:"load"`
	Active     int64   `json:"active"`
	BytesHeld  int64   `json:"bytes_held"`
	TitlesHeld int     `json:"titles_held"`
	// CheckedAt is the last health check that answered.
	CheckedAt *time.Time `json:"checked_at,omitempty"`

	titles   map[string]bool
	version  int64
	failures int
}

// Steering keeps the edge map (from the registry, checked actively) and
// picks the best edge for a client.
type Steering struct {
	Registry Registry
	// Zones maps client networks to zones, for clients that do not send
	// X-Client-Zone.
	Zones []ZoneNet
	// Interval is the health check period; default 1 s. An edge is out
	// of the steering set after Failures checks in a row fail (default 2)
	// and back after one answers.
	Interval time.Duration
	Failures int
	Log      *slog.Logger

	mu     sync.Mutex
	edges  map[string]*View
	client *http.Client
}

// ZoneNet maps a client network to a zone.
type ZoneNet struct {
	Prefix netip.Prefix
	Zone   string
}

// ParseZoneMap reads "10.1.0.0/16=z1,10.2.0.0/16=z2" (REEL_ZONE_MAP).
func ParseZoneMap(s string) ([]ZoneNet, error) {
	var out []ZoneNet
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		cidr, zone, ok := strings.Cut(part, "=")
		p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if !ok || err != nil || strings.TrimSpace(zone) == "" {
			return nil, fmt.Errorf("zone map entry %q: want CIDR=ZONE, such as 10.1.0.0/16=z1", part)
		}
		out = append(out, ZoneNet{Prefix: p.Masked(), Zone: strings.TrimSpace(zone)})
	}
	// Most specific first.
	sort.SliceStable(out, func(a, b int) bool { return out[a].Prefix.Bits() > out[b].Prefix.Bits() })
	return out, nil
}

// ClientZone returns the zone of a request: X-Client-Zone, else the zone
// of the client address (the first X-Forwarded-For address, else the peer)
// in the zone map, else "".
func (s *Steering) ClientZone(r *http.Request) string {
	if z := strings.TrimSpace(r.Header.Get("X-Client-Zone")); z != "" && len(z) <= 64 {
		return z
	}
	host := r.RemoteAddr
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		host = strings.TrimSpace(strings.Split(xff, ",")[0])
	} else if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	for _, zn := range s.Zones {
		if zn.Prefix.Contains(addr) {
			return zn.Zone
		}
	}
	return ""
}

// Run refreshes the edge map and checks every edge until ctx ends. When
// the registry cannot be read, the last known map is kept. A registry that
// comes back may have lost every registration (a Redis restarted without
// them, or with them expired): for one registration lifetime after that
// (RegistrationPeriods intervals, see Heartbeat) an edge missing from it is kept, so the
// edges have time to register again before steering forgets them.
func (s *Steering) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = time.Second
	}
	if s.Failures <= 0 {
		s.Failures = 2
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.mu.Lock()
	if s.edges == nil {
		s.edges = map[string]*View{}
	}
	s.client = &http.Client{Timeout: s.Interval * 8 / 10}
	s.mu.Unlock()
	var registryDown bool
	var keepUntil time.Time
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		infos, err := s.Registry.Edges(ctx)
		if err != nil && !registryDown && ctx.Err() == nil {
			s.Log.Warn("cannot read the edge registry; steering with the last known edges", "err", err)
		}
		if err == nil && registryDown {
			keep := RegistrationPeriods * s.Interval
			keepUntil = time.Now().Add(keep)
			s.Log.Info("edge registry readable again; keeping the known edges while they register", "for", keep)
		}
		registryDown = err != nil
		if err == nil {
			s.merge(infos, time.Now().After(keepUntil))
		}
		s.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// merge applies the registry's list. Edges missing from it are dropped
// only when prune is set.
func (s *Steering) merge(infos []Info, prune bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, in := range infos {
		seen[in.Name] = true
		v, ok := s.edges[in.Name]
		if !ok || v.URL != in.URL || v.PID != in.PID {
			nv := &View{Name: in.Name, Zone: in.Zone, URL: in.URL, PID: in.PID}
			if ok && v.URL == in.URL {
				// Restarted on the same address: keep its health until
				// the next check. A new address is checked first.
				nv.Healthy, nv.CheckedAt = v.Healthy, v.CheckedAt
			}
			s.edges[in.Name] = nv
		}
	}
	for name := range s.edges {
		if prune && !seen[name] {
			delete(s.edges, name) // its registration lapsed
		}
	}
}

func (s *Steering) checkAll(ctx context.Context) {
	s.mu.Lock()
	views := make([]View, 0, len(s.edges))
	for _, v := range s.edges {
		views = append(views, *v)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.check(ctx, v)
		}()
	}
	wg.Wait()
}

// check asks one edge for its status, and for its title list when that
// changed since the last check.
func (s *Steering) check(ctx context.Context, v View) {
	var st Status
	err := s.getJSON(ctx, v.URL+"/healthz", &st)
	var titles map[string]bool
	if err == nil && st.TitlesVersion != v.version {
		var tl struct {
			Titles []string `json:"titles"`
		}
		if terr := s.getJSON(ctx, v.URL+"/titles", &tl); terr == nil {
			titles = make(map[string]bool, len(tl.Titles))
			for _, t := range tl.Titles {
				titles[t] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.edges[v.Name]
	if !ok || cur.URL != v.URL {
		return
	}
	if err != nil {
		cur.failures++
		if cur.failures >= s.Failures && cur.Healthy {
			cur.Healthy = false
			s.Log.Warn("edge out of the steering set", "edge", v.Name, "err", err)
		}
		return
	}
	if !cur.Healthy {
		s.Log.Info("edge in the steering set", "edge", v.Name, "zone", st.Zone)
	}
	now := time.Now()
	cur.failures, cur.Healthy, cur.CheckedAt = 0, st.Healthy, &now
	cur.Load, cur.Active, cur.BytesHeld, cur.TitlesHeld = st.Load, st.Active, st.BytesHeld, st.TitlesHeld
	if titles != nil {
		cur.titles, cur.version = titles, st.TitlesVersion
	}
}

func (s *Steering) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Edges returns the edge map, by name.
func (s *Steering) Edges() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.edges))
	for _, v := range s.edges {
		out = append(out, *v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Route is Pick for the API: the chosen edge's base URL, name and zone.
func (s *Steering) Route(zone, title string) (url, name, edgeZone string, ok bool) {
	v, ok := s.Pick(zone, title)
	return v.URL, v.Name, v.Zone, ok
}

// Status is Edges for the API's edge listing.
func (s *Steering) Status() any { return s.Edges() }

// Pick returns the best healthy edge for a client in zone asking for
// title: one in the client's zone if any is healthy, otherwise any
// healthy one; among those, one that holds the title, then the least
// loaded. ok is false when no edge is healthy.
func (s *Steering) Pick(zone, title string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var inZone, all []*View
	for _, v := range s.edges {
		if !v.Healthy {
			continue
		}
		all = append(all, v)
		if zone != "" && v.Zone == zone {
			inZone = append(inZone, v)
		}
	}
	cands := all
	if len(inZone) > 0 {
		cands = inZone
	}
	if len(cands) == 0 {
		return View{}, false
	}
	sort.Slice(cands, func(a, b int) bool {
		ha, hb := cands[a].titles[title], cands[b].titles[title]
		if ha != hb {
			return ha
		}
		if cands[a].Load != cands[b].Load {
			return cands[a].Load < cands[b].Load
		}
		if cands[a].Active != cands[b].Active {
			return cands[a].Active < cands[b].Active
		}
		return cands[a].Name < cands[b].Name
	})
	return *cands[0], true
}
