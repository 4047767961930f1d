package arch

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/reel-video/reel/"

// adapters are the modules that talk to Redis, S3, memcached and ffmpeg.
var adapters = []string{
	"github.com/redis/go-redis",
	"github.com/hibiken/asynq",
	"github.com/minio/minio-go",
	"github.com/aws/",
	"github.com/u2takey/ffmpeg-go",
	"github.com/bradfitz/gomemcache",
	"github.com/tus/tusd/v2/pkg/s3store",
}

// ours are Reel's own adapter and service packages.
var ours = []string{"store", "queue", "origin", "media", "evcache", "devstack", "workers", "edge", "gateway", "client", "config"}

// deps lists every package pkg links, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestDomainLinksNoAdapter(t *testing.T) {
	for _, pkg := range []string{"pipeline", "ladder", "timeline", "packager", "api"} {
		for _, d := range deps(t, pkg) {
			for _, a := range adapters {
				if strings.HasPrefix(d, a) {
					t.Errorf("%s links %s", pkg, d)
				}
			}
			for _, o := range ours {
				if d == mod+o {
					t.Errorf("%s links Reel's %s", pkg, o)
				}
			}
		}
	}
}

func TestLeavesImportNothingOfOurs(t *testing.T) {
	for _, pkg := range []string{"ladder", "timeline"} {
		for _, d := range deps(t, pkg) {
			if strings.HasPrefix(d, mod) && d != mod+pkg {
				t.Errorf("%s imports %s", pkg, d)
			}
			if strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && !strings.HasPrefix(d, mod) {
				t.Errorf("%s imports the module %s", pkg, d)
			}
		}
	}
}

// TestAdaptersAreSeen keeps the checks above honest: the ffmpeg adapter
// does link ffmpeg-go, and the queue adapter asynq.
func TestAdaptersAreSeen(t *testing.T) {
	for pkg, want := range map[string]string{"media": "github.com/u2takey/ffmpeg-go", "queue": "github.com/hibiken/asynq"} {
		found := false
		for _, d := range deps(t, pkg) {
			found = found || strings.HasPrefix(d, want)
		}
		if !found {
			t.Errorf("go list -deps %s does not show %s", pkg, want)
		}
	}
}
