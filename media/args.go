package media

import (
	"fmt"
	"strconv"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// globalArgs come first in every ffmpeg run Reel makes; masterArgs
// follow them in a run that reads a master, so a timestamp jump in an
// MPEG-TS or MPEG-PS master is closed as it is read (see
// DiscontinuityThreshold; other containers ignore the setting).
var (
	globalArgs = []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y"}
	masterArgs = []string{"-dts_delta_threshold", strconv.FormatFloat(DiscontinuityThreshold, 'f', -1, 64)}
)

// pieceInput reads the split's pieces through a concat list Reel wrote;
// rotation is the conform's to apply.
func pieceInput() ffmpeg.KwArgs {
	return ffmpeg.KwArgs{"f": "concat", "safe": "0", "protocol_whitelist": "file", "format_whitelist": PieceFormats, "noautorotate": ""}
}

// masterInput reads a master: only the presigned S3 URL it is given, over
// HTTP, and only through the demuxers of MasterFormats. Packets without a
// presentation time (MPEG program streams from DVD, SVCD and VCD
// material, broadcast captures) get one generated from their decode order
// (genpts): without it a stream copy stops at the first such packet.
func masterInput() ffmpeg.KwArgs {
	return reconnectKw(ffmpeg.KwArgs{"protocol_whitelist": InputProtocols, "format_whitelist": MasterFormats, "fflags": "+genpts"})
}

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
	args := ffmpeg.Input(input, masterInput()).
		Output(piecePattern, out).GetArgs()
	return append(append(append([]string{}, globalArgs...), masterArgs...), args...)
}

// EncodeSpec describes one chunk encode: one decode of the chunk's pieces,
// every video rung encoded from it.
type EncodeSpec struct {
	// ConcatList is an ffconcat file listing the pieces that cover the
	// chunk; or MasterURL is the master's presigned URL, sought to Seek
	// seconds on Reel's timeline (pipeline.Plan.Seek).
	ConcatList string
	MasterURL  string
	Seek       float64
	// Conform and Window turn the decoded pieces into the chunk's frames.
	Conform timeline.Conform
	Window  timeline.Window
	// Preroll is how many frames at the start of the window come before
	// the chunk: encoded to warm the encoder up, then left out by the
	// packager, which starts each chunk at its keyframe.
	Preroll        int64
	SegmentSeconds float64
	Rungs          []ladder.Rung
	// Outputs holds one output path per rung.
	Outputs []string
	// StatsDir, if set, has the rungs whose encoder measures itself
	// (MeasuresItself) report each frame's PSNR and SSIM there; the run
	// needs StatsEnv, and ReadEncoderQuality reads the result.
	StatsDir string
}

// EncodeArgs builds the ffmpeg run for one chunk. The chunk's frames are
// conformed once (timing, deinterlacing, rotation, 8-bit 4:2:0 BT.709),
// split, scaled per rung to square pixels, and encoded with a keyframe at
// every segment boundary and nowhere else.
func EncodeArgs(s EncodeSpec) []string {
	in := chunkInput(s.ConcatList, s.MasterURL, s.Seek)
	srcs := rungSources(s.Conform, in.Get("v:0"), s.Window, s.Rungs)
	return encodeOutputs(srcs, s.Conform, s.Preroll, s.SegmentSeconds, s.Rungs, s.Outputs, s.StatsDir != "")
}

// ReferenceArgs encodes a whole local master in one ffmpeg run with the
// same conform and encoder settings as Reel's chunks: the single-pass
// result chunked output is held to. firstSlot is the plan's first output
// slot (used for variable-rate masters). Rotation is left to ffmpeg's own
// autorotation, so the reference also checks Reel's reading of it.
func ReferenceArgs(input string, c timeline.Conform, firstSlot int64, segSeconds float64, rungs []ladder.Rung, outputs []string) []string {
	kw := ffmpeg.KwArgs{"protocol_whitelist": "file", "fflags": "+genpts"}
	c.Rotate = 0
	srcs := rungSources(c, ffmpeg.Input(input, kw).Get("v:0"), timeline.Window{FirstSlot: firstSlot}, rungs)
	return encodeOutputs(srcs, c, 0, segSeconds, rungs, outputs, false)
}

// encodeOutputs scales srcs[i] to rung i and encodes it to outputs[i];
// with stats, the encoders that can measure what they encode.
func encodeOutputs(srcs []*ffmpeg.Stream, c timeline.Conform, preroll int64, segSeconds float64, rungs []ladder.Rung, outputs []string, stats bool) []string {
	segFrames := timeline.SegmentFrames(c.Rate, segSeconds)
	outs := make([]*ffmpeg.Stream, len(rungs))
	for i, r := range rungs {
		kw := CodecArgs(r, segFrames, preroll, c)
		if stats && MeasuresItself(r.Codec) {
			kw["x264-params"] = fmt.Sprint(kw["x264-params"]) + statsParams
		}
		outs[i] = scaleTo(srcs[i], r).Output(outputs[i], kw)
	}
	args := ffmpeg.MergeOutputs(outs...).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// scaleTo scales conformed frames to a rung's size with square pixels.
func scaleTo(v *ffmpeg.Stream, r ladder.Rung) *ffmpeg.Stream {
	return v.Filter("scale", ffmpeg.Args{fmt.Sprintf("%d:%d", r.Width, r.Height)}, ffmpeg.KwArgs{"flags": "bicubic"}).
		Filter("setsar", ffmpeg.Args{"1"})
}

// CodecArgs are the output options of one rung: the encoder's own settings
// from its codec's argument builder, and what every rung shares. An SDR
// rung is 8-bit 4:2:0 tagged BT.709; an HDR rung of an HDR master (c.HDR)
// is 10-bit 4:2:0 tagged BT.2020 with the master's PQ or HLG transfer. Keyframes
// are forced at frame preroll and every segFrames after it. Rungs are
// encoded in capped-CRF mode (constant quality under a VBV ceiling): each
// frame's quantizer depends on the frame and the VBV state only, so chunks
// encoded apart come out as one encode of the whole title would, which an
// average-bitrate target (whose rate control spreads bits over what it has
// seen) does not. A GOP of
// exactly one segment with scene-cut keyframes off puts a closed-GOP
// keyframe on every segment boundary of every rung and nowhere else.
func CodecArgs(r ladder.Rung, segFrames, preroll int64, c timeline.Conform) ffmpeg.KwArgs {
	fr := c.Rate
	g := strconv.FormatInt(segFrames, 10)
	// Half a frame early, so float rounding of t never moves a keyframe.
	first := (float64(preroll) - 0.5) / fr.Float()
	kw := ffmpeg.KwArgs{
		"maxrate":    strconv.Itoa(r.MaxRate),
		"bufsize":    strconv.Itoa(r.BufSize),
		"g":          g,
		"keyint_min": g,
		"force_key_frames": "expr:gte(t," + strconv.FormatFloat(first, 'f', -1, 64) + "+n_forced*" +
			strconv.FormatFloat(float64(segFrames)/fr.Float(), 'f', -1, 64) + ")",
		"pix_fmt":               "yuv420p",
		"color_primaries":       "bt709",
		"color_trc":             "bt709",
		"colorspace":            "bt709",
		"color_range":           "tv",
		"video_track_timescale": strconv.Itoa(timeline.Timescale(fr)),
		// Frames already carry their final timestamps: nothing is to be
		// duplicated or dropped on the way to the encoder.
		"fps_mode": "passthrough",
		"an":       "",
		"f":        "mp4",
	}
	hdr := ""
	if r.HDR {
		hdr = c.HDR
	}
	if hdr != "" {
		kw["pix_fmt"], kw["color_primaries"], kw["colorspace"] = "yuv420p10le", "bt2020", "bt2020nc"
		kw["color_trc"] = zscaleTransfer[hdr]
	}
	for k, v := range codecBuilders[r.Codec](r, g, hdr) {
		kw[k] = v
	}
	return kw
}

// KeyframesWhereForced reports whether codec's encoder puts a keyframe
// exactly at each forced frame and counts its keyframe interval from
// there, so a chunk's preroll may be any number of frames. libx264 does,
// and so does libx265 when told to make forced keyframes IDR frames
// (forced-idr; without it a forced frame is a plain I frame and its
// interval keeps counting from the first frame). libvpx-vp9 keeps counting
// from the first frame, and libsvtav1 in Debian's ffmpeg 5.1 ignores
// forced keyframes: their segment boundaries fall on keyframes only when
// the preroll is whole segments, counted from the encode's first frame.
func KeyframesWhereForced(codec string) bool {
	return codec == ladder.CodecH264 || codec == ladder.CodecHEVC
}

// codecBuilders hold what differs between encoders: one argument builder
// per codec, every other part of an encode shared. hdr is the transfer of
// an HDR rung ("" for SDR).
var codecBuilders = map[string]func(r ladder.Rung, gop, hdr string) ffmpeg.KwArgs{
	ladder.CodecH264: func(r ladder.Rung, gop, _ string) ffmpeg.KwArgs {
		return ffmpeg.KwArgs{"c:v": "libx264", "preset": r.Preset, "profile:v": r.Profile, "crf": strconv.Itoa(r.CRF),
			"sc_threshold": "0", "x264-params": "open-gop=0"}
	},
	ladder.CodecHEVC: func(r ladder.Rung, gop, hdr string) ffmpeg.KwArgs {
		params := "keyint=" + gop + ":min-keyint=" + gop + ":scenecut=0:open-gop=0:log-level=error"
		if hdr != "" {
			// Parameter sets (with the colour description) before every
			// keyframe, so each segment stands alone; HDR10 signalling
			// for PQ.
			params += ":repeat-headers=1"
			if hdr == timeline.TransferPQ {
				params += ":hdr10-opt=1"
			}
		}
		return ffmpeg.KwArgs{"c:v": "libx265", "preset": r.Preset, "profile:v": r.Profile, "tag:v": "hvc1", "crf": strconv.Itoa(r.CRF),
			"forced-idr": "1", "x265-params": params}
	},
	ladder.CodecVP9: func(r ladder.Rung, gop, _ string) ffmpeg.KwArgs {
		// libvpx's constrained-quality mode: CRF, with b:v the ceiling.
		return ffmpeg.KwArgs{"c:v": "libvpx-vp9", "deadline": "good", "cpu-used": strconv.Itoa(vp9Speed[r.Preset]),
			"row-mt": "1", "profile:v": "0", "crf": strconv.Itoa(r.CRF), "b:v": strconv.Itoa(r.MaxRate)}
	},
	ladder.CodecAV1: func(r ladder.Rung, gop, _ string) ffmpeg.KwArgs {
		return ffmpeg.KwArgs{"c:v": "libsvtav1", "preset": strconv.Itoa(av1Speed[r.Preset]), "crf": strconv.Itoa(r.CRF)}
	},
}

// vp9Speed and av1Speed map the ladder's x264-style preset names onto
// libvpx's cpu-used and SVT-AV1's preset numbers.
var (
	vp9Speed = map[string]int{"ultrafast": 5, "superfast": 5, "veryfast": 5, "faster": 4, "fast": 3, "medium": 2, "slow": 1, "slower": 1, "veryslow": 0}
	av1Speed = map[string]int{"ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9, "fast": 8, "medium": 6, "slow": 5, "slower": 4, "veryslow": 2}
)

// AACPriming is the encoder delay of ffmpeg's AAC encoder at 48 kHz: 1024
// samples, in seconds.
const AACPriming = 1024.0 / 48000

// PackageArgs joins a rung's encoded chunks (an ffconcat list) without
// re-encoding and cuts them into CMAF segments with an HLS media playlist.
func PackageArgs(concatList string, segSeconds float64, playlist, initName, segPattern string) []string {
	args := ffmpeg.Input(concatList, ffmpeg.KwArgs{"f": "concat", "safe": "0", "protocol_whitelist": "file", "format_whitelist": EncodedFormats}).
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

// SpritesArgs makes thumbnail grids from a rendition's encoded segments
// (an ffconcat list) whose first frame is frame offset of the title
// (offset may be taken mod everyFrames): the frames at whole multiples of
// everyFrames in the title, scaled to w×h and tiled cols×rows per JPEG.
// The grids are finely quantized (q:v 2): they are laid into the title's
// sprite sheets and encoded again.
func SpritesArgs(concatList string, everyFrames, offset int64, w, h, cols, rows int, pattern string) []string {
	args := ffmpeg.Input(concatList, ffmpeg.KwArgs{"f": "concat", "safe": "0", "protocol_whitelist": "file", "format_whitelist": EncodedFormats}).Get("v:0").
		Filter("select", ffmpeg.Args{fmt.Sprintf("not(mod(n+%d\\,%d))", offset, everyFrames)}).
		Filter("scale", ffmpeg.Args{fmt.Sprintf("%d:%d", w, h)}, ffmpeg.KwArgs{"flags": "bicubic"}).
		Filter("setsar", ffmpeg.Args{"1"}).
		Filter("tile", ffmpeg.Args{fmt.Sprintf("%dx%d", cols, rows)}).
		Output(pattern, ffmpeg.KwArgs{"fps_mode": "vfr", "q:v": "2", "f": "image2"}).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}

// PosterArgs writes the frame at time at of a local encoded file as a JPEG.
func PosterArgs(input string, at float64, out string) []string {
	args := ffmpeg.Input(input, ffmpeg.KwArgs{"ss": fmtFloat(at), "protocol_whitelist": "file", "format_whitelist": "mov"}).Get("v:0").
		Output(out, ffmpeg.KwArgs{"frames:v": "1", "q:v": "3", "f": "image2", "update": "1"}).GetArgs()
	return append(append([]string{}, globalArgs...), args...)
}
