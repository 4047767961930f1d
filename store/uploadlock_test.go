package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/store"
)

// TestUploadLockAcrossInstances plays two API instances sharing one Redis.
func TestUploadLockAcrossInstances(t *testing.T) {
	addr := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	a := &store.UploadLocker{C: rdb, TTL: 300 * time.Millisecond}
	b := &store.UploadLocker{C: rdb, TTL: 300 * time.Millisecond}
	la, _ := a.NewLock("u1")
	var asked atomic.Int32
	if err := la.Lock(context.Background(), func() { asked.Add(1) }); err != nil {
		t.Fatal(err)
	}
	// Held past its TTL, renewed: the other instance times out, after
	// asking the holder to let go.
	lb, _ := b.NewLock("u1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := lb.Lock(ctx, func() {})
	cancel()
	if !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("second holder: %v", err)
	}
	if asked.Load() == 0 {
		t.Errorf("the holder was not asked to release")
	}
	// Once the holder lets go, the other gets it.
	got := make(chan error, 1)
	go func() { got <- lb.Lock(context.Background(), func() {}) }()
	time.Sleep(100 * time.Millisecond)
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the lock was not handed over")
	}
	// A stale holder's unlock does not free the new holder's lock.
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	lc, _ := a.NewLock("u1")
	ctx, cancel = context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := lc.Lock(ctx, func() {}); !errors.Is(err, handler.ErrLockTimeout) {
		t.Errorf("a third holder got the lock while the second held it: %v", err)
	}
	_ = lb.Unlock()
}
