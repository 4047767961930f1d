package media

import (
	"fmt"
	"math"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// standardRates are the rates a variable-rate master's nominal rate snaps to.
var standardRates = []timeline.Rational{{Num: 24000, Den: 1001}, {Num: 24, Den: 1}, {Num: 25, Den: 1}, {Num: 30000, Den: 1001}, {Num: 30, Den: 1}, {Num: 48, Den: 1}, {Num: 50, Den: 1}, {Num: 60000, Den: 1001}, {Num: 60, Den: 1}, {Num: 90, Den: 1}, {Num: 100, Den: 1}, {Num: 120, Den: 1}, {Num: 240, Den: 1}}

// ConformFor derives the conform of a probed video stream. fieldOrder
// overrides the stream's field order when the caller measured it (idet);
// pass "" to use the stream's.
func ConformFor(v VideoInfo, fieldOrder string) timeline.Conform {
	c := timeline.Conform{InputRate: v.FrameRate.Reduce(), Decimate: 1, Rotate: v.Rotation, InRange: "tv"}
	c.VFR = isVFR(v)
	if c.VFR {
		c.InputRate = nominalRate(v)
	}
	n := int(math.Ceil(c.InputRate.Float()/timeline.MaxOutputRate - 1e-9))
	if n < 1 {
		n = 1
	}
	c.Rate = timeline.Rational{Num: c.InputRate.Num, Den: c.InputRate.Den * n}.Reduce()
	if !c.VFR {
		c.Decimate = n
	}
	if fieldOrder == "" {
		fieldOrder = v.FieldOrder
	}
	switch fieldOrder {
	case "tt", "tb", "tff":
		c.Deinterlace = "tff"
	case "bb", "bt", "bff":
		c.Deinterlace = "bff"
	}
	if v.ColorRange == "pc" || strings.HasPrefix(v.PixFmt, "yuvj") {
		c.InRange = "pc"
	}
	c.InMatrix = inMatrix(v)
	switch v.ColorTransfer {
	case "smpte2084":
		c.HDR = timeline.TransferPQ
	case "arib-std-b67":
		c.HDR = timeline.TransferHLG
	}
	if c.HDR != "" {
		c.InPrimaries = "bt2020"
		if v.ColorPrimaries != "" && v.ColorPrimaries != "unknown" {
			c.InPrimaries = v.ColorPrimaries
		}
		if v.ColorSpace == "" || v.ColorSpace == "unknown" {
			c.InMatrix = "bt2020"
		}
	}
	w, h := ladder.Source{Width: v.Width, Height: v.Height, SARNum: v.SAR.Num, SARDen: v.SAR.Den}.DisplaySize()
	if c.Rotate == 90 || c.Rotate == 270 {
		w, h = h, w
	}
	c.DisplayWidth, c.DisplayHeight = int(math.Round(w)), int(math.Round(h))
	return c
}

// isVFR reports whether a stream's timestamps stray from its nominal rate:
// the average rate differs from it by over 1%, or the frame count differs
// from duration × rate by over 1% (and two frames).
func isVFR(v VideoInfo) bool {
	r := v.FrameRate.Float()
	if avg := v.AvgFrameRate.Float(); avg > 0 && math.Abs(avg-r) > 0.01*r {
		return true
	}
	if v.Duration > 0 && v.Frames > 0 {
		want := v.Duration * r
		if d := math.Abs(float64(v.Frames) - want); d > 2 && d > 0.01*want {
			return true
		}
	}
	return false
}

// nominalRate is the constant rate a variable-rate stream is resampled to:
// its r_frame_rate when that is a standard rate, else the standard rate
// nearest its average rate.
func nominalRate(v VideoInfo) timeline.Rational {
	for _, s := range standardRates {
		if math.Abs(s.Float()-v.FrameRate.Float()) < 0.001*s.Float() {
			return s
		}
	}
	avg := v.AvgFrameRate.Float()
	if avg <= 0 {
		avg = v.FrameRate.Float()
	}
	best := standardRates[0]
	for _, s := range standardRates {
		if math.Abs(s.Float()-avg) < math.Abs(best.Float()-avg) {
			best = s
		}
	}
	return best
}

// inMatrix names the source's YUV matrix for the scale filter. Untagged
// sources are taken as BT.601 below 720 lines and BT.709 from 720 up, the
// rule players follow.
func inMatrix(v VideoInfo) string {
	switch v.ColorSpace {
	case "bt709":
		return "bt709"
	case "smpte170m", "bt470bg":
		return "bt601"
	case "bt2020nc", "bt2020c":
		return "bt2020"
	case "smpte240m":
		return "smpte240m"
	case "fcc":
		return "fcc"
	}
	if v.Height < 720 {
		return "bt601"
	}
	return "bt709"
}

// conformFrames applies the conform's timing, deinterlacing, rotation and
// color conversion to the decoded video stream v: the result is the
// chunk's frames, numbered from zero at the output rate, upright, 8-bit
// 4:2:0 limited-range BT.709 at the source's size (tone-mapped from an HDR
// master): what every SDR rung is scaled from.
func conformFrames(c timeline.Conform, v *ffmpeg.Stream, w timeline.Window) *ffmpeg.Stream {
	return toSDR(c, conformTiming(c, v, w))
}

// rungSources conforms the decoded video stream v once and returns the
// frames each rung is scaled from: one SDR branch (toSDR) for the SDR
// rungs and one HDR branch (toHDR) for the HDR rungs, each split as many
// times as it has rungs.
func rungSources(c timeline.Conform, v *ffmpeg.Stream, w timeline.Window, rungs []ladder.Rung) []*ffmpeg.Stream {
	v = conformTiming(c, v, w)
	var sdr, hdr []int
	for i, r := range rungs {
		if r.HDR && c.HDR != "" {
			hdr = append(hdr, i)
		} else {
			sdr = append(sdr, i)
		}
	}
	out := make([]*ffmpeg.Stream, len(rungs))
	branches := splitN(v, min(len(sdr), 1)+min(len(hdr), 1))
	if len(sdr) > 0 {
		for k, s := range splitN(toSDR(c, branches[0]), len(sdr)) {
			out[sdr[k]] = s
		}
		branches = branches[1:]
	}
	if len(hdr) > 0 {
		for k, s := range splitN(toHDR(c, branches[0]), len(hdr)) {
			out[hdr[k]] = s
		}
	}
	return out
}

// splitN returns n copies of v (v itself for one).
func splitN(v *ffmpeg.Stream, n int) []*ffmpeg.Stream {
	if n <= 1 {
		return []*ffmpeg.Stream{v}
	}
	split := v.Split()
	out := make([]*ffmpeg.Stream, n)
	for i := range out {
		out[i] = split.Get(fmt.Sprint(i))
	}
	return out
}

// zscaleTransfer names an HDR conform's transfer as zscale does.
var zscaleTransfer = map[string]string{timeline.TransferPQ: "smpte2084", timeline.TransferHLG: "arib-std-b67"}

// ToneMapPeak is the nominal peak luminance, in cd/m², that tone mapping
// maps an HDR master's linear light against (zscale's npl): SDR
// reference white.
const ToneMapPeak = 100

// toSDR converts conformed frames to 8-bit 4:2:0 limited-range BT.709. An
// HDR master is tone-mapped: linearised from its PQ or HLG transfer with
// zscale, converted to BT.709 primaries in 32-bit float RGB, compressed
// into SDR range with the Hable curve (ffmpeg's tonemap, no desaturation),
// and encoded with the BT.709 transfer; any other master only has its
// matrix and range converted.
func toSDR(c timeline.Conform, v *ffmpeg.Stream) *ffmpeg.Stream {
	inRange, matrix := inColors(c, "bt709")
	if c.HDR != "" {
		zmatrix := map[string]string{"bt2020": "2020_ncl", "bt709": "709", "bt601": "170m"}[matrix]
		if zmatrix == "" {
			zmatrix = "2020_ncl"
		}
		return v.Filter("zscale", ffmpeg.Args{}, ffmpeg.KwArgs{"tin": zscaleTransfer[c.HDR], "pin": c.InPrimaries, "min": zmatrix,
			"rin": inRange, "t": "linear", "npl": ToneMapPeak}).
			Filter("format", ffmpeg.Args{"gbrpf32le"}).
			Filter("zscale", ffmpeg.Args{}, ffmpeg.KwArgs{"p": "bt709"}).
			Filter("tonemap", ffmpeg.Args{}, ffmpeg.KwArgs{"tonemap": "hable", "desat": "0"}).
			Filter("zscale", ffmpeg.Args{}, ffmpeg.KwArgs{"t": "bt709", "m": "bt709", "r": "tv"}).
			Filter("format", ffmpeg.Args{"yuv420p"})
	}
	return v.Filter("scale", ffmpeg.Args{}, ffmpeg.KwArgs{"in_range": inRange, "out_range": "tv",
		"in_color_matrix": matrix, "out_color_matrix": "bt709"}).
		Filter("format", ffmpeg.Args{"yuv420p"})
}

// toHDR converts an HDR master's conformed frames to what HDR rungs are
// scaled from: 10-bit 4:2:0 limited range with the BT.2020 matrix, the
// master's primaries and transfer kept.
func toHDR(c timeline.Conform, v *ffmpeg.Stream) *ffmpeg.Stream {
	inRange, matrix := inColors(c, "bt2020")
	return v.Filter("scale", ffmpeg.Args{}, ffmpeg.KwArgs{"in_range": inRange, "out_range": "tv",
		"in_color_matrix": matrix, "out_color_matrix": "bt2020"}).
		Filter("format", ffmpeg.Args{"yuv420p10le"})
}

// inColors are the conform's source range and matrix, limited range and
// matrix where it names none.
func inColors(c timeline.Conform, matrix string) (string, string) {
	inRange := c.InRange
	if inRange == "" {
		inRange = "tv"
	}
	if c.InMatrix != "" {
		matrix = c.InMatrix
	}
	return inRange, matrix
}

// conformTiming applies the conform's timing, deinterlacing and rotation
// to the decoded video stream v: the chunk's frames, numbered from zero at
// the output rate, upright, in the master's own pixel format and colors.
func conformTiming(c timeline.Conform, v *ffmpeg.Stream, w timeline.Window) *ffmpeg.Stream {
	deint := func(v *ffmpeg.Stream) *ffmpeg.Stream {
		if c.Deinterlace == "" {
			return v
		}
		return v.Filter("bwdif", ffmpeg.Args{}, ffmpeg.KwArgs{"mode": "send_frame", "parity": c.Deinterlace, "deint": "all"})
	}
	outTB := fmt.Sprintf("%d/%d", c.Rate.Den, c.Rate.Num)
	if c.VFR {
		if w.Base != 0 {
			v = v.Filter("setpts", ffmpeg.Args{fmt.Sprintf("PTS+%s/TB", fmtFloat(w.Base))})
		}
		v = deint(v)
		v = v.Filter("fps", ffmpeg.Args{}, ffmpeg.KwArgs{"fps": c.Rate.String(), "round": "near",
			"start_time": fmtSeconds(float64(w.FirstSlot) / c.Rate.Float())})
		if w.EndSlot > 0 {
			v = v.Filter("trim", ffmpeg.Args{}, ffmpeg.KwArgs{"end_pts": w.EndSlot})
		}
		v = v.Filter("setpts", ffmpeg.Args{"N"})
	} else {
		v = deint(v)
		if w.Start > 0 || w.End > 0 {
			trim := ffmpeg.KwArgs{"start": fmtFloat(w.Start)}
			if w.End > 0 {
				trim["end"] = fmtFloat(w.End)
			}
			v = v.Filter("trim", ffmpeg.Args{}, trim)
		}
		if c.Decimate > 1 {
			v = v.Filter("select", ffmpeg.Args{fmt.Sprintf("not(mod(n\\,%d))", c.Decimate)})
		}
		v = v.Filter("settb", ffmpeg.Args{outTB}).Filter("setpts", ffmpeg.Args{"N"})
		if c.Decimate > 1 {
			// The frames are on the output grid already; fps only tells the
			// rest of the graph (and the encoder) the new rate.
			v = v.Filter("fps", ffmpeg.Args{}, ffmpeg.KwArgs{"fps": c.Rate.String()})
		}
	}
	switch c.Rotate {
	case 90:
		v = v.Filter("transpose", ffmpeg.Args{"clock"})
	case 180:
		v = v.Filter("hflip", ffmpeg.Args{}).Filter("vflip", ffmpeg.Args{})
	case 270:
		v = v.Filter("transpose", ffmpeg.Args{"cclock"})
	}
	return v
}

// fmtSeconds prints a time with enough digits that n / rate rounds back to n.
func fmtSeconds(s float64) string { return fmt.Sprintf("%.9f", s) }
