package media

import (
	"strconv"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// Priming is the encoder delay, in seconds at 48 kHz, of each audio
// encoder Reel uses: samples of its own it puts in front of the audio,
// which ffmpeg's CMAF muxer does not mark to be skipped.
var Priming = map[string]float64{
	"aac":  AACPriming,    // 1024 samples
	"eac3": 256.0 / 48000, // one AC-3 block
}

// AudioOut is one audio rendition of a title: a stream of the master
// encoded to codec ("aac" or "eac3") with channels channels (2: the
// standard downmix of a surround stream; 6: 5.1) at bitrate bit/s, into
// CMAF segments with an HLS playlist.
type AudioOut struct {
	Stream                         int // the master's stream index
	Codec                          string
	Channels, Bitrate              int
	Playlist, InitName, SegPattern string
	// Gain, in dB, is applied to the rendition before it is encoded (and
	// measured).
	Gain float64
	// Limit, if below 0, is the level in dBFS a lookahead limiter holds
	// the rendition's peaks under after the gain. It limits at 4× the
	// sample rate, so the peaks it holds are true peaks (dBTP).
	Limit float64
}

// limiterRate is the sample rate the limiter runs at: 4× oversampling,
// as BS.1770's true-peak meter reads.
const limiterRate = 192000

// audioChain is rendition o of stream in on the video's timeline (see
// AudioTracksArgs), started late by priming seconds, in its channel
// layout at 48 kHz, with its gain and limiter.
func audioChain(in *ffmpeg.Stream, o AudioOut, shift, duration, priming float64) *ffmpeg.Stream {
	layout := "stereo"
	if o.Channels == 6 {
		layout = "5.1"
	}
	a := in.Get(strconv.Itoa(o.Stream)).
		Filter("asetpts", ffmpeg.Args{"PTS-" + fmtFloat(shift+priming) + "/TB"}).
		Filter("aresample", ffmpeg.Args{"48000"}, ffmpeg.KwArgs{"async": "1", "first_pts": "0"}).
		Filter("apad", ffmpeg.Args{}).
		Filter("atrim", ffmpeg.Args{}, ffmpeg.KwArgs{"end": fmtFloat(max(duration-priming, priming))}).
		Filter("aformat", ffmpeg.Args{}, ffmpeg.KwArgs{"channel_layouts": layout})
	if o.Gain != 0 {
		a = a.Filter("volume", ffmpeg.Args{strconv.FormatFloat(o.Gain, 'f', 3, 64) + "dB"}, ffmpeg.KwArgs{"precision": "double"})
	}
	if o.Limit < 0 {
		a = a.Filter("aresample", ffmpeg.Args{strconv.Itoa(limiterRate)}).
			Filter("alimiter", ffmpeg.Args{}, ffmpeg.KwArgs{"limit": strconv.FormatFloat(dbToLinear(o.Limit), 'f', 6, 64),
				"level": "false", "latency": "true"}).
			Filter("aresample", ffmpeg.Args{"48000"})
	}
	return a
}

// AudioTracksArgs encodes every rendition of outs in one ffmpeg run that
// reads (and decodes) each stream of input once. Each output is on the
// video's timeline as AudioArgs makes it: audio at shift seconds is at 0,
// gaps are filled with silence, and it is padded or cut to duration; each
// starts its encoder's Priming late and ends it early, so every
// rendition's samples play at their own time, in sync with the video and
// each other.
//
// With measure set, the run also measures the loudness of what each
// encoder is given (after its gain and limiter): run it with LoudnessEnv
// and read the numbers with ReadLoudness.
func AudioTracksArgs(input string, shift, duration, segSeconds float64, outs []AudioOut, measure bool) []string {
	in := ffmpeg.Input(input, masterInput())
	var streams []*ffmpeg.Stream
	for k, o := range outs {
		a := audioChain(in, o, shift, duration, Priming[o.Codec])
		if measure {
			s := a.ASplit()
			a = s.Get("0")
			streams = append(streams, loudnessMeter(s.Get("1"), k))
		}
		kw := ffmpeg.KwArgs{"c:a": o.Codec, "b:a": strconv.Itoa(o.Bitrate), "ac": strconv.Itoa(o.Channels), "ar": "48000"}
		if o.Codec == "aac" {
			kw["profile:a"] = "aac_low"
		}
		streams = append(streams, a.Output(o.Playlist, hlsArgs(segSeconds, o.InitName, o.SegPattern, kw)))
	}
	args := ffmpeg.MergeOutputs(streams...).GetArgs()
	return append(append(append([]string{}, globalArgs...), masterArgs...), args...)
}

// TextArgs converts text subtitle streams of input (ffprobe's stream
// indexes) to WebVTT, each into its file of outs, in one run that reads
// the master once. Cue times are on Reel's timeline: the master's less
// the container's start.
func TextArgs(input string, streams []int, outs []string) []string {
	in := ffmpeg.Input(input, masterInput())
	var s []*ffmpeg.Stream
	for i, k := range streams {
		s = append(s, in.Get(strconv.Itoa(k)).Output(outs[i], ffmpeg.KwArgs{"c:s": "webvtt", "f": "webvtt"}))
	}
	args := ffmpeg.MergeOutputs(s...).GetArgs()
	return append(append(append([]string{}, globalArgs...), masterArgs...), args...)
}
