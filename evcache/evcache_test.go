package evcache

import (
	"bytes"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/reel-video/reel/internal/testenv"
)

func TestReplicatedCache(t *testing.T) {
	z1, z2 := testenv.Memcached(t), testenv.Memcached(t)
	c, err := New(Config{Zone: "z2", Replicas: map[string][]string{"z1": {z1.Addr}, "z2": {z2.Addr}}, Backoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	raw1, raw2 := memcache.New(z1.Addr), memcache.New(z2.Addr)

	// A write lands in every zone.
	c.Set("job:a", []byte("v1"), time.Minute)
	for zone, raw := range map[string]*memcache.Client{"z1": raw1, "z2": raw2} {
		it, err := raw.Get("reel:job:a")
		if err != nil || string(it.Value) != "v1" {
			t.Fatalf("%s after Set: %v %v", zone, it, err)
		}
	}
	// Reads go to the local zone (z2) first.
	_ = raw1.Set(&memcache.Item{Key: "reel:job:a", Value: []byte("z1 copy")})
	if v, ok := c.Get("job:a"); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q %v, want the local zone's v1", v, ok)
	}
	// A local miss falls back to another zone and repairs the local copy.
	_ = raw2.Delete("reel:job:a")
	if v, ok := c.Get("job:a"); !ok || string(v) != "z1 copy" {
		t.Fatalf("Get after a local miss = %q %v", v, ok)
	}
	if it, err := raw2.Get("reel:job:a"); err != nil || string(it.Value) != "z1 copy" {
		t.Fatalf("local zone not repaired: %v %v", it, err)
	}
	// Delete invalidates every zone.
	c.Delete("job:a")
	if _, ok := c.Get("job:a"); ok {
		t.Fatal("value still there after Delete")
	}
	// An illegal key (spaces, long) is hashed, not refused.
	long := string(bytes.Repeat([]byte("x "), 200))
	c.Set(long, []byte("ok"), time.Minute)
	if v, ok := c.Get(long); !ok || string(v) != "ok" {
		t.Fatalf("long key: %q %v", v, ok)
	}

	// Losing the local server: reads come from the other zone and writes
	// still succeed there.
	c.Set("job:b", []byte("v2"), time.Minute)
	z2.Stop()
	if v, ok := c.Get("job:b"); !ok || string(v) != "v2" {
		t.Fatalf("Get with the local zone down = %q %v", v, ok)
	}
	c.Set("job:c", []byte("v3"), time.Minute)
	if v, ok := c.Get("job:c"); !ok || string(v) != "v3" {
		t.Fatalf("Set with the local zone down, then Get = %q %v", v, ok)
	}
	st := c.Stats()
	if st[0].Zone != "z2" || st[0].Errors == 0 || st[0].Up {
		t.Fatalf("stats of the dead local zone: %+v", st[0])
	}
	// Losing every server is a miss, never an error or a hang.
	z1.Stop()
	start := time.Now()
	c.Set("job:d", []byte("v4"), time.Minute)
	if _, ok := c.Get("job:d"); ok {
		t.Fatal("hit with every server down")
	}
	c.Delete("job:d")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("operations with every server down took %v", d)
	}
}

func TestParseReplicas(t *testing.T) {
	m, err := ParseReplicas("z1=127.0.0.1:1,127.0.0.1:2; z2=127.0.0.1:3")
	if err != nil || len(m["z1"]) != 2 || m["z2"][0] != "127.0.0.1:3" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"z1", "=1.2.3.4:5", "z1=host", "z1= , "} {
		if _, err := ParseReplicas(bad); err == nil {
			t.Errorf("ParseReplicas(%q) accepted", bad)
		}
	}
}
