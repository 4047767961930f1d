package edge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// registry is a registry whose answer the test sets.
type registry struct {
	mu    sync.Mutex
	infos []Info
	err   error
	reads atomic.Int64
}

func (r *registry) Edges(context.Context) ([]Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads.Add(1)
	return r.infos, r.err
}

// readAgain waits until steering has read the registry twice more, so
// that at least one whole refresh saw what the test set.
func (r *registry) readAgain(t *testing.T) {
	t.Helper()
	n := r.reads.Load()
	waitFor(t, 5*time.Second, func() bool { return r.reads.Load() >= n+2 })
}

func TestSteering(t *testing.T) {
	o := newOrigin(t)
	o.put("vod/job-0001/master.m3u8", 100)
	type running struct {
		e    *Edge
		srv  *httptest.Server
		mute atomic.Bool // stop answering
	}
	edges := map[string]*running{}
	reg := &registry{}
	for _, z := range []struct{ name, zone string }{{"a1", "z1"}, {"a2", "z1"}, {"b1", "z2"}} {
		e, err := New(Config{Name: z.name, Zone: z.zone, Origin: o.URL, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		r := &running{e: e}
		h := e.Handler()
		r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if r.mute.Load() {
				time.Sleep(time.Second) // past the check's timeout
				return
			}
			h.ServeHTTP(w, req)
		}))
		t.Cleanup(r.srv.Close)
		edges[z.name] = r
		srv := r.srv
		reg.infos = append(reg.infos, Info{Name: z.name, Zone: z.zone, URL: srv.URL, PID: 1})
	}
	zones, err := ParseZoneMap("10.2.0.0/16=z2, 10.0.0.0/8=z1")
	if err != nil {
		t.Fatal(err)
	}
	s := &Steering{Registry: reg, Zones: zones, Interval: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	healthyCount := func() int {
		n := 0
		for _, v := range s.Edges() {
			if v.Healthy {
				n++
			}
		}
		return n
	}
	waitFor(t, 5*time.Second, func() bool { return healthyCount() == 3 })

	// The client's zone, from the header or from the address map.
	req := httptest.NewRequest(http.MethodGet, "/v1/play/x", nil)
	req.RemoteAddr = "10.2.3.4:5000"
	if z := s.ClientZone(req); z != "z2" {
		t.Fatalf("zone of 10.2.3.4 = %q", z)
	}
	req.RemoteAddr = "10.9.3.4:5000"
	if z := s.ClientZone(req); z != "z1" {
		t.Fatalf("zone of 10.9.3.4 = %q", z)
	}
	req.Header.Set("X-Client-Zone", "z2")
	if z := s.ClientZone(req); z != "z2" {
		t.Fatalf("X-Client-Zone: %q", z)
	}
	if v, ok := s.Pick("z2", "job-0001"); !ok || v.Name != "b1" {
		t.Fatalf("z2 client got %+v", v)
	}
	// In z1, the edge that holds the title wins over an idle one.
	if resp, err := http.Get(edges["a2"].srv.URL + "/vod/job-0001/master.m3u8"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fill a2: %v", err)
	}
	waitFor(t, 5*time.Second, func() bool { v, _ := s.Pick("z1", "job-0001"); return v.Name == "a2" })
	// For another title, the least loaded: a2 has served a request.
	if v, _ := s.Pick("z1", "job-0002"); v.Name != "a1" {
		t.Fatalf("least loaded in z1 for another title: %s", v.Name)
	}
	// A zone with no edge: the least loaded healthy edge anywhere.
	if v, ok := s.Pick("z9", "job-0002"); !ok || v.Name == "a2" {
		t.Fatalf("unknown zone: %+v", v)
	}

	// b1 stops answering: out of the set within 5 s (z2 clients go to z1),
	// and back once it answers again.
	stopped := time.Now()
	edges["b1"].mute.Store(true)
	waitFor(t, 5*time.Second, func() bool { v, _ := s.Pick("z2", "job-0001"); return v.Zone == "z1" })
	t.Logf("b1 out of the steering set %v after it stopped answering", time.Since(stopped).Round(10*time.Millisecond))
	edges["b1"].mute.Store(false)
	waitFor(t, 5*time.Second, func() bool { v, _ := s.Pick("z2", "job-0001"); return v.Name == "b1" })

	// The registry fails: the last known map still steers.
	reg.mu.Lock()
	reg.err = errors.New("redis down")
	reg.mu.Unlock()
	reg.readAgain(t)
	if v, ok := s.Pick("z2", "job-0001"); !ok || v.Name != "b1" {
		t.Fatalf("with the registry down: %+v %v", v, ok)
	}
	// The registry comes back empty (Redis restarted and lost the
	// registrations): the known edges stay while they register again...
	reg.mu.Lock()
	saved := reg.infos
	reg.infos, reg.err = nil, nil
	reg.mu.Unlock()
	reg.readAgain(t)
	if v, ok := s.Pick("z2", "job-0001"); !ok || v.Name != "b1" || len(s.Edges()) != 3 {
		t.Fatalf("just after the registry came back empty: %+v %v, %d edges", v, ok, len(s.Edges()))
	}
	// ...and an edge that does not register within a registration's
	// lifetime is forgotten.
	reg.mu.Lock()
	reg.infos = saved[:2]
	reg.mu.Unlock()
	waitFor(t, 5*time.Second, func() bool { return len(s.Edges()) == 2 })
	if v, ok := s.Pick("z2", "job-0001"); !ok || v.Zone != "z1" {
		t.Fatalf("b1 not registered again: %+v %v", v, ok)
	}

	// No edge healthy: no pick, the API falls back to the origin.
	for _, r := range edges {
		r.srv.Close()
	}
	waitFor(t, 5*time.Second, func() bool { return healthyCount() == 0 })
	if _, ok := s.Pick("z1", "job-0001"); ok {
		t.Fatal("picked an edge with none healthy")
	}
}

func TestParseZoneMap(t *testing.T) {
	zm, err := ParseZoneMap("10.0.0.0/8=z1,10.1.0.0/16=z2")
	if err != nil || zm[0].Prefix != netip.MustParsePrefix("10.1.0.0/16") {
		t.Fatalf("%v %v", zm, err)
	}
	for _, bad := range []string{"10.0.0.0=z1", "10.0.0.0/8", "x/8=z1", "10.0.0.0/8="} {
		if _, err := ParseZoneMap(bad); err == nil {
			t.Errorf("ParseZoneMap(%q) accepted", bad)
		}
	}
}
