package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
)

var (
	soakFor  = flag.Duration("soak", time.Minute, "how long TestSoak keeps jobs coming and injects faults (make soak: 20m)")
	soakSeed = flag.Uint64("soak-seed", 1, "seed of TestSoak's masters, tenants and fault schedule")
)

// soakStack is `reel dev --workers 2 --edges 1` on Redis with Sentinels
// and a 4-node MinIO, a second `reel api` and a gateway in front of both
// APIs, all of which the soak can kill.
type soakStack struct {
	*devStack
	ha      *devstack.RedisHA
	mc      *devstack.MinioCluster
	env     []string
	gw      string
	api2    *exec.Cmd
	api2URL string
	port2   int
}

// soakMaster is a master the soak submits: valid ones must complete,
// hostile ones fail with one of codes.
type soakMaster struct {
	name  string
	path  string
	codes []string // empty: a valid master
}

// soakJob is a job the API accepted.
type soakJob struct {
	id, tenant string
	master     *soakMaster
	submitted  time.Time
}

// fault is one kind of fault: inject does it and returns when the
// stack has recovered from it (or how long the fault lasted, for
// stalls and node losses that it repairs itself).
type fault struct {
	kind   string
	inject func(t *testing.T, rng *rand.Rand) error
}

// TestSoak keeps a stream of mixed masters from two tenants flowing
// through the gateway while it kills, at seeded random moments, workers
// (SIGKILL, SIGTERM), the Redis primary, a MinIO node, the edge and an
// API instance, and stalls a worker (SIGSTOP). Then it waits for every
// accepted job and checks: each valid master complete, each hostile one
// failed with a media code, each title's renditions whole and playing
// from the edge, nothing left in the work area of an ended job, no task
// unsettled in asynq, and no job seen by the other tenant. `make soak`
// runs it for 20 minutes; `make test` for a minute.
func TestSoak(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "redis-cli", "minio")
	t.Parallel()
	ctx := context.Background()
	s := startSoak(t)
	masters := soakMasters(t)
	admin := s.client()
	keys := map[string]string{}
	for _, tenant := range []string{"acme", "bolt"} {
		k, _, err := admin.CreateKey(ctx, tenant, false, false)
		if err != nil {
			t.Fatal(err)
		}
		keys[tenant] = k
	}
	via := func(tenant string) *client.Client { return client.New(s.gw, keys[tenant]) }
	const ladder = `{"rungs":[{"height":180,"bitrate":300000,"preset":"ultrafast"},{"height":90,"bitrate":100000,"preset":"ultrafast"}],"segment_seconds":2,"chunk_segments":1}`

	// Undisturbed: each valid master once, for the job times to compare.
	var calm []time.Duration
	for _, m := range masters {
		if m.codes != nil {
			continue
		}
		start := time.Now()
		v := s.awaitEnd(t, submitTo(t, via("acme"), m, ladder), 3*time.Minute)
		checkComplete(t, s.devStack, v)
		calm = append(calm, time.Since(start))
	}

	rng := rand.New(rand.NewPCG(*soakSeed, 0x5eed))
	var (
		mu       sync.Mutex
		accepted []soakJob
		refused  = map[string]int{}
	)
	stop := make(chan struct{})
	var feeding sync.WaitGroup
	feeding.Add(1)
	feedRng := rand.New(rand.NewPCG(*soakSeed, 0xfeed))
	go func() {
		defer feeding.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(3000+feedRng.IntN(2000)) * time.Millisecond):
			}
			tenant := []string{"acme", "bolt"}[i%2]
			m := masters[feedRng.IntN(len(masters))]
			f, err := os.Open(m.path)
			if err != nil {
				t.Error(err)
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			at := time.Now()
			v, err := via(tenant).Submit(rctx, f, m.name, []byte(ladder))
			cancel()
			f.Close()
			mu.Lock()
			var ce *client.Error
			switch {
			case err == nil:
				accepted = append(accepted, soakJob{id: v.ID, tenant: tenant, master: m, submitted: at})
			case errors.As(err, &ce):
				refused[fmt.Sprintf("%d %s", ce.Status, ce.Code)]++
			default:
				refused["no answer"]++
			}
			mu.Unlock()
		}
	}()

	// Faults at seeded random moments, each kind in turn in a shuffled
	// order.
	faults := s.faults()
	order := rng.Perm(len(faults))
	injected := map[string]int{}
	recovery := map[string][]time.Duration{}
	deadline := time.Now().Add(*soakFor)
	for n := 0; time.Now().Before(deadline); n++ {
		time.Sleep(time.Duration(3000+rng.IntN(4000)) * time.Millisecond)
		f := faults[order[n%len(order)]]
		start := time.Now()
		if err := f.inject(t, rng); err != nil {
			t.Errorf("%s: %v", f.kind, err)
			continue
		}
		injected[f.kind]++
		recovery[f.kind] = append(recovery[f.kind], time.Since(start))
		t.Logf("%s: recovered after %s", f.kind, time.Since(start).Round(10*time.Millisecond))
	}
	close(stop)
	feeding.Wait()

	// Every accepted job ends.
	mu.Lock()
	jobs := slices.Clone(accepted)
	mu.Unlock()
	var soakTimes []time.Duration
	complete, failed := 0, 0
	insp := asynq.NewInspector(asynq.RedisFailoverClientOpt{MasterName: s.ha.Master, SentinelAddrs: s.ha.SentinelAddrs()})
	defer insp.Close()
	for _, j := range jobs {
		v := s.awaitEnd(t, j.id, 6*time.Minute)
		switch {
		case j.master.codes == nil:
			if v.Status != pipeline.StatusComplete {
				t.Errorf("job %s of %s (%s): %s %+v", j.id, j.master.name, j.tenant, v.Status, v.Error)
				continue
			}
			complete++
			soakTimes = append(soakTimes, v.FinishedAt.Sub(j.submitted))
			checkComplete(t, s.devStack, v)
			s.playsFromEdge(t, v)
		default:
			if v.Status != pipeline.StatusFailed || v.Error == nil || !slices.Contains(j.master.codes, v.Error.Code) {
				t.Errorf("hostile job %s of %s: %s %+v, want failed with one of %v", j.id, j.master.name, v.Status, v.Error, j.master.codes)
				continue
			}
			failed++
		}
	}
	// A task whose worker died, or whose end a Redis failover lost, is
	// still active until its lease lapses (30 s) and asynq's recoverer
	// (every minute) retries it, and it finds its job ended: none may
	// stay beyond that.
	settled := time.Now()
	for {
		var left []string
		for _, j := range jobs {
			left = append(left, unsettled(t, insp, j.id)...)
		}
		if len(left) == 0 {
			break
		}
		if time.Since(settled) > 150*time.Second {
			t.Errorf("tasks of ended jobs still unsettled 150 s after the last job ended: %v", left)
			break
		}
		time.Sleep(time.Second)
	}
	settleTook := time.Since(settled)
	s.checkWorkArea(t, jobs)
	s.checkTenants(t, jobs, via)

	slices.Sort(calm)
	slices.Sort(soakTimes)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Soak: %s, seed %d\n\n| fault | injected | recovery p50 | recovery max |\n| --- | --- | --- | --- |\n", *soakFor, *soakSeed)
	for _, f := range faults {
		r := recovery[f.kind]
		slices.Sort(r)
		if len(r) == 0 {
			fmt.Fprintf(&b, "| %s | 0 | | |\n", f.kind)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", f.kind, injected[f.kind], r[(len(r)-1)/2].Round(10*time.Millisecond), r[len(r)-1].Round(10*time.Millisecond))
	}
	fmt.Fprintf(&b, "\n| jobs accepted | complete | failed (hostile masters) | refused at submission | job time p50 / p99 | each valid master alone, p50 / max | tasks settled |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %v | %s / %s | %s / %s | %s after the last job |\n", len(jobs), complete, failed, refused,
		pct(soakTimes, 50), pct(soakTimes, 99), pct(calm, 50), pct(calm, 100), settleTook.Round(time.Second))
	t.Log(b.String())
	if len(jobs) == 0 || complete == 0 {
		t.Errorf("the soak accepted %d jobs and completed %d", len(jobs), complete)
	}
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(100 * time.Millisecond).String()
}

func submitTo(t *testing.T, c *client.Client, m *soakMaster, ladder string) string {
	t.Helper()
	f, err := os.Open(m.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := c.Submit(context.Background(), f, m.name, []byte(ladder))
	if err != nil {
		t.Fatalf("submit %s: %v", m.name, err)
	}
	return v.ID
}

func startSoak(t *testing.T) *soakStack {
	t.Helper()
	ctx := context.Background()
	dir, err := stackDir("reel-soak-")
	if err != nil {
		t.Fatal(err)
	}
	s := &soakStack{}
	if s.ha, err = devstack.StartRedisHA(ctx, "", filepath.Join(dir, "redis"), "reel"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.ha.Stop)
	if s.mc, err = devstack.StartMinioCluster(ctx, "", filepath.Join(dir, "minio"), 4); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.mc.Stop)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.env = []string{"REEL_S3_ACCESS_KEY=" + devstack.MinioUser, "REEL_S3_SECRET_KEY=" + devstack.MinioPassword,
		"REEL_RETRY_DELAY=1s", "REEL_SHUTDOWN_TIMEOUT=5s", "REEL_REDIS_SENTINELS=" + strings.Join(s.ha.SentinelAddrs(), ",")}
	s.devStack = launchDev(t, buildReel(t), port, filepath.Join(dir, "data"), s.env, "--s3", s.mc.Addr, "--edges", "1")
	t.Cleanup(s.stop)
	s.readKey(t)
	if s.port2, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	s.api2URL = "http://127.0.0.1:" + strconv.Itoa(s.port2)
	s.startAPI2(t)
	t.Cleanup(func() { s.stopAPI2() })
	gport, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.gw = "http://127.0.0.1:" + strconv.Itoa(gport)
	gw := exec.Command(s.bin, "gateway", "--addr", "127.0.0.1:"+strconv.Itoa(gport), "--upstream", "z1="+s.api+",z1="+s.api2URL)
	gw.Env = append(os.Environ(), "REEL_GATEWAY_RATE_LIMIT=0")
	gw.Stdout, gw.Stderr = io.Discard, io.Discard
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Signal(syscall.SIGTERM); _ = gw.Wait() })
	until(t, 30*time.Second, "the gateway's two API instances healthy", func() bool {
		return upstreamHealthy(s.gw, s.api) && upstreamHealthy(s.gw, s.api2URL)
	})
	until(t, 30*time.Second, "a healthy edge", func() bool {
		for _, e := range s.edges(t) {
			return e.Healthy
		}
		return false
	})
	return s
}

func (s *soakStack) startAPI2(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "api", "--addr", "127.0.0.1:"+strconv.Itoa(s.port2), "--s3", s.mc.Addr)
	cmd.Env = append(append(os.Environ(), s.env...), "REEL_WORK_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.api2 = cmd
	if !healthy(s.api2URL, 30*time.Second) {
		t.Fatal("the second reel api did not start")
	}
}

func (s *soakStack) stopAPI2() {
	if s.api2 != nil && s.api2.ProcessState == nil {
		_ = s.api2.Process.Signal(syscall.SIGTERM)
		_ = s.api2.Wait()
	}
}

// children lists reel dev's live child processes of a kind (worker,
// edge).
func (s *soakStack) children(kind string) []int {
	return procs(func(pid int, args []string) bool {
		return len(args) > 1 && args[0] == s.bin && args[1] == kind && parentPID(pid) == s.cmd.Process.Pid && alive(pid)
	})
}

func (s *soakStack) faults() []fault {
	back := func(what string, d time.Duration, ok func() bool) error {
		for start := time.Now(); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > d {
				return fmt.Errorf("%s not within %s", what, d)
			}
		}
		return nil
	}
	signalChild := func(kind string, sig syscall.Signal) func(*testing.T, *rand.Rand) error {
		return func(t *testing.T, rng *rand.Rand) error {
			pids := s.children(kind)
			if len(pids) == 0 {
				return fmt.Errorf("no %s to signal", kind)
			}
			pid := pids[rng.IntN(len(pids))]
			signalPID(t, pid, sig)
			want := len(pids)
			return back(kind+" replaced", time.Minute, func() bool {
				now := s.children(kind)
				return len(now) >= want && !slices.Contains(now, pid)
			})
		}
	}
	return []fault{
		{"worker SIGKILL", signalChild("worker", syscall.SIGKILL)},
		{"worker SIGTERM", signalChild("worker", syscall.SIGTERM)},
		{"worker SIGSTOP (stall)", func(t *testing.T, rng *rand.Rand) error {
			pids := s.children("worker")
			if len(pids) == 0 {
				return errors.New("no worker to stall")
			}
			pid := pids[rng.IntN(len(pids))]
			signalPID(t, pid, syscall.SIGSTOP)
			time.Sleep(time.Duration(2000+rng.IntN(4000)) * time.Millisecond)
			signalPID(t, pid, syscall.SIGCONT)
			return nil
		}},
		{"Redis primary SIGKILL", func(t *testing.T, _ *rand.Rand) error {
			ctx := context.Background()
			primary, err := s.ha.Primary(ctx)
			if err != nil {
				return err
			}
			node := s.ha.Node(primary)
			s.ha.Kill(node)
			if err := back("a new primary", time.Minute, func() bool { p, err := s.ha.Primary(ctx); return err == nil && p != primary }); err != nil {
				return err
			}
			if err := s.ha.Restart(ctx, node); err != nil {
				return err
			}
			return back("the API healthy", time.Minute, func() bool { return s.health() == http.StatusOK })
		}},
		{"MinIO node SIGKILL", func(t *testing.T, rng *rand.Rand) error {
			i := rng.IntN(len(s.mc.Nodes))
			s.mc.Kill(i)
			time.Sleep(time.Duration(2000+rng.IntN(4000)) * time.Millisecond)
			return s.mc.Restart(context.Background(), i)
		}},
		{"MinIO node SIGSTOP (stall)", func(t *testing.T, rng *rand.Rand) error {
			i := rng.IntN(len(s.mc.Nodes))
			if err := s.mc.Signal(i, syscall.SIGSTOP); err != nil {
				return err
			}
			time.Sleep(time.Duration(2000+rng.IntN(4000)) * time.Millisecond)
			return s.mc.Signal(i, syscall.SIGCONT)
		}},
		{"edge SIGKILL", func(t *testing.T, rng *rand.Rand) error {
			if err := signalChild("edge", syscall.SIGKILL)(t, rng); err != nil {
				return err
			}
			return back("a healthy edge", time.Minute, func() bool {
				for _, e := range s.edges(t) {
					if e.Healthy {
						return true
					}
				}
				return false
			})
		}},
		{"API instance SIGKILL", func(t *testing.T, _ *rand.Rand) error {
			signalPID(t, s.api2.Process.Pid, syscall.SIGKILL)
			_ = s.api2.Wait()
			s.startAPI2(t)
			return back("the gateway sending to it again", time.Minute, func() bool { return upstreamHealthy(s.gw, s.api2URL) })
		}},
	}
}

// playsFromEdge asks where the title plays and fetches its master
// playlist, a media playlist and that playlist's first segment there.
func (s *soakStack) playsFromEdge(t *testing.T, v pipeline.View) {
	t.Helper()
	pl, code := s.play(t, v.ID, "z1")
	if code != http.StatusOK || pl.Edge == "" {
		t.Errorf("play %s: %d %+v", v.ID, code, pl)
		return
	}
	_, master := get(t, pl.HLS)
	var media string
	for _, line := range strings.Split(string(master), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			media = line
			break
		}
	}
	base := pl.HLS[:strings.LastIndexByte(pl.HLS, '/')+1]
	_, list := get(t, base+media)
	for _, line := range strings.Split(string(list), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			get(t, base+media[:strings.LastIndexByte(media, '/')+1]+line)
			return
		}
	}
	t.Errorf("title %s: media playlist %s names no segment", v.ID, media)
}

// checkWorkArea: only a failed job (kept for a retry) has objects left
// under work/.
func (s *soakStack) checkWorkArea(t *testing.T, jobs []soakJob) {
	t.Helper()
	keys, err := s.s3(t).List(context.Background(), "reel-masters", "work/")
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]int{}
	for _, k := range keys {
		left[strings.SplitN(strings.TrimPrefix(k, "work/"), "/", 2)[0]]++
	}
	for id, n := range left {
		v, err := s.client().Job(context.Background(), id)
		if err != nil || v.Status != pipeline.StatusFailed {
			status := "unknown"
			if err == nil {
				status = string(v.Status)
			}
			t.Errorf("%d objects left under work/%s/ of a job that is %s", n, id, status)
		}
	}
}

// checkTenants: each tenant lists exactly its own jobs and cannot read
// the other's.
func (s *soakStack) checkTenants(t *testing.T, jobs []soakJob, via func(string) *client.Client) {
	t.Helper()
	ctx := context.Background()
	for _, tenant := range []string{"acme", "bolt"} {
		want := map[string]bool{}
		for _, j := range jobs {
			if j.tenant == tenant {
				want[j.id] = true
			}
		}
		seen := 0
		for offset := 0; ; offset += 100 {
			l, err := via(tenant).Jobs(ctx, 100, offset, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range l.Jobs {
				if v.Tenant != tenant {
					t.Errorf("tenant %s lists job %s of %s", tenant, v.ID, v.Tenant)
				}
				seen++
			}
			if len(l.Jobs) < 100 {
				break
			}
		}
		// The undisturbed runs are acme's too.
		if seen < len(want) {
			t.Errorf("tenant %s lists %d jobs, accepted %d", tenant, seen, len(want))
		}
		for _, j := range jobs {
			if j.tenant == tenant {
				continue
			}
			if _, err := via(tenant).Job(ctx, j.id); !isStatus(err, http.StatusNotFound) {
				t.Errorf("tenant %s read job %s of %s: %v", tenant, j.id, j.tenant, err)
			}
			break
		}
	}
}

func isStatus(err error, status int) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == status
}

// soakMasters: three valid masters of different sizes, rates and
// tracks, and two hostile ones.
func soakMasters(t *testing.T) []*soakMaster {
	t.Helper()
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		return testenv.Generate(t, filepath.Join(dir, name), args...)
	}
	a := gen("a.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	b := gen("b.mp4", "-f", "lavfi", "-i", "smptehdbars=size=480x270:rate=30", "-t", "7", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	c := gen("c.mkv", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=220:sample_rate=44100",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	garbage := filepath.Join(dir, "garbage.mp4")
	noise := make([]byte, 256<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i/13)
	}
	if err := os.WriteFile(garbage, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	hostile := []string{media.CodeUnreadable, media.CodeTruncated, media.CodeUnsupportedFormat, media.CodeCorrupt,
		media.CodeEmpty, media.CodeNoVideo, media.CodeUnprocessable, pipeline.CodeInvalidMedia}
	return []*soakMaster{
		{name: "a.mp4", path: a}, {name: "b.mp4", path: b}, {name: "c.mkv", path: c},
		{name: "garbage.mp4", path: garbage, codes: hostile}, {name: "truncated.mp4", path: truncated, codes: hostile},
	}
}
