package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/store"
)

func TestStreams(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	s := &store.Streams{C: rdb}
	for _, id := range []string{"a", "b"} {
		if ok, _, err := s.Acquire(ctx, 1, id, 2, time.Minute); !ok || err != nil {
			t.Fatalf("stream %s: %v %v", id, ok, err)
		}
	}
	if ok, n, err := s.Acquire(ctx, 1, "c", 2, time.Minute); ok || n != 2 || err != nil {
		t.Fatalf("a third stream on a plan of two: ok %v, playing %d, %v", ok, n, err)
	}
	if ok, _, _ := s.Acquire(ctx, 1, "a", 2, time.Minute); !ok {
		t.Fatal("renewing a playing stream was refused")
	}
	if ok, _, _ := s.Acquire(ctx, 2, "c", 2, time.Minute); !ok {
		t.Fatal("another account's streams counted")
	}
	if err := s.Release(ctx, 1, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.Acquire(ctx, 1, "c", 2, time.Minute); !ok {
		t.Fatal("a stream after another ended was refused")
	}
	// A lease that ran out no longer counts.
	if ok, _, _ := s.Acquire(ctx, 3, "short", 1, 50*time.Millisecond); !ok {
		t.Fatal("first stream refused")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, _, err := s.Acquire(ctx, 3, "next", 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an ended lease still counts after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
