package pipeline

import (
	"context"
	"encoding/json"
	"time"
)

// Cache is a shared cache for hot reads, such as the evcache client. It
// never fails: trouble is a miss.
type Cache interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte, ttl time.Duration)
	Delete(key string)
}

// Time each cached read may live. A job that ended changes only through
// this Store (retry), which invalidates it; one in progress changes
// often, in every worker.
const (
	CacheEnded      = 10 * time.Minute
	CacheInFlight   = 2 * time.Second
	InvalidateAgain = 500 * time.Millisecond
)

// CachedStore reads jobs and their progress counters through a Cache and
// invalidates them on every change it makes. Every process that changes
// jobs (API and workers) should use one over the same cache; one that
// does not leaves other readers at most CacheInFlight behind.
type CachedStore struct {
	Store
	Cache Cache
}

var _ Store = (*CachedStore)(nil)

func jobCacheKey(id string) string      { return "job:" + id }
func countersCacheKey(id string) string { return "counters:" + id }

// Get returns the job from the cache, or from the store (and caches it).
func (c *CachedStore) Get(ctx context.Context, id string) (*Job, error) {
	if raw, ok := c.Cache.Get(jobCacheKey(id)); ok {
		var j Job
		if json.Unmarshal(raw, &j) == nil && j.ID == id {
			return &j, nil
		}
	}
	j, err := c.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ttl := CacheInFlight
	if j.Status.Terminal() {
		ttl = CacheEnded
	}
	if raw, err := json.Marshal(j); err == nil {
		c.Cache.Set(jobCacheKey(id), raw, ttl)
	}
	return j, nil
}

// Update changes the job in the store and invalidates its cached copy,
// twice: at once, and again a moment later, after any reader that read
// the old job before the change has had time to cache it.
func (c *CachedStore) Update(ctx context.Context, id string, fn func(*Job) error) (*Job, error) {
	j, err := c.Store.Update(ctx, id, fn)
	if err == nil {
		c.Cache.Delete(jobCacheKey(id))
		time.AfterFunc(InvalidateAgain, func() { c.Cache.Delete(jobCacheKey(id)) })
	}
	return j, err
}

// Counters returns the job's progress counters, cached for CacheInFlight.
func (c *CachedStore) Counters(ctx context.Context, id string) (map[string]float64, error) {
	if raw, ok := c.Cache.Get(countersCacheKey(id)); ok {
		var m map[string]float64
		if json.Unmarshal(raw, &m) == nil {
			return m, nil
		}
	}
	m, err := c.Store.Counters(ctx, id)
	if err != nil {
		return nil, err
	}
	if raw, err := json.Marshal(m); err == nil {
		c.Cache.Set(countersCacheKey(id), raw, CacheInFlight)
	}
	return m, nil
}

// SetCounter changes a counter and invalidates the cached counters.
func (c *CachedStore) SetCounter(ctx context.Context, id, field string, v float64) error {
	err := c.Store.SetCounter(ctx, id, field, v)
	if err == nil {
		c.Cache.Delete(countersCacheKey(id))
	}
	return err
}
