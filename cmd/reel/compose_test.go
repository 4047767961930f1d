package main

import (
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
	out, err := exec.Command("docker-compose", "-f", file, "config", "--services").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, svc := range []string{"redis", "minio", "minio-init", "memcached-z1", "memcached-z2", "api", "worker", "edge-z1", "edge-z2", "gateway",
		"mariadb-1", "mariadb-2", "mariadb-replica", "mariadb-init", "accounts", "accounts-z2", "catalog",
		"redis-c1", "redis-c6", "redis-cluster-init", "history"} {
		if !strings.Contains("\n"+string(out), "\n"+svc+"\n") {
			t.Errorf("service %s missing from docker-compose.yml:\n%s", svc, out)
		}
	}
}
