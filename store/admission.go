package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Admission keeps each tenant's running jobs and its waiting line in
// Redis (pipeline.Admission): a set of the jobs whose tasks are in the
// queue, at most Share of them, and a list of the jobs held back, oldest
// first. Both keys of a tenant share a Redis Cluster slot.
type Admission struct {
	C     redis.UniversalClient
	Share int
}

func runningKey(tenant string) string { return "reel:running:{" + tenant + "}" }
func waitingKey(tenant string) string { return "reel:waiting:{" + tenant + "}" }

// admit counts a job among its tenant's running jobs if there is room,
// else puts it at the end of the waiting line (once); 1 or 0.
var admit = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
if not redis.call('LPOS', KEYS[2], ARGV[1]) then redis.call('RPUSH', KEYS[2], ARGV[1]) end
return 0`)

// finish drops a job from its tenant's running set and waiting line and
// moves waiting jobs into the running set while there is room, returning
// them.
var finish = redis.NewScript(`
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('LREM', KEYS[2], 0, ARGV[1])
local admitted = {}
while redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) do
  local id = redis.call('LPOP', KEYS[2])
  if not id then break end
  redis.call('SADD', KEYS[1], id)
  admitted[#admitted + 1] = id
end
return admitted`)

// Admit counts job id among tenant's running jobs if it has fewer than
// Share, else holds it at the end of the tenant's waiting line (false).
func (a *Admission) Admit(ctx context.Context, tenant, id string) (bool, error) {
	n, err := admit.Run(ctx, a.C, []string{runningKey(tenant), waitingKey(tenant)}, id, a.Share).Int()
	if err != nil {
		return false, RedisError(err, "admit a job of "+tenant)
	}
	return n == 1, nil
}

// Count counts job id among tenant's running jobs whatever their number
// (a job retried by hand).
func (a *Admission) Count(ctx context.Context, tenant, id string) error {
	if err := a.C.SAdd(ctx, runningKey(tenant), id).Err(); err != nil {
		return RedisError(err, "count a job of "+tenant)
	}
	return nil
}

// Finish stops counting job id (it ended, or was canceled while it
// waited) and admits tenant's next waiting jobs while there is room,
// returning them in their order.
func (a *Admission) Finish(ctx context.Context, tenant, id string) ([]string, error) {
	ids, err := finish.Run(ctx, a.C, []string{runningKey(tenant), waitingKey(tenant)}, id, a.Share).StringSlice()
	if err != nil {
		return nil, RedisError(err, "finish a job of "+tenant)
	}
	return ids, nil
}

// Running lists tenant's running jobs.
func (a *Admission) Running(ctx context.Context, tenant string) ([]string, error) {
	ids, err := a.C.SMembers(ctx, runningKey(tenant)).Result()
	if err != nil {
		return nil, RedisError(err, "list the running jobs of "+tenant)
	}
	return ids, nil
}
