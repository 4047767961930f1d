package e2e

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// TestFaultRedisFailover runs `reel dev` on a Redis primary and replica
// watched by three Sentinels and kills the primary with SIGKILL while a
// job encodes and new jobs keep arriving. The Sentinels promote the
// replica; the API and the workers follow it; the job completes with the
// same output as an undisturbed run; and every job creation the API
// acknowledged (201) is still there, since the API waits for a replica
// before it acknowledges one (REEL_REDIS_WAIT).
func TestFaultRedisFailover(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "redis-cli", "minio")
	// Its own stack, mostly waiting on failovers: it runs beside the
	// other such tests once the shared stacks' tests are done.
	t.Parallel()
	ctx := context.Background()
	dir, err := stackDir("reel-failover-")
	if err != nil {
		t.Fatal(err)
	}
	ha, err := devstack.StartRedisHA(ctx, "", filepath.Join(dir, "redis"), "reel")
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Stop()
	minio, err := devstack.StartMinio(ctx, "", filepath.Join(dir, "minio"))
	if err != nil {
		t.Fatal(err)
	}
	defer minio.Stop()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := launchDev(t, buildReel(t), port, filepath.Join(dir, "data"), []string{
		"REEL_S3_ACCESS_KEY=" + devstack.MinioUser, "REEL_S3_SECRET_KEY=" + devstack.MinioPassword, "REEL_RETRY_DELAY=1s",
		"REEL_REDIS_SENTINELS=" + ha.SentinelAddrs()[0] + "," + ha.SentinelAddrs()[1] + "," + ha.SentinelAddrs()[2],
	}, "--s3", minio.Addr)
	defer s.stop()
	s.readKey(t)

	master := failoverMaster(t)
	calm := s.awaitEnd(t, s.submit(t, master, failoverLadder), 5*time.Minute)
	checkComplete(t, s, calm)

	tiny := testenv.Generate(t, filepath.Join(t.TempDir(), "tiny.mp4"), "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	tinyData, err := os.ReadFile(tiny)
	if err != nil {
		t.Fatal(err)
	}
	id := s.submit(t, master, failoverLadder)
	encoding(t, id)

	// New jobs keep arriving through the failover.
	var (
		mu        sync.Mutex
		acked     []string
		refused   = map[string]int{}
		stopFeed  = make(chan struct{})
		feedEnded = make(chan struct{})
	)
	go func() {
		defer close(feedEnded)
		c := s.client()
		for i := 0; ; i++ {
			select {
			case <-stopFeed:
				return
			case <-time.After(300 * time.Millisecond):
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			v, err := c.Submit(rctx, bytes.NewReader(tinyData), "tiny-"+strconv.Itoa(i)+".mp4",
				[]byte(`{"rungs":[{"height":90,"bitrate":100000,"preset":"ultrafast"}]}`))
			cancel()
			mu.Lock()
			var ce *client.Error
			switch {
			case err == nil:
				acked = append(acked, v.ID)
			case errors.As(err, &ce):
				refused[strconv.Itoa(ce.Status)+" "+ce.Code]++
			default:
				refused["no answer"]++
			}
			mu.Unlock()
		}
	}()
	// Some creations acknowledged before the kill.
	until(t, time.Minute, "a job creation acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 0
	})

	primary, err := ha.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := ha.Node(primary)
	start := time.Now()
	ha.Kill(node)
	t.Logf("SIGKILL of the Redis primary %s while job %s encodes", primary, id)
	for {
		p, err := ha.Primary(ctx)
		if err == nil && p != primary {
			t.Logf("the Sentinels promoted %s after %s", p, time.Since(start).Round(10*time.Millisecond))
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no failover 30 s after the primary died")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The API answers from the new primary.
	for {
		if _, err := s.client().Job(ctx, id); err == nil {
			t.Logf("the API read the job from the new primary %s after the kill", time.Since(start).Round(10*time.Millisecond))
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the API does not read jobs 30 s after the failover")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The old primary comes back as a replica: new jobs are acknowledged
	// again (with no replica, the API refuses them: 503 unreplicated).
	if err := ha.Restart(ctx, node); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for {
		mu.Lock()
		n := len(acked)
		last := ""
		if n > 0 {
			last = acked[n-1]
		}
		mu.Unlock()
		if last != "" && time.Since(restarted) > 2*time.Second {
			if v, err := s.client().Job(ctx, last); err == nil && v.CreatedAt.After(restarted) {
				t.Logf("job creations acknowledged again %s after the kill", time.Since(start).Round(10*time.Millisecond))
				break
			}
		}
		if time.Since(restarted) > 60*time.Second {
			t.Fatalf("no job acknowledged 60 s after the old primary came back as a replica")
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopFeed)
	<-feedEnded

	v := s.awaitEnd(t, id, 6*time.Minute)
	t.Logf("job %s complete %s after the kill", id, time.Since(start).Round(time.Second))
	checkComplete(t, s, v)
	for i, r := range v.Renditions {
		c := calm.Renditions[i]
		if r.Frames != c.Frames || r.Quality == nil || c.Quality == nil || math.Abs(r.Quality.PSNR-c.Quality.PSNR) > 0.01 {
			t.Errorf("%s: %d frames PSNR %v, undisturbed %d frames PSNR %v", r.Name, r.Frames, r.Quality, c.Frames, c.Quality)
		}
	}
	// Every acknowledged creation survived; the small jobs are canceled
	// (or already ended) so that they do not outlive the test.
	mu.Lock()
	defer mu.Unlock()
	t.Logf("job creations during the failover: %d acknowledged, refused %v", len(acked), refused)
	for _, a := range acked {
		j, err := s.client().Job(ctx, a)
		if err != nil {
			t.Errorf("acknowledged job %s: %v", a, err)
			continue
		}
		if !j.Status.Terminal() {
			_, _ = s.client().Cancel(ctx, a)
		}
	}
	// Refusals are 503s that ask to come back: Redis unreachable while
	// the Sentinels fail over, or no replica to confirm the job yet.
	for code := range refused {
		if code != "503 "+pipeline.CodeUnreplicated && code != "503 unavailable" && code != "no answer" {
			t.Errorf("job creations refused with %s (%d times): only 503 unavailable or %s is expected", code, refused[code], pipeline.CodeUnreplicated)
		}
	}
}

// TestFaultMinioNodeLost runs `reel dev --edges 1` on a distributed MinIO
// of 4 nodes behind a load balancer and kills one node (SIGKILL) while a
// job encodes: the job completes and validates, a new upload goes
// through, the edge fills the title and serves it, and once the node is
// back MinIO heals the title's objects onto it.
func TestFaultMinioNodeLost(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "minio")
	t.Parallel()
	ctx := context.Background()
	dir, err := stackDir("reel-minio-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := devstack.StartMinioCluster(ctx, "", filepath.Join(dir, "minio"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Stop()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := launchDev(t, buildReel(t), port, filepath.Join(dir, "data"), []string{
		"REEL_S3_ACCESS_KEY=" + devstack.MinioUser, "REEL_S3_SECRET_KEY=" + devstack.MinioPassword, "REEL_RETRY_DELAY=1s",
	}, "--s3", mc.Addr, "--edges", "1")
	defer s.stop()
	s.readKey(t)

	master := failoverMaster(t)
	id := s.submit(t, master, failoverLadder)
	encoding(t, id)
	const lost = 2
	mc.Kill(lost)
	start := time.Now()
	t.Logf("SIGKILL of MinIO node %d while job %s encodes", lost, id)
	small := testenv.Generate(t, filepath.Join(t.TempDir(), "small.mp4"), "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	during := s.submit(t, small, `{"rungs":[{"height":180,"bitrate":300000,"preset":"ultrafast"}]}`)

	v := s.awaitEnd(t, id, 6*time.Minute)
	t.Logf("job %s complete %s after the kill", id, time.Since(start).Round(time.Second))
	checkComplete(t, s, v)
	verify(t, v, master, true, 2)
	checkComplete(t, s, s.awaitEnd(t, during, 3*time.Minute))

	// The edge fills the title from the three nodes left and serves it.
	origin := s.s3(t)
	keys, err := origin.List(ctx, "reel-origin", "vod/"+id+"/")
	if err != nil || len(keys) < 10 {
		t.Fatalf("published keys: %v %v", keys, err)
	}
	var edgeURL string
	until(t, time.Minute, "the edge holds the whole title", func() bool {
		for _, e := range s.edges(t) {
			st, ok := edgeStatus(e.URL)
			edgeURL = e.URL
			return ok && st.ObjectsHeld >= len(keys) && st.FillPending == 0
		}
		return false
	})
	if caches, _ := fetchAll(t, signedBase(t, edgeURL, id), keys); caches["HIT"] != len(keys) {
		t.Errorf("from the edge: %v, want all %d HIT", caches, len(keys))
	}

	if err := mc.Restart(ctx, lost); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	// MinIO heals an object when a read finds a shard missing (its
	// scanner gets to the rest in time): reading the title heals it.
	missing := func() int {
		n := 0
		for _, k := range keys {
			if _, err := os.Stat(filepath.Join(mc.Drive(lost), "reel-origin", k, "xl.meta")); err != nil {
				n++
				if _, err := origin.GetBytes(ctx, "reel-origin", k, 256<<20); err != nil {
					t.Fatalf("read %s after the node came back: %v", k, err)
				}
			}
		}
		return n
	}
	for n := missing(); n > 0; n = missing() {
		if time.Since(back) > 2*time.Minute {
			t.Fatalf("2 minutes after node %d came back it lacks %d of the title's %d objects", lost, n, len(keys))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("node %d held all %d objects of the title %s after it came back", lost, len(keys), time.Since(back).Round(100*time.Millisecond))
}

// failoverMaster is 12 s of 640x360 with audio: six chunks of one 2 s
// segment, each about a second of encoding on two rungs, so that a fault
// lands mid-encode and the job is short.
func failoverMaster(t *testing.T) string {
	t.Helper()
	return cachedMaster(t, "reel-failover-master.mp4", "640x360", "12")
}

const failoverLadder = `{"rungs":[{"height":360,"bitrate":900000,"preset":"fast"},{"height":180,"bitrate":250000,"preset":"fast"}],"segment_seconds":2,"chunk_segments":1}`
