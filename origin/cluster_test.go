package origin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/origin"
)

// A distributed MinIO of 4 nodes loses one (SIGKILL): what was stored
// stays readable, uploads (multipart ones too), listings and removals go
// on, and once the node is back MinIO heals onto it what it missed.
func TestDistributedOriginLosesANode(t *testing.T) {
	testenv.Need(t, "minio")
	ctx := context.Background()
	c, err := devstack.StartMinioCluster(ctx, "", t.TempDir(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	s3, err := origin.New(origin.Config{Endpoint: c.Addr, AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.EnsureBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	put := func(key string, size int) {
		t.Helper()
		data := make([]byte, size)
		_, _ = rand.Read(data)
		if size > 8<<20 {
			if _, err := s3.PutStream(ctx, s3.Bucket(), key, bytes.NewReader(data), "application/octet-stream"); err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
		} else if err := s3.PutBytes(ctx, s3.Bucket(), key, data, "application/octet-stream"); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		objects[key] = data
	}
	for i := range 10 {
		put(fmt.Sprintf("before/%02d", i), 64<<10)
	}
	put("before/large", 24<<20)

	c.Kill(1)
	down := time.Now()
	t.Log("node 1 killed")
	for i := range 10 {
		put(fmt.Sprintf("during/%02d", i), 64<<10)
	}
	put("during/large", 24<<20)
	for key, want := range objects {
		got, err := s3.GetBytes(ctx, s3.Bucket(), key, 64<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %s with a node down: %d bytes, %v", key, len(got), err)
		}
	}
	t.Logf("11 uploads and 22 reads with node 1 down took %s", time.Since(down).Round(100*time.Millisecond))
	if keys, err := s3.List(ctx, s3.Bucket(), "during/"); err != nil || len(keys) != 11 {
		t.Fatalf("list with a node down: %d keys, %v", len(keys), err)
	}
	if err := s3.RemovePrefix(ctx, s3.Bucket(), "before/0"); err != nil {
		t.Fatalf("remove with a node down: %v", err)
	}
	for i := range 10 {
		delete(objects, fmt.Sprintf("before/%02d", i))
	}

	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	// Healed: the returned node's drive holds its shards of what was
	// written while it was down. MinIO heals an object when a read finds
	// a shard missing (and its scanner, in time, those not read); a read
	// before the other nodes see the node back heals nothing, so the
	// missing are read again until healed.
	missing := func() []string {
		var out []string
		for key := range objects {
			if _, err := os.Stat(filepath.Join(c.Drive(1), s3.Bucket(), key, "xl.meta")); err != nil {
				out = append(out, key)
				if _, err := s3.GetBytes(ctx, s3.Bucket(), key, 64<<20); err != nil {
					t.Fatalf("read %s after the node came back: %v", key, err)
				}
			}
		}
		return out
	}
	for m := missing(); len(m) > 0; m = missing() {
		if time.Since(back) > 2*time.Minute {
			t.Fatalf("2 minutes after node 1 came back, its drive lacks %v", m)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("node 1 healed %s after it came back", time.Since(back).Round(100*time.Millisecond))
	for key, want := range objects {
		if got, err := s3.GetBytes(ctx, s3.Bucket(), key, 64<<20); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %s after healing: %d bytes, %v", key, len(got), err)
		}
	}
}
