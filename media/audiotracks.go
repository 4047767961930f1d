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

// audioChains are the renditions of outs on the video's timeline (see
// AudioTracksArgs), each started late by its priming seconds, in its
// channel layout at 48 kHz, with its gain and limiter. Renditions of one
// stream with the same priming share one timeline chain, split: ffmpeg-go
// merges identical filter nodes, and a node with two outgoing edges
// needs a split.
func audioChains(in *ffmpeg.Stream, outs []AudioOut, shift, duration float64, priming func(AudioOut) float64) []*ffmpeg.Stream {
	type key struct {
		stream  int
		priming float64
	}
	var keys []key
	users := map[key][]int{}
	for i, o := range outs {
		k := key{o.Stream, priming(o)}
		if users[k] == nil {
			keys = append(keys, k)
		}
		users[k] = append(users[k], i)
	}
	chains := make([]*ffmpeg.Stream, len(outs))
	for _, k := range keys {
		base := in.Get(strconv.Itoa(k.stream)).
			Filter("asetpts", ffmpeg.Args{"PTS-" + fmtFloat(shift+k.priming) + "/TB"}).
			Filter("aresample", ffmpeg.Args{"48000"}, ffmpeg.KwArgs{"async": "1", "first_pts": "0"}).
			Filter("apad", ffmpeg.Args{}).
			Filter("atrim", ffmpeg.Args{}, ffmpeg.KwArgs{"end": fmtFloat(max(duration-k.priming, k.priming))})
		idx := users[k]
		if len(idx) == 1 {
			chains[idx[0]] = renditionChain(base, outs[idx[0]])
			continue
		}
		split := ffmpeg.FilterMultiOutput([]*ffmpeg.Stream{base}, "asplit", ffmpeg.Args{strconv.Itoa(len(idx))})
		for n, i := range idx {
			// A split's outputs negotiate one channel layout with its
			// input: without a converter of its own, each branch would
			// get the first branch's layout (a 5.1 track measured as its
			// own stereo downmix, upmixed).
			chains[i] = renditionChain(split.Get(strconv.Itoa(n)).Filter("aresample", ffmpeg.Args{}), outs[i])
		}
	}
	return chains
}

// renditionChain puts a stream on the timeline into rendition o's
// channel layout and applies its gain and limiter.
func renditionChain(a *ffmpeg.Stream, o AudioOut) *ffmpeg.Stream {
	layout := "stereo"
	if o.Channels == 6 {
		layout = "5.1"
	}
	a = a.Filter("aformat", ffmpeg.Args{}, ffmpeg.KwArgs{"channel_layouts": layout})
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
// reads (and decodes) each stream of input once, for the whole title,
// into 48 kHz CMAF segments with an HLS playlist each. Each output is on
// the video's timeline: audio at shift seconds (the first video frame on
// Reel's timeline) is at 0 and earlier audio is dropped, gaps in the
// timestamps are filled with silence (aresample async), and it is padded
// or cut to duration, so audio and video end together.
//
// Each encoder puts samples of its own (its Priming) in front of the
// audio, and ffmpeg's CMAF muxer does not mark them to be skipped (its
// edit list starts at 0), so players play them. Each rendition is
// therefore started that much late and cut that much early: the master's
// first samples give way to the priming, and every later sample plays at
// its own time, in sync with the video and the other renditions.
//
// With measure set, the run also measures the loudness of what each
// encoder is given (after its gain and limiter): run it with LoudnessEnv
// and read the numbers with ReadLoudness.
func AudioTracksArgs(input string, shift, duration, segSeconds float64, outs []AudioOut, measure bool) []string {
	in := ffmpeg.Input(input, masterInput())
	chains := audioChains(in, outs, shift, duration, func(o AudioOut) float64 { return Priming[o.Codec] })
	var streams []*ffmpeg.Stream
	for k, o := range outs {
		a := chains[k]
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
