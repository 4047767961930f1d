package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/pipeline"
)

// Quotas counts each tenant's unfinished jobs in Redis, a set of job ids
// per tenant, for the limit on how many one tenant has at once.
type Quotas struct {
	C redis.UniversalClient
}

func activeKey(tenant string) string { return "reel:active:" + tenant }

// reserve adds a job to its tenant's set unless the set holds max
// already; it answers 1 (added, or there before) or 0.
var reserve = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1`)

// Reserve counts job id among tenant's unfinished jobs unless max are
// counted already: ok is false then, and n is how many. A refusal first
// drops from the count the jobs that ended without being released (a
// release lost with a crash), so the count never stays wrong.
func (q *Quotas) Reserve(ctx context.Context, tenant, id string, max int) (ok bool, n int, err error) {
	for attempt := range 2 {
		got, err := reserve.Run(ctx, q.C, []string{activeKey(tenant)}, id, max).Int()
		if err != nil {
			return false, 0, RedisError(err, "reserve a job for "+tenant)
		}
		if got == 1 {
			return true, 0, nil
		}
		if attempt == 0 {
			if err := q.reconcile(ctx, tenant); err != nil {
				return false, 0, err
			}
		}
	}
	count, err := q.C.SCard(ctx, activeKey(tenant)).Result()
	if err != nil {
		return false, 0, RedisError(err, "count jobs of "+tenant)
	}
	return false, int(count), nil
}

// reconcile drops the jobs of tenant's set that ended or are gone.
func (q *Quotas) reconcile(ctx context.Context, tenant string) error {
	ids, err := q.C.SMembers(ctx, activeKey(tenant)).Result()
	if err != nil {
		return RedisError(err, "list jobs of "+tenant)
	}
	jobs := &Redis{C: q.C}
	for _, id := range ids {
		j, err := jobs.Get(ctx, id)
		switch {
		case errors.Is(err, pipeline.ErrNotFound), err == nil && j.Status.Terminal():
			if err := q.Release(ctx, tenant, id); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// Release stops counting job id for tenant.
func (q *Quotas) Release(ctx context.Context, tenant, id string) error {
	if err := q.C.SRem(ctx, activeKey(tenant), id).Err(); err != nil {
		return RedisError(err, "release a job of "+tenant)
	}
	return nil
}
