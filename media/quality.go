package media

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// QualitySpec describes the measurement of one encoded chunk: the chunk's
// source frames (decoded and conformed exactly as for the encode) against
// each rung's encoded output, at the rung's size.
type QualitySpec struct {
	// ConcatList lists the chunk's pieces, or MasterURL and Seek read the
	// master as EncodeSpec does; or Master names a whole local master,
	// read as ReferenceArgs reads it.
	ConcatList string
	MasterURL  string
	Seek       float64
	Master     string
	Conform    timeline.Conform
	Window     timeline.Window
	// Preroll frames at the start of the window and of each encoded file
	// are left out of the measurement.
	Preroll int64
	Rungs   []ladder.Rung
	// Encoded holds each rung's encoded chunk; PSNRLogs and SSIMLogs get
	// ffmpeg's per-frame statistics.
	Encoded            []string
	PSNRLogs, SSIMLogs []string
}

// QualityArgs builds the ffmpeg run that measures PSNR and SSIM of every
// rung of a chunk against its source, scaled to the rung's size with the
// encode's own scaler.
func QualityArgs(s QualitySpec) []string {
	in := chunkInput(s.ConcatList, s.MasterURL, s.Seek)
	if s.Master != "" {
		// As ReferenceArgs reads it: rotated by ffmpeg itself.
		in = ffmpeg.Input(s.Master, ffmpeg.KwArgs{"protocol_whitelist": "file", "fflags": "+genpts"})
		s.Conform.Rotate = 0
	}
	skip := func(v *ffmpeg.Stream) *ffmpeg.Stream {
		if s.Preroll == 0 {
			return v
		}
		return v.Filter("trim", ffmpeg.Args{}, ffmpeg.KwArgs{"start_frame": s.Preroll}).Filter("setpts", ffmpeg.Args{"N"})
	}
	refs := rungSources(s.Conform, in.Get("v:0"), s.Window, s.Rungs)
	tb := fmt.Sprintf("%d/%d", s.Conform.Rate.Den, s.Conform.Rate.Num)
	var outs []*ffmpeg.Stream
	for i, r := range s.Rungs {
		refs := scaleTo(skip(refs[i]), r).Split()
		enc := skip(ffmpeg.Input(s.Encoded[i], ffmpeg.KwArgs{"protocol_whitelist": "file", "format_whitelist": "mov"}).Get("v:0").
			Filter("settb", ffmpeg.Args{tb}).Filter("setpts", ffmpeg.Args{"N"})).
			Filter("setsar", ffmpeg.Args{"1"}).Split()
		psnr := ffmpeg.Filter([]*ffmpeg.Stream{enc.Get("0"), refs.Get("0")}, "psnr", ffmpeg.Args{}, ffmpeg.KwArgs{"stats_file": s.PSNRLogs[i]})
		ssim := ffmpeg.Filter([]*ffmpeg.Stream{enc.Get("1"), refs.Get("1")}, "ssim", ffmpeg.Args{}, ffmpeg.KwArgs{"stats_file": s.SSIMLogs[i]})
		outs = append(outs, psnr.Output("-", ffmpeg.KwArgs{"f": "null"}), ssim.Output("-", ffmpeg.KwArgs{"f": "null"}))
	}
	args := ffmpeg.MergeOutputs(outs...).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// ReadQuality sums the per-frame statistics ffmpeg's psnr and ssim filters
// wrote to psnrLog and ssimLog: the mean squared error of all planes and
// the SSIM of Y, as the encoders that measure themselves report them
// (ReadEncoderQuality).
func ReadQuality(psnrLog, ssimLog string) (timeline.QualityStats, error) {
	var q timeline.QualityStats
	var ssimFrames int64
	if err := eachField(psnrLog, "mse_avg", func(v float64) { q.MSESum += v; q.Frames++ }); err != nil {
		return q, err
	}
	if err := eachField(ssimLog, "Y", func(v float64) { q.SSIMSum += v; ssimFrames++ }); err != nil {
		return q, err
	}
	if q.Frames == 0 || ssimFrames != q.Frames {
		return q, fmt.Errorf("quality: %d PSNR and %d SSIM frames measured", q.Frames, ssimFrames)
	}
	return q, nil
}

// eachField calls fn with the value of key on every line of a stats file
// ("n:1 mse_avg:0.52 …" or "n:1 Y:0.98 U:0.99 V:0.99 All:0.98 (15.9)").
func eachField(path, key string, fn func(float64)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, field := range strings.Fields(sc.Text()) {
			k, v, ok := strings.Cut(field, ":")
			if !ok || k != key {
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("quality: %s: bad %s value %q", path, key, v)
			}
			fn(x)
		}
	}
	return sc.Err()
}
