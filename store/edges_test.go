package store

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/internal/testenv"
)

func TestEdgeRegistryAndAnnouncements(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	ctx := context.Background()
	e := &Edges{C: rdb}
	if err := e.Register(ctx, edge.Info{Name: "edge-z1", Zone: "z1", URL: "http://127.0.0.1:1", PID: 7}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(ctx, edge.Info{Name: "edge-z2", Zone: "z2", URL: "http://127.0.0.1:2", PID: 8}, time.Minute); err != nil {
		t.Fatal(err)
	}
	list, err := e.Edges(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("%v %v", list, err)
	}
	// A registration not renewed lapses.
	time.Sleep(1100 * time.Millisecond)
	if list, _ = e.Edges(ctx); len(list) != 1 || list[0].Name != "edge-z2" || list[0].PID != 8 {
		t.Fatalf("after the lapse: %+v", list)
	}
	if err := e.Deregister(ctx, "edge-z2"); err != nil {
		t.Fatal(err)
	}
	if list, _ = e.Edges(ctx); len(list) != 0 {
		t.Fatalf("after deregister: %+v", list)
	}

	// Announcements are read in order, from a cursor.
	if titles, err := e.Read(ctx, ""); err != nil || len(titles) != 0 {
		t.Fatalf("empty stream: %v %v", titles, err)
	}
	for _, id := range []string{"job-1", "job-2"} {
		if err := e.Announce(ctx, id, []string{"vod/" + id + "/master.m3u8", "vod/" + id + "/360p/seg_00000.m4s"}); err != nil {
			t.Fatal(err)
		}
	}
	titles, err := e.Read(ctx, "")
	if err != nil || len(titles) != 2 || titles[0].ID != "job-1" || titles[1].Keys[1] != "vod/job-2/360p/seg_00000.m4s" {
		t.Fatalf("%+v %v", titles, err)
	}
	rest, err := e.Read(ctx, titles[0].Cursor)
	if err != nil || len(rest) != 1 || rest[0].ID != "job-2" {
		t.Fatalf("after the first cursor: %+v %v", rest, err)
	}
}
