// Command bench measures Reel against a hand-written ffmpeg command and
// prints a table: pipeline wall time (upload to published, `reel dev
// --workers 2`) against one ffmpeg run producing the same ladder as HLS
// fMP4 from the same 60 s 1080p master, where the pipeline's time goes per
// stage, the API's peak RSS while a 2 GB master is uploaded, and the
// gateway's overhead under a bounded load (requests/s and p99 latency with
// and without `reel gateway`).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
)

func main() {
	dir := flag.String("dir", "", "work directory (default: a new temporary one)")
	seconds := flag.Int("seconds", 60, "master duration")
	uploadGB := flag.Float64("upload-gb", 2, "size of the master uploaded for the memory measurement (0 to skip)")
	loadN := flag.Int("load", 20000, "requests a run for the gateway load test (0 to skip)")
	clients := flag.Int("clients", 32, "concurrent clients of the gateway load test")
	onlyLoad := flag.Bool("only-load", false, "run only the gateway load test, on a 2 s title")
	flag.Parse()
	if *onlyLoad {
		*seconds, *uploadGB = 0, 0
	}
	if err := run(*dir, *seconds, *uploadGB, *loadN, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func run(dir string, seconds int, uploadGB float64, loadN, clients int) error {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "reel-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	if seconds == 0 {
		return onlyLoad(dir, loadN, clients)
	}
	master := filepath.Join(dir, "master.mp4")
	fmt.Fprintf(os.Stderr, "bench: generating a %d s 1080p30 master with audio\n", seconds)
	if err := sh("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", master); err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "bench: hand-written ffmpeg, same ladder, HLS fMP4")
	start := time.Now()
	if err := sh("ffmpeg", baselineArgs(master, filepath.Join(dir, "baseline"))...); err != nil {
		return fmt.Errorf("baseline ffmpeg: %w", err)
	}
	baseline := time.Since(start)

	fmt.Fprintln(os.Stderr, "bench: reel dev --workers 2")
	d, err := startDev(dir)
	if err != nil {
		return err
	}
	defer d.stop()
	start = time.Now()
	// The default ladder without the quality measurement, which the
	// hand-written ffmpeg does not make either.
	l := ladder.Default()
	l.SkipQuality = true
	ladderFile := filepath.Join(dir, "ladder.json")
	if data, err := json.Marshal(l); err != nil {
		return err
	} else if err := os.WriteFile(ladderFile, data, 0o644); err != nil {
		return err
	}
	out, err := exec.Command("./bin/reel", "upload", master, "--watch", "--api", d.api, "--ladder", ladderFile).CombinedOutput()
	if err != nil {
		return fmt.Errorf("reel upload: %v\n%s", err, out)
	}
	pipelineWall := time.Since(start)
	id := regexp.MustCompile(`job ([0-9a-f-]{36}) queued`).FindStringSubmatch(string(out))
	if id == nil {
		return fmt.Errorf("no job id in: %s", out)
	}
	var job pipeline.View
	if err := getJSON(d.api+"/v1/jobs/"+id[1], d.key, &job); err != nil {
		return err
	}
	uploadTime := job.CreatedAt.Sub(start.UTC())

	fmt.Printf("\n## Pipeline vs one ffmpeg (%d s 1080p30 master, default ladder, %d rungs)\n\n", seconds, len(job.Renditions))
	fmt.Println("| measure | seconds |\n| --- | --- |")
	fmt.Printf("| one hand-written ffmpeg (split/scale, %d x264 outputs + AAC, HLS fMP4) | %.1f |\n", len(job.Renditions), baseline.Seconds())
	fmt.Printf("| Reel, upload to published (reel dev --workers 2, skip_quality) | %.1f |\n", pipelineWall.Seconds())
	fmt.Printf("| ratio Reel / ffmpeg | %.2f |\n", pipelineWall.Seconds()/baseline.Seconds())
	fmt.Printf("\n## Where the pipeline's time goes\n\n| stage | wall span s | task time s | tasks |\n| --- | --- | --- | --- |\n")
	fmt.Printf("| upload (API to S3) | %.1f | | |\n", uploadTime.Seconds())
	for _, s := range d.stages(id[1]) {
		fmt.Printf("| %s | %.1f | %.1f | %d |\n", s.name, s.span.Seconds(), s.busy.Seconds(), s.n)
	}

	if uploadGB > 0 {
		rss, err := measureUpload(d, dir, uploadGB)
		if err != nil {
			return err
		}
		fmt.Printf("\n## reel api memory while uploading a %.1f GB master\n\n| measure | MiB |\n| --- | --- |\n", uploadGB)
		fmt.Printf("| peak RSS before upload | %.1f |\n| peak RSS after upload | %.1f |\n", rss[0], rss[1])
	}
	if loadN > 0 {
		return measureGateway(d, id[1], loadN, clients)
	}
	return nil
}

// onlyLoad runs the gateway load test on a short title.
func onlyLoad(dir string, n, c int) error {
	master := filepath.Join(dir, "short.mp4")
	if err := sh("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", master); err != nil {
		return err
	}
	d, err := startDev(dir)
	if err != nil {
		return err
	}
	defer d.stop()
	ladderFile := filepath.Join(dir, "ladder.json")
	if err := os.WriteFile(ladderFile, []byte(`{"rungs":[{"height":144,"bitrate":150000}],"segment_seconds":2,"skip_quality":true}`), 0o644); err != nil {
		return err
	}
	out, err := exec.Command("./bin/reel", "upload", master, "--watch", "--api", d.api, "--ladder", ladderFile).CombinedOutput()
	if err != nil {
		return fmt.Errorf("reel upload: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`job ([0-9a-f-]{36}) queued`).FindStringSubmatch(string(out))
	if id == nil {
		return fmt.Errorf("no job id in: %s", out)
	}
	return measureGateway(d, id[1], n, c)
}

// baselineArgs is the hand-written single ffmpeg run: the same rungs,
// encoder settings, segment length and audio as Reel's default ladder.
func baselineArgs(master, out string) []string {
	rungs, _ := ladder.Select(ladder.Default().Normalize(), ladder.Source{Width: 1920, Height: 1080})
	var fc strings.Builder
	fmt.Fprintf(&fc, "[0:v]format=yuv420p,split=%d", len(rungs))
	for i := range rungs {
		fmt.Fprintf(&fc, "[s%d]", i)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-i", master}
	var vsm []string
	for i, r := range rungs {
		fmt.Fprintf(&fc, ";[s%d]scale=%d:%d:flags=bicubic,setsar=1[v%d]", i, r.Width, r.Height, i)
	}
	args = append(args, "-filter_complex", fc.String())
	for i, r := range rungs {
		n := strconv.Itoa(i)
		args = append(args, "-map", "[v"+n+"]", "-c:v:"+n, "libx264", "-preset:v:"+n, r.Preset, "-profile:v:"+n, r.Profile,
			"-crf:v:"+n, strconv.Itoa(r.CRF), "-maxrate:v:"+n, strconv.Itoa(r.MaxRate), "-bufsize:v:"+n, strconv.Itoa(r.BufSize))
		vsm = append(vsm, fmt.Sprintf("v:%d,agroup:aud", i))
	}
	args = append(args, "-g", "120", "-keyint_min", "120", "-sc_threshold", "0",
		"-map", "0:a:0", "-c:a", "aac", "-b:a", "128000", "-ac", "2", "-ar", "48000",
		"-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
		"-var_stream_map", strings.Join(append(vsm, "a:0,agroup:aud"), " "), "-master_pl_name", "master.m3u8",
		"-hls_segment_filename", out+"/%v/seg_%05d.m4s", out+"/%v/index.m3u8")
	return args
}

type dev struct {
	cmd   *exec.Cmd
	api   string
	redis string
	data  string // the --data folder
	key   string // the admin API key reel dev wrote there
	s3    string
	mu    sync.Mutex
	lines []string
}

func startDev(dir string) (*dev, error) {
	port, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	d := &dev{api: "http://127.0.0.1:" + strconv.Itoa(port), data: filepath.Join(dir, "data")}
	d.cmd = exec.Command("./bin/reel", "dev", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data", filepath.Join(dir, "data"), "--workers", "2")
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go d.collect(stderr)
	banner := bufio.NewReader(stdout)
	line, err := banner.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("reel dev: %w", err)
	}
	if m := regexp.MustCompile(`Redis (\S+)\s+S3 http://(\S+)`).FindStringSubmatch(line); m != nil {
		d.redis, d.s3 = m[1], m[2]
	}
	go func() { _, _ = io.Copy(io.Discard, banner) }()
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(d.api + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				key, err := os.ReadFile(filepath.Join(d.data, "admin.key"))
				if err != nil {
					d.stop()
					return nil, fmt.Errorf("reel dev wrote no admin key: %w", err)
				}
				d.key = strings.TrimSpace(string(key))
				// The CLI runs below read the key from the environment.
				os.Setenv("REEL_API_KEY", d.key)
				return d, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop()
	return nil, fmt.Errorf("reel dev did not become ready")
}

func (d *dev) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.lines = append(d.lines, sc.Text())
		d.mu.Unlock()
	}
}

func (d *dev) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()
}

type stage struct {
	name       string
	first, end time.Time
	span, busy time.Duration
	n          int
}

var taskLine = regexp.MustCompile(`^time=(\S+) .*msg="task done".* task=(\w+) job=(\S+).* elapsed=(\S+)`)

// stages reads the workers' "task done" log lines of job id.
func (d *dev) stages(id string) []stage {
	d.mu.Lock()
	defer d.mu.Unlock()
	by := map[string]*stage{}
	for _, l := range d.lines {
		m := taskLine.FindStringSubmatch(l)
		if m == nil || m[3] != id {
			continue
		}
		end, err1 := time.Parse(time.RFC3339Nano, m[1])
		el, err2 := time.ParseDuration(m[4])
		if err1 != nil || err2 != nil {
			continue
		}
		s := by[m[2]]
		if s == nil {
			s = &stage{name: m[2], first: end.Add(-el), end: end}
			by[m[2]] = s
		}
		if st := end.Add(-el); st.Before(s.first) {
			s.first = st
		}
		if end.After(s.end) {
			s.end = end
		}
		s.busy += el
		s.n++
	}
	var out []stage
	for _, s := range by {
		s.span = s.end.Sub(s.first)
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	return out
}

// measureUpload runs a separate `reel api` on the dev stack's Redis and S3,
// streams a sparse file of gb gigabytes through it with `reel upload`, and
// returns the API's peak RSS (VmHWM) before and after, in MiB.
func measureUpload(d *dev, dir string, gb float64) ([2]float64, error) {
	var res [2]float64
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		return res, err
	}
	err = f.Truncate(int64(gb * (1 << 30))) // sparse: reads as zeros, costs no disk
	f.Close()
	if err != nil {
		return res, err
	}
	defer os.Remove(big)
	port, err := devstack.FreePort()
	if err != nil {
		return res, err
	}
	api := exec.Command("./bin/reel", "api", "--addr", "127.0.0.1:"+strconv.Itoa(port))
	api.Env = append(os.Environ(), "REEL_REDIS_ADDR="+d.redis, "REEL_S3_ENDPOINT="+d.s3,
		"REEL_S3_ACCESS_KEY="+devstack.MinioUser, "REEL_S3_SECRET_KEY="+devstack.MinioPassword)
	if err := api.Start(); err != nil {
		return res, err
	}
	defer func() { _ = api.Process.Signal(syscall.SIGTERM); _ = api.Wait() }()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res[0], err = vmHWM(api.Process.Pid); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "./bin/reel", "upload", big, "--api", url).CombinedOutput(); err != nil {
		return res, fmt.Errorf("upload: %v %s", err, out)
	}
	res[1], err = vmHWM(api.Process.Pid)
	return res, err
}

func vmHWM(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, err := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

func getJSON(url, key string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
