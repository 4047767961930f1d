package media

import (
	"fmt"
	"strconv"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/ladder"
)

// InputProtocols is the allow-list of protocols ffmpeg and ffprobe may use
// to read a master: the presigned S3 URL it is given, never a local file.
const InputProtocols = "http,https,tcp,tls"

// globalArgs come first in every ffmpeg run Reel makes.
var globalArgs = []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y"}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// SplitArgs cuts the video stream of input into Matroska pieces by stream
// copy, starting a new piece at the first keyframe at or after each of cuts
// (seconds). Pieces keep the master's timestamps; listCSV receives each
// piece's name, start and end.
func SplitArgs(input string, cuts []float64, piecePattern, listCSV string) []string {
	times := make([]string, len(cuts))
	for i, c := range cuts {
		times[i] = fmtFloat(c)
	}
	out := ffmpeg.KwArgs{
		"map": "0:v:0", "c": "copy", "f": "segment", "segment_format": "matroska",
		"segment_list": listCSV, "segment_list_type": "csv",
	}
	if len(times) > 0 {
		out["segment_times"] = strings.Join(times, ",")
	}
	args := ffmpeg.Input(input, ffmpeg.KwArgs{"protocol_whitelist": InputProtocols}).
		Output(piecePattern, out).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// EncodeSpec describes one chunk encode: one decode of the chunk's pieces,
// every video rung encoded from it.
type EncodeSpec struct {
	// ConcatList is an ffconcat file listing the pieces that cover the chunk.
	ConcatList string
	// TrimStart and TrimEnd select the chunk's frames in the concatenated
	// timeline, in seconds; TrimEnd 0 means to the end.
	TrimStart, TrimEnd float64
	FrameRate          Rational
	SegmentSeconds     float64
	Rungs              []ladder.Rung
	// Outputs holds one output path per rung.
	Outputs []string
}

// Timescale returns an MP4 track timescale in which every frame duration of
// rate fr is a whole number of ticks.
func Timescale(fr Rational) int {
	if fr.Num <= 0 || fr.Den <= 0 {
		return 90000
	}
	if (90000*fr.Den)%fr.Num == 0 {
		return 90000
	}
	ts := fr.Num
	for ts < 10000 {
		ts += fr.Num
	}
	return ts
}

// SegmentFrames is the number of frames in one segment of the given length.
func SegmentFrames(fr Rational, seconds float64) int64 {
	n := int64(seconds*fr.Float() + 0.5)
	if n < 1 {
		n = 1
	}
	return n
}

// EncodeArgs builds the ffmpeg run for one chunk. Frames get exact constant
// rate timestamps (time base 1/frame rate, pts = frame index), are converted
// once to 8-bit 4:2:0, split, scaled per rung to square pixels, and encoded
// with a keyframe at every segment boundary and nowhere else.
func EncodeArgs(s EncodeSpec) []string {
	in := ffmpeg.Input(s.ConcatList, ffmpeg.KwArgs{"f": "concat", "safe": "0", "protocol_whitelist": "file"})
	trim := ffmpeg.KwArgs{"start": fmtFloat(s.TrimStart)}
	if s.TrimEnd > 0 {
		trim["end"] = fmtFloat(s.TrimEnd)
	}
	v := in.Get("v:0").
		Filter("trim", ffmpeg.Args{}, trim).
		Filter("settb", ffmpeg.Args{fmt.Sprintf("%d/%d", s.FrameRate.Den, s.FrameRate.Num)}).
		Filter("setpts", ffmpeg.Args{"N"}).
		Filter("format", ffmpeg.Args{"yuv420p"})
	segFrames := SegmentFrames(s.FrameRate, s.SegmentSeconds)
	outs := make([]*ffmpeg.Stream, len(s.Rungs))
	var split *ffmpeg.Node
	if len(s.Rungs) > 1 {
		split = v.Split()
	}
	for i, r := range s.Rungs {
		src := v
		if split != nil {
			src = split.Get(strconv.Itoa(i))
		}
		scaled := src.Filter("scale", ffmpeg.Args{fmt.Sprintf("%d:%d", r.Width, r.Height)}, ffmpeg.KwArgs{"flags": "bicubic"}).
			Filter("setsar", ffmpeg.Args{"1"})
		outs[i] = scaled.Output(s.Outputs[i], h264Args(r, segFrames, s.FrameRate))
	}
	args := ffmpeg.MergeOutputs(outs...).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// h264Args are the libx264 output options of one rung. A GOP of exactly one
// segment with scene-cut keyframes off puts an IDR frame on every segment
// boundary of every rung and nowhere else.
func h264Args(r ladder.Rung, segFrames int64, fr Rational) ffmpeg.KwArgs {
	return ffmpeg.KwArgs{
		"c:v":                   "libx264",
		"preset":                r.Preset,
		"profile:v":             r.Profile,
		"b:v":                   strconv.Itoa(r.Bitrate),
		"maxrate":               strconv.Itoa(r.MaxRate),
		"bufsize":               strconv.Itoa(r.BufSize),
		"g":                     strconv.FormatInt(segFrames, 10),
		"keyint_min":            strconv.FormatInt(segFrames, 10),
		"sc_threshold":          "0",
		"force_key_frames":      "expr:gte(t,n_forced*" + strconv.FormatFloat(float64(segFrames)/fr.Float(), 'f', -1, 64) + ")",
		"x264-params":           "open-gop=0",
		"pix_fmt":               "yuv420p",
		"color_primaries":       "bt709",
		"color_trc":             "bt709",
		"colorspace":            "bt709",
		"video_track_timescale": strconv.Itoa(Timescale(fr)),
		"an":                    "",
		"f":                     "mp4",
	}
}

// AudioArgs encodes the first audio stream of input, once for the whole
// title, to AAC-LC stereo 48 kHz CMAF segments with playlist playlist.
func AudioArgs(input string, bitrate int, segSeconds float64, playlist, initName, segPattern string) []string {
	args := ffmpeg.Input(input, ffmpeg.KwArgs{"protocol_whitelist": InputProtocols}).
		Output(playlist, hlsArgs(segSeconds, initName, segPattern, ffmpeg.KwArgs{
			"map": "0:a:0", "vn": "", "sn": "", "dn": "",
			"c:a": "aac", "profile:a": "aac_low", "b:a": strconv.Itoa(bitrate), "ac": "2", "ar": "48000",
		})).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// PackageArgs joins a rung's encoded chunks (an ffconcat list) without
// re-encoding and cuts them into CMAF segments with an HLS media playlist.
func PackageArgs(concatList string, segSeconds float64, playlist, initName, segPattern string) []string {
	args := ffmpeg.Input(concatList, ffmpeg.KwArgs{"f": "concat", "safe": "0", "protocol_whitelist": "file"}).
		Output(playlist, hlsArgs(segSeconds, initName, segPattern, ffmpeg.KwArgs{"map": "0:v:0", "c": "copy"})).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

func hlsArgs(segSeconds float64, initName, segPattern string, extra ffmpeg.KwArgs) ffmpeg.KwArgs {
	kw := ffmpeg.KwArgs{
		"f":                      "hls",
		"hls_time":               strconv.FormatFloat(segSeconds, 'f', -1, 64),
		"hls_playlist_type":      "vod",
		"hls_segment_type":       "fmp4",
		"hls_fmp4_init_filename": initName,
		"hls_segment_filename":   segPattern,
		"hls_flags":              "independent_segments",
	}
	for k, v := range extra {
		kw[k] = v
	}
	return kw
}
