package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/pipeline"
)

// Durable waits until writes already made to Redis are held by replicas
// too, so that a failover (Sentinel promoting a replica, a Cluster
// shard's replica taking over) cannot take them back: Redis replicates
// asynchronously, and a primary killed at the wrong moment loses the
// writes it had not sent yet.
//
// Replication keeps the primary's order, and a replica that holds a write
// holds every write before it; so a marker written on a key's primary
// after the writes to protect, and WAIT on that connection, covers them
// all, whichever client made them.
type Durable struct {
	C redis.UniversalClient
	// Replicas is how many replicas must confirm; 0 waits for none.
	Replicas int
	// Timeout bounds the wait; default 2 s.
	Timeout time.Duration
}

// Wait returns once Replicas replicas of the primaries of keys hold every
// write made to those primaries so far, or an error wrapping
// pipeline.ErrUnreplicated when fewer confirm within Timeout.
func (d *Durable) Wait(ctx context.Context, keys ...string) error {
	if d == nil || d.Replicas <= 0 {
		return nil
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	// One marker per primary: a Cluster's keys by the master of their
	// slot, any other client's on its one primary.
	cc, isCluster := d.C.(*redis.ClusterClient)
	seen := map[string]bool{}
	for _, key := range keys {
		marker := syncKey(key)
		var node redis.Cmdable = d.C
		primary := ""
		if isCluster {
			master, err := cc.MasterForKey(ctx, marker)
			if err != nil {
				return fmt.Errorf("wait for replicas of %s: %w", key, err)
			}
			node, primary = master, master.Options().Addr
		}
		if seen[primary] {
			continue
		}
		seen[primary] = true
		var token [8]byte
		_, _ = rand.Read(token[:])
		var acked *redis.Cmd
		// One pipeline is one connection: WAIT counts this connection's
		// writes, the marker and, by the order above, all before it.
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, marker, hex.EncodeToString(token[:]), time.Minute)
			acked = p.Do(ctx, "WAIT", d.Replicas, timeout.Milliseconds())
			return nil
		})
		if err != nil {
			return RedisError(err, "wait for replicas of "+key)
		}
		n, err := acked.Int64()
		if err != nil {
			return fmt.Errorf("wait for replicas of %s: %w", key, err)
		}
		if n < int64(d.Replicas) {
			return fmt.Errorf("%w: %d of %d replicas of %s's Redis confirmed within %s",
				pipeline.ErrUnreplicated, n, d.Replicas, key, timeout)
		}
	}
	return nil
}

// syncKey is the marker key in the hash slot of key: the key's hash tag,
// or the whole key as the tag.
func syncKey(key string) string {
	tag := key
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			tag = key[i+1 : i+1+j]
		}
	}
	return "reel:sync:{" + tag + "}"
}

// JobKeys are the keys the store writes for j: its record, listings,
// progress counters and finished units.
func JobKeys(j *pipeline.Job) []string {
	keys := []string{jobKey(j.ID), jobsKey, countersKey(j.ID), doneKey(j.ID)}
	if j.Tenant != "" {
		keys = append(keys, tenantJobsKey(j.Tenant))
	}
	return keys
}

// Unreachable says whether err means that Redis cannot serve now (no
// connection, a timeout, a primary being failed over, a replica still
// loading, a Cluster without a majority) rather than that the request
// was wrong: what a client should try again shortly.
func Unreachable(err error) bool {
	var ne net.Error
	switch {
	case err == nil:
		return false
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return redis.IsReadOnlyError(err) || redis.IsLoadingError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsNoReplicasError(err)
}

// RedisError says what failed; when Redis could not serve, it also wraps
// pipeline.ErrUnavailable, which the API answers with 503 and
// Retry-After.
func RedisError(err error, what string) error {
	if Unreachable(err) {
		return fmt.Errorf("%s: %w: %w", what, pipeline.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
