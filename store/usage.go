package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Usage keeps the bytes each tenant stores, finished title by title, in
// Redis: a hash of each title's bytes and their total, which one script
// keeps in step (both keys share a Redis Cluster slot).
type Usage struct {
	C redis.UniversalClient
}

func usageKey(tenant string) string      { return "reel:usage:{" + tenant + "}" }
func usageTotalKey(tenant string) string { return "reel:usage-total:{" + tenant + "}" }

// setUsage records a title's bytes (0 removes it) and moves the total
// by the difference; it answers the new total.
var setUsage = redis.NewScript(`
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local new = tonumber(ARGV[2])
if new == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], new) end
return redis.call('INCRBY', KEYS[2], new - old)`)

// Set records that title id of tenant stores n bytes.
func (u *Usage) Set(ctx context.Context, tenant, id string, n int64) error {
	if err := setUsage.Run(ctx, u.C, []string{usageKey(tenant), usageTotalKey(tenant)}, id, n).Err(); err != nil {
		return RedisError(err, "record the bytes of a title of "+tenant)
	}
	return nil
}

// Remove stops counting title id of tenant (its files were deleted).
func (u *Usage) Remove(ctx context.Context, tenant, id string) error {
	return u.Set(ctx, tenant, id, 0)
}

// Total is the bytes tenant stores.
func (u *Usage) Total(ctx context.Context, tenant string) (int64, error) {
	n, err := u.C.Get(ctx, usageTotalKey(tenant)).Int64()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, RedisError(err, "read the bytes "+tenant+" stores")
	}
	return n, nil
}
