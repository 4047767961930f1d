package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/pipeline"
)

const (
	keysIndex = "reel:keys"  // hash: key ID -> key hash
	keyPrefix = "reel:key:"  // + hash: the Key record
	keyIDLen  = 12           // hex characters of the hash used as ID
	keyLead   = "reel_"      // every key starts with this
	rateKey   = "reel:rate:" // + key ID + ":" + window: requests counted
)

// Keys keeps API keys in Redis.
type Keys struct {
	C redis.UniversalClient
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Create makes a new key for tenant and returns it with its record; the
// key is shown this once.
func (k *Keys) Create(ctx context.Context, tenant string, admin bool, opts ...pipeline.KeyOption) (string, pipeline.Key, error) {
	if !pipeline.ValidTenant(tenant) {
		return "", pipeline.Key{}, fmt.Errorf("tenant %q: %s", tenant, pipeline.TenantRule)
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", pipeline.Key{}, err
	}
	key := keyLead + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
	rec := pipeline.Key{ID: hashKey(key)[:keyIDLen], Tenant: tenant, Admin: admin, Created: time.Now().UTC()}
	for _, o := range opts {
		o(&rec)
	}
	if err := k.store(ctx, hashKey(key), rec); err != nil {
		return "", pipeline.Key{}, err
	}
	return key, rec, nil
}

// Register stores a key chosen elsewhere (an admin key file), replacing
// any record it had.
func (k *Keys) Register(ctx context.Context, key, tenant string, admin bool) (pipeline.Key, error) {
	if !strings.HasPrefix(key, keyLead) || len(key) < len(keyLead)+20 {
		return pipeline.Key{}, fmt.Errorf("an API key starts with %q and has at least 20 more characters", keyLead)
	}
	if !pipeline.ValidTenant(tenant) {
		return pipeline.Key{}, fmt.Errorf("tenant %q: %s", tenant, pipeline.TenantRule)
	}
	rec := pipeline.Key{ID: hashKey(key)[:keyIDLen], Tenant: tenant, Admin: admin, Created: time.Now().UTC()}
	return rec, k.store(ctx, hashKey(key), rec)
}

func (k *Keys) store(ctx context.Context, hash string, rec pipeline.Key) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// The record, then the index: List skips an index entry whose record
	// is missing, and the two may live on different Cluster nodes, so
	// they are one pipeline rather than one transaction.
	_, err = k.C.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keyPrefix+hash, data, 0)
		p.HSet(ctx, keysIndex, rec.ID, hash)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	return nil
}

// Lookup returns the record of key, or pipeline.ErrNoKey.
func (k *Keys) Lookup(ctx context.Context, key string) (pipeline.Key, error) {
	if !strings.HasPrefix(key, keyLead) {
		return pipeline.Key{}, pipeline.ErrNoKey
	}
	data, err := k.C.Get(ctx, keyPrefix+hashKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return pipeline.Key{}, pipeline.ErrNoKey
	}
	if err != nil {
		return pipeline.Key{}, fmt.Errorf("look up key: %w", err)
	}
	var rec pipeline.Key
	if err := json.Unmarshal(data, &rec); err != nil {
		return pipeline.Key{}, fmt.Errorf("look up key: %w", err)
	}
	return rec, nil
}

// List returns every key's record, by tenant and then creation.
func (k *Keys) List(ctx context.Context) ([]pipeline.Key, error) {
	hashes, err := k.C.HGetAll(ctx, keysIndex).Result()
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := []pipeline.Key{}
	for _, h := range hashes {
		data, err := k.C.Get(ctx, keyPrefix+h).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		var rec pipeline.Key
		if json.Unmarshal(data, &rec) == nil {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Created.Before(out[j].Created)
	})
	return out, nil
}

// Revoke deletes the key with the given ID.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	h, err := k.C.HGet(ctx, keysIndex, id).Result()
	if errors.Is(err, redis.Nil) {
		return pipeline.ErrNoKey
	}
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	// The record first: once it is gone the key no longer works.
	_, err = k.C.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keyPrefix+h)
		p.HDel(ctx, keysIndex, id)
		return nil
	})
	return err
}

// Allow counts one request of key id in the current window of length per
// and reports whether it is within limit, and if not how long until the
// window ends. Every API instance shares the count through Redis.
func (k *Keys) Allow(ctx context.Context, id string, limit int, per time.Duration) (bool, time.Duration, error) {
	now := time.Now()
	window := now.Truncate(per)
	key := fmt.Sprintf("%s%s:%d", rateKey, id, window.Unix())
	var n *redis.IntCmd
	_, err := k.C.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*per)
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	return n.Val() <= int64(limit), window.Add(per).Sub(now), nil
}

// KeyCacheTTL is how long CachedKeys trusts a key it found without asking
// Redis again: a key revoked through another process keeps working there
// that long at most.
const KeyCacheTTL = 30 * time.Second

// CachedKeys is Keys with the keys found remembered in process, by their
// SHA-256. When Redis cannot be reached, a key found before is trusted
// however old, so published titles keep playing while Redis is down.
type CachedKeys struct {
	*Keys
	// OnStale, if set, is told when a remembered key is trusted because
	// Redis failed.
	OnStale func(k pipeline.Key, err error)

	mu    sync.Mutex
	found map[[32]byte]cachedKey
}

type cachedKey struct {
	key pipeline.Key
	at  time.Time
}

// Lookup finds a key, from memory when it was found less than
// KeyCacheTTL ago.
func (c *CachedKeys) Lookup(ctx context.Context, key string) (pipeline.Key, error) {
	h := sha256.Sum256([]byte(key))
	c.mu.Lock()
	cached, ok := c.found[h]
	c.mu.Unlock()
	if ok && time.Since(cached.at) < KeyCacheTTL {
		return cached.key, nil
	}
	k, err := c.Keys.Lookup(ctx, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		if c.found == nil || len(c.found) >= 10000 {
			c.found = map[[32]byte]cachedKey{}
		}
		c.found[h] = cachedKey{k, time.Now()}
	case errors.Is(err, pipeline.ErrNoKey):
		delete(c.found, h)
	case ok:
		if c.OnStale != nil {
			c.OnStale(cached.key, err)
		}
		return cached.key, nil
	}
	return k, err
}

// Revoke revokes the key and forgets it here at once.
func (c *CachedKeys) Revoke(ctx context.Context, id string) error {
	err := c.Keys.Revoke(ctx, id)
	c.mu.Lock()
	for h, k := range c.found {
		if k.key.ID == id {
			delete(c.found, h)
		}
	}
	c.mu.Unlock()
	return err
}
