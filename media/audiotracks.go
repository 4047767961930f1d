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
}

// AudioTracksArgs encodes every rendition of outs in one ffmpeg run that
// reads (and decodes) each stream of input once. Each output is on the
// video's timeline as AudioArgs makes it: audio at shift seconds is at 0,
// gaps are filled with silence, and it is padded or cut to duration; each
// starts its encoder's Priming late and ends it early, so every
// rendition's samples play at their own time, in sync with the video and
// each other.
func AudioTracksArgs(input string, shift, duration, segSeconds float64, outs []AudioOut) []string {
	in := ffmpeg.Input(input, masterInput())
	var streams []*ffmpeg.Stream
	for _, o := range outs {
		p := Priming[o.Codec]
		a := in.Get(strconv.Itoa(o.Stream)).
			Filter("asetpts", ffmpeg.Args{"PTS-" + fmtFloat(shift+p) + "/TB"}).
			Filter("aresample", ffmpeg.Args{"48000"}, ffmpeg.KwArgs{"async": "1", "first_pts": "0"}).
			Filter("apad", ffmpeg.Args{}).
			Filter("atrim", ffmpeg.Args{}, ffmpeg.KwArgs{"end": fmtFloat(max(duration-p, p))})
		kw := ffmpeg.KwArgs{"c:a": o.Codec, "b:a": strconv.Itoa(o.Bitrate), "ac": strconv.Itoa(o.Channels), "ar": "48000"}
		if o.Codec == "aac" {
			kw["profile:a"] = "aac_low"
		}
		streams = append(streams, a.Output(o.Playlist, hlsArgs(segSeconds, o.InitName, o.SegPattern, kw)))
	}
	args := ffmpeg.MergeOutputs(streams...).GetArgs()
	return append(append(append([]string{}, globalArgs...), masterArgs...), args...)
}
