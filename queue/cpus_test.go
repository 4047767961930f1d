package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/queue"
)

func TestParallelEncodes(t *testing.T) {
	w := func(host string, conc int, cpus []int, quota float64) queue.Worker {
		machine := ""
		if host == "c1" || host == "c2" {
			machine = "boot-1" // containers: their own host names, one kernel
		}
		return queue.Worker{Host: host, Concurrency: conc, CPUs: queue.CPUs{List: cpus, Quota: quota, Machine: machine}}
	}
	for _, tc := range []struct {
		name string
		ws   []queue.Worker
		want int
	}{
		{"no workers", nil, 0},
		{"unknown CPUs count their slots", []queue.Worker{w("a", 2, nil, 0), w("b", 3, nil, 0)}, 5},
		{"two unpinned workers on 2 cores share them", []queue.Worker{w("a", 1, []int{0, 1}, 0), w("a", 1, []int{0, 1}, 0)}, 1},
		{"two workers pinned to a core each", []queue.Worker{w("a", 1, []int{0}, 0), w("a", 1, []int{1}, 0)}, 2},
		{"one pinned worker", []queue.Worker{w("a", 1, []int{0}, 0)}, 1},
		{"four workers held to half a CPU each", []queue.Worker{w("a", 1, []int{0, 1}, 0.5), w("a", 1, []int{0, 1}, 0.5),
			w("a", 1, []int{0, 1}, 0.5), w("a", 1, []int{0, 1}, 0.5)}, 4},
		{"a 16-core host runs as many as its slots allow", []queue.Worker{w("a", 2, seq(16), 0)}, 2},
		{"a 16-core host with many slots", []queue.Worker{w("a", 8, seq(16), 0)}, 4},
		{"a quota below the CPUs", []queue.Worker{w("a", 8, seq(16), 6)}, 2},
		{"two hosts of 2 cores, two workers each", []queue.Worker{w("a", 1, []int{0, 1}, 0), w("a", 1, []int{0, 1}, 0),
			w("b", 1, []int{0, 1}, 0), w("b", 1, []int{0, 1}, 0)}, 2},
		{"containers on one machine share its CPUs", []queue.Worker{w("c1", 1, []int{0, 1}, 0), w("c2", 1, []int{0, 1}, 0)}, 1},
		{"containers held to a CPU each", []queue.Worker{w("c1", 1, []int{0, 1}, 1), w("c2", 1, []int{0, 1}, 1)}, 2},
		{"a host that announced beside one that did not", []queue.Worker{w("a", 2, []int{0, 1}, 0), w("b", 2, nil, 0)}, 3},
	} {
		if got := queue.ParallelEncodes(tc.ws, 4); got != tc.want {
			t.Errorf("%s: %d parallel encodes, want %d", tc.name, got, tc.want)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestLocalCPUsAffinity(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("affinity is read on Linux only")
	}
	// Go's NumCPU is the affinity mask's count on Linux.
	if got := queue.LocalCPUs().List; len(got) != runtime.NumCPU() {
		t.Fatalf("affinity %v, want %d CPUs", got, runtime.NumCPU())
	}
}

func TestCgroupQuota(t *testing.T) {
	dir := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// v2: the tighter of the process's group and its parent.
	write("v2/cgroup", "0::/bench/w0\n")
	write("v2fs/bench/cpu.max", "150000 100000\n")
	write("v2fs/bench/w0/cpu.max", "50000 100000\n")
	// v1: the cpu controller's folder, no limit above.
	write("v1/cgroup", "9:memory:/x\n3:cpu,cpuacct:/bench/w1\n")
	write("v1fs/cpu,cpuacct/bench/w1/cpu.cfs_quota_us", "25000\n")
	write("v1fs/cpu,cpuacct/bench/w1/cpu.cfs_period_us", "100000\n")
	write("v1fs/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
	write("v1fs/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
	// None: "max".
	write("none/cgroup", "0::/a\n")
	write("nonefs/a/cpu.max", "max 100000\n")
	for _, tc := range []struct {
		proc, root string
		want       float64
	}{{"v2/cgroup", "v2fs", 0.5}, {"v1/cgroup", "v1fs", 0.25}, {"none/cgroup", "nonefs", 0}, {"missing", "nonefs", 0}} {
		if got := queue.CgroupQuota(filepath.Join(dir, tc.proc), filepath.Join(dir, tc.root)); got != tc.want {
			t.Errorf("%s: quota %g, want %g", tc.proc, got, tc.want)
		}
	}
}

// A worker's announced CPUs come back with it in Workers, and go when it
// withdraws them.
func TestWorkersReportAnnouncedCPUs(t *testing.T) {
	addr := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	q := queue.New(asynq.RedisClientOpt{Addr: addr})
	q.Redis = rdb
	t.Cleanup(func() { _ = q.Close() })
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: addr}, asynq.Config{Concurrency: 3, Queues: map[string]int{queue.Name: 1}, LogLevel: asynq.ErrorLevel})
	host, _ := os.Hostname()
	ctx := context.Background()
	cpus := queue.CPUs{List: []int{1}, Quota: 0.5}
	if err := queue.AnnounceCPUs(ctx, rdb, host, os.Getpid(), cpus, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(asynq.NewServeMux()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	var ws []queue.Worker
	for deadline := time.Now().Add(20 * time.Second); len(ws) == 0; {
		var err error
		if ws, err = q.Workers(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the asynq server was never listed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ws) != 1 || ws[0].PID != os.Getpid() || len(ws[0].List) != 1 || ws[0].List[0] != 1 || ws[0].Quota != 0.5 {
		t.Fatalf("workers %+v, want this process with CPU 1 and quota 0.5", ws)
	}
	if n, err := q.Parallel(ctx, 4); err != nil || n != 1 {
		t.Fatalf("parallel encodes %d, %v; want 1", n, err)
	}
	if err := queue.WithdrawCPUs(ctx, rdb, host, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if ws, err := q.Workers(ctx); err != nil || len(ws) != 1 || len(ws[0].List) != 0 {
		t.Fatalf("after withdrawing: %+v, %v", ws, err)
	}
	// Unknown CPUs: the worker counts its task slots.
	if n, err := q.Parallel(ctx, 4); err != nil || n != 3 {
		t.Fatalf("parallel encodes %d, %v; want 3", n, err)
	}
}
