package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// CPUs is what one worker process can run on: the CPUs its affinity
// allows (taskset, a cpuset) and the CPU time its cgroup quota allows.
type CPUs struct {
	List  []int   `json:"cpus"`                // CPU numbers; empty when unknown
	Quota float64 `json:"cpu_quota,omitempty"` // CPUs' worth of time; 0 when unlimited
	// Machine names the kernel the process runs on (its boot ID), which
	// containers on one machine share while their host names differ.
	Machine string `json:"machine,omitempty"`
}

// Cores is how many cores' worth of work the process can do at once: its
// CPUs, or its quota when that is less; 0 when unknown.
func (c CPUs) Cores() float64 {
	n := float64(len(c.List))
	if c.Quota > 0 && c.Quota < n {
		return c.Quota
	}
	return n
}

// cpusKeyPrefix + host + ":" + pid holds a worker process's CPUs (JSON),
// for as long as the process renews it. The keys share a hash tag, so
// that one MGET reads them all in a Redis Cluster too.
const cpusKeyPrefix = "reel:{worker-cpus}:"

func cpusKey(host string, pid int) string { return cpusKeyPrefix + host + ":" + strconv.Itoa(pid) }

// AnnounceCPUs records, for ttl, the CPUs of the worker process pid on
// host (asynq's names for it); a worker renews it well within ttl, since
// a taskset or a cgroup can change them while it runs.
func AnnounceCPUs(ctx context.Context, c redis.Cmdable, host string, pid int, cpus CPUs, ttl time.Duration) error {
	raw, err := json.Marshal(cpus)
	if err != nil {
		return err
	}
	if err := c.Set(ctx, cpusKey(host, pid), raw, ttl).Err(); err != nil {
		return fmt.Errorf("announce worker CPUs: %w", err)
	}
	return nil
}

// WithdrawCPUs removes a stopping worker's record.
func WithdrawCPUs(ctx context.Context, c redis.Cmdable, host string, pid int) error {
	return c.Del(ctx, cpusKey(host, pid)).Err()
}

// fillCPUs adds each worker's announced CPUs; a worker that announced
// none keeps an empty list.
func fillCPUs(ctx context.Context, c redis.Cmdable, ws []Worker) error {
	if c == nil || len(ws) == 0 {
		return nil
	}
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = cpusKey(w.Host, w.PID)
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		return fmt.Errorf("read worker CPUs: %w", err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			_ = json.Unmarshal([]byte(s), &ws[i].CPUs) // a bad record reads as unknown
		}
	}
	return nil
}

// ParallelEncodes is how many chunk encodes at once keep the workers'
// CPUs busy, when one encode keeps at most coresPerEncode cores busy (one
// ffmpeg already runs the decoder and every rung's encoder on threads of
// their own). Worker processes on one host that share CPUs share them:
// two unpinned workers on a 2-core machine make one encode, not two (one
// ffmpeg on both cores does the same frames with less work than two
// chunks side by side, which pay a preroll and a second decode), while
// two workers pinned to a core each, or held to a share of the machine by
// cgroup quotas, make one encode each. Workers in containers on one
// machine (one kernel) are one host. A worker that announced no CPUs
// counts each of its task slots, as does a host where no worker did. The
// result is never more than the workers' task slots, and 0 only when
// there are no workers.
func ParallelEncodes(ws []Worker, coresPerEncode float64) int {
	if coresPerEncode <= 0 {
		coresPerEncode = 1
	}
	type proc struct {
		cores float64 // cores' worth the process can use
		tasks int     // task slots
	}
	type host struct {
		procs []proc
		cpus  map[int]bool // every CPU its processes may run on
		cores float64      // their cores' worth together
	}
	hosts := map[string]*host{}
	n := 0
	for _, w := range ws {
		c := w.CPUs.Cores()
		if c <= 0 {
			n += w.Concurrency
			continue
		}
		name := w.Host
		if w.Machine != "" {
			name = "\x00" + w.Machine
		}
		h := hosts[name]
		if h == nil {
			h = &host{cpus: map[int]bool{}}
			hosts[name] = h
		}
		h.procs, h.cores = append(h.procs, proc{cores: c, tasks: w.Concurrency}), h.cores+c
		for _, cpu := range w.List {
			h.cpus[cpu] = true
		}
	}
	for _, h := range hosts {
		// The host's processes can do no more than its CPUs between them.
		ps := h.procs
		busy := min(float64(len(h.cpus)), h.cores)
		// Add encodes, largest share first, until the host is busy.
		slices.SortStableFunc(ps, func(a, b proc) int { return cmp.Compare(b.cores, a.cores) })
		covered := 0.0
		for added := true; added && covered < busy-1e-9; {
			added = false
			for i := range ps {
				p := &ps[i]
				if p.tasks == 0 || p.cores <= 1e-9 || covered >= busy-1e-9 {
					continue
				}
				use := min(p.cores, coresPerEncode)
				p.cores -= use
				p.tasks--
				covered += use
				n++
				added = true
			}
		}
	}
	return n
}

// Parallel is ParallelEncodes over the live workers of Reel's queue.
func (q *Asynq) Parallel(ctx context.Context, coresPerEncode float64) (int, error) {
	ws, err := q.Workers(ctx)
	if err != nil {
		return 0, err
	}
	return ParallelEncodes(ws, coresPerEncode), nil
}
