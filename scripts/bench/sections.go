package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
)

// upload measures the API's memory and throughput on a sparse file of gb
// gigabytes: `reel upload` through a `reel api` against writing the same
// file to the same S3 with minio-go directly.
func upload(rep *report, d *dev, dir string, gb float64) error {
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(gb * (1 << 30))) // sparse: reads as zeros, costs no disk
	f.Close()
	if err != nil {
		return err
	}
	defer os.Remove(big)
	s3, err := origin.New(origin.Config{Endpoint: d.s3, AccessKey: devstack.MinioUser, SecretKey: devstack.MinioPassword,
		Bucket: "reel-masters", OriginBucket: "reel-origin"})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: upload through reel api, then straight to S3")
	rss, reel, err := measureUpload(d, big)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := s3.PutFile(context.Background(), s3.Bucket(), "bench/direct", big, "application/octet-stream", "", false); err != nil {
		return err
	}
	direct := time.Since(start)
	_ = s3.RemovePrefix(context.Background(), s3.Bucket(), "bench/")
	mb := gb * 1024
	ratio := direct.Seconds() / reel.Seconds()
	fmt.Printf("\n## Upload of a %.1f GB master\n\n| measure | value |\n| --- | --- |\n", gb)
	fmt.Printf("| reel api peak RSS before the upload | %.1f MiB |\n| reel api peak RSS after the upload | %.1f MiB |\n", rss[0], rss[1])
	fmt.Printf("| `reel upload` through `reel api` (tus) | %.1f s, %.0f MiB/s |\n", reel.Seconds(), mb/reel.Seconds())
	fmt.Printf("| minio-go FPutObject straight to S3 | %.1f s, %.0f MiB/s |\n", direct.Seconds(), mb/direct.Seconds())
	fmt.Printf("| throughput ratio Reel / direct | %.2f |\n", ratio)
	rep.target("upload memory: peak RSS %.1f MiB (target < 100 MB): %s", rss[1], pass(rss[1]*1.048576 < 100))
	rep.target("upload throughput: Reel / direct = %.2f (target >= 0.8): %s", ratio, pass(ratio >= 0.8))
	return nil
}

// statusLoad sends n GET /v1/jobs/{id} from c clients while a job encodes.
func statusLoad(rep *report, d *dev, dir string, n, c int) error {
	file := filepath.Join(dir, "status.mp4")
	if err := master(file, 20); err != nil {
		return err
	}
	id, _, err := d.upload(file, "", false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	job := &pipeline.View{}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if job, err = d.client().Job(ctx, id); err != nil {
			return err
		}
		if job.Status == pipeline.StatusEncoding || job.Status.Terminal() || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "bench: %d status requests from %d clients while job %s is %s\n", n, c, id, job.Status)
	r := load("GET /v1/jobs/{id}", d.api+"/v1/jobs/"+id, d.key, n, c)
	if job, err = d.client().Job(ctx, id); err != nil {
		return err
	}
	fmt.Printf("\n## Job status under load (%d clients, %d requests, while the job encodes)\n\n", c, n)
	fmt.Printf("| requests | errors | req/s | p50 ms | p99 ms | max ms | job status after |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %d | %d | %.0f | %.1f | %.1f | %.1f | %s |\n", r.n, r.errors, float64(r.n)/r.wall.Seconds(),
		ms(r.p50), ms(r.p99), ms(r.max), job.Status)
	rep.target("status under load: p99 %.1f ms with %d clients, %d errors", ms(r.p99), c, r.errors)
	// Let the job finish so it does not weigh on the runs after.
	_, _ = d.client().Wait(ctx, id, 500*time.Millisecond)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scaling encodes the same master with one worker pinned to one core and
// with two workers each pinned to its own core.
func scaling(rep *report, dir string, seconds int) error {
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("scaling needs 2 CPUs, this machine has %d", runtime.NumCPU())
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("scaling needs taskset (util-linux): %w", err)
	}
	file := filepath.Join(dir, "scale.mp4")
	if err := master(file, seconds); err != nil {
		return err
	}
	ladderFile, err := skipQualityLadder(dir)
	if err != nil {
		return err
	}
	var took [2]time.Duration
	var jobs [2]pipeline.View
	for i, n := range []int{1, 2} {
		d, err := startDev(filepath.Join(dir, fmt.Sprintf("scale%d", n)), n)
		if err != nil {
			return err
		}
		err = d.pinWorkers(n)
		if err == nil {
			fmt.Fprintf(os.Stderr, "bench: scaling, %d worker(s) each on its own core\n", n)
			var job pipeline.View
			if job, _, err = d.uploadJob(file, ladderFile); err == nil && job.FinishedAt != nil {
				took[i], jobs[i] = job.FinishedAt.Sub(job.CreatedAt), job
			}
		}
		d.stop()
		if err != nil {
			return err
		}
	}
	ratio := took[0].Seconds() / took[1].Seconds()
	fmt.Printf("\n## Scaling (%d s 1080p30 master, default ladder, skip_quality; upload complete to published)\n\n", seconds)
	// Chunks end on segment boundaries, so an odd number of segments
	// leaves one of two workers a segment more than the other.
	if segs := int(math.Ceil(float64(seconds)/ladder.DefaultSegmentSeconds - 1e-9)); segs%2 == 1 {
		fmt.Printf("The master is %d segments of %g s: one of two workers encodes %d of them, which bounds the speed-up at %.3f×.\n\n",
			segs, ladder.DefaultSegmentSeconds, segs/2+1, float64(segs)/float64(segs/2+1))
	}
	fmt.Printf("| workers | seconds | chunks | encode stage: wall s, task s |\n| --- | --- | --- | --- |\n")
	for i, who := range []string{"1, pinned to CPU 0", "2, pinned to CPU 0 and CPU 1"} {
		enc := "-"
		if t := jobs[i].Timings["encode"]; t != nil {
			enc = fmt.Sprintf("%.1f, %.1f", t.Seconds, t.TaskSeconds)
		}
		fmt.Printf("| %s | %.1f | %d | %s |\n", who, took[i].Seconds(), jobs[i].Progress.ChunksTotal, enc)
	}
	fmt.Printf("| speed-up | %.2f× | | |\n", ratio)
	rep.target("scaling: two pinned workers %.2f× one (target >= 1.85): %s", ratio, pass(ratio >= 1.85))
	return nil
}

// pinWorkers pins worker i (and every thread it has and every ffmpeg it
// starts) to CPU i.
func (d *dev) pinWorkers(n int) error {
	ws, err := d.waitWorkers(n)
	if err != nil {
		return err
	}
	for i, w := range ws {
		if out, err := exec.Command("taskset", "-a", "-cp", strconv.Itoa(i), strconv.Itoa(w.PID)).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset: %v %s", err, out)
		}
	}
	// Chunks are sized to the CPUs the workers announce: wait until each
	// has announced its one CPU.
	pinned := map[int]int{}
	for i, w := range ws {
		pinned[w.PID] = i
	}
	return d.waitAnnounced(func(w client.Worker) bool { return len(w.CPUs) == 1 && w.CPUs[0] == pinned[w.PID] })
}

// waitAnnounced waits until every worker's announced CPUs pass ok.
func (d *dev) waitAnnounced(ok func(client.Worker) bool) error {
	for deadline := time.Now().Add(30 * time.Second); ; {
		ws, err := d.client().Workers(context.Background())
		if err != nil {
			return err
		}
		if len(ws) > 0 && !slices.ContainsFunc(ws, func(w client.Worker) bool { return !ok(w) }) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the workers did not announce their new CPUs: %+v", ws)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// content is one title of the per-title comparison.
type content struct {
	name, kind string
	args       []string // ffmpeg input arguments, or nil for file
	file       string
}

// perTitleRuns encodes easy, hard and real titles with the fixed default
// ladder and with a per-title ladder, both with the quality measurement.
func perTitleRuns(rep *report, d *dev, dir string, seconds, clips int) error {
	sec := strconv.Itoa(seconds)
	cs := []content{
		{name: "flat animation (flat bars, a moving block, 720p25)", kind: "easy", args: []string{"-f", "lavfi", "-i",
			"smptehdbars=size=1280x720:rate=25[a];color=c=red:size=160x160:rate=25[b];[a][b]overlay=x=mod(t*320\\,1120):y=200+100*sin(t)"}},
		{name: "slideshow (a new still every 3 s, 1080p25)", kind: "easy", args: []string{"-f", "lavfi", "-i",
			"smptehdbars=size=1920x1080:rate=1/3,drawtext=text='%{n}':fontsize=200:x=200:y=200,fps=25"}},
		{name: "synthetic pattern (testsrc2, 720p25)", kind: "medium", args: []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"}},
		{name: "noise (testsrc2 + strong noise, 720p25)", kind: "hard", args: []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=25:allf=t+u"}},
		{name: "high motion (fast pan over testsrc2, 720p25)", kind: "hard", args: []string{"-f", "lavfi", "-i",
			"testsrc2=size=2560x1440:rate=25,crop=1280:720:x=mod(t*900\\,1280):y=mod(t*350\\,720)"}},
	}
	for _, f := range sharedClips(clips) {
		cs = append(cs, content{name: filepath.Base(f), kind: "real", file: f})
	}
	fixedLadder := filepath.Join(dir, "fixed.json")
	ptLadder := filepath.Join(dir, "per-title.json")
	// Neither measures quality: the comparison uses the analysis's PSNR.
	if err := os.WriteFile(fixedLadder, []byte(`{"mode":"fixed","skip_quality":true,"rungs":[{"height":1080,"bitrate":6000000},{"height":720,"bitrate":3000000},{"height":540,"bitrate":2000000},{"height":360,"bitrate":730000},{"height":234,"bitrate":145000}]}`), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(ptLadder, []byte(`{"mode":"per-title","skip_quality":true}`), 0o644); err != nil {
		return err
	}
	fmt.Printf("\n## Per-title ladders vs the fixed default ladder\n\n")
	fmt.Printf("Bits are the encoded renditions' measured average bitrates, summed. Quality is from the analysis: at each fixed rung's bitrate, the best per-title rung's PSNR (at the top rung's size) less the fixed rung's, its PSNR capped at the %.0f dB ceiling; negative is worse.\n\n", ladder.DefaultQualityCeiling)
	fmt.Println("| title | kind | fixed rungs | fixed kbit/s | per-title rungs | per-title kbit/s | bits saved | worst rung ΔPSNR dB | analysis s / encode task s |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	type tally struct {
		n              int
		saved, minDiff float64
		maxCost        float64
	}
	kinds := map[string]*tally{}
	var details []string
	for i, c := range cs {
		file := c.file
		if file == "" {
			file = filepath.Join(dir, fmt.Sprintf("pt%d.mp4", i))
			args := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, c.args...)
			args = append(args, "-t", sec, "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p", file)
			if err := sh("ffmpeg", args...); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		fmt.Fprintf(os.Stderr, "bench: per-title, %s\n", c.name)
		fixed, _, err := d.uploadJob(file, fixedLadder)
		if err != nil {
			return err
		}
		pt, _, err := d.uploadJob(file, ptLadder)
		if err != nil {
			return err
		}
		if fixed.Status != pipeline.StatusComplete || pt.Status != pipeline.StatusComplete || pt.Analysis == nil {
			return fmt.Errorf("%s: jobs ended %s and %s", c.name, fixed.Status, pt.Status)
		}
		fb, pb := bits(fixed), bits(pt)
		diff := qualityDiff(pt.Analysis)
		cost := pt.Analysis.Seconds / pt.Timings["encode"].TaskSeconds
		saved := 1 - pb/fb
		fmt.Printf("| %s | %s | %d | %.0f | %d | %.0f | %.0f%% | %+.2f | %.1f / %.1f = %.1f%% |\n", c.name, c.kind, len(fixed.Renditions), fb/1000,
			len(pt.Renditions), pb/1000, 100*saved, diff, pt.Analysis.Seconds, pt.Timings["encode"].TaskSeconds, 100*cost)
		details = append(details, detail(c.name, pt.Analysis))
		k := kinds[c.kind]
		if k == nil {
			k = &tally{minDiff: math.Inf(1)}
			kinds[c.kind] = k
		}
		k.n++
		k.saved += saved
		k.minDiff = min(k.minDiff, diff)
		k.maxCost = max(k.maxCost, cost)
	}
	fmt.Printf("\nWhat each analysis predicted (PSNR at the top candidate's size, bitrate from the trials):\n\n")
	fmt.Println("| title | fixed rungs: size@CRF kbit/s dB | per-title rungs: size@CRF kbit/s dB |\n| --- | --- | --- |")
	for _, d := range details {
		fmt.Println(d)
	}
	for _, kind := range []string{"easy", "medium", "hard", "real"} {
		k := kinds[kind]
		if k == nil {
			continue
		}
		switch kind {
		case "easy":
			rep.target("per-title, easy content: %.0f%% fewer bits on average (target >= 20%%): %s", 100*k.saved/float64(k.n), pass(k.saved/float64(k.n) >= 0.2))
		case "hard":
			rep.target("per-title, hard content: worst rung %+.2f dB against the fixed ladder (target: never worse; rungs within %.2f dB count as equal): %s",
				k.minDiff, ladder.MergeDB, pass(k.minDiff >= -ladder.MergeDB))
		default:
			rep.target("per-title, %s content: %.0f%% fewer bits on average, worst rung %+.2f dB", kind, 100*k.saved/float64(k.n), k.minDiff)
		}
		rep.target("per-title analysis cost, %s content: at most %.1f%% of the encode task time (target < 15%%): %s", kind, 100*k.maxCost, pass(k.maxCost < 0.15))
	}
	return nil
}

// detail is a table row of the fixed ladder's trial points against the
// chosen rungs.
func detail(name string, a *pipeline.Analysis) string {
	var fixed, chosen []string
	for _, p := range a.Points {
		if p.CRF == ladder.DefaultCRF[p.Codec] {
			fixed = append(fixed, fmt.Sprintf("%dp@%d %.0f %.1f", p.Height, p.CRF, p.Bitrate/1000, p.PSNR))
		}
	}
	for _, c := range a.Chosen {
		chosen = append(chosen, fmt.Sprintf("%dp@%d %.0f %.1f", c.Rung.Height, c.Rung.CRF, c.Bitrate/1000, c.PSNR))
	}
	return fmt.Sprintf("| %s | %s | %s |", name, strings.Join(fixed, ", "), strings.Join(chosen, ", "))
}

// bits sums a job's renditions' measured average bitrates.
func bits(v pipeline.View) (n float64) {
	for _, r := range v.Renditions {
		n += float64(r.AverageBandwidth)
	}
	return n
}

// qualityDiff is, over the fixed rungs (the analysis's trials at each
// codec's default CRF, which the default ladder uses), the worst
// difference between the best chosen rung costing no more and the fixed
// rung's quality capped at the ceiling.
func qualityDiff(a *pipeline.Analysis) float64 {
	worst := math.Inf(1)
	for _, f := range a.Points {
		if f.CRF != ladder.DefaultCRF[f.Codec] {
			continue
		}
		best := math.Inf(-1)
		for _, c := range a.Chosen {
			if c.Bitrate <= f.Bitrate*1.0001 {
				best = max(best, c.PSNR)
			}
		}
		worst = min(worst, best-min(f.PSNR, ladder.DefaultQualityCeiling))
	}
	if math.IsInf(worst, 0) {
		return 0
	}
	return worst
}
