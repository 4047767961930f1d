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

// TrialSpec describes the trial encodes of one sample of a title for a
// per-title ladder: the first Frames frames of a chunk, decoded and
// conformed as for the real encode, encoded once per trial (a candidate
// size at one CRF) with the real encode's settings, then measured against
// the source at the reference size.
type TrialSpec struct {
	// ConcatList, or MasterURL and Seek, are read as in EncodeSpec.
	ConcatList     string
	MasterURL      string
	Seek           float64
	Conform        timeline.Conform
	Window         timeline.Window
	Frames         int64
	SegmentSeconds float64
	Trials         []ladder.Rung
	// Outputs holds one path per trial; VStats gets the encoder's
	// per-frame sizes and types.
	Outputs []string
	VStats  string
	// RefWidth × RefHeight is the size quality is compared at; PSNRLogs
	// get one per-frame PSNR log per trial.
	RefWidth, RefHeight int
	PSNRLogs            []string
}

func (s TrialSpec) source() *ffmpeg.Stream {
	v := conformFrames(s.Conform, chunkInput(s.ConcatList, s.MasterURL, s.Seek).Get("v:0"), s.Window)
	return v.Filter("trim", ffmpeg.Args{}, ffmpeg.KwArgs{"end_frame": s.Frames})
}

// TrialEncodeArgs encodes the sample once per trial in one ffmpeg run,
// writing per-frame statistics to VStats.
// The sample is scaled once per candidate size, not once per trial: the
// filter graph runs on ffmpeg's one main thread, where a dozen scalers
// would hold up every encoder.
func TrialEncodeArgs(s TrialSpec) []string {
	args := encodeOutputs(bySize(s.source(), s.Trials), s.Conform, 0, s.SegmentSeconds, s.Trials, s.Outputs, false)
	return append([]string{"-vstats_file", s.VStats, "-vstats_version", "2"}, args...)
}

// bySize scales v once to each size among rungs and returns one branch
// per rung at its size (scaleTo's scaler then passes it through).
func bySize(v *ffmpeg.Stream, rungs []ladder.Rung) []*ffmpeg.Stream {
	type size struct{ w, h int }
	var sizes []size
	of := map[size][]int{}
	for i, r := range rungs {
		z := size{r.Width, r.Height}
		if of[z] == nil {
			sizes = append(sizes, z)
		}
		of[z] = append(of[z], i)
	}
	out := make([]*ffmpeg.Stream, len(rungs))
	for k, b := range splitN(v, len(sizes)) {
		z := sizes[k]
		for n, br := range splitN(scaleTo(b, ladder.Rung{Width: z.w, Height: z.h}), len(of[z])) {
			out[of[z][n]] = br
		}
	}
	return out
}

// TrialQualityArgs measures each trial's PSNR against the sample's source,
// both scaled to the reference size with the encode's scaler, on every
// other frame (the upscaling costs more than the trial encodes otherwise).
// Each trial is decoded on one thread: a few small frames, where frame
// threads cost more to start than they save.
func TrialQualityArgs(s TrialSpec) []string {
	ref := scaleTo(everyOther(s.source()), ladder.Rung{Width: s.RefWidth, Height: s.RefHeight})
	var split *ffmpeg.Node
	if len(s.Trials) > 1 {
		split = ref.Split()
	}
	tb := fmt.Sprintf("%d/%d", s.Conform.Rate.Den, s.Conform.Rate.Num)
	var outs []*ffmpeg.Stream
	for i := range s.Trials {
		src := ref
		if split != nil {
			src = split.Get(strconv.Itoa(i))
		}
		enc := ffmpeg.Input(s.Outputs[i], ffmpeg.KwArgs{"protocol_whitelist": "file", "format_whitelist": "mov", "threads": "1"}).Get("v:0").
			Filter("settb", ffmpeg.Args{tb}).Filter("setpts", ffmpeg.Args{"N"})
		enc = scaleTo(everyOther(enc), ladder.Rung{Width: s.RefWidth, Height: s.RefHeight})
		psnr := ffmpeg.Filter([]*ffmpeg.Stream{enc, src}, "psnr", ffmpeg.Args{}, ffmpeg.KwArgs{"stats_file": s.PSNRLogs[i]})
		outs = append(outs, psnr.Output("-", ffmpeg.KwArgs{"f": "null"}))
	}
	args := ffmpeg.MergeOutputs(outs...).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// TrialEnv is the environment of both trial runs. Each runs a dozen or
// more encoders or decoders, scalers and comparisons over a few frames, so
// much of its time goes to the kernel filling the pages of buffers the run
// allocates once and uses a few times: glibc's malloc is told to back them
// with transparent huge pages (a tunable of glibc 2.35 and later, ignored
// by older ones and where the kernel has them off), which took 29% to 54%
// off the measurement run of 720p samples. A whole encode, whose buffers
// are reused for thousands of frames, gains nothing from it, so it is set
// here only.
func TrialEnv() []string {
	t := "glibc.malloc.hugetlb=1"
	if cur := os.Getenv("GLIBC_TUNABLES"); cur != "" {
		t = cur + ":" + t
	}
	return []string{"GLIBC_TUNABLES=" + t}
}

// everyOther keeps frames 0, 2, 4 … renumbered.
func everyOther(v *ffmpeg.Stream) *ffmpeg.Stream {
	return v.Filter("select", ffmpeg.Args{"not(mod(n\\,2))"}).Filter("setpts", ffmpeg.Args{"N"})
}

// ReadPSNR returns the sums of a psnr stats file: frames and mean squared
// error (its PSNR is QualityStats.PSNR).
func ReadPSNR(path string) (timeline.QualityStats, error) {
	var q timeline.QualityStats
	err := eachField(path, "mse_avg", func(v float64) { q.MSESum += v; q.Frames++ })
	if err == nil && q.Frames == 0 {
		err = fmt.Errorf("quality: %s: no frames measured", path)
	}
	return q, err
}

// FrameBits reads an ffmpeg -vstats_file (version 2) of n outputs and
// returns each output's bits per frame over a GOP of gop frames: its
// keyframes' mean size plus gop-1 times its other frames' mean size, over
// gop. A sample shorter than a GOP so costs what it would in a whole one.
func FrameBits(path string, n int, gop int64) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type sums struct{ key, keyN, other, otherN float64 }
	s := make([]sums, n)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		kv := map[string]string{}
		for i := 0; i+1 < len(fields); i++ {
			if k, ok := strings.CutSuffix(fields[i], "="); ok {
				kv[k] = fields[i+1]
				i++
			}
		}
		out, err1 := strconv.Atoi(kv["out"])
		size, err2 := strconv.ParseFloat(kv["f_size"], 64)
		if err1 != nil || err2 != nil || out < 0 || out >= n {
			continue
		}
		if kv["type"] == "I" {
			s[out].key += size
			s[out].keyN++
		} else {
			s[out].other += size
			s[out].otherN++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	bits := make([]float64, n)
	for i, x := range s {
		switch {
		case x.keyN == 0 && x.otherN == 0:
			return nil, fmt.Errorf("vstats: no frames of output %d", i)
		case x.otherN == 0 || gop <= 1:
			bits[i] = 8 * (x.key + x.other) / (x.keyN + x.otherN)
		case x.keyN == 0:
			bits[i] = 8 * x.other / x.otherN
		default:
			bits[i] = 8 * (x.key/x.keyN + float64(gop-1)*x.other/x.otherN) / float64(gop)
		}
	}
	return bits, nil
}
