package media

import (
	"slices"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// seekFormats are the containers whose index lets ffmpeg start reading at
// any keyframe over HTTP range requests: MP4/MOV (the sample tables) and
// Matroska/WebM (the cues). Raw streams, MPEG-PS/TS, AVI and the rest have
// no index ffmpeg seeks by reliably, and are split instead.
var seekFormats = []string{"mov", "matroska"}

// seekCodecs are the video codecs of the masters read by seeking. A
// keyframe of theirs can still be one later frames reach past (an H.264
// I-frame that is not IDR): the worker test-decodes where each seek lands
// (DecodesCleanlyAt) and seeks further back from one. MPEG-2 and MPEG-4
// Part 2 masters, whose open GOPs are the rule, are split.
var seekCodecs = []string{"h264", "hevc", "vp8", "vp9", "av1", "prores", "mjpeg", "dnxhd", "ffv1", "rawvideo"}

// Seekable reports whether a master of format (ffprobe's format name) and
// video codec is read by seeking to each chunk rather than split first.
func Seekable(format, codec string) bool {
	first, _, _ := strings.Cut(format, ",")
	return slices.Contains(seekFormats, first) && slices.Contains(seekCodecs, codec)
}

// chunkInput is what a chunk's frames are decoded from: the split's
// pieces through list, or, when master is set, the master itself read
// from its keyframe at or before seek seconds (timestamps then count from
// seek; earlier frames are timed below 0). Rotation is the conform's to
// apply in both.
func chunkInput(list, master string, seek float64) *ffmpeg.Stream {
	if master == "" {
		return ffmpeg.Input(list, pieceInput())
	}
	return ffmpeg.Input(master, chunkInputArgs(seek))
}

func chunkInputArgs(seek float64) ffmpeg.KwArgs {
	kw := masterInput()
	kw["noautorotate"] = ""
	if seek > 0 {
		kw["ss"] = fmtFloat(seek)
		kw["noaccurate_seek"] = ""
	}
	return kw
}
