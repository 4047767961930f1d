// Package store keeps Reel's jobs, progress counters, fan-in sets, API keys
// (as their hashes), rate-limit counts, resumable-upload locks, named
// locks (a title's manifests), the edge registry and the published-title
// announcements in Redis, and carries
// change notifications over Redis pub/sub.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/pipeline"
)

// Redis is a pipeline.Store on Redis.
type Redis struct {
	C redis.UniversalClient
}

var _ pipeline.Store = (*Redis)(nil)

const jobsKey = "reel:jobs"

func jobKey(id string) string       { return "reel:job:" + id }
func tenantJobsKey(t string) string { return "reel:tenant:" + t + ":jobs" }
func countersKey(id string) string  { return "reel:job:" + id + ":counters" }
func doneKey(id string) string      { return "reel:job:" + id + ":done" }
func eventsChan(id string) string   { return "reel:job:" + id + ":events" }

// Create stores a new job; an existing id is an error.
func (r *Redis) Create(ctx context.Context, j *pipeline.Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	ok, err := r.C.SetNX(ctx, jobKey(j.ID), data, 0).Result()
	if err != nil {
		return RedisError(err, "store create "+j.ID)
	}
	if !ok {
		return fmt.Errorf("store create %s: id already exists", j.ID)
	}
	// The indexes may live on other Cluster nodes than the record: one
	// pipeline, not one transaction (List skips what it cannot load).
	_, err = r.C.Pipelined(ctx, func(p redis.Pipeliner) error {
		z := redis.Z{Score: float64(j.CreatedAt.UnixNano()), Member: j.ID}
		p.ZAdd(ctx, jobsKey, z)
		if j.Tenant != "" {
			p.ZAdd(ctx, tenantJobsKey(j.Tenant), z)
		}
		return nil
	})
	if err != nil {
		return RedisError(err, "store create "+j.ID)
	}
	r.notify(ctx, j.ID)
	return nil
}

// Get loads a job.
func (r *Redis) Get(ctx context.Context, id string) (*pipeline.Job, error) {
	data, err := r.C.Get(ctx, jobKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, pipeline.ErrNotFound
	}
	if err != nil {
		return nil, RedisError(err, "store get "+id)
	}
	var j pipeline.Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, RedisError(err, "store get "+id)
	}
	return &j, nil
}

// Update applies fn under optimistic locking (WATCH/MULTI), retrying when
// another process changed the job meanwhile.
func (r *Redis) Update(ctx context.Context, id string, fn func(*pipeline.Job) error) (*pipeline.Job, error) {
	var out *pipeline.Job
	key := jobKey(id)
	for attempt := 0; attempt < 50; attempt++ {
		err := r.C.Watch(ctx, func(tx *redis.Tx) error {
			data, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				return pipeline.ErrNotFound
			}
			if err != nil {
				return err
			}
			var j pipeline.Job
			if err := json.Unmarshal(data, &j); err != nil {
				return err
			}
			if err := fn(&j); err != nil {
				return err
			}
			data, err = json.Marshal(&j)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, data, 0)
				return nil
			})
			out = &j
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			if errors.Is(err, pipeline.ErrNotFound) || !Unreachable(err) {
				return nil, err
			}
			return nil, RedisError(err, "store update "+id)
		}
		r.notify(ctx, id)
		return out, nil
	}
	return nil, fmt.Errorf("store update %s: too much contention", id)
}

// List returns jobs newest first: tenant's, or all when tenant is "".
func (r *Redis) List(ctx context.Context, tenant string, offset, limit int) ([]*pipeline.Job, int, error) {
	index := jobsKey
	if tenant != "" {
		index = tenantJobsKey(tenant)
	}
	total, err := r.C.ZCard(ctx, index).Result()
	if err != nil {
		return nil, 0, RedisError(err, "store list")
	}
	ids, err := r.C.ZRangeArgs(ctx, redis.ZRangeArgs{Key: index, Start: offset, Stop: offset + limit - 1, Rev: true}).Result()
	if err != nil {
		return nil, 0, RedisError(err, "store list")
	}
	// One round trip for the page (a pipeline, which a Cluster client
	// splits by node), not one per job.
	gets := make([]*redis.StringCmd, len(ids))
	_, err = r.C.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			gets[i] = p.Get(ctx, jobKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, RedisError(err, "store list")
	}
	jobs := make([]*pipeline.Job, 0, len(ids))
	for i, g := range gets {
		data, err := g.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, 0, RedisError(err, "store list")
		}
		var j pipeline.Job
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, 0, fmt.Errorf("store list %s: %w", ids[i], err)
		}
		jobs = append(jobs, &j)
	}
	return jobs, int(total), nil
}

// SetCounter sets one progress counter and notifies subscribers.
func (r *Redis) SetCounter(ctx context.Context, id, field string, v float64) error {
	if err := r.C.HSet(ctx, countersKey(id), field, v).Err(); err != nil {
		return RedisError(err, "store counter "+id)
	}
	r.notify(ctx, id)
	return nil
}

// Counters returns every progress counter of a job.
func (r *Redis) Counters(ctx context.Context, id string) (map[string]float64, error) {
	m, err := r.C.HGetAll(ctx, countersKey(id)).Result()
	if err != nil {
		return nil, RedisError(err, "store counters "+id)
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			out[k] = f
		}
	}
	return out, nil
}

// AddDone adds unit to the job's set of finished units and returns the
// set's size, in one transaction.
func (r *Redis) AddDone(ctx context.Context, id, unit string) (int64, error) {
	var card *redis.IntCmd
	_, err := r.C.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, doneKey(id), unit)
		card = p.SCard(ctx, doneKey(id))
		return nil
	})
	if err != nil {
		return 0, RedisError(err, "store done "+id)
	}
	return card.Val(), nil
}

// DoneUnits returns the units AddDone recorded.
func (r *Redis) DoneUnits(ctx context.Context, id string) (map[string]bool, error) {
	units, err := r.C.SMembers(ctx, doneKey(id)).Result()
	if err != nil {
		return nil, RedisError(err, "store done "+id)
	}
	out := make(map[string]bool, len(units))
	for _, u := range units {
		out[u] = true
	}
	return out, nil
}

// Subscribe signals on the returned channel whenever the job changes.
func (r *Redis) Subscribe(ctx context.Context, id string) (<-chan struct{}, error) {
	ps := r.C.Subscribe(ctx, eventsChan(id))
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, RedisError(err, "store subscribe "+id)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer ps.Close()
		msgs := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default: // a signal is already pending
				}
			}
		}
	}()
	return out, nil
}

func (r *Redis) notify(ctx context.Context, id string) {
	// Notifications are best effort: readers also re-read on reconnect.
	_ = r.C.Publish(ctx, eventsChan(id), "changed").Err()
}
