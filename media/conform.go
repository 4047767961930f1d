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

// frames applies the conform's timing, deinterlacing, rotation and color
// conversion to the decoded video stream v: the result is the chunk's
// frames, numbered from zero at the output rate, upright, 8-bit 4:2:0
// limited-range BT.709 at the source's size.
func conformFrames(c timeline.Conform, v *ffmpeg.Stream, w timeline.Window) *ffmpeg.Stream {
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
	inRange, matrix := c.InRange, c.InMatrix
	if inRange == "" {
		inRange = "tv"
	}
	if matrix == "" {
		matrix = "bt709"
	}
	return v.Filter("scale", ffmpeg.Args{}, ffmpeg.KwArgs{"in_range": inRange, "out_range": "tv",
		"in_color_matrix": matrix, "out_color_matrix": "bt709"}).
		Filter("format", ffmpeg.Args{"yuv420p"})
}

// fmtSeconds prints a time with enough digits that n / rate rounds back to n.
func fmtSeconds(s float64) string { return fmt.Sprintf("%.9f", s) }
