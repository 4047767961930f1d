package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
)

// Limits bound every ffmpeg run a worker makes, so a crafted master can
// neither hold a core, exhaust memory nor fill the disk. CPU time and the
// largest file a run may write are budgeted from the work it is given.
type Limits struct {
	// Memory is the address space of one ffmpeg run; default 8 GiB.
	Memory int64
	// CPUPerFrame is the CPU time one output frame of a 1080p rung may
	// take; smaller rungs get a share by their pixel count. Default 1 s,
	// several times what the slowest presets need.
	CPUPerFrame time.Duration
}

// Default limits.
const (
	DefaultMemory      = 8 << 30
	DefaultCPUPerFrame = time.Second
	// baseCPU and baseOutput are every run's allowance on top of its budget.
	baseCPU    = time.Minute
	baseOutput = 64 << 20
)

func (l Limits) memory() int64 {
	if l.Memory <= 0 {
		return DefaultMemory
	}
	return l.Memory
}

func (l Limits) perFrame() time.Duration {
	if l.CPUPerFrame <= 0 {
		return DefaultCPUPerFrame
	}
	return l.CPUPerFrame
}

// encodeLimits bounds the encode of frames frames into rungs: CPU by the
// rungs' pixels, each output file by four times what the rung's VBV
// ceiling lets through.
func (l Limits) encodeLimits(frames int64, seconds float64, rungs []ladder.Rung) media.Limits {
	var work float64
	maxRate := 0
	for _, r := range rungs {
		work += max(float64(r.Width*r.Height)/(1920*1080), 0.1)
		maxRate = max(maxRate, r.MaxRate, 2*r.Bitrate)
	}
	cpu := baseCPU + time.Duration(work*float64(frames))*l.perFrame()
	return media.Limits{CPU: cpu, Memory: l.memory(), Output: baseOutput + int64(4*float64(maxRate)*seconds/8)}
}

// streamLimits bounds a run that copies or lightly processes seconds of
// media (split, audio, packaging, thumbnails): CPU a fraction of real time,
// output by size, the size of what it reads plus a margin.
func (l Limits) streamLimits(seconds float64, size int64) media.Limits {
	return media.Limits{
		CPU:    baseCPU + time.Duration(seconds*float64(time.Second)/2),
		Memory: l.memory(), Output: baseOutput + 2*size,
	}
}

// ProbeLimits bounds the probe, decode checks and idet runs.
func (l Limits) ProbeLimits() media.Limits {
	return media.Limits{CPU: 10 * time.Minute, Memory: l.memory(), Output: baseOutput}
}

// CodeLimits is the error code of a job stopped by a resource limit.
const CodeLimits = "limits_exceeded"

// mediaFailure fails the job for good when err is the master's fault (a
// media error, damaged data, a resource limit) and returns err otherwise.
// where says which part of the job ran into it.
func (w *Worker) mediaFailure(ctx context.Context, id, where string, err error) error {
	var (
		me  *media.MediaError
		ce  *media.CorruptError
		lim *media.LimitError
		ee  *media.ExitError
	)
	switch {
	case ctx.Err() != nil:
		return err
	case errors.As(err, &me):
		return w.failPermanently(ctx, id, me.Code, err)
	case errors.As(err, &ce):
		return w.failPermanently(ctx, id, media.CodeCorrupt, fmt.Errorf(
			"the master's video is damaged in %s (%s); repair or re-export the master and upload it again", where, ce.Line))
	case errors.As(err, &lim):
		hint := "a master this demanding needs a larger limit"
		switch lim.Which {
		case "memory":
			hint = "raise REEL_FFMPEG_MAX_MEMORY if the master is genuine"
		case "cpu":
			hint = "raise REEL_FFMPEG_CPU_PER_FRAME if the master and ladder are genuine"
		}
		return w.failPermanently(ctx, id, CodeLimits, fmt.Errorf("%s: %w; the master may be crafted to exhaust resources: %s", where, lim, hint))
	case errors.Is(err, media.ErrInvalidMedia):
		return w.failPermanently(ctx, id, pipeline.CodeInvalidMedia, err)
	case errors.As(err, &ee):
		if pe, ok := ee.Permanent(where); ok {
			return w.failPermanently(ctx, id, pe.Code, pe)
		}
	}
	return err
}
