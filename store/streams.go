package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Streams counts each account's playback streams in Redis: a sorted set
// per account, "streams:{account}", of stream ids by the time their lease
// ends. A player renews its lease while it plays; a stream whose lease
// ran out no longer counts.
type Streams struct{ C redis.UniversalClient }

// acquire drops the ended leases, then adds the stream if fewer than max
// remain (or renews it when it is there), in one step.
var acquire = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return -1
end
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[4]) then
  return n
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return -1
`)

func streamsKey(account int64) string { return "streams:{" + strconv.FormatInt(account, 10) + "}" }

// Acquire starts (or renews) stream for account until ttl passes, unless
// limit other streams of the account are playing: then ok is false and
// playing says how many.
func (s *Streams) Acquire(ctx context.Context, account int64, stream string, limit int, ttl time.Duration) (ok bool, playing int, err error) {
	now := time.Now()
	n, err := acquire.Run(ctx, s.C, []string{streamsKey(account)}, now.UnixMilli(), now.Add(ttl).UnixMilli(), stream, limit, ttl.Milliseconds()).Int()
	if err != nil {
		return false, 0, err
	}
	return n < 0, max(n, 0), nil
}

// Release ends a stream.
func (s *Streams) Release(ctx context.Context, account int64, stream string) error {
	return s.C.ZRem(ctx, streamsKey(account), stream).Err()
}
