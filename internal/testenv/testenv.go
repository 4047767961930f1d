// Package testenv starts the real servers tests need (redis-server, MinIO,
// memcached, MariaDB) on free ports, finds shared media and measures a file's
// loudness with ffmpeg alone. Under CI=true a missing
// dependency fails the test instead of skipping it.
package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/sqlstore"
)

// Missing skips the test, or fails it under CI=true.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing dependency in CI: %s", what)
	}
	t.Skipf("missing dependency: %s (run `make deps`)", what)
}

// Need checks that the binaries are on PATH (or in the Go bin directory).
func Need(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := devstack.LookBin("", b); err != nil {
			Missing(t, b)
		}
	}
}

// Redis starts a redis-server for the test and returns its address.
func Redis(t testing.TB) string {
	t.Helper()
	Need(t, "redis-server")
	p, err := devstack.StartRedis(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(p.Stop)
	return p.Addr
}

// Memcached starts a memcached server for the test and returns it, so a
// test can stop it.
func Memcached(t testing.TB) *devstack.Proc {
	t.Helper()
	Need(t, "memcached")
	p, err := devstack.StartMemcached(context.Background(), "", t.TempDir(), 16)
	if err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// S3 starts a MinIO server for the test and returns a client with both
// buckets created.
func S3(t testing.TB) *origin.S3 {
	t.Helper()
	Need(t, "minio")
	p, err := devstack.StartMinio(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("start minio: %v", err)
	}
	t.Cleanup(p.Stop)
	s3, err := origin.New(origin.Config{Endpoint: p.Addr, AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.EnsureBuckets(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s3
}

// RepoRoot is the repository's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// SharedMedia returns the path of a clip in ../shared/media (next to the
// repository), failing or skipping when it is absent.
func SharedMedia(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("REEL_SHARED_MEDIA")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared", "media")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared media "+p)
	}
	return p
}

// Generate runs ffmpeg with args to make a synthetic master at out.
func Generate(t testing.TB, out string, args ...string) string {
	t.Helper()
	Need(t, "ffmpeg")
	full := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	cmd := exec.Command("ffmpeg", append(full, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate %s: %v\n%s", out, err, b)
	}
	return out
}

// CorruptMiddle overwrites every seventh byte of 3000 in the middle of
// data with bytes from a fixed sequence: a master damaged mid-stream.
func CorruptMiddle(data []byte) {
	x := uint32(2463534242)
	for i := len(data) / 2; i < len(data)/2+3000 && i < len(data); i += 7 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
}

// ServeDir serves dir over HTTP until the test ends and returns its base
// URL: masters are read over HTTP, as from S3.
func ServeDir(t testing.TB, dir string) string {
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// MariaDB starts a mariadbd (Debian's mariadb-server) for the test with
// Reel's database and account created.
func MariaDB(t testing.TB, o devstack.MariaDBOptions) *devstack.MariaDB {
	t.Helper()
	Need(t, "mariadbd", "mariadb-install-db")
	m, err := devstack.StartMariaDB(context.Background(), "", t.TempDir(), o)
	if err != nil {
		t.Fatalf("start mariadb: %v", err)
	}
	t.Cleanup(m.Stop)
	return m
}

// MariaDBPair starts two MariaDB masters that replicate each other
// semi-synchronously.
func MariaDBPair(t testing.TB) [2]*devstack.MariaDB {
	t.Helper()
	Need(t, "mariadbd", "mariadb-install-db")
	ms, err := devstack.StartMariaDBPair(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("start mariadb pair: %v", err)
	}
	t.Cleanup(func() { ms[0].Stop(); ms[1].Stop() })
	return ms
}

// EachSQL runs f as a subtest on a fresh SQL store on every engine:
// embedded SQLite, and a database of its own on a real MariaDB (one
// server per test binary, started on first use; a package that uses it
// runs its tests through Main so that the server stops after them).
func EachSQL(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db, err := sqlstore.Open(context.Background(), sqlstore.Config{DSN: "sqlite:" + filepath.Join(t.TempDir(), "store.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		f(t, db)
	})
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		dsn := sharedMariaDB.database(t)
		db, err := sqlstore.Open(context.Background(), sqlstore.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		f(t, db)
	})
}

// shared is one MariaDB for a test binary, with a database per test.
type shared struct {
	mu  sync.Mutex
	m   *devstack.MariaDB
	dir string
	err error
	n   int
}

var sharedMariaDB = &shared{}

func (s *shared) database(t *testing.T) string {
	t.Helper()
	Need(t, "mariadbd", "mariadb-install-db")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil && s.err == nil {
		if s.dir, s.err = os.MkdirTemp("", "reel-mariadb-"); s.err == nil {
			s.m, s.err = devstack.StartMariaDB(context.Background(), "", s.dir, devstack.MariaDBOptions{})
		}
	}
	if s.err != nil {
		t.Fatalf("start mariadb: %v", s.err)
	}
	s.n++
	name := fmt.Sprintf("t%d", s.n)
	root, err := s.m.Root()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	if _, err := root.ExecContext(context.Background(), fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", name, devstack.MariaDBUser)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.m.DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Main runs a package's tests and then stops the MariaDB they shared, if
// they started one, and removes its data.
func Main(m *testing.M) {
	code := m.Run()
	if s := sharedMariaDB; s.m != nil {
		s.m.Stop()
		os.RemoveAll(s.dir)
	}
	os.Exit(code)
}

// RedisCluster starts a Redis Cluster of 3 masters with a replica each
// for the test.
func RedisCluster(t testing.TB) *devstack.RedisCluster {
	t.Helper()
	Need(t, "redis-server", "redis-cli")
	c, err := devstack.StartRedisCluster(context.Background(), "", t.TempDir(), 3, 1)
	if err != nil {
		t.Fatalf("start redis cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// RedisHA starts a Redis primary and replica watched by three Sentinels
// (master name "reel") for the test.
func RedisHA(t testing.TB) *devstack.RedisHA {
	t.Helper()
	Need(t, "redis-server", "redis-cli")
	h, err := devstack.StartRedisHA(context.Background(), "", t.TempDir(), "reel")
	if err != nil {
		t.Fatalf("start redis with sentinels: %v", err)
	}
	t.Cleanup(h.Stop)
	return h
}

// Events starts an embedded NATS server with JetStream for the test and
// returns the event log on it, with the server.
func Events(t testing.TB) (*events.JetStream, *events.Server) {
	t.Helper()
	s, err := events.StartServer(events.ServerOptions{Name: "test", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	j, err := events.Connect(s.URL(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.EnsureStream(ctx, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return j, s
}
