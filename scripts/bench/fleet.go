package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/pipeline"
)

// fleetSizes are the worker counts of the simulated fleet.
var fleetSizes = []int{1, 2, 4}

// fleet runs a simulated fleet: `reel dev` with 1, 2 and 4 `reel worker`
// processes, each held by a CPU quota (a cgroup) to the share of the
// machine one of the largest fleet's workers gets, over one master of
// seconds and a batch of 8 masters of shortSeconds submitted together. It
// prints the throughput per worker-core, so what coordination costs as the
// fleet grows shows as a falling number.
func fleet(rep *report, dir string, seconds, shortSeconds int) error {
	if os.Geteuid() != 0 {
		// The other sections need no privileges; this one is reported as
		// not run rather than failing the bench.
		fmt.Printf("\n## Simulated fleet\n\nNot run: the CPU quotas are cgroups, which need root.\n")
		rep.target("fleet: not run (needs root for the cgroup CPU quotas)")
		return nil
	}
	cg, err := newCPUGroups()
	if err != nil {
		return err
	}
	defer cg.remove()
	long, short := filepath.Join(dir, "fleet-long.mp4"), filepath.Join(dir, "fleet-short.mp4")
	if err := masterSized(long, seconds, 1280, 720); err != nil {
		return err
	}
	if err := masterSized(short, shortSeconds, 1280, 720); err != nil {
		return err
	}
	ladderFile, err := skipQualityLadder(dir)
	if err != nil {
		return err
	}
	quota := float64(runtime.NumCPU()) / float64(fleetSizes[len(fleetSizes)-1])
	content := float64(seconds + 8*shortSeconds)
	fmt.Printf("\n## Simulated fleet (one %d s and eight %d s 720p30 masters submitted together, default ladder, skip_quality; each worker held to %.2f CPU by a cgroup quota)\n\n", seconds, shortSeconds, quota)
	fmt.Printf("| workers | worker-cores | wall s (first upload to last published) | master seconds per wall second | per worker-core | against one worker |\n| --- | --- | --- | --- | --- | --- |\n")
	var first float64
	for _, n := range fleetSizes {
		d, err := startDev(filepath.Join(dir, fmt.Sprintf("fleet%d", n)), n)
		if err != nil {
			return err
		}
		wall, err := func() (time.Duration, error) {
			ws, err := d.waitWorkers(n)
			if err != nil {
				return 0, err
			}
			for i, w := range ws {
				if err := cg.hold(fmt.Sprintf("w%d", i), w.PID, quota); err != nil {
					return 0, err
				}
			}
			// Chunks are sized to the CPUs the workers announce.
			if err := d.waitAnnounced(func(w client.Worker) bool { return math.Abs(w.CPUQuota-quota) < 0.01 }); err != nil {
				return 0, err
			}
			fmt.Fprintf(os.Stderr, "bench: fleet of %d worker(s), %.2f CPU each\n", n, quota)
			return d.batch(append([]string{long}, repeat(short, 8)...), ladderFile)
		}()
		d.stop()
		if err != nil {
			return err
		}
		cores := float64(n) * quota
		rate := content / wall.Seconds()
		per := rate / cores
		if first == 0 {
			first = per
		}
		fmt.Printf("| %d | %.2f | %.1f | %.3f | %.3f | %.2f |\n", n, cores, wall.Seconds(), rate, per, per/first)
		if n == fleetSizes[len(fleetSizes)-1] {
			rep.target("fleet: throughput per worker-core with %d workers %.2f of one worker's (reported)", n, per/first)
		}
	}
	return nil
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// waitWorkers waits until n workers are registered and returns them.
func (d *dev) waitWorkers(n int) ([]client.Worker, error) {
	for deadline := time.Now().Add(30 * time.Second); ; {
		ws, err := d.client().Workers(context.Background())
		if err != nil {
			return nil, err
		}
		if len(ws) >= n {
			return ws, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d workers up", len(ws), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// batch uploads every file at once and returns the time from the first
// upload's start to the last job's end; every job must complete.
func (d *dev) batch(files []string, ladderFile string) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := d.uploadJob(f, ladderFile)
			if err == nil && v.Status != pipeline.StatusComplete {
				err = fmt.Errorf("job %s ended %s", v.ID, v.Status)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// cpuGroups holds processes to CPU quotas with cgroups: v2 (cpu.max) where
// /sys/fs/cgroup is the unified hierarchy, else v1's cpu controller
// (cpu.cfs_quota_us). It needs root.
type cpuGroups struct {
	root string
	v2   bool
	made []string
}

func newCPUGroups() (*cpuGroups, error) {
	parent := "reel-bench-" + strconv.Itoa(os.Getpid())
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		g := &cpuGroups{root: filepath.Join("/sys/fs/cgroup", parent), v2: true}
		if err := os.Mkdir(g.root, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup v2: %w", err)
		}
		g.made = append(g.made, g.root)
		if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu"), 0o644); err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup v2: enabling the cpu controller: %w", err)
		}
		if err := os.WriteFile(filepath.Join(g.root, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup v2: enabling the cpu controller: %w", err)
		}
		return g, nil
	}
	g := &cpuGroups{root: filepath.Join("/sys/fs/cgroup/cpu", parent)}
	if err := os.Mkdir(g.root, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup v1 cpu controller: %w", err)
	}
	g.made = append(g.made, g.root)
	return g, nil
}

// hold moves process pid (every thread, and every child it starts from
// now on) into group name, limited to cpus CPUs.
func (g *cpuGroups) hold(name string, pid int, cpus float64) error {
	dir := filepath.Join(g.root, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if len(g.made) == 0 || g.made[len(g.made)-1] != dir {
		g.made = append(g.made, dir)
	}
	const period = 100000
	quota := strconv.Itoa(int(cpus * period))
	var err error
	if g.v2 {
		err = os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(quota+" "+strconv.Itoa(period)), 0o644)
	} else if err = os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644); err == nil {
		err = os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(quota), 0o644)
	}
	if err != nil {
		return fmt.Errorf("cgroup quota: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// remove moves what is left back to the root group and removes the
// groups, innermost first.
func (g *cpuGroups) remove() {
	top := "/sys/fs/cgroup/cpu"
	if g.v2 {
		top = "/sys/fs/cgroup"
	}
	for i := len(g.made) - 1; i >= 0; i-- {
		if data, err := os.ReadFile(filepath.Join(g.made[i], "cgroup.procs")); err == nil {
			for _, p := range strings.Fields(string(data)) {
				_ = os.WriteFile(filepath.Join(top, "cgroup.procs"), []byte(p), 0o644)
			}
		}
		_ = os.Remove(g.made[i])
	}
}
