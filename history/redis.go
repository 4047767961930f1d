package history

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the live section on Redis Cluster (or one Redis): per profile
// a sorted set of its event keys by time, "hist:{profile}", and a hash of
// the events, "histd:{profile}". The profile is the hash tag: both keys
// of a profile live in one slot, so each write is one transaction on one
// node, and profiles spread over the cluster's masters.
type Redis struct{ C redis.UniversalClient }

var _ Live = (*Redis)(nil)

func zkey(profile string) string { return "hist:{" + profile + "}" }
func hkey(profile string) string { return "histd:{" + profile + "}" }

// Append writes events, a transaction per profile.
func (r *Redis) Append(ctx context.Context, evs ...Event) error {
	byProfile := map[string][]Event{}
	for _, e := range evs {
		byProfile[e.Profile] = append(byProfile[e.Profile], e)
	}
	for p, es := range byProfile {
		_, err := r.C.TxPipelined(ctx, func(tx redis.Pipeliner) error {
			for _, e := range es {
				v, err := json.Marshal(e)
				if err != nil {
					return err
				}
				tx.ZAdd(ctx, zkey(p), redis.Z{Score: float64(e.At.UnixMilli()), Member: e.Key()})
				tx.HSet(ctx, hkey(p), e.Key(), v)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("history append %s: %w", p, err)
		}
	}
	return nil
}

func (r *Redis) load(ctx context.Context, profile string, keys []string) ([]Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := r.C.HMGet(ctx, hkey(profile), keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // deleted between the two reads
		}
		var e Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("history event %s %s: %w", profile, keys[i], err)
		}
		out = append(out, e)
	}
	sortEvents(out)
	return out, nil
}

// Events returns a profile's events in key order.
func (r *Redis) Events(ctx context.Context, profile string) ([]Event, error) {
	keys, err := r.C.ZRange(ctx, zkey(profile), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	return r.load(ctx, profile, keys)
}

// Older walks every profile with events from before cutoff, scanning each
// master for the profiles' sorted sets (the masters at once, f one call
// at a time).
func (r *Redis) Older(ctx context.Context, cutoff time.Time, f func(string, []Event) error) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "hist:{*}", 500).Iterator()
		for it.Next(ctx) {
			k := it.Val()
			profile := strings.TrimSuffix(strings.TrimPrefix(k, "hist:{"), "}")
			keys, err := r.C.ZRangeByScore(ctx, k, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10)}).Result()
			if err != nil {
				return err
			}
			evs, err := r.load(ctx, profile, keys)
			if err != nil {
				return err
			}
			old := evs[:0]
			for _, e := range evs {
				if e.At.Before(cutoff) {
					old = append(old, e)
				}
			}
			if len(old) > 0 {
				mu.Lock()
				err := f(profile, old)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
		}
		return it.Err()
	}
	switch c := r.C.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	}
	return fmt.Errorf("history: a %T cannot be scanned", r.C)
}

// Delete removes events, a transaction per profile.
func (r *Redis) Delete(ctx context.Context, evs []Event) error {
	byProfile := map[string][]string{}
	for _, e := range evs {
		byProfile[e.Profile] = append(byProfile[e.Profile], e.Key())
	}
	for p, keys := range byProfile {
		members := make([]any, len(keys))
		for i, k := range keys {
			members[i] = k
		}
		_, err := r.C.TxPipelined(ctx, func(tx redis.Pipeliner) error {
			tx.ZRem(ctx, zkey(p), members...)
			tx.HDel(ctx, hkey(p), keys...)
			return nil
		})
		if err != nil {
			return fmt.Errorf("history delete %s: %w", p, err)
		}
	}
	return nil
}
