package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/webhooks"
)

// Webhooks keeps webhook endpoints and their deliveries in Redis. An
// endpoint's keys share the hash tag {wh:ID}, so its deliveries are
// written together in a Redis Cluster too.
type Webhooks struct {
	C redis.UniversalClient
}

var _ webhooks.Store = (*Webhooks)(nil)

const (
	// DeliveriesKept is how many of an endpoint's latest deliveries are
	// listed; DeliveryTTL is how long one is kept.
	DeliveriesKept = 500
	DeliveryTTL    = 30 * 24 * time.Hour
)

func webhookKey(id string) string      { return "reel:{wh:" + id + "}" }
func webhookTenantKey(t string) string { return "reel:webhooks:" + t }
func webhookJobKey(job string) string  { return "reel:webhooks-job:" + job }

// setKey is the set an endpoint is listed in: its job's, or its
// tenant's.
func setKey(e webhooks.Endpoint) string {
	if e.Job != "" {
		return webhookJobKey(e.Job)
	}
	return webhookTenantKey(e.Tenant)
}
func deliveryKey(ep, event string) string { return "reel:{wh:" + ep + "}:d:" + event }
func deliveriesKey(ep string) string      { return "reel:{wh:" + ep + "}:deliveries" }

// Create stores a new endpoint.
func (w *Webhooks) Create(ctx context.Context, e webhooks.Endpoint) error {
	raw, _ := json.Marshal(e)
	// The record first: an id listed for the tenant always has one.
	if err := w.C.Set(ctx, webhookKey(e.ID), raw, 0).Err(); err != nil {
		return RedisError(err, "create webhook "+e.ID)
	}
	if err := w.C.SAdd(ctx, setKey(e), e.ID).Err(); err != nil {
		return RedisError(err, "create webhook "+e.ID)
	}
	return nil
}

// Get returns an endpoint with its secret.
func (w *Webhooks) Get(ctx context.Context, id string) (webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	raw, err := w.C.Get(ctx, webhookKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return e, fmt.Errorf("webhook %s: %w", id, webhooks.ErrNotFound)
	}
	if err != nil {
		return e, RedisError(err, "webhook "+id)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("webhook %s: %w", id, err)
	}
	return e, nil
}

// List returns a tenant's endpoints (not its jobs' own), oldest first,
// with their secrets.
func (w *Webhooks) List(ctx context.Context, tenant string) ([]webhooks.Endpoint, error) {
	return w.list(ctx, webhookTenantKey(tenant))
}

// ListJob returns a job's own endpoints, oldest first, with their
// secrets.
func (w *Webhooks) ListJob(ctx context.Context, job string) ([]webhooks.Endpoint, error) {
	return w.list(ctx, webhookJobKey(job))
}

func (w *Webhooks) list(ctx context.Context, set string) ([]webhooks.Endpoint, error) {
	ids, err := w.C.SMembers(ctx, set).Result()
	if err != nil {
		return nil, RedisError(err, "list webhooks")
	}
	var out []webhooks.Endpoint
	for _, id := range ids {
		e, err := w.Get(ctx, id)
		if errors.Is(err, webhooks.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Delete removes an endpoint; its deliveries lapse with their TTL.
func (w *Webhooks) Delete(ctx context.Context, id string) error {
	e, err := w.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := w.C.SRem(ctx, setKey(e), id).Err(); err != nil {
		return RedisError(err, "delete webhook "+id)
	}
	if err := w.C.Del(ctx, webhookKey(id)).Err(); err != nil {
		return RedisError(err, "delete webhook "+id)
	}
	return nil
}

// Save writes a delivery and lists it among the endpoint's latest.
func (w *Webhooks) Save(ctx context.Context, d webhooks.Delivery) error {
	raw, _ := json.Marshal(d)
	_, err := w.C.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, deliveryKey(d.Endpoint, d.EventID), raw, DeliveryTTL)
		p.ZAddNX(ctx, deliveriesKey(d.Endpoint), redis.Z{Score: float64(d.Created.UnixNano()), Member: d.EventID})
		p.ZRemRangeByRank(ctx, deliveriesKey(d.Endpoint), 0, -DeliveriesKept-1)
		p.Expire(ctx, deliveriesKey(d.Endpoint), DeliveryTTL)
		return nil
	})
	if err != nil {
		return RedisError(err, "save webhook delivery "+d.EventID)
	}
	return nil
}

// Delivery returns one delivery.
func (w *Webhooks) Delivery(ctx context.Context, ep, event string) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	raw, err := w.C.Get(ctx, deliveryKey(ep, event)).Bytes()
	if errors.Is(err, redis.Nil) {
		return d, fmt.Errorf("delivery %s: %w", event, webhooks.ErrNotFound)
	}
	if err != nil {
		return d, RedisError(err, "webhook delivery "+event)
	}
	return d, json.Unmarshal(raw, &d)
}

// Deliveries returns an endpoint's latest deliveries, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, ep string, limit int) ([]webhooks.Delivery, error) {
	ids, err := w.C.ZRevRange(ctx, deliveriesKey(ep), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, RedisError(err, "list webhook deliveries")
	}
	out := []webhooks.Delivery{}
	for _, id := range ids {
		d, err := w.Delivery(ctx, ep, id)
		if errors.Is(err, webhooks.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
