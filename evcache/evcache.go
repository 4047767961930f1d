// Package evcache is a replicated cache over memcached in the manner of
// Netflix's EVCache: one replica per zone, writes go to every replica,
// reads go to the local zone first and to another zone on a miss or an
// error. A cache that cannot be reached is a miss, never a failure.
package evcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Config names the replicas. The zero value of each optional field is the
// documented default.
type Config struct {
	// Zone is the caller's zone; its replica is read first.
	Zone string
	// Replicas maps a zone to its memcached servers (host:port). Keys are
	// sharded over a zone's servers; every zone holds every key.
	Replicas map[string][]string
	// Timeout bounds one operation on one server; default 100 ms.
	Timeout time.Duration
	// Prefix namespaces every key; default "reel:".
	Prefix string
	// Backoff is how long a replica that failed is skipped; default 1 s.
	Backoff time.Duration
	Log     *slog.Logger
}

// Client reads and writes the replicas. It is safe for concurrent use.
type Client struct {
	replicas []*replica // local zone first
	prefix   string
	backoff  time.Duration
	log      *slog.Logger
	now      func() time.Time
}

type replica struct {
	zone string
	mc   *memcache.Client
	// downUntil (unix nanoseconds) skips a replica that just failed, so a
	// dead server costs one failed dial a second, not one per request.
	downUntil atomic.Int64
	hits      atomic.Int64
	misses    atomic.Int64
	errors    atomic.Int64
}

// ParseReplicas reads "z1=host:port,host:port;z2=host:port" into a zone
// map, the format of REEL_MEMCACHED.
func ParseReplicas(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		zone, servers, ok := strings.Cut(part, "=")
		zone = strings.TrimSpace(zone)
		if !ok || zone == "" {
			return nil, fmt.Errorf("memcached replicas %q: want ZONE=HOST:PORT[,HOST:PORT][;ZONE=...]", part)
		}
		for _, a := range strings.Split(servers, ",") {
			if a = strings.TrimSpace(a); a != "" {
				if !strings.Contains(a, ":") {
					return nil, fmt.Errorf("memcached server %q in zone %s: want HOST:PORT", a, zone)
				}
				out[zone] = append(out[zone], a)
			}
		}
		if len(out[zone]) == 0 {
			return nil, fmt.Errorf("memcached zone %s has no servers", zone)
		}
	}
	return out, nil
}

// New returns a client over the replicas in c.
func New(c Config) (*Client, error) {
	if len(c.Replicas) == 0 {
		return nil, errors.New("evcache: no replicas")
	}
	if c.Timeout <= 0 {
		c.Timeout = 100 * time.Millisecond
	}
	if c.Prefix == "" {
		c.Prefix = "reel:"
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	zones := make([]string, 0, len(c.Replicas))
	for z := range c.Replicas {
		zones = append(zones, z)
	}
	// Local zone first, the others in name order.
	sort.Slice(zones, func(a, b int) bool {
		if (zones[a] == c.Zone) != (zones[b] == c.Zone) {
			return zones[a] == c.Zone
		}
		return zones[a] < zones[b]
	})
	cl := &Client{prefix: c.Prefix, backoff: c.Backoff, log: c.Log.With("component", "evcache"), now: time.Now}
	for _, z := range zones {
		mc := memcache.New(c.Replicas[z]...)
		mc.Timeout = c.Timeout
		mc.MaxIdleConns = 16
		cl.replicas = append(cl.replicas, &replica{zone: z, mc: mc})
	}
	return cl, nil
}

// key turns a cache key into a legal memcached key: at most 250 bytes
// without spaces or control characters.
func (c *Client) key(k string) string {
	k = c.prefix + k
	ok := len(k) <= 250
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] > ' ' && k[i] != 0x7f
	}
	if ok {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return c.prefix + "h:" + hex.EncodeToString(sum[:])
}

func (c *Client) up(r *replica) bool { return c.now().UnixNano() >= r.downUntil.Load() }

func (c *Client) failed(r *replica, op string, err error) {
	r.errors.Add(1)
	if r.downUntil.Swap(c.now().Add(c.backoff).UnixNano()) < c.now().UnixNano() {
		c.log.Warn("memcached replica failed; using the others", "zone", r.zone, "op", op, "err", err)
	}
}

// Get returns the value of key from the first replica that has it, local
// zone first. A value found in another zone is written back to the
// replicas that missed it. Any trouble is a miss.
func (c *Client) Get(key string) ([]byte, bool) {
	k := c.key(key)
	var missed []*replica
	for _, r := range c.replicas {
		if !c.up(r) {
			continue
		}
		it, err := r.mc.Get(k)
		switch {
		case err == nil:
			r.hits.Add(1)
			for _, m := range missed {
				_ = m.mc.Set(&memcache.Item{Key: k, Value: it.Value, Expiration: it.Expiration})
			}
			return it.Value, true
		case errors.Is(err, memcache.ErrCacheMiss):
			r.misses.Add(1)
			missed = append(missed, r)
		default:
			c.failed(r, "get", err)
		}
	}
	return nil, false
}

// Set writes key to every replica at once and waits for them, each
// bounded by the timeout. ttl is rounded up to whole seconds (at most 30
// days, memcached's relative limit).
func (c *Client) Set(key string, value []byte, ttl time.Duration) {
	secs := int32(min((ttl+time.Second-1)/time.Second, 30*24*3600))
	it := &memcache.Item{Key: c.key(key), Value: value, Expiration: secs}
	c.each("set", func(r *replica) error { return r.mc.Set(it) })
}

// Delete removes key from every replica (invalidation on change).
func (c *Client) Delete(key string) {
	k := c.key(key)
	c.each("delete", func(r *replica) error {
		if err := r.mc.Delete(k); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return err
		}
		return nil
	})
}

func (c *Client) each(op string, fn func(*replica) error) {
	var wg sync.WaitGroup
	for _, r := range c.replicas {
		if !c.up(r) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(r); err != nil {
				c.failed(r, op, err)
			}
		}()
	}
	wg.Wait()
}

// ZoneStats counts one replica's reads.
type ZoneStats struct {
	Zone   string `json:"zone"`
	Hits   int64  `json:"hits"`
	Misses int64  `json:"misses"`
	Errors int64  `json:"errors"`
	Up     bool   `json:"up"`
}

// Stats reports each replica's counters, local zone first.
func (c *Client) Stats() []ZoneStats {
	out := make([]ZoneStats, 0, len(c.replicas))
	for _, r := range c.replicas {
		out = append(out, ZoneStats{Zone: r.zone, Hits: r.hits.Load(), Misses: r.misses.Load(), Errors: r.errors.Load(), Up: c.up(r)})
	}
	return out
}
