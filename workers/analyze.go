package workers

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/timeline"
)

// Per-title sampling: one sample per SampleEvery of the title (at least
// one, at most MaxSamples), the first frames of a chunk each, together
// SampleShare of the title's frames (each sample at least MinSampleFrames).
// Each sample is encoded at three CRFs per candidate size and measured on
// every other frame, in two ffmpeg runs whose start-up (a dozen or more
// encoders and decoders) weighs as much as the few frames they encode
// (see media.TrialEnv): make bench measures the analysis at 5% to 15% of
// the encode task time on 60 s titles, more on clips of a few seconds.
const (
	SampleEvery     = 60.0
	MaxSamples      = 8
	SampleShare     = 0.015
	MinSampleFrames = 12
)

// analyze chooses a per-title ladder: it encodes sampled chunks at
// several CRFs per candidate size, measures each trial's bitrate and PSNR
// at the top candidate's size, and picks rungs on the convex hull
// (ladder.PerTitle). The pipeline then queues the audio and the encodes
// of the chosen rungs.
func (w *Worker) analyze(ctx context.Context, r *run) error {
	j := r.job
	if !j.Plan.Readable() || j.Source == nil {
		return fmt.Errorf("analyze %s: the job has no plan, or no pieces to read", j.ID)
	}
	var a *pipeline.Analysis
	var rungs []ladder.Rung
	if j.Analysis == nil {
		start := time.Now()
		var err error
		if a, rungs, err = w.trials(ctx, r); err != nil {
			return err
		}
		a.Seconds = math.Round(time.Since(start).Seconds()*1000) / 1000
	}
	_, err := w.done(ctx, r, func(j *pipeline.Job) error {
		if j.Analysis != nil || a == nil {
			return nil // a duplicate task got there first
		}
		j.Analysis = a
		j.Renditions = make([]pipeline.Rendition, len(rungs))
		for i, r := range rungs {
			j.Renditions[i] = pipeline.Rendition{Rung: r, Frames: j.Plan.Frames}
		}
		return nil
	})
	return err
}

// samples picks the chunks the analysis encodes: for each of n points
// spread evenly over the title (the middles of n equal parts), the chunk
// that starts nearest it. Chunks are not all of a size (the first is
// short when the title plays while it encodes), so counting chunks would
// crowd the samples towards the start.
func samples(p *pipeline.Plan, duration float64) []int {
	n := min(max(int(math.Round(duration/SampleEvery)), 1), MaxSamples, len(p.Chunks))
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		at := (float64(i) + 0.5) * float64(p.Frames) / float64(n)
		k := 0
		for c, ch := range p.Chunks {
			if math.Abs(float64(ch.Start)-at) < math.Abs(float64(p.Chunks[k].Start)-at) {
				k = c
			}
		}
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

func (w *Worker) trials(ctx context.Context, r *run) (*pipeline.Analysis, []ladder.Rung, error) {
	j := r.job
	l := j.Ladder.Normalize()
	c := j.Plan.Conform
	cands, err := ladder.Select(l, ladder.Source{Width: c.DisplayWidth, Height: c.DisplayHeight})
	if err != nil {
		return nil, nil, w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, err)
	}
	// Quality is compared at the largest candidate's size.
	ref := cands[0]
	for _, cand := range cands {
		if cand.Width*cand.Height > ref.Width*ref.Height {
			ref = cand
		}
	}
	var trials []ladder.Rung
	for _, cand := range cands {
		for _, crf := range ladder.TrialCRFs(cand) {
			tr := cand
			tr.CRF = crf
			trials = append(trials, tr)
		}
	}
	fps := j.Plan.FPS()
	gop := timeline.SegmentFrames(c.Rate, j.Plan.SegmentSeconds)
	a := &pipeline.Analysis{Metric: "psnr", Width: ref.Width, Height: ref.Height}
	bits := make([]float64, len(trials))
	quality := make([]timeline.QualityStats, len(trials))
	ks := samples(j.Plan, float64(j.Plan.Frames)/fps)
	for _, k := range ks {
		s, b, q, err := w.sample(ctx, r, k, sampleFrames(j.Plan, len(ks)), trials, ref, gop)
		if err != nil {
			return nil, nil, err
		}
		a.Samples = append(a.Samples, s)
		for i := range trials {
			bits[i] += b[i] / float64(len(ks))
			quality[i] = quality[i].Add(q[i])
		}
	}
	for i, tr := range trials {
		a.Points = append(a.Points, ladder.Trial{Codec: tr.Codec, Width: tr.Width, Height: tr.Height, CRF: tr.CRF,
			Bitrate: math.Round(bits[i] * fps), PSNR: math.Round(quality[i].PSNR()*100) / 100})
	}
	choices, err := ladder.PerTitle(l, cands, a.Points)
	if err != nil {
		return nil, nil, fmt.Errorf("analyze %s: %w", j.ID, err)
	}
	for _, p := range a.Points {
		for _, cand := range cands {
			if p.Codec == cand.Codec && p.Height == cand.Height && p.CRF == cand.CRF {
				a.FixedBitrate += p.Bitrate
			}
		}
	}
	a.Chosen = choices
	rungs := make([]ladder.Rung, len(choices))
	for i, c := range choices {
		rungs[i] = c.Rung
		a.Bitrate += math.Round(c.Bitrate)
	}
	return a, rungs, nil
}

// sampleFrames is the length of each of n samples.
func sampleFrames(p *pipeline.Plan, n int) int64 {
	return max(int64(math.Round(SampleShare*float64(p.Frames)/float64(n))), MinSampleFrames)
}

// sample runs the trial encodes of chunk k's first frames and
// returns each trial's bits per frame and quality sums.
func (w *Worker) sample(ctx context.Context, r *run, k int, frames int64, trials []ladder.Rung, ref ladder.Rung, gop int64) (pipeline.Sample, []float64, []timeline.QualityStats, error) {
	var s pipeline.Sample
	j := r.job
	win, err := j.Plan.ChunkWindow(k)
	if err != nil {
		return s, nil, nil, err
	}
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return s, nil, nil, err
	}
	defer cleanup()
	list, master, win, err := w.chunkSource(ctx, j, win, dir)
	if err != nil {
		return s, nil, nil, err
	}
	chunk := j.Plan.Chunks[k]
	frames = max(min(frames, chunk.End-chunk.Start+win.Preroll), 1)
	s = pipeline.Sample{Chunk: k, Start: math.Round(float64(chunk.Start-win.Preroll)/j.Plan.FPS()*1000) / 1000, Frames: frames}
	spec := media.TrialSpec{ConcatList: list, MasterURL: master, Seek: win.Seek, Conform: j.Plan.Conform, Window: win.Select, Frames: frames,
		SegmentSeconds: j.Plan.SegmentSeconds, Trials: trials, VStats: filepath.Join(dir, "vstats.log"),
		RefWidth: ref.Width, RefHeight: ref.Height}
	for i := range trials {
		spec.Outputs = append(spec.Outputs, filepath.Join(dir, fmt.Sprintf("trial-%d.mp4", i)))
		spec.PSNRLogs = append(spec.PSNRLogs, filepath.Join(dir, fmt.Sprintf("psnr-%d.log", i)))
	}
	lim := w.Limits.encodeLimits(frames, float64(frames)/j.Plan.FPS(), trials)
	where := fmt.Sprintf("the per-title analysis of chunk %d", k)
	if err := w.Media.Run(ctx, media.Cmd{Args: media.TrialEncodeArgs(spec), Limits: lim, Strict: true,
		Decoder: media.DecoderName(j.Source.VideoCodec), Env: media.TrialEnv()}); err != nil {
		return s, nil, nil, w.mediaFailure(ctx, j.ID, where, fmt.Errorf("analyze %s chunk %d: %w", j.ID, k, err))
	}
	if err := w.Media.Run(ctx, media.Cmd{Args: media.TrialQualityArgs(spec), Limits: lim, Env: media.TrialEnv()}); err != nil {
		return s, nil, nil, w.mediaFailure(ctx, j.ID, where, fmt.Errorf("analyze %s chunk %d: quality: %w", j.ID, k, err))
	}
	bits, err := media.FrameBits(spec.VStats, len(trials), gop)
	if err != nil {
		return s, nil, nil, fmt.Errorf("analyze %s chunk %d: %w", j.ID, k, err)
	}
	q := make([]timeline.QualityStats, len(trials))
	for i := range trials {
		if q[i], err = media.ReadPSNR(spec.PSNRLogs[i]); err != nil {
			return s, nil, nil, fmt.Errorf("analyze %s chunk %d: %w", j.ID, k, err)
		}
	}
	return s, bits, q, nil
}
