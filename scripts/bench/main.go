// Command bench measures Reel side by side and prints Markdown tables
// with one line per target:
//   - overhead: pipeline wall time (upload to published, `reel dev
//     --workers 2`) of the job a user submits (the default ladder, quality
//     measured) and of the same job with skip_quality, against one
//     hand-written ffmpeg producing the same ladder as HLS fMP4 from the
//     same 60 s 1080p master (the commands printed; -overhead-runs pairs
//     taken in turns, the median ratio of the default job counts), where
//     the pipeline's time goes per stage (the job's timings), and the time
//     to first playable;
//   - scaling: one worker pinned to one core against two workers each
//     pinned to its own core (taskset), same master;
//   - fleet: 1, 2 and 4 worker processes under cgroup CPU quotas over one
//     master and a batch of 8 short ones, throughput per worker-core;
//   - upload: the API's peak RSS while a 2 GB master streams in, and the
//     upload's throughput against writing the same bytes to S3 directly;
//   - status under load: GET /v1/jobs/{id} latency with 100 clients while
//     a job encodes;
//   - per-title ladders: bits and quality against the fixed ladder on easy,
//     hard and real content, and the analysis's cost;
//   - preroll: chunked encodes of each codec with each preroll against one
//     encode of the whole title, on a noisy master and the real clips;
//   - the gateway's overhead under a bounded load.
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
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
)

func main() {
	dir := flag.String("dir", "", "work directory (default: a new temporary one)")
	seconds := flag.Int("seconds", 60, "master duration of the overhead run")
	overheadRuns := flag.Int("overhead-runs", 1, "pairs of overhead runs (one ffmpeg, then Reel), taken in turns; the target is the median pair's ratio")
	scaleSeconds := flag.Int("scale-seconds", 64, "master duration of the scaling runs (0 to skip); 64 s is 16 whole 4 s segments, which two workers can share evenly")
	fleetSeconds := flag.Int("fleet-seconds", 30, "duration of the simulated fleet's long master; eight masters of -fleet-short seconds go with it (0 to skip; needs root for cgroup quotas)")
	fleetShort := flag.Int("fleet-short", 6, "duration of each of the simulated fleet's eight short masters")
	uploadGB := flag.Float64("upload-gb", 2, "size of the master uploaded for the memory and throughput measurement (0 to skip)")
	statusN := flag.Int("status", 10000, "GET /v1/jobs/{id} requests of the status load test (0 to skip)")
	perTitle := flag.Int("per-title-seconds", 60, "duration of the synthetic per-title titles (0 to skip the per-title runs)")
	realClips := flag.Int("per-title-clips", 4, "clips of ../shared/media in the per-title runs")
	prerollSeconds := flag.Int("preroll-seconds", 24, "duration of the preroll study's noisy master; the clips of ../shared/media go with it (0 to skip the study)")
	prerollClips := flag.Int("preroll-clips", 4, "clips of ../shared/media in the preroll study")
	prerollList := flag.String("prerolls", "0,1,2,4", "prerolls of the preroll study, seconds, comma-separated")
	prerollCodecs := flag.String("preroll-codecs", strings.Join(ladder.Codecs, ","), "codecs of the preroll study, comma-separated")
	loadN := flag.Int("load", 20000, "requests a run for the gateway load test (0 to skip)")
	clients := flag.Int("clients", 32, "concurrent clients of the gateway load test")
	onlyLoad := flag.Bool("only-load", false, "run only the gateway load test, on a 2 s title")
	historyOps := flag.Int("history-ops", 20000, "operations of the viewing history load test, 9 writes to 1 read (0 to skip)")
	eventsN := flag.Int("events", 200000, "events posted to the collector in the event pipeline load test (0 to skip)")
	recsN := flag.Int("recs-events", 1000000, "view events the recommender trains on in the training benchmark (0 to skip)")
	only := flag.String("only", "", "run only these sections, comma-separated: overhead, scaling, fleet, upload, status, backlog, per-title, preroll, history, events, recs, gateway")
	quick := flag.Bool("quick", false, "every section small (a 20 s overhead master, one pair, one real clip, a 0.25 GB upload, short loads), for a first look in minutes; the full sizes are the ones to quote")
	flag.Parse()
	if *quick {
		small := map[string]string{"seconds": "20", "overhead-runs": "1", "scale-seconds": "24", "fleet-seconds": "10", "fleet-short": "3", "upload-gb": "0.25", "status": "1000",
			"per-title-seconds": "20", "per-title-clips": "1", "load": "2000", "history-ops": "2000", "events": "20000", "recs-events": "100000", "preroll-seconds": "12", "preroll-clips": "1", "prerolls": "0,4"}
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range small {
			if !set[name] { // a size given on the command line wins
				_ = flag.Set(name, v)
			}
		}
	}
	if *onlyLoad {
		*only = "gateway"
	}
	prerolls, err := parsePrerolls(*prerollList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	var codecs []string
	for _, c := range strings.Split(*prerollCodecs, ",") {
		if !slices.Contains(ladder.Codecs, c) {
			fmt.Fprintf(os.Stderr, "bench: -preroll-codecs: %q is not one of %s\n", c, strings.Join(ladder.Codecs, ", "))
			os.Exit(2)
		}
		codecs = append(codecs, c)
	}
	o := opts{prerollSeconds: *prerollSeconds, prerollClips: *prerollClips, prerolls: prerolls, prerollCodecs: codecs, seconds: *seconds, overheadRuns: max(*overheadRuns, 1), scaleSeconds: *scaleSeconds, fleetSeconds: *fleetSeconds, fleetShort: max(*fleetShort, 1), uploadGB: *uploadGB, statusN: *statusN, perTitle: *perTitle,
		loadN: *loadN, clients: *clients, realClips: *realClips, historyOps: *historyOps, eventsN: *eventsN, recsN: *recsN, sections: map[string]bool{}}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.sections[s] = true
		}
	}
	if err := run(*dir, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type opts struct {
	prerollSeconds, prerollClips                                                                                int
	prerolls                                                                                                    []float64
	prerollCodecs                                                                                               []string
	seconds, overheadRuns, scaleSeconds, fleetSeconds, fleetShort, statusN, perTitle, loadN, clients, realClips int
	historyOps, eventsN, recsN                                                                                  int
	uploadGB                                                                                                    float64
	sections                                                                                                    map[string]bool
}

// on reports whether a section runs.
func (o opts) on(section string) bool { return len(o.sections) == 0 || o.sections[section] }

// report collects one line per target, printed at the end.
type report struct{ targets []string }

func (r *report) target(format string, args ...any) {
	r.targets = append(r.targets, fmt.Sprintf(format, args...))
}

func pass(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func run(dir string, o opts) error {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "reel-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("# make bench\n\n%s\n", machine())
	rep := &report{}
	defer func() {
		if len(rep.targets) > 0 {
			fmt.Printf("\n## Targets\n\n")
			for _, t := range rep.targets {
				fmt.Println("- " + t)
			}
		}
	}()
	if o.on("overhead") || o.on("upload") || o.on("status") || o.on("per-title") || o.on("preroll") {
		d, err := startDev(filepath.Join(dir, "main"), 2)
		if err != nil {
			return err
		}
		defer d.stop()
		if o.on("overhead") && o.seconds > 0 {
			if err := overhead(rep, d, dir, o.seconds, o.overheadRuns); err != nil {
				return err
			}
		}
		if o.on("upload") && o.uploadGB > 0 {
			if err := upload(rep, d, dir, o.uploadGB); err != nil {
				return err
			}
		}
		if o.on("status") && o.statusN > 0 {
			if err := statusLoad(rep, d, dir, o.statusN, 100); err != nil {
				return err
			}
		}
		if o.on("per-title") && o.perTitle > 0 {
			if err := perTitleRuns(rep, d, dir, o.perTitle, o.realClips); err != nil {
				return err
			}
		}
		if o.on("preroll") && o.prerollSeconds > 0 {
			if err := prerollStudy(rep, d, dir, o.prerolls, o.prerollCodecs, o.prerollSeconds, o.prerollClips); err != nil {
				return err
			}
		}
		d.stop()
	}
	if o.on("scaling") && o.scaleSeconds > 0 {
		if err := scaling(rep, dir, o.scaleSeconds); err != nil {
			return err
		}
	}
	if o.on("fleet") && o.fleetSeconds > 0 {
		if err := fleet(rep, dir, o.fleetSeconds, o.fleetShort); err != nil {
			return err
		}
	}
	if o.on("backlog") && o.statusN > 0 {
		if err := backlogLoad(dir, o.statusN, 100); err != nil {
			return err
		}
	}
	if o.on("history") && o.historyOps > 0 {
		if err := historyLoad(filepath.Join(dir, "history"), o.historyOps, 64); err != nil {
			return err
		}
	}
	if o.on("events") && o.eventsN > 0 {
		if err := eventsLoad(filepath.Join(dir, "events"), o.eventsN); err != nil {
			return err
		}
	}
	if o.on("recs") && o.recsN > 0 {
		if err := recsTraining(o.recsN); err != nil {
			return err
		}
	}
	if o.on("gateway") && o.loadN > 0 {
		return onlyLoad(filepath.Join(dir, "gateway"), o.loadN, o.clients)
	}
	return nil
}

// machine describes the machine the bench ran on.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				mem = fmt.Sprintf(", %.1f GiB memory", kb/(1<<20))
			}
		}
	}
	ff, _ := exec.Command("ffmpeg", "-hide_banner", "-version").Output()
	ver := strings.SplitN(string(ff), "\n", 2)[0]
	return fmt.Sprintf("Machine: %s, %d CPUs%s; %s; %s.", model, runtime.NumCPU(), mem, runtime.Version(), ver)
}

// master generates a 1080p30 master with noise-like content and audio.
func master(path string, seconds int) error { return masterSized(path, seconds, 1920, 1080) }

// masterSized generates a w×h 30 fps master with noise-like content and
// audio.
func masterSized(path string, seconds, w, h int) error {
	fmt.Fprintf(os.Stderr, "bench: generating a %d s %dp30 master with audio\n", seconds, h)
	return sh("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30,noise=alls=12:allf=t", w, h), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path)
}

// skipQualityLadder writes the default ladder without the quality
// measurement, which the hand-written ffmpeg does not make either.
func skipQualityLadder(dir string) (string, error) {
	l := ladder.Default()
	l.SkipQuality = true
	file := filepath.Join(dir, "ladder.json")
	data, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return file, os.WriteFile(file, data, 0o644)
}

// upload sends file with the client library's resumable upload, as
// `reel upload` does (with watch, until the job ends, polling as `reel
// watch` does), and returns the job's id and the wall time.
func (d *dev) upload(file, ladderFile string, watch bool) (string, time.Duration, error) {
	ctx := context.Background()
	var o client.UploadOptions
	if ladderFile != "" {
		data, err := os.ReadFile(ladderFile)
		if err != nil {
			return "", 0, err
		}
		o.Ladder = data
	}
	o.NoState = true
	start := time.Now()
	v, err := d.client().Upload(ctx, file, o)
	if err == nil && watch {
		v, err = d.client().Wait(ctx, v.ID, 500*time.Millisecond)
	}
	wall := time.Since(start)
	if err != nil {
		return "", wall, fmt.Errorf("upload %s: %w", file, err)
	}
	return v.ID, wall, nil
}

// uploadJob uploads file, waits for its job to end and returns the job
// and the wall time.
func (d *dev) uploadJob(file, ladderFile string) (pipeline.View, time.Duration, error) {
	id, wall, err := d.upload(file, ladderFile, true)
	if err != nil {
		return pipeline.View{}, wall, err
	}
	v, err := d.client().Job(context.Background(), id)
	if err != nil {
		return pipeline.View{}, wall, err
	}
	return *v, wall, nil
}

// client talks to the stack's API with its admin key.
func (d *dev) client() *client.Client { return client.New(d.api, d.key) }

func overhead(rep *report, d *dev, dir string, seconds, runs int) error {
	file := filepath.Join(dir, "master.mp4")
	if err := master(file, seconds); err != nil {
		return err
	}
	base := baselineArgs(file, filepath.Join(dir, "baseline"))
	skipFile, err := skipQualityLadder(dir)
	if err != nil {
		return err
	}
	// Each pair is one hand-written ffmpeg, then the job a user submits
	// (the default ladder, quality measured), then the same job with
	// skip_quality, in turns, so that a slow spell of a shared machine
	// falls on every side; the median pair's ratio of the default job is
	// the result.
	type pair struct {
		baseline, wall, skipWall time.Duration
		job                      pipeline.View
	}
	pairs := make([]pair, runs)
	for i := range pairs {
		fmt.Fprintf(os.Stderr, "bench: overhead pair %d of %d: hand-written ffmpeg, same ladder, HLS fMP4\n", i+1, runs)
		start := time.Now()
		if err := sh("ffmpeg", base...); err != nil {
			return fmt.Errorf("baseline ffmpeg: %w", err)
		}
		pairs[i].baseline = time.Since(start)
		fmt.Fprintf(os.Stderr, "bench: overhead pair %d of %d: reel dev --workers 2, the default job\n", i+1, runs)
		if pairs[i].job, pairs[i].wall, err = d.uploadJob(file, ""); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: overhead pair %d of %d: reel dev --workers 2, skip_quality\n", i+1, runs)
		if _, pairs[i].skipWall, err = d.uploadJob(file, skipFile); err != nil {
			return err
		}
	}
	ratio := func(p pair) float64 { return p.wall.Seconds() / p.baseline.Seconds() }
	skipRatio := func(p pair) float64 { return p.skipWall.Seconds() / p.baseline.Seconds() }
	byRatio := slices.Clone(pairs)
	sort.Slice(byRatio, func(a, b int) bool { return ratio(byRatio[a]) < ratio(byRatio[b]) })
	med := byRatio[(len(byRatio)-1)/2]
	job := med.job
	fmt.Printf("\n## Pipeline vs one ffmpeg (%d s 1080p30 master, default ladder, %d rungs)\n\n", seconds, len(job.Renditions))
	fmt.Printf("```\nffmpeg %s\n./bin/reel upload %s --watch                       # on reel dev --workers 2: the default job\n./bin/reel upload %s --watch --ladder %s   # the same without the quality measurement\n```\n\n",
		strings.Join(quoteArgs(base), " "), file, file, skipFile)
	fmt.Printf("| pair | one hand-written ffmpeg (split/scale, %d x264 outputs + AAC, HLS fMP4) s | Reel, the default job, upload to published s | ratio | Reel with skip_quality s | ratio |\n| --- | --- | --- | --- | --- | --- |\n", len(job.Renditions))
	for i, p := range pairs {
		fmt.Printf("| %d | %.1f | %.1f | %.2f | %.1f | %.2f |\n", i+1, p.baseline.Seconds(), p.wall.Seconds(), ratio(p), p.skipWall.Seconds(), skipRatio(p))
	}
	what := "ratio"
	if runs > 1 {
		what = fmt.Sprintf("median ratio of %d pairs", runs)
	}
	rep.target("overhead: Reel (the default job, quality measured) / one ffmpeg = %.2f, %s (target <= 1.10): %s; with skip_quality %.2f",
		ratio(med), what, pass(ratio(med) <= 1.10), skipRatio(med))

	// From and to are seconds since the job was created (the upload
	// ended), so the gaps between stages, the queue's pick-up time, show.
	fmt.Printf("\n## Where the pipeline's time goes (the job's timings, median pair)\n\n| stage | from s | to s | wall span s | task time s | tasks |\n| --- | --- | --- | --- | --- | --- |\n")
	type row struct {
		name string
		t    *pipeline.Timing
	}
	var rows []row
	for name, t := range job.Timings {
		rows = append(rows, row{name, t})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].t.Start.Before(rows[j].t.Start) })
	for _, r := range rows {
		fmt.Printf("| %s | %.2f | %.2f | %.1f | %.1f | %d |\n", r.name, r.t.Start.Sub(job.CreatedAt).Seconds(), r.t.End.Sub(job.CreatedAt).Seconds(),
			r.t.Seconds, r.t.TaskSeconds, r.t.Tasks)
	}
	if p := job.Timings["publish"]; p != nil && job.FinishedAt != nil {
		// The title is playable once its first chunks are published as a
		// growing title (the job's playable_at), or, for a title of one
		// chunk, once publish has copied it whole.
		first, how := p.End, "publish's end (the title was published whole)"
		if job.PlayableAt != nil {
			first, how = *job.PlayableAt, "the job's playable_at (its first chunks published, the rest encoding)"
		}
		ttfp := first.Sub(job.CreatedAt).Seconds()
		total := job.FinishedAt.Sub(job.CreatedAt).Seconds()
		fmt.Printf("\n## Time to first playable\n\n| measure | seconds |\n| --- | --- |\n")
		fmt.Printf("| upload complete to playable: %s | %.1f |\n", how, ttfp)
		fmt.Printf("| upload complete to job complete | %.1f |\n| ratio | %.2f |\n", total, ttfp/total)
		rep.target("time to first playable: %.1f s of a %.1f s job = %.2f of the job time (target <= 0.5): %s", ttfp, total, ttfp/total, pass(ttfp/total <= 0.5))
	}
	return nil
}

// quoteArgs quotes arguments a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ;[]%*,:'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// onlyLoad runs the gateway load test on a short title.
func onlyLoad(dir string, n, c int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	master := filepath.Join(dir, "short.mp4")
	if err := sh("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", master); err != nil {
		return err
	}
	d, err := startDev(dir, 2)
	if err != nil {
		return err
	}
	defer d.stop()
	ladderFile := filepath.Join(dir, "ladder.json")
	if err := os.WriteFile(ladderFile, []byte(`{"rungs":[{"height":144,"bitrate":150000}],"segment_seconds":2,"skip_quality":true}`), 0o644); err != nil {
		return err
	}
	id, _, err := d.upload(master, ladderFile, true)
	if err != nil {
		return err
	}
	return measureGateway(d, id, n, c)
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

// startDev starts `reel dev --workers N` with its data under dir.
func startDev(dir string, workers int) (*dev, error) {
	port, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	d := &dev{api: "http://127.0.0.1:" + strconv.Itoa(port), data: filepath.Join(dir, "data")}
	d.cmd = exec.Command("./bin/reel", "dev", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data", filepath.Join(dir, "data"), "--workers", strconv.Itoa(workers))
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

// measureUpload runs a separate `reel api` on the dev stack's Redis and S3,
// streams file through it with the client's resumable upload (the code
// `reel upload` runs), and returns the API's peak
// RSS (VmHWM) before and after, in MiB, and the upload's wall time.
func measureUpload(d *dev, file string) ([2]float64, time.Duration, error) {
	var res [2]float64
	port, err := devstack.FreePort()
	if err != nil {
		return res, 0, err
	}
	api := exec.Command("./bin/reel", "api", "--addr", "127.0.0.1:"+strconv.Itoa(port))
	api.Env = append(os.Environ(), "REEL_REDIS_ADDR="+d.redis, "REEL_S3_ENDPOINT="+d.s3,
		"REEL_S3_ACCESS_KEY="+devstack.MinioUser, "REEL_S3_SECRET_KEY="+devstack.MinioPassword)
	if err := api.Start(); err != nil {
		return res, 0, err
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
		return res, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := client.New(url, d.key).Upload(ctx, file, client.UploadOptions{NoState: true}); err != nil {
		return res, 0, fmt.Errorf("upload: %w", err)
	}
	wall := time.Since(start)
	res[1], err = vmHWM(api.Process.Pid)
	return res, wall, err
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
