package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
)

// faultStack is a `reel dev --workers 2` on a Redis and a MinIO the test
// runs itself, so it can stop and restart them on the same ports and
// folders. Its ffmpeg is a wrapper that logs every run, fails encodes
// while a flag file exists, and holds the encodes of every chunk but the
// first while another exists.
type faultStack struct {
	*devStack
	dir          string
	redis, minio *devstack.Proc
	redisPort    int
	minioPort    int
	s3           *origin.S3
}

var faults *faultStack

const faultMaxUpload = 64 << 20

func startFaults(t *testing.T) *faultStack {
	t.Helper()
	if faults != nil {
		return faults
	}
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "minio", "prlimit")
	dir, err := stackDir("reel-faults-")
	if err != nil {
		t.Fatal(err)
	}
	f := &faultStack{dir: dir}
	if f.redisPort, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	if f.minioPort, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	f.startRedis(t)
	f.startMinio(t)
	if f.s3, err = origin.New(origin.Config{Endpoint: f.minio.Addr, AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"}); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "ffmpeg-wrapper")
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %[1]s/ffmpeg.log
if [ -e %[1]s/fail-encodes ]; then
  case "$*" in *libx264*) echo "forced failure while %[1]s/fail-encodes exists: Input/output error" >&2; exit 1;; esac
fi
if [ -e %[1]s/fail-encodes-on-master ]; then
  case "$*" in *libx264*) echo "[libx264 @ 0x1] forced failure on the master's streams" >&2; echo "Error while filtering: Invalid argument" >&2; exit 1;; esac
fi
if [ -e %[1]s/hold-encodes ]; then
  case "$*" in *libx264*-encode-0-*) ;; *libx264*) while [ -e %[1]s/hold-encodes ]; do sleep 0.1; done;; esac
fi
exec ffmpeg "$@"
`, dir)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// On the test's own Redis and MinIO. If reel dev does not become
	// healthy, launchDev stops it; Redis and MinIO die with the test
	// process (their parent-death signal).
	f.devStack = launchDev(t, buildReel(t), port, filepath.Join(dir, "data"), []string{
		"REEL_S3_ACCESS_KEY=" + devstack.MinioUser, "REEL_S3_SECRET_KEY=" + devstack.MinioPassword,
		"REEL_MAX_UPLOAD_BYTES=" + strconv.Itoa(faultMaxUpload), "REEL_UPLOAD_STALL_TIMEOUT=2s", "REEL_RETRY_DELAY=1s",
		"REEL_SHUTDOWN_TIMEOUT=10s", "REEL_FFMPEG=" + wrapper,
	}, "--redis", f.redis.Addr, "--s3", f.minio.Addr)
	f.readKey(t)
	faults = f
	return f
}

func (f *faultStack) startRedis(t *testing.T) {
	t.Helper()
	p, err := devstack.StartRedisOn(context.Background(), "", filepath.Join(f.dir, "redis"), f.redisPort)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	f.redis = p
}

func (f *faultStack) startMinio(t *testing.T) {
	t.Helper()
	p, err := devstack.StartMinioOn(context.Background(), "", filepath.Join(f.dir, "minio"), f.minioPort)
	if err != nil {
		t.Fatalf("start minio: %v", err)
	}
	f.minio = p
}

// health is the status of the stack's GET /healthz, 0 when it cannot be
// reached.
func (s *devStack) health() int {
	resp, err := http.Get(s.api + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (f *faultStack) close() {
	f.stop()
	f.minio.Stop()
	f.redis.Stop()
}

// awaitEnd waits for the job to end and returns it.
func (s *devStack) awaitEnd(t *testing.T, id string, d time.Duration) pipeline.View {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := s.job(t, id)
		if v.Status.Terminal() {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, v.Status, d)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// encoding waits until an encode ffmpeg of the job runs and returns its
// pid and its parent's (the worker).
func encoding(t *testing.T, id string) (int, int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		for _, pid := range ffmpegFor(id) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmdline), "libx264") {
				if pp := parentPID(pid); pp > 0 {
					return pid, pp
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no encode of job %s started", id)
	return 0, 0
}

func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// signalPID sends sig to one process of the stack. A pid of 0 or below names
// a process group (0 is the test's own, which in CI also holds go test,
// make and the CI script), so a lookup that came back empty fails the test
// instead of signalling everything around it.
func signalPID(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 1 || pid == os.Getpid() {
		t.Fatalf("refusing to send %v to pid %d: the process was not found", sig, pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("%v to pid %d: %v", sig, pid, err)
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	return !strings.HasPrefix(rest, "Z")
}

// faultMaster is 24 s of 720p with audio: six chunks of one 4 s segment,
// each a few seconds of encoding on two rungs.
func faultMaster(t *testing.T) string {
	t.Helper()
	return cachedMaster(t, "reel-fault-master.mp4", "1280x720", "24")
}

// cachedMasterMu keeps tests in parallel from writing one master at once.
var cachedMasterMu sync.Mutex

// cachedMaster is a testsrc2 master of size and seconds with a tone,
// made once per machine in the temp folder under name.
func cachedMaster(t *testing.T, name, size, seconds string) string {
	t.Helper()
	cachedMasterMu.Lock()
	defer cachedMasterMu.Unlock()
	p := filepath.Join(os.TempDir(), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	testenv.Generate(t, p+".tmp.mp4", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25", "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000",
		"-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	if err := os.Rename(p+".tmp.mp4", p); err != nil {
		t.Fatal(err)
	}
	return p
}

const faultLadder = `{"rungs":[{"height":720,"bitrate":2500000,"preset":"fast"},{"height":360,"bitrate":700000,"preset":"fast"}],"segment_seconds":4,"chunk_segments":1}`

// checkComplete checks a job that should have completed: every rendition
// has the plan's frames.
func checkComplete(t *testing.T, s *devStack, v pipeline.View) {
	t.Helper()
	if v.Status != pipeline.StatusComplete {
		t.Fatalf("job %s: %s %+v\nlog:\n%s", v.ID, v.Status, v.Error, tail(s.logText(), 3000))
	}
	for _, r := range v.Renditions {
		if r.Frames != v.Source.OutputFrames {
			t.Errorf("%s: %d frames, want %d", r.Name, r.Frames, v.Source.OutputFrames)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestFaultWorkerKilled(t *testing.T) {
	f := startFaults(t)
	master := faultMaster(t)
	calm := f.awaitEnd(t, f.submit(t, master, faultLadder), 5*time.Minute)
	checkComplete(t, f.devStack, calm)

	id := f.submit(t, master, faultLadder)
	ff, worker := encoding(t, id)
	t.Logf("SIGKILL worker %d while it runs ffmpeg %d", worker, ff)
	start := time.Now()
	signalPID(t, worker, syscall.SIGKILL)
	for alive(ff) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("ffmpeg %d of the killed worker still runs", ff)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("its ffmpeg was gone %s later", time.Since(start).Round(time.Millisecond))
	v := f.awaitEnd(t, id, 6*time.Minute)
	t.Logf("job complete %s after the kill", time.Since(start).Round(time.Second))
	checkComplete(t, f.devStack, v)
	// The same output as the undisturbed run, rung for rung.
	for i, r := range v.Renditions {
		c := calm.Renditions[i]
		if r.Frames != c.Frames || r.Quality == nil || c.Quality == nil || math.Abs(r.Quality.PSNR-c.Quality.PSNR) > 0.01 {
			t.Errorf("%s: %d frames PSNR %v, undisturbed %d frames PSNR %v", r.Name, r.Frames, r.Quality, c.Frames, c.Quality)
		}
	}
	// reel dev started a new worker in its place.
	workers := f.workers(t)
	if len(workers) < 2 {
		t.Errorf("%d workers after the kill", len(workers))
	}
}

// workers lists the live worker pids.
func (s *devStack) workers(t *testing.T) []int {
	t.Helper()
	return procs(func(pid int, args []string) bool {
		return len(args) > 1 && args[0] == s.bin && args[1] == "worker" && parentPID(pid) == s.cmd.Process.Pid && alive(pid)
	})
}

func TestFaultRollingRestart(t *testing.T) {
	f := startFaults(t)
	id := f.submit(t, faultMaster(t), faultLadder)
	encoding(t, id)
	before := f.workers(t)
	start := time.Now()
	if err := f.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Each worker stops within its 10 s shutdown timeout and is replaced
	// before the next one stops.
	for {
		after := f.workers(t)
		replaced := len(after) == 2
		for _, p := range before {
			for _, q := range after {
				if p == q {
					replaced = false
				}
			}
		}
		if replaced {
			t.Logf("both workers replaced in %s", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 2*(10+5)*time.Second {
			t.Fatalf("workers %v not replaced by %v:\n%s", before, after, tail(f.logText(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkComplete(t, f.devStack, f.awaitEnd(t, id, 6*time.Minute))
}

func TestFaultRedisRestart(t *testing.T) {
	f := startFaults(t)
	id := f.submit(t, faultMaster(t), faultLadder)
	encoding(t, id)
	f.redis.Stop() // SIGTERM: Redis writes its AOF and exits
	t.Log("redis stopped mid-encode")
	// Down until the stack has seen it: its health check says so.
	took := until(t, time.Minute, "the API reporting Redis down", func() bool { return f.health() == http.StatusServiceUnavailable })
	t.Logf("the API reported Redis down after %s", took.Round(time.Millisecond))
	// A request that needs Redis is told to come back, not that the API
	// broke.
	resp, err := f.client().Do(context.Background(), http.MethodGet, "/v1/jobs?limit=1", nil, nil)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || ce.Code != "unavailable" {
		t.Errorf("listing jobs while Redis is down: %v %v, want 503 unavailable", resp, err)
	}
	f.startRedis(t)
	t.Log("redis restarted on the same port and data")
	checkComplete(t, f.devStack, f.awaitEnd(t, id, 6*time.Minute))
}

func TestFaultS3Outage(t *testing.T) {
	f := startFaults(t)
	id := f.submit(t, faultMaster(t), faultLadder)
	encoding(t, id)
	// The outage is met by a worker's transfer, which retries, or, for a
	// master read by seeking, by the encode's ffmpeg reading it, whose task
	// fails and is retried.
	hit := func() int {
		log := f.logText()
		n := strings.Count(log, "object store unreachable")
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "task failed") && strings.Contains(line, "Connection refused") {
				n++
			}
		}
		return n
	}
	seen := hit()
	f.minio.Stop()
	t.Log("MinIO stopped mid-encode")
	// Down until a worker has run into the outage and is retrying, and the
	// API's health check reports it.
	took := until(t, 3*time.Minute, "a transfer retrying against the stopped MinIO", func() bool {
		return hit() > seen && f.health() == http.StatusServiceUnavailable
	})
	t.Logf("a transfer was retrying %s after MinIO stopped", took.Round(time.Millisecond))
	if v := f.job(t, id); v.Status.Terminal() || v.Outputs != nil {
		t.Fatalf("during the outage the job is %s with outputs %v", v.Status, v.Outputs)
	}
	f.startMinio(t)
	v := f.awaitEnd(t, id, 8*time.Minute)
	checkComplete(t, f.devStack, v)
	// Everything the playlists name is there, whole.
	verify(t, v, faultMaster(t), true, 4)
}

// failEncodes makes the stack's ffmpeg wrapper fail every H.264 encode
// the way name says (see startFaults) until the test ends or the
// returned file is removed.
func (f *faultStack) failEncodes(t *testing.T, name string) string {
	t.Helper()
	flag := filepath.Join(f.dir, name)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(flag) })
	return flag
}

func TestFaultRetryAfterRetriesRunOut(t *testing.T) {
	f := startFaults(t)
	flag := f.failEncodes(t, "fail-encodes")
	id := f.submit(t, faultMaster(t), faultLadder)
	v := f.awaitEnd(t, id, 5*time.Minute)
	if v.Status != pipeline.StatusFailed || v.Error == nil || v.Error.Code != pipeline.CodeEncodeFailed ||
		!strings.Contains(v.Error.Message, "forced failure") || !strings.Contains(v.Error.Message, fmt.Sprintf("after %d retries", queue.MaxRetry)) {
		t.Fatalf("job: %s %+v", v.Status, v.Error)
	}
	t.Logf("failed: %s", v.Error.Message)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: f.redis.Addr})
	defer insp.Close()
	archived, err := insp.ListArchivedTasks(queue.Name, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range archived {
		if strings.HasPrefix(a.ID, id+":encode:") {
			n++
			if a.Retried != queue.MaxRetry {
				t.Errorf("archived %s after %d retries", a.ID, a.Retried)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no encode task of the job in asynq's archive")
	}
	splits := strings.Count(readFile(t, filepath.Join(f.dir, "ffmpeg.log")), "segment_list")
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "retry", id, "--watch", "--api", f.api)
	cmd.Env = append(os.Environ(), "REEL_API_KEY="+f.key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reel retry: %v\n%s", err, out)
	}
	v = f.job(t, id)
	checkComplete(t, f.devStack, v)
	if v.Retries != 1 {
		t.Errorf("retries %d, want 1", v.Retries)
	}
	if again := strings.Count(readFile(t, filepath.Join(f.dir, "ffmpeg.log")), "segment_list"); again != splits {
		t.Errorf("the retry split the master again (%d splits, %d before)", again, splits)
	}
	// A job that did not fail cannot be retried.
	resp, err := f.c.Post(f.api+"/v1/jobs/"+id+"/retry", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("retry of a complete job: %d", resp.StatusCode)
	}
}

// TestFaultDeterministicFailureIsPermanent: an encode that fails on the
// master's own streams (ffmpeg exits with an error that names no network,
// disk or memory trouble) fails the job at once as unprocessable_media,
// with no task retried.
func TestFaultDeterministicFailureIsPermanent(t *testing.T) {
	f := startFaults(t)
	f.failEncodes(t, "fail-encodes-on-master")
	before := strings.Count(readFile(t, filepath.Join(f.dir, "ffmpeg.log")), "libx264")
	id := f.submit(t, faultMaster(t), faultLadder)
	v := f.awaitEnd(t, id, 2*time.Minute)
	if v.Status != pipeline.StatusFailed || v.Error == nil || v.Error.Code != media.CodeUnprocessable ||
		!strings.Contains(v.Error.Message, "Invalid argument") {
		t.Fatalf("job: %s %+v", v.Status, v.Error)
	}
	t.Logf("failed: %s", v.Error.Message)
	// Each chunk's encode ran once at most: none was retried.
	chunks := 0
	if v.Progress.ChunksTotal > 0 {
		chunks = v.Progress.ChunksTotal
	}
	if ran := strings.Count(readFile(t, filepath.Join(f.dir, "ffmpeg.log")), "libx264") - before; ran == 0 || ran > chunks {
		t.Errorf("%d encodes ran for %d chunks: the failure was retried", ran, chunks)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// startAPI runs a separate `reel api` on the fault stack's Redis and MinIO.
func (f *faultStack) startAPI(t *testing.T, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(f.bin, "api", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--redis", f.redis.Addr, "--s3", f.minio.Addr)
	cmd.Env = append(os.Environ(), "REEL_S3_ACCESS_KEY="+devstack.MinioUser, "REEL_S3_SECRET_KEY="+devstack.MinioPassword,
		"REEL_WORK_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !healthy("http://127.0.0.1:"+strconv.Itoa(port), 30*time.Second) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("reel api did not start")
	}
	return cmd
}

func TestFaultAPIRestartMidUpload(t *testing.T) {
	f := startFaults(t)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	api := f.startAPI(t, port)
	ctx := context.Background()
	mastersBefore, err := f.s3.List(ctx, f.s3.Bucket(), "masters/")
	if err != nil {
		t.Fatal(err)
	}
	_, jobsBefore := f.listJobs(t)

	// A plain multipart upload cut off by the API's death: the client gets
	// an error, and nothing is stored or processed.
	pr, pw := io.Pipe()
	var sent atomic.Int64
	go func() {
		defer pw.Close()
		fmt.Fprint(pw, "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n")
		chunk := make([]byte, 256<<10)
		// 50 MiB paced over about 4 s, so the API dies with the body in flight.
		for i := 0; i < 200; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/jobs", pr)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	errc := make(chan error, 1)
	go func() {
		resp, err := f.c.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		errc <- err
	}()
	// The API dies once it has read some of the body.
	base := readBytes(api.Process.Pid)
	until(t, time.Minute, "the API reading the multipart body", func() bool { return readBytes(api.Process.Pid)-base >= 2<<20 })
	_ = api.Process.Kill()
	_ = api.Wait()
	t.Logf("multipart client saw, %d MiB into the body: %v", sent.Load()>>20, <-errc)
	api = f.startAPI(t, port)

	// `reel upload` through the same death and restart resumes.
	big := filepath.Join(t.TempDir(), "big.bin")
	const bigSize = 192 << 20
	if err := os.WriteFile(big, make([]byte, bigSize), 0o644); err != nil {
		t.Fatal(err)
	}
	up := exec.Command(f.bin, "upload", big, "--api", url)
	up.Env = append(os.Environ(), "REEL_API_KEY="+f.key, "XDG_CACHE_HOME="+t.TempDir())
	out := &syncWriter{b: &bytes.Buffer{}}
	up.Stdout, up.Stderr = out, out
	base = readBytes(api.Process.Pid)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	// The API dies once a part or more of the upload has reached it, and
	// comes back once the command has seen the failure.
	until(t, time.Minute, "the API reading the upload", func() bool { return readBytes(api.Process.Pid)-base >= 32<<20 })
	_ = api.Process.Kill()
	_ = api.Wait()
	until(t, time.Minute, "reel upload noticing the API's death", func() bool { return strings.Contains(out.String(), "upload interrupted at") })
	api = f.startAPI(t, port)
	defer func() { _ = api.Process.Signal(syscall.SIGTERM); _ = api.Wait() }()
	if err := up.Wait(); err != nil {
		t.Fatalf("reel upload: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("reel upload said:\n%s", text)
	if !strings.Contains(text, "upload interrupted at") {
		t.Errorf("the upload was not interrupted (it finished before the API died?)")
	}
	m := regexp.MustCompile(`job (\S+) queued`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no job from the resumed upload")
	}
	// The whole file arrived once; the multipart attempt left nothing.
	uploads, _ := f.s3.List(ctx, f.s3.Bucket(), "uploads/")
	whole := false
	for _, k := range uploads {
		if n, err := f.s3.Stat(ctx, f.s3.Bucket(), k); err == nil && n == bigSize {
			whole = true
		}
	}
	if !whole {
		t.Errorf("no upload object of %d bytes among %v", bigSize, uploads)
	}
	mastersAfter, _ := f.s3.List(ctx, f.s3.Bucket(), "masters/")
	if len(mastersAfter) != len(mastersBefore) {
		t.Errorf("the cut-off multipart upload left a master: %v", mastersAfter)
	}
	if _, jobsAfter := f.listJobs(t); jobsAfter != jobsBefore+1 {
		t.Errorf("%d jobs after, %d before: want exactly the resumed upload's", jobsAfter, jobsBefore)
	}
	// The zeros are no video: the job fails on them, it does not hang.
	if v := f.awaitEnd(t, m[1], 2*time.Minute); v.Status != pipeline.StatusFailed {
		t.Errorf("job of zeros: %s", v.Status)
	}
}

// readBytes is how many bytes process pid has read (rchar in
// /proc/PID/io: sockets and files alike), 0 when it cannot be read.
func readBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func (s *devStack) listJobs(t *testing.T) ([]pipeline.View, int) {
	t.Helper()
	l, err := s.client().Jobs(context.Background(), 100, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return l.Jobs, l.Total
}
