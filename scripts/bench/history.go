package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/history"
	"github.com/reel-video/reel/origin"
)

// historyLoad drives the viewing history store as players and viewers
// do, 9 heartbeats to 1 history read, on each live section: embedded
// pebble and a local Redis Cluster (3 masters, a replica each), with the
// compressed section on a local MinIO. Each profile starts with a month
// of older heartbeats compacted into a block, so reads merge both
// sections.
func historyLoad(dir string, ops, clients int) error {
	ctx := context.Background()
	s3, stopS3, err := benchS3(ctx, filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer stopS3()
	rc, err := devstack.StartRedisCluster(ctx, "", filepath.Join(dir, "redis-cluster"), 3, 1)
	if err != nil {
		return err
	}
	defer rc.Stop()
	peb, err := history.OpenPebble(filepath.Join(dir, "pebble"))
	if err != nil {
		return err
	}
	defer peb.Close()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	defer cluster.Close()
	fmt.Printf("\n## Viewing history: 9 heartbeats to 1 read\n\n%d operations from %d clients over 500 profiles; each profile starts with 60 heartbeats compacted into a zstd block on MinIO, so a read lists and reads S3 as well as the live section. Heartbeats are synced (pebble's WAL; Redis with AOF, everysec).\n\n", ops, clients)
	fmt.Println("| live section | heartbeats/s | reads/s | read p50 | read p99 | write p99 | compacted bytes/row |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, b := range []struct {
		name string
		live history.Live
	}{{"pebble (embedded)", peb}, {"Redis Cluster (3+3 nodes)", &history.Redis{C: cluster}}} {
		st := &history.Store{Live: b.live, Blocks: s3, Bucket: s3.Bucket(), Prefix: "bench-" + b.name[:5] + "/"}
		month := time.Now().Add(-31 * 24 * time.Hour)
		var seed []history.Event
		for p := range 500 {
			for i := range 60 {
				seed = append(seed, history.Event{Profile: fmt.Sprint(p), Title: fmt.Sprintf("t%d", i/20), Position: float64(i%20) * 10,
					Duration: 1800, Device: "tv", At: month.Add(time.Duration(p*60+i) * time.Second)})
			}
		}
		for i := 0; i < len(seed); i += 500 {
			if err := b.live.Append(ctx, seed[i:min(i+500, len(seed))]...); err != nil {
				return err
			}
		}
		rep, err := st.Compact(ctx, time.Now().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: history %s: %d operations\n", b.name, ops)
		var mu sync.Mutex
		var reads, writes []time.Duration
		var wg sync.WaitGroup
		start := time.Now()
		per := ops / clients
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(c), 9))
				var rs, ws []time.Duration
				for i := range per {
					p := fmt.Sprint(r.IntN(500))
					t0 := time.Now()
					if i%10 == 9 {
						if _, err := st.Events(ctx, p); err != nil {
							fmt.Fprintln(os.Stderr, "bench: history read:", err)
							return
						}
						rs = append(rs, time.Since(t0))
						continue
					}
					e := history.Event{Profile: p, Title: "t9", Position: float64(i), Duration: 1800, Device: fmt.Sprint("c", c), At: time.Now()}
					if err := b.live.Append(ctx, e); err != nil {
						fmt.Fprintln(os.Stderr, "bench: history write:", err)
						return
					}
					ws = append(ws, time.Since(t0))
				}
				mu.Lock()
				reads, writes = append(reads, rs...), append(writes, ws...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		slices.Sort(reads)
		slices.Sort(writes)
		q := func(d []time.Duration, f float64) string {
			if len(d) == 0 {
				return "-"
			}
			return d[int(f*float64(len(d)-1))].Round(10 * time.Microsecond).String()
		}
		fmt.Printf("| %s | %.0f | %.0f | %s | %s | %s | %.1f |\n", b.name, float64(len(writes))/el, float64(len(reads))/el,
			q(reads, 0.5), q(reads, 0.99), q(writes, 0.99), rep.BytesPerRow)
	}
	return nil
}

// benchS3 starts a MinIO server in dir and returns a client with both
// buckets made, and a function that stops the server.
func benchS3(ctx context.Context, dir string) (*origin.S3, func(), error) {
	mp, err := devstack.StartMinio(ctx, "", dir)
	if err != nil {
		return nil, nil, err
	}
	s3, err := origin.New(origin.Config{Endpoint: mp.Addr, AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"})
	if err == nil {
		err = s3.EnsureBuckets(ctx)
	}
	if err != nil {
		mp.Stop()
		return nil, nil, err
	}
	return s3, mp.Stop, nil
}
