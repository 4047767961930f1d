package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Locks are named mutual-exclusion locks in Redis, for work that one
// process at a time may do wherever it runs (the writes of one title's
// published manifests). A holder renews its lock while it holds it; the
// lock of a process that died lapses after TTL.
type Locks struct {
	C redis.UniversalClient
	// TTL is how long a lock outlives a holder that stopped renewing it;
	// default 15 s.
	TTL time.Duration
	// Poll is how often a waiting Lock tries again; default 50 ms.
	Poll time.Duration
}

func lockKey(name string) string { return "reel:lock:" + name }

func (l *Locks) ttl() time.Duration {
	if l.TTL <= 0 {
		return 15 * time.Second
	}
	return l.TTL
}

// Lock takes the named lock, waiting for it until ctx ends, and returns
// the function that releases it (once; later calls do nothing).
func (l *Locks) Lock(ctx context.Context, name string) (func(), error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	token, key := hex.EncodeToString(raw[:]), lockKey(name)
	poll := l.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	for {
		ok, err := l.C.SetNX(ctx, key, token, l.ttl()).Result()
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: %w", name, ctx.Err())
		case <-time.After(poll):
		}
	}
	hctx, stop := context.WithCancel(context.Background())
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(l.ttl() / 3)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
				_ = renewScript.Run(hctx, l.C, []string{key}, token, l.ttl().Milliseconds()).Err()
			}
		}
	}()
	released := false
	return func() {
		if released {
			return
		}
		released = true
		stop()
		<-renewed
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(ctx, l.C, []string{key}, token).Err()
	}, nil
}
