package media

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// Quality measured by the encoder itself.
//
// x264 compares every frame it encodes with the frame it was given: the
// conformed source scaled to the rung's size by the encode's own scaler,
// which is the reference QualityArgs builds again in a second run. Its
// reconstruction is, bit for bit, what a decoder shows, so its per-frame
// PSNR of Y, U and V is the psnr filter's, and its SSIM of Y the ssim
// filter's Y (both filters are ports of x264's code). An encode that asks
// for it (EncodeSpec.StatsDir) has the H.264 rungs measured for the cost of
// the comparison alone, with no second decode of the source, no decode of
// the rungs and no second scaling.
//
// x264 writes the numbers to ffmpeg's log at debug level, one line per
// frame in coding order, under the address of the encoder's context:
//
//	[libx264 @ 0x55e3a0ba1800] frame=   0 QP=28.17 NAL=3 Slice:I Poc:0 … PSNR Y:35.09 U:35.25 V:35.10 SSIM Y:0.80898
//
// The encode writes that log to a report file (FFREPORT) while its stderr
// stays at errors only; each encoder's address is tied to its output by
// the "Output #N" line ffmpeg prints right after the encoder has opened.

// MeasuresItself reports whether codec's encoder measures the PSNR and
// SSIM of what it encodes (see EncodeSpec.StatsDir).
func MeasuresItself(codec string) bool { return codec == ladder.CodecH264 }

// statsReport is the report file of an encode with StatsDir set.
func statsReport(dir string) string { return filepath.Join(dir, "encode-report.log") }

// reportLevel is the level of the report: AV_LOG_DEBUG, where x264's
// per-frame lines are.
const reportLevel = 48

// StatsEnv is the environment an encode of s runs with: the report file
// the H.264 encoders' per-frame statistics go to, when s asks for them.
func (s EncodeSpec) StatsEnv() []string {
	if s.StatsDir == "" {
		return nil
	}
	for _, r := range s.Rungs {
		if MeasuresItself(r.Codec) {
			return []string{"FFREPORT=file=" + reportEscape(statsReport(s.StatsDir)) + ":level=" + strconv.Itoa(reportLevel)}
		}
	}
	return nil
}

// reportEscape escapes a path for FFREPORT's key=value list: ':' separates
// keys, backslashes and single quotes quote, and '%' starts one of its
// expansions.
func reportEscape(p string) string {
	var b strings.Builder
	for _, c := range p {
		switch c {
		case ':', '\\', '\'':
			b.WriteString(`\`)
		case '%':
			b.WriteString("%")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// statsParams are the x264 options that turn its measurement on; they
// change nothing in what it encodes.
const statsParams = ":psnr=1:ssim=1"

var (
	x264Frame  = regexp.MustCompile(`^\[libx264 @ (0x[0-9a-f]+)\] frame=\s*\d+ .*Slice:([A-Za-z]) .*PSNR Y:([0-9.]+) U:([0-9.]+) V:([0-9.]+) SSIM Y:([0-9.]+)`)
	x264Opened = regexp.MustCompile(`^\[libx264 @ (0x[0-9a-f]+)\] profile `)
	outputLine = regexp.MustCompile(`^Output #(\d+), `)
)

// ReadEncoderQuality returns the quality of each rung of s that measured
// itself (MeasuresItself): its frames after the preroll against its input,
// summed as QualityArgs and ReadQuality sum them. Rungs whose encoder does
// not measure get nil, to be measured by QualityArgs. The preroll is whole
// closed GOPs, so its frames are the first s.Preroll the encoder codes.
func ReadEncoderQuality(s EncodeSpec) ([]*timeline.QualityStats, error) {
	out := make([]*timeline.QualityStats, len(s.Rungs))
	h264 := false
	for i, r := range s.Rungs {
		if MeasuresItself(r.Codec) {
			out[i] = &timeline.QualityStats{}
			h264 = true
		}
	}
	if s.StatsDir == "" || !h264 {
		return out, nil
	}
	path := statsReport(s.StatsDir)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("quality: the encoders' report: %w", err)
	}
	defer f.Close()
	rung := map[string]int{} // encoder address → output index
	coded := make([]int64, len(s.Rungs))
	pending := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := x264Frame.FindStringSubmatch(line); m != nil {
			i, ok := rung[m[1]]
			if !ok {
				return nil, fmt.Errorf("quality: %s: a frame of libx264 %s before its output opened", path, m[1])
			}
			coded[i]++
			if coded[i] <= s.Preroll {
				continue
			}
			if err := addFrame(out[i], s.Rungs[i], m[3:7]); err != nil {
				return nil, fmt.Errorf("quality: %s: %w", path, err)
			}
			continue
		}
		if m := x264Opened.FindStringSubmatch(line); m != nil {
			pending = m[1]
			continue
		}
		if m := outputLine.FindStringSubmatch(line); m != nil && pending != "" {
			n, _ := strconv.Atoi(m[1])
			if n >= len(s.Rungs) || out[n] == nil {
				return nil, fmt.Errorf("quality: %s: libx264 opened for output %d, which is not an H.264 rung", path, n)
			}
			rung[pending] = n
			pending = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("quality: %s: %w", path, err)
	}
	for i, q := range out {
		if q != nil && q.Frames == 0 {
			return nil, fmt.Errorf("quality: %s: the encoder of output %d reported no frames after the %d of its preroll", path, i, s.Preroll)
		}
	}
	return out, nil
}

// addFrame adds one frame's reported PSNR of Y, U and V and SSIM of Y to q.
// The mean squared error is what ffmpeg's psnr filter calls mse_avg: the
// planes' errors weighted by their sizes (4:1:1 in 4:2:0), in the units of
// the rung's bit depth, whose peak x264 uses as the filter does.
func addFrame(q *timeline.QualityStats, r ladder.Rung, f []string) error {
	var v [4]float64
	for k, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) {
			return fmt.Errorf("bad quality value %q", s)
		}
		v[k] = x
	}
	peak := 255.0
	if r.HDR {
		peak = 1023
	}
	mse := func(psnr float64) float64 { return peak * peak * math.Pow(10, -psnr/10) }
	q.MSESum += (4*mse(v[0]) + mse(v[1]) + mse(v[2])) / 6
	q.SSIMSum += v[3]
	q.Frames++
	return nil
}
