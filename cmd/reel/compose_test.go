package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
)

// TestComposeFileValid validates docker-compose.yml offline with Debian's
// docker-compose and checks the services the README promises.
func TestComposeFileValid(t *testing.T) {
	testenv.Need(t, "docker-compose")
	file := filepath.Join(testenv.RepoRoot(), "docker-compose.yml")
	cmd := exec.Command("docker-compose", "-f", file, "config", "--services")
	cmd.Env = append(os.Environ(), "REEL_PLAYBACK_KEYS=k1:"+strings.Repeat("ab", 32))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, svc := range []string{"redis", "minio", "minio-init", "memcached-z1", "memcached-z2", "api", "worker", "edge-z1", "edge-z2", "gateway",
		"mariadb-1", "mariadb-2", "mariadb-replica", "mariadb-init", "accounts", "accounts-z2", "catalog",
		"redis-c1", "redis-c6", "redis-cluster-init", "history", "nats-1", "nats-2", "nats-3", "collect", "support", "recs"} {
		if !strings.Contains("\n"+string(out), "\n"+svc+"\n") {
			t.Errorf("service %s missing from docker-compose.yml:\n%s", svc, out)
		}
	}
}

// TestComposeHAFileValid validates docker-compose.ha.yml over
// docker-compose.yml: a distributed MinIO behind a load balancer, and
// Redis with Sentinels that every Reel service asks for the primary.
func TestComposeHAFileValid(t *testing.T) {
	testenv.Need(t, "docker-compose")
	root := testenv.RepoRoot()
	cmd := exec.Command("docker-compose", "-f", filepath.Join(root, "docker-compose.yml"), "-f", filepath.Join(root, "docker-compose.ha.yml"), "config")
	cmd.Env = append(os.Environ(), "REEL_PLAYBACK_KEYS=k1:"+strings.Repeat("ab", 32))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"minio1:", "minio4:", "image: nginx:", "minio-lb.conf:/etc/nginx/nginx.conf:ro", "redis-replica:",
		"sentinel-3:", "http://minio{1...4}/data"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%q missing from the merged configuration", want)
		}
	}
	if n := strings.Count(string(out), "REEL_REDIS_SENTINELS: sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"); n != 9 {
		t.Errorf("%d services ask the Sentinels, want the 9 Reel services", n)
	}
}
