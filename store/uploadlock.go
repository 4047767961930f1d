package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
)

// UploadLocker is tusd's upload lock in Redis, so that any number of API
// instances can serve the same resumable upload: one request at a time
// writes to it, wherever it arrives. A holder renews its lock while it
// runs; the lock of an instance that died lapses after TTL. A request that
// wants a held lock asks the holder, over pub/sub, to let go (tusd then
// ends the holder's request, as when a client resumes before its old
// connection has drained).
type UploadLocker struct {
	C redis.UniversalClient
	// TTL is how long a lock outlives a holder that stopped renewing it
	// (an API instance that died mid-request); default 10 s.
	TTL time.Duration
}

// UseIn makes tusd use the locker.
func (l *UploadLocker) UseIn(c *handler.StoreComposer) { c.UseLocker(l) }

// NewLock returns the lock of upload id.
func (l *UploadLocker) NewLock(id string) (handler.Lock, error) {
	return &uploadLock{l: l, key: "reel:upload-lock:" + id}, nil
}

func (l *UploadLocker) ttl() time.Duration {
	if l.TTL <= 0 {
		return 10 * time.Second
	}
	return l.TTL
}

type uploadLock struct {
	l     *UploadLocker
	key   string
	token string
	stop  context.CancelFunc
	done  sync.WaitGroup
}

// Compare-and-act scripts: only the holder's token renews or releases.
var (
	renewScript  = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

// Lock takes the lock, asking its holder to release it and waiting until
// ctx ends (handler.ErrLockTimeout).
func (u *uploadLock) Lock(ctx context.Context, requestRelease func()) error {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	u.token = hex.EncodeToString(raw[:])
	release := u.key + ":release"
	for asked := false; ; {
		ok, err := u.l.C.SetNX(ctx, u.key, u.token, u.l.ttl()).Result()
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ok {
			break
		}
		if !asked {
			_ = u.l.C.Publish(ctx, release, "release").Err()
			asked = true
		}
		select {
		case <-ctx.Done():
			return handler.ErrLockTimeout
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Hold it: renew, and pass on requests to release.
	hctx, stop := context.WithCancel(context.Background())
	u.stop = stop
	sub := u.l.C.Subscribe(hctx, release)
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		defer sub.Close()
		tick := time.NewTicker(u.l.ttl() / 3)
		defer tick.Stop()
		msgs := sub.Channel()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
				_ = renewScript.Run(hctx, u.l.C, []string{u.key}, u.token, u.l.ttl().Milliseconds()).Err()
			case _, ok := <-msgs:
				if !ok {
					return
				}
				requestRelease()
			}
		}
	}()
	return nil
}

// Unlock releases the lock if this holder still has it.
func (u *uploadLock) Unlock() error {
	if u.stop != nil {
		u.stop()
		u.done.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return unlockScript.Run(ctx, u.l.C, []string{u.key}, u.token).Err()
}
