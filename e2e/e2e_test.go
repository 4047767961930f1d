package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/timeline"
)

// devStack is one `reel dev --workers 2` shared by the end-to-end tests.
type devStack struct {
	bin  string
	api  string
	data string // its --data folder
	key  string // the admin API key reel dev wrote there
	c    *http.Client
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// bearer adds an API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// readKey reads the admin key reel dev wrote to its data folder.
func (s *devStack) readKey(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.data, "admin.key"))
	if err != nil {
		t.Fatalf("reel dev wrote no admin key: %v", err)
	}
	s.key = strings.TrimSpace(string(data))
	s.c = &http.Client{Transport: bearer{s.key}}
}

var e2eStack *devStack

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// The tier of real processes takes minutes: `go test -short ./...`
		// is the unit and package tiers; `make test` runs this one too.
		fmt.Println("e2e: end-to-end tests are not run under -short; run `go test ./e2e` or `make test`")
		os.Exit(0)
	}
	// Every process the tests start signs and checks playback tokens with
	// the same keys, as a deployment's API, catalog and edges must.
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	os.Setenv("REEL_PLAYBACK_KEYS", "e2e:"+hex.EncodeToString(secret[:]))
	code := m.Run()
	if os.Getenv("REEL_ORACLE_TABLE") != "" {
		if f, err := os.Create(os.Getenv("REEL_ORACLE_TABLE")); err == nil {
			printOracleTable(f)
			f.Close()
		}
	}
	stopBrowser()
	if e2eStack != nil {
		e2eStack.stop()
	}
	if faults != nil {
		faults.close()
	}
	for _, d := range stackDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// stackDirs are the folders of the stacks and the built binary that live
// as long as the test binary: TestMain removes them once the stacks have
// stopped.
var stackDirs []string

// stackDirsMu guards stackDirs: the tests that run their own stacks run
// in parallel.
var stackDirsMu sync.Mutex

// stackDir makes a folder that lasts until the end of the test binary.
func stackDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		stackDirsMu.Lock()
		stackDirs = append(stackDirs, dir)
		stackDirsMu.Unlock()
	}
	return dir, err
}

func startStack(t *testing.T) *devStack {
	t.Helper()
	if e2eStack != nil {
		return e2eStack
	}
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "minio")
	dir, err := stackDir("reel-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildReel(t)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The web page loads the pinned hls.js the player tests use.
	hlsjs := filepath.Join(testenv.RepoRoot(), "player", playerFiles["/hls.min.js"])
	// Masters given by URL come from test servers on this machine.
	s := launchDev(t, bin, port, filepath.Join(dir, "data"), []string{"REEL_UI_HLSJS=" + hlsjs, "REEL_INGEST_ALLOW=127.0.0.1"})
	s.readKey(t)
	e2eStack = s
	return s
}

// launchDev starts `reel dev --workers 2` on port with data under data,
// extra arguments and environment, and waits until it is healthy.
func launchDev(t *testing.T, bin string, port int, data string, env []string, extra ...string) *devStack {
	t.Helper()
	s := &devStack{bin: bin, api: "http://127.0.0.1:" + strconv.Itoa(port), data: data, log: &bytes.Buffer{}}
	args := append([]string{"dev", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--data", data, "--workers", "2"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	logw := &syncWriter{b: s.log}
	s.cmd.Stdout, s.cmd.Stderr = logw, logw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !healthy(s.api, 90*time.Second) {
		s.stop()
		t.Fatalf("reel dev not ready:\n%s", s.logText())
	}
	return s
}

// healthy waits up to d for GET url/healthz to answer 200.
func healthy(url string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildReel builds the reel binary once for every test that runs it.
func buildReel(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := stackDir("reel-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "reel")
		if out, err := exec.Command("go", "build", "-o", builtBin, "github.com/reel-video/reel/cmd/reel").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build reel: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (s *devStack) logText() string { return s.cmd.Stderr.(*syncWriter).String() }

func (s *devStack) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// client talks to the stack's API with its admin key.
func (s *devStack) client() *client.Client { return client.New(s.api, s.key) }

// submit uploads file (multipart) with ladderJSON ("" for the default)
// and any subtitle files it lists, and returns the job's id.
func (s *devStack) submit(t *testing.T, file, ladderJSON string, subtitles ...client.File) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var l json.RawMessage
	if ladderJSON != "" {
		l = json.RawMessage(ladderJSON)
	}
	v, err := s.client().Submit(context.Background(), f, filepath.Base(file), l, subtitles...)
	if err != nil {
		t.Fatalf("POST /v1/jobs: %v", err)
	}
	return v.ID
}

// complete submits file with ladderJSON, waits for the job to complete
// (failing the test if it does not) and returns it.
func (s *devStack) complete(t *testing.T, file, ladderJSON string, subtitles ...client.File) pipeline.View {
	t.Helper()
	id := s.submit(t, file, ladderJSON, subtitles...)
	if code, out := s.watch(t, id); code != 0 {
		t.Fatalf("reel watch exit %d:\n%s", code, out)
	}
	return s.job(t, id)
}

func (s *devStack) job(t *testing.T, id string) pipeline.View {
	t.Helper()
	v, err := s.client().Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return *v
}

// events reads the job's server-sent events until the stream ends and
// returns the status of each event.
func (s *devStack) events(id string) []pipeline.Status {
	var out []pipeline.Status
	_ = s.client().Events(context.Background(), id, func(v *pipeline.View) error {
		out = append(out, v.Status)
		return nil
	})
	return out
}

// watch runs `reel watch ID` and returns its exit code and output.
func (s *devStack) watch(t *testing.T, id string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, "watch", id, "--api", s.api)
	cmd.Env = append(os.Environ(), "REEL_API_KEY="+s.key)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func ffprobeFrames(t *testing.T, input string) int64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", input).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", input, err)
	}
	fields := strings.FieldsFunc(string(out), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' })
	if len(fields) == 0 {
		t.Fatalf("ffprobe %s: no frame count", input)
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		t.Fatalf("ffprobe %s: %q", input, out)
	}
	return n
}

// minPSNR returns the lowest per-frame luma PSNR of rendition against the
// master as ffmpeg decodes it (rotation applied), scaled to w x h and
// converted from the source's range and matrix (as the job found them) to
// limited-range BT.709 like the rendition.
func minPSNR(t *testing.T, rendition, master string, w, h int, c timeline.Conform) float64 {
	t.Helper()
	// A folder of its own: test names may hold characters that mean
	// something in a filter graph.
	dir, err := os.MkdirTemp("", "reel-psnr-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	stats := filepath.Join(dir, "psnr.log")
	// Pair frames by index, whatever the timestamps of either side.
	graph := fmt.Sprintf("[1:v]scale=%d:%d:flags=bicubic:in_range=%s:out_range=tv:in_color_matrix=%s:out_color_matrix=bt709,format=yuv420p,settb=1/25,setpts=N[ref];"+
		"[0:v]settb=1/25,setpts=N[out];[out][ref]psnr=stats_file=%s", w, h, c.InRange, c.InMatrix, stats)
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-i", rendition, "-i", master, "-lavfi", graph, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("psnr: %v\n%s", err, out)
	}
	data, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	lowest, frames := 1000.0, 0
	for _, line := range strings.Split(string(data), "\n") {
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "psnr_y:"); ok {
				frames++
				if p, err := strconv.ParseFloat(v, 64); err == nil && p < lowest {
					lowest = p
				}
			}
		}
	}
	if frames == 0 {
		t.Fatalf("psnr: no frames compared")
	}
	return lowest
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return resp, data
}

func checkHeaders(t *testing.T, url, ctype, cache string) {
	t.Helper()
	resp, _ := get(t, url)
	if got := resp.Header.Get("Content-Type"); got != ctype {
		t.Errorf("%s: Content-Type %q, want %q", url, got, ctype)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, cache) {
		t.Errorf("%s: Cache-Control %q, want %q", url, got, cache)
	}
}

func TestSynthetic1080pWithAudio(t *testing.T) {
	s := startStack(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "master.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "14", "-c:v", "libx264", "-preset", "ultrafast", "-g", "97", "-bf", "3", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	id := s.submit(t, master, "")
	events := make(chan []pipeline.Status, 1)
	go func() { events <- s.events(id) }()
	code, out := s.watch(t, id)
	if code != 0 || !strings.Contains(out, "complete") {
		t.Fatalf("reel watch exit %d:\n%s\nlog:\n%s", code, out, s.logText())
	}
	seen := <-events
	if len(seen) < 3 || seen[len(seen)-1] != pipeline.StatusComplete || !slices.Contains(seen, pipeline.StatusEncoding) {
		t.Errorf("server-sent events carried statuses %v", seen)
	}
	var ws struct{ Workers []map[string]any }
	resp, err := s.c.Get(s.api + "/v1/workers")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(data, &ws); err != nil || len(ws.Workers) != 2 || ws.Workers[0]["pid"] == nil || ws.Workers[0]["concurrency"] == nil {
		t.Errorf("GET /v1/workers: %s", data)
	}
	v := s.job(t, id)
	if len(v.Renditions) != 5 {
		t.Errorf("default ladder on 1080p gave %d rungs", len(v.Renditions))
	}
	verify(t, v, master, true, 4)
	// Frame for frame the same pictures as the master: a frame lost or
	// doubled at a chunk seam shifts the moving test pattern and drops the
	// PSNR of every later frame far below this floor.
	for _, r := range v.Renditions {
		if r.Name == "360p" {
			base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
			got := minPSNR(t, base+"360p/index.m3u8", master, r.Width, r.Height, v.Source.Conform)
			t.Logf("360p rung: lowest frame PSNR against the master %.1f dB", got)
			if got < 30 {
				t.Errorf("360p rung: lowest frame PSNR against the master %.1f dB, want >= 30 (frames misaligned?)", got)
			}
		}
	}
	// The default ladder's VBV ceiling keeps every rung's peak segment
	// bitrate within twice its average.
	for _, r := range v.Renditions {
		if r.Bandwidth > 2*r.AverageBandwidth || r.AverageBandwidth == 0 {
			t.Errorf("%s: peak %d bit/s, average %d bit/s", r.Name, r.Bandwidth, r.AverageBandwidth)
		}
		t.Logf("%s: peak %d average %d bit/s, PSNR %.2f dB SSIM %.4f", r.Name, r.Bandwidth, r.AverageBandwidth, r.Quality.PSNR, r.Quality.SSIM)
	}
	// How many chunks depends on the CPUs the workers announce (one on a
	// machine whose cores one ffmpeg keeps busy).
	if p := v.Progress; p.ChunksTotal < 1 || p.ChunksDone != p.ChunksTotal || p.Overall != 1 {
		t.Errorf("progress: %+v", v.Progress)
	}
}

// smallLadder is the default ladder's two lowest rungs, in one-segment chunks
// so that even short clips have several chunk seams.
const smallLadder = `{"rungs":[{"height":360,"bitrate":730000},{"height":234,"bitrate":145000}],"chunk_segments":1}`

func TestSharedMedia(t *testing.T) {
	s := startStack(t)
	clips := []struct {
		name    string
		audio   bool
		minPSNR float64
		// seek: read by seeking rather than split. The cockatoo clip's
		// later keyframes are I-frames later frames reach past, so its
		// chunks seek back to its first.
		seek bool
	}{
		// Floors a few dB under what a single-pass ffmpeg encode of the same
		// rung reaches (32.4, 32.1, 22.1, 39.4 dB); a chunk decoded from a
		// bad starting point measured 15 dB.
		{"02_h264-high444_720p20_cockatoo_mp3.mp4", true, 27, true},
		{"03_vp8_640x360-24_rocket-launch_vorbis.webm", true, 27, true},
		{"06_mpeg2_720x405-25_city_noaudio.mpg", false, 19, false},
		{"08_msmpeg4v3_768x576-10_80s-pedestrians_noaudio.avi", false, 33, false},
	}
	for _, c := range clips {
		t.Run(c.name, func(t *testing.T) {
			path := testenv.SharedMedia(t, c.name)
			job := smallLadder
			if c.audio {
				// Normalized to -16 LUFS: the rocket launch (-30.3 LUFS,
				// peaks at -13.2 dBTP) needs its peaks limited; the
				// cockatoo's track is silent and stays so.
				job = strings.TrimSuffix(smallLadder, "}") + `,"loudness":{"target":-16}}`
			}
			id := s.submit(t, path, job)
			if code, out := s.watch(t, id); code != 0 {
				t.Fatalf("reel watch exit %d:\n%s", code, out)
			}
			v := s.job(t, id)
			if v.Source.Seek != c.seek || (v.Timings["split"] != nil) == c.seek {
				t.Errorf("read by seeking: %v (split timing %+v), want %v", v.Source.Seek, v.Timings["split"], c.seek)
			}
			verify(t, v, path, c.audio, 4)
			// Every frame decodes to the source's picture: a chunk decoded from
			// a bad starting point or a frame shifted at a seam falls far below.
			low := v.Renditions[len(v.Renditions)-1]
			base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
			got := minPSNR(t, base+low.Name+"/index.m3u8", path, low.Width, low.Height, v.Source.Conform)
			t.Logf("%s: lowest frame PSNR against the source %.1f dB", low.Name, got)
			if got < c.minPSNR {
				t.Errorf("%s: lowest frame PSNR %.1f dB, want >= %.1f", low.Name, got, c.minPSNR)
			}
			if c.audio {
				checkNormalized(t, v, base, -16)
			}
			playBoth(t, v)
		})
	}
}

// checkNormalized checks that a title normalized to target LUFS records
// its audio track's loudness before and after, says so in its notes, and
// that the published track measures within 0.5 LU of the target with its
// true peaks under -1 dBTP (or is silent, and left so).
func checkNormalized(t *testing.T, v pipeline.View, base string, target float64) {
	t.Helper()
	if len(v.AudioTracks) != 1 || v.AudioTracks[0].Loudness == nil || v.AudioTracks[0].Normalized == nil {
		t.Fatalf("audio tracks %+v, want one, measured and normalized", v.AudioTracks)
	}
	a := v.AudioTracks[0]
	got := testenv.Loudness(t, base+a.Name+"/index.m3u8")
	t.Logf("%s: before %+v, normalized %+v, published %+v", a.Name, *a.Loudness, *a.Normalized, got)
	if !hasNote(v, "audio track "+a.Name) {
		t.Errorf("notes %q say nothing of the loudness", v.Source.Notes)
	}
	if a.Loudness.Silent() {
		if !got.Silent() || a.Normalized.Gain != 0 || !hasNote(v, "left silent") {
			t.Errorf("a silent track: published %+v, gain %g, notes %q", got, a.Normalized.Gain, v.Source.Notes)
		}
		return
	}
	if math.Abs(got.Integrated-target) > 0.5 || got.TruePeak > -1 {
		t.Errorf("published %.1f LUFS, %.1f dBTP; want %g within 0.5 LU, peaks under -1 dBTP", got.Integrated, got.TruePeak, target)
	}
	if math.Abs(a.Normalized.Loudness.Integrated-got.Integrated) > 0.3 {
		t.Errorf("recorded %.1f LUFS after normalization, the published track measures %.1f", a.Normalized.Loudness.Integrated, got.Integrated)
	}
}

func TestInvalidMasterFailsPermanently(t *testing.T) {
	s := startStack(t)
	bad := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(bad, []byte("this is not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := s.submit(t, bad, "")
	code, out := s.watch(t, id)
	if code == 0 || !strings.Contains(out, media.CodeUnreadable) {
		t.Fatalf("watch exit %d:\n%s", code, out)
	}
	v := s.job(t, id)
	if v.Status != pipeline.StatusFailed || v.Error == nil || v.Error.Code != media.CodeUnreadable || strings.Contains(v.Error.Message, "X-Amz") {
		t.Fatalf("job: %+v", v)
	}
}

// procs lists the processes whose arguments match.
func procs(match func(pid int, args []string) bool) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		if match(pid, strings.Split(string(cmdline), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ffmpegFor lists running ffmpeg processes whose arguments mention id.
func ffmpegFor(id string) []int {
	return procs(func(_ int, args []string) bool {
		return filepath.Base(args[0]) == "ffmpeg" && strings.Contains(strings.Join(args, " "), id)
	})
}

func TestCancelMidEncode(t *testing.T) {
	s := startStack(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "long.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", "60",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	slow := `{"rungs":[{"height":1080,"bitrate":6000000,"preset":"slow"},{"height":720,"bitrate":3000000,"preset":"slow"}]}`
	id := s.submit(t, master, slow)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v := s.job(t, id)
		if v.Status == pipeline.StatusEncoding && len(ffmpegFor(id)) > 0 {
			break
		}
		if v.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job never reached encoding with ffmpeg running: %+v", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.api+"/v1/jobs/"+id, nil)
	resp, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(ffmpegFor(id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg still running after cancel: %v", ffmpegFor(id))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := s.job(t, id); v.Status != pipeline.StatusCanceled {
		t.Fatalf("status %s after cancel", v.Status)
	}
	if code, out := s.watch(t, id); code == 0 || !strings.Contains(out, "canceled") {
		t.Errorf("watch of a canceled job: exit %d %s", code, out)
	}
	// Nothing starts again for the canceled job: once none of its tasks
	// waits, runs or waits to retry (but the delayed cleanup), no ffmpeg
	// of it has run meanwhile.
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: s.redisAddr(t)})
	defer insp.Close()
	until(t, 2*time.Minute, "the canceled job's tasks settling", func() bool {
		if pids := ffmpegFor(id); len(pids) > 0 {
			t.Fatalf("ffmpeg started again after cancel: %v", pids)
		}
		return len(unsettled(t, insp, id)) == 0
	})
	// Its intermediate objects are removed; the master is kept.
	s3 := s.s3(t)
	deadline = time.Now().Add(pipeline.CleanupSweepAfter + 30*time.Second)
	for {
		work, err := s3.List(context.Background(), s3.Bucket(), "work/"+id+"/")
		if err != nil {
			t.Fatal(err)
		}
		if len(work) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d intermediate objects left after cancel: %v", len(work), work[:min(len(work), 5)])
		}
		time.Sleep(time.Second)
	}
	if _, err := s3.Stat(context.Background(), s3.Bucket(), pipeline.MasterKey(id)); err != nil {
		t.Errorf("master of the canceled job: %v", err)
	}
}

// unsettled lists the job's tasks that are queued, running or waiting to
// be retried, and scheduled ones other than the cleanup's sweep.
func unsettled(t *testing.T, insp *asynq.Inspector, id string) []string {
	t.Helper()
	var out []string
	for state, list := range map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"pending": insp.ListPendingTasks, "active": insp.ListActiveTasks, "retry": insp.ListRetryTasks, "scheduled": insp.ListScheduledTasks,
	} {
		tasks, err := list(queue.Name, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		for _, ti := range tasks {
			if strings.HasPrefix(ti.ID, id+":") && ti.ID != id+":cleanup:sweep" {
				out = append(out, state+" "+ti.ID)
			}
		}
	}
	return out
}

// redisAddr is the stack's Redis, as its banner gives it.
func (s *devStack) redisAddr(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`Redis (\S+)`).FindStringSubmatch(s.logText())
	if m == nil {
		t.Fatalf("no Redis address in the reel dev banner")
	}
	return m[1]
}

// s3 connects to the stack's MinIO, as its banner gives it.
func (s *devStack) s3(t *testing.T) *origin.S3 {
	t.Helper()
	m := regexp.MustCompile(`S3 http://(\S+)`).FindStringSubmatch(s.logText())
	if m == nil {
		t.Fatalf("no S3 address in the reel dev banner")
	}
	c, err := origin.New(origin.Config{Endpoint: m[1], AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestShortTail puts through a master whose last segment would be two
// frames (8.08 s at 24 fps, 4 s segments): the tail joins the segment
// before it in every rung, the audio and the MPD, and each variant's
// BANDWIDTH is the RFC 8216bis peak (verify), not the runt's rate.
func TestShortTail(t *testing.T) {
	s := startStack(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "tail.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-frames:v", "194", "-t", "8.0834", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	id := s.submit(t, master, `{"rungs":[{"height":360,"bitrate":900000},{"height":180,"bitrate":250000}]}`)
	if code, out := s.watch(t, id); code != 0 {
		t.Fatalf("reel watch exit %d:\n%s", code, out)
	}
	v := s.job(t, id)
	verify(t, v, master, true, 4)
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	for _, track := range []string{v.Renditions[0].Name, v.Renditions[1].Name, "audio"} {
		_, body := get(t, base+track+"/index.m3u8")
		durs := regexp.MustCompile(`#EXTINF:([0-9.]+)`).FindAllStringSubmatch(string(body), -1)
		last := 0.0
		if len(durs) > 0 {
			last, _ = strconv.ParseFloat(durs[len(durs)-1][1], 64)
		}
		if len(durs) != 2 || last < 4 {
			t.Errorf("%s: segments %v, want 2, the last about 4.08 s", track, durs)
		}
	}
	_, mpd := get(t, v.Outputs.DASH)
	for _, tl := range regexp.MustCompile(`(?s)<SegmentTimeline>(.*?)</SegmentTimeline>`).FindAllSubmatch(mpd, -1) {
		if n := bytes.Count(tl[1], []byte("<S ")); n != 2 || bytes.Contains(tl[1], []byte(`r="`)) {
			t.Errorf("MPD timeline lists other than 2 segments:\n%s", tl[1])
		}
	}
	for _, r := range v.Renditions {
		t.Logf("%s: BANDWIDTH %d, AVERAGE-BANDWIDTH %d", r.Name, r.Bandwidth, r.AverageBandwidth)
	}
}
