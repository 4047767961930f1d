// Package media wraps ffmpeg and ffprobe: probing masters, building the
// argument lists of every ffmpeg run Reel makes, and running them with
// progress reporting.
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/timeline"
)

// ErrInvalidMedia marks a master that cannot be transcoded. It is permanent:
// retrying will not help.
var ErrInvalidMedia = errors.New("invalid media")

// VideoInfo describes the video stream Reel transcodes.
type VideoInfo struct {
	Index  int    `json:"index"`
	Codec  string `json:"codec"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// SAR is the sample (pixel) aspect ratio, 1:1 when the stream has none.
	SAR timeline.Rational `json:"sar"`
	// FrameRate is the nominal rate: r_frame_rate, the rate all timestamps
	// fit, unless it is implausible next to the average rate.
	FrameRate timeline.Rational `json:"frame_rate"`
	// AvgFrameRate is frames over duration; it differs from FrameRate for
	// variable-rate streams.
	AvgFrameRate timeline.Rational `json:"avg_frame_rate"`
	PixFmt       string            `json:"pix_fmt"`
	Frames       int64             `json:"frames"`
	Duration     float64           `json:"duration"`
	// StartTime is the timestamp of the stream's first frame, in seconds.
	StartTime float64 `json:"start_time"`
	// FieldOrder is ffprobe's field_order: progressive, tt, bb, tb, bt or
	// unknown.
	FieldOrder string `json:"field_order,omitempty"`
	ColorRange string `json:"color_range,omitempty"` // tv, pc or unknown
	ColorSpace string `json:"color_space,omitempty"` // matrix coefficients
	// ColorTransfer and ColorPrimaries are ffprobe's color_transfer
	// (smpte2084 for PQ, arib-std-b67 for HLG) and color_primaries.
	ColorTransfer  string `json:"color_transfer,omitempty"`
	ColorPrimaries string `json:"color_primaries,omitempty"`
	// Rotation is how far the picture must be turned clockwise for display
	// (0, 90, 180 or 270), from the display matrix or the rotate tag.
	Rotation int `json:"rotation,omitempty"`
}

// Interlaced reports whether the stream says its frames hold two fields.
func (v VideoInfo) Interlaced() bool {
	switch v.FieldOrder {
	case "tt", "bb", "tb", "bt":
		return true
	}
	return false
}

// AudioInfo describes an audio stream of the master.
type AudioInfo struct {
	Index      int     `json:"index"`
	Codec      string  `json:"codec"`
	Channels   int     `json:"channels"`
	Layout     string  `json:"layout,omitempty"` // ffmpeg's channel layout name: stereo, 5.1(side), ...
	SampleRate int     `json:"sample_rate"`
	StartTime  float64 `json:"start_time"`
	// Streams is how many audio streams the master has.
	Streams int `json:"streams"`
	// Default says the stream carries the default disposition.
	Default bool `json:"default"`
	// Language is the stream's language tag as BCP 47 ("en", "pt-BR"),
	// empty when the master leaves it unset or undetermined.
	Language string `json:"language,omitempty"`
	// Name is the stream's title tag, if any.
	Name string `json:"name,omitempty"`
	// Role is what the stream is for besides the main programme:
	// "commentary", "description" (for the visually impaired), "dub".
	Role string `json:"role,omitempty"`
}

// TextInfo describes a text subtitle stream of the master.
type TextInfo struct {
	Index    int     `json:"index"`
	Codec    string  `json:"codec"` // mov_text, subrip, ass, ssa, webvtt, text
	Language string  `json:"language,omitempty"`
	Name     string  `json:"name,omitempty"`
	Default  bool    `json:"default,omitempty"`
	Forced   bool    `json:"forced,omitempty"`
	SDH      bool    `json:"sdh,omitempty"` // for the deaf and hard of hearing
	Start    float64 `json:"start_time"`
}

// TextCodecs are the subtitle codecs Reel turns into WebVTT; image
// subtitles (DVD, PGS, DVB) are left out.
var TextCodecs = []string{"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"}

// ProbeResult is what Reel keeps of an ffprobe run.
type ProbeResult struct {
	Format string `json:"format"`
	// StartTime is the container's start: ffmpeg shifts every stream of a
	// master by it, so Reel's timeline is the master's minus StartTime.
	StartTime float64   `json:"start_time"`
	Duration  float64   `json:"duration"`
	Size      int64     `json:"size"`
	BitRate   int64     `json:"bit_rate"`
	Video     VideoInfo `json:"video"`
	// Audio is the master's main audio stream: the one marked default,
	// else the first.
	Audio *AudioInfo `json:"audio,omitempty"`
	// AudioTracks are all its usable audio streams, in stream order.
	AudioTracks []AudioInfo `json:"audio_tracks,omitempty"`
	// Texts are its text subtitle streams, in stream order.
	Texts []TextInfo `json:"texts,omitempty"`
	// Ignored lists the streams Reel leaves out (extra video, image
	// subtitles, data, attachments), as "index:type:codec".
	Ignored []string `json:"ignored,omitempty"`
	// Discontinuous says the master's timestamps jump (a splice or a
	// clock reset in an MPEG transport or program stream): its duration
	// is the frame count over the frame rate, and ffmpeg closes the jumps
	// as it reads (see DiscontinuityThreshold).
	Discontinuous bool `json:"discontinuous,omitempty"`
}

// discontinuousFormats are the demuxers whose timestamps may jump by
// design (ffmpeg's AVFMT_TS_DISCONT): MPEG-TS and MPEG-PS.
var discontinuousFormats = []string{"mpegts", "mpeg"}

// DiscontinuityThreshold is how far, in seconds, a timestamp of an MPEG-TS
// or MPEG-PS master may jump from the one its stream expects before ffmpeg
// treats it as a discontinuity and closes it (ffmpeg's
// -dts_delta_threshold, 10 s by default, which leaves shorter forward
// jumps as gaps that the frame count does not have).
const DiscontinuityThreshold = 0.5

type ffprobeJSON struct {
	Streams []struct {
		Index          int    `json:"index"`
		CodecType      string `json:"codec_type"`
		CodecName      string `json:"codec_name"`
		CodecTagString string `json:"codec_tag_string"`
		Width          int    `json:"width"`
		Height         int    `json:"height"`
		SampleAspect   string `json:"sample_aspect_ratio"`
		RFrameRate     string `json:"r_frame_rate"`
		AvgFrameRate   string `json:"avg_frame_rate"`
		PixFmt         string `json:"pix_fmt"`
		FieldOrder     string `json:"field_order"`
		ColorRange     string `json:"color_range"`
		ColorSpace     string `json:"color_space"`
		ColorTransfer  string `json:"color_transfer"`
		ColorPrimaries string `json:"color_primaries"`
		NbFrames       string `json:"nb_frames"`
		NbReadPackets  string `json:"nb_read_packets"`
		Duration       string `json:"duration"`
		StartTime      string `json:"start_time"`
		Channels       int    `json:"channels"`
		ChannelLayout  string `json:"channel_layout"`
		SampleRate     string `json:"sample_rate"`
		Disposition    struct {
			Default         int `json:"default"`
			AttachedPic     int `json:"attached_pic"`
			Dub             int `json:"dub"`
			Comment         int `json:"comment"`
			Forced          int `json:"forced"`
			HearingImpaired int `json:"hearing_impaired"`
			VisualImpaired  int `json:"visual_impaired"`
			Descriptions    int `json:"descriptions"`
		} `json:"disposition"`
		Tags struct {
			Rotate   string `json:"rotate"`
			Language string `json:"language"`
			Title    string `json:"title"`
		} `json:"tags"`
		SideData []struct {
			Type     string  `json:"side_data_type"`
			Rotation float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		StartTime  string `json:"start_time"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

// MaxFrameRate is the highest source frame rate Reel accepts.
const MaxFrameRate = 1000

// MaxDimension is the largest frame width or height Reel accepts.
const MaxDimension = 8192

// ParseProbe turns ffprobe's JSON (-show_format -show_streams) into a
// ProbeResult. It returns an error wrapping ErrInvalidMedia when the master
// has no usable video stream or no duration. Of several audio streams it
// picks the one marked default, else the first.
func ParseProbe(data []byte) (*ProbeResult, error) {
	var p ffprobeJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: ffprobe output is not JSON: %v", ErrInvalidMedia, err)
	}
	res := &ProbeResult{Format: p.Format.FormatName}
	res.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	res.StartTime, _ = strconv.ParseFloat(p.Format.StartTime, 64)
	res.Size, _ = strconv.ParseInt(p.Format.Size, 10, 64)
	res.BitRate, _ = strconv.ParseInt(p.Format.BitRate, 10, 64)
	videoFound := false
	undecodable := ""
	audioStreams := 0
	for _, s := range p.Streams {
		ignore := func() { res.Ignored = append(res.Ignored, fmt.Sprintf("%d:%s:%s", s.Index, s.CodecType, s.CodecName)) }
		switch s.CodecType {
		case "video":
			if videoFound || s.Disposition.AttachedPic == 1 {
				ignore()
				continue
			}
			if s.CodecName == "" || s.CodecName == "none" {
				// ffmpeg has no decoder for it.
				ignore()
				if undecodable == "" {
					undecodable = s.CodecTagString
				}
				continue
			}
			videoFound = true
			v := VideoInfo{Index: s.Index, Codec: s.CodecName, Width: s.Width, Height: s.Height, PixFmt: s.PixFmt,
				FieldOrder: s.FieldOrder, ColorRange: s.ColorRange, ColorSpace: s.ColorSpace,
				ColorTransfer: s.ColorTransfer, ColorPrimaries: s.ColorPrimaries}
			v.SAR, _ = timeline.ParseRational(s.SampleAspect)
			if v.SAR.Num <= 0 || v.SAR.Den <= 0 {
				v.SAR = timeline.Rational{Num: 1, Den: 1}
			}
			v.SAR = v.SAR.Reduce()
			v.FrameRate, _ = timeline.ParseRational(s.RFrameRate)
			v.AvgFrameRate, _ = timeline.ParseRational(s.AvgFrameRate)
			if avg := v.AvgFrameRate; avg.Num > 0 && avg.Den > 0 &&
				(v.FrameRate.Float() <= 0 || v.FrameRate.Float() > 2*avg.Float()) {
				v.FrameRate = avg
			}
			read, rerr := strconv.ParseInt(s.NbReadPackets, 10, 64)
			declared, derr := strconv.ParseInt(s.NbFrames, 10, 64)
			switch {
			case rerr == nil:
				v.Frames = read
				if derr == nil && read < declared-1 && float64(read) < 0.9*float64(declared) {
					return nil, mediaErr(CodeTruncated, "the master ends early: its index lists %d video frames but only %d are in the file; upload the whole file", declared, read)
				}
			case derr == nil:
				v.Frames = declared
			}
			v.Duration, _ = strconv.ParseFloat(s.Duration, 64)
			v.StartTime, _ = strconv.ParseFloat(s.StartTime, 64)
			v.Rotation = rotation(s.Tags.Rotate, func() (float64, bool) {
				for _, sd := range s.SideData {
					if sd.Type == "Display Matrix" {
						return sd.Rotation, true
					}
				}
				return 0, false
			})
			res.Video = v
		case "audio":
			audioStreams++
			sr, _ := strconv.Atoi(s.SampleRate)
			if s.Channels <= 0 || sr <= 0 {
				ignore()
				continue
			}
			start, _ := strconv.ParseFloat(s.StartTime, 64)
			a := AudioInfo{Index: s.Index, Codec: s.CodecName, Channels: s.Channels, Layout: s.ChannelLayout, SampleRate: sr,
				StartTime: start, Default: s.Disposition.Default == 1, Language: Language(s.Tags.Language), Name: cleanTag(s.Tags.Title)}
			switch d := s.Disposition; {
			case d.Comment == 1:
				a.Role = "commentary"
			case d.VisualImpaired == 1 || d.Descriptions == 1:
				a.Role = "description"
			case d.Dub == 1:
				a.Role = "dub"
			}
			res.AudioTracks = append(res.AudioTracks, a)
			if res.Audio != nil && (res.Audio.Default || s.Disposition.Default != 1) {
				continue
			}
			res.Audio = &a
		case "subtitle":
			if !slices.Contains(TextCodecs, s.CodecName) {
				ignore()
				continue
			}
			start, _ := strconv.ParseFloat(s.StartTime, 64)
			res.Texts = append(res.Texts, TextInfo{Index: s.Index, Codec: s.CodecName, Language: Language(s.Tags.Language),
				Name: cleanTag(s.Tags.Title), Default: s.Disposition.Default == 1, Forced: s.Disposition.Forced == 1,
				SDH: s.Disposition.HearingImpaired == 1, Start: start})
		default:
			ignore()
		}
	}
	if res.Audio != nil {
		res.Audio.Streams = audioStreams
	}
	for i := range res.AudioTracks {
		res.AudioTracks[i].Streams = audioStreams
	}
	if !videoFound && undecodable != "" {
		return nil, mediaErr(CodeUnsupportedCodec, "the master's video codec (tag %q) is not one ffmpeg can decode; export the master as H.264, HEVC, ProRes, VP9, AV1, MPEG-2 or another common codec", undecodable)
	}
	if !videoFound {
		what := "no video stream"
		if audioStreams > 0 {
			what = "only audio"
		}
		return nil, mediaErr(CodeNoVideo, "the master has %s; upload a file with a video stream", what)
	}
	v := res.Video
	if v.Width <= 0 || v.Height <= 0 || v.Width > MaxDimension || v.Height > MaxDimension {
		return nil, mediaErr(CodeBadDimensions, "the video's frame size %dx%d is outside 1x1..%dx%d", v.Width, v.Height, MaxDimension, MaxDimension)
	}
	if sar := v.SAR.Float(); sar < 0.1 || sar > 10 {
		return nil, mediaErr(CodeBadDimensions, "the video's pixel aspect ratio %s is outside 1:10..10:1", v.SAR)
	}
	fps := v.FrameRate.Float()
	if fps <= 0 || fps > MaxFrameRate || math.IsNaN(fps) {
		return nil, mediaErr(CodeBadFrameRate, "the video's frame rate %s is not usable: it must be above 0 and at most %d fps", v.FrameRate, MaxFrameRate)
	}
	if res.Duration <= 0 {
		res.Duration = v.Duration
	}
	if jumps(res) {
		// The frames are there and the rate is constant; only the clock
		// jumped. ffmpeg closes the jumps as it reads the master, so the
		// timeline is the frames' own.
		res.Discontinuous = true
		v.Duration = float64(v.Frames) / fps
		res.Duration, res.Video.Duration = v.Duration, v.Duration
	}
	if res.Duration <= 0 {
		return nil, mediaErr(CodeEmpty, "the master has zero duration")
	}
	return res, nil
}

// jumps reports whether a master's video timestamps jump: a container
// whose timestamps may be discontinuous, a stream whose average rate is
// its nominal rate (so not a variable-rate or soft-telecined one), and a
// frame count that disagrees with its duration at that rate by over 1%
// and two frames.
func jumps(res *ProbeResult) bool {
	v := res.Video
	formats := strings.Split(res.Format, ",")
	if !slices.ContainsFunc(discontinuousFormats, func(f string) bool { return slices.Contains(formats, f) }) {
		return false
	}
	r := v.FrameRate.Float()
	if avg := v.AvgFrameRate.Float(); avg <= 0 || math.Abs(avg-r) > 0.001*r || v.Frames <= 0 {
		return false
	}
	dur := v.Duration
	if dur <= 0 {
		dur = res.Duration
	}
	want := dur * r
	d := math.Abs(float64(v.Frames) - want)
	return d > 2 && d > 0.01*want
}

// rotation returns the clockwise display rotation, in multiples of 90
// degrees, the way ffmpeg's own autorotation reads it: from the display
// matrix when there is one (its angle is counter-clockwise), else from the
// legacy "rotate" tag (clockwise).
func rotation(tag string, matrix func() (float64, bool)) int {
	var theta float64
	if r, ok := matrix(); ok {
		theta = -r
	} else if t, err := strconv.ParseFloat(tag, 64); err == nil {
		theta = t
	}
	deg := int(math.Round(theta/90)) * 90 % 360
	if deg < 0 {
		deg += 360
	}
	return deg
}

// ProbeArgs returns the ffprobe arguments for input: streams and format,
// and a count of every stream's packets. Counting reads the whole master
// once, because header frame counts are not trustworthy for every
// container and the frame count is the pipeline's invariant; an MP4 index
// that is trustworthy (ReadMP4Index) is read instead (IndexProbeArgs).
func ProbeArgs(input string) []string {
	args := IndexProbeArgs(input)
	return append(args[:len(args)-2:len(args)-2], "-count_packets", "-i", input)
}

// IndexProbeArgs is the probe of a master whose MP4 index stands in for
// counting its packets (ReadMP4Index): its headers are read, not its
// media data.
func IndexProbeArgs(input string) []string {
	return append(append([]string{"-v", "error"}, reconnect[:]...), "-protocol_whitelist", InputProtocols, "-format_whitelist", MasterFormats,
		"-fflags", "+genpts", "-print_format", "json", "-show_format", "-show_streams", "-i", input)
}

// indexClient reads MP4 indexes by range requests.
var indexClient = &http.Client{Timeout: 5 * time.Minute}

// Probe runs ffprobe on input (an http(s) URL). A progressive MP4 or
// QuickTime master whose index says how many frames it has and that it
// holds all their data (ReadMP4Index) is probed from its headers; any
// other is read whole once, counting its packets.
func (r *Runner) Probe(ctx context.Context, input string) (*ProbeResult, error) {
	if strings.HasPrefix(input, "http://") || strings.HasPrefix(input, "https://") {
		idx, err := readURLIndex(ctx, indexClient, input)
		if err == nil {
			res, err := r.probe(ctx, IndexProbeArgs(input))
			if err != nil || idx.Counts(res) {
				return res, err
			}
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// No usable index, or ffprobe sees other tracks than the index
		// (or none it can read): the count settles it.
	}
	return r.probe(ctx, ProbeArgs(input))
}

// probe runs ffprobe with args and parses its report.
func (r *Runner) probe(ctx context.Context, args []string) (*ProbeResult, error) {
	out, err := r.output(ctx, r.FFprobe, args, r.ProbeLimits)
	var ee *ExitError
	if errors.As(err, &ee) {
		return nil, classifyRead(ee.Stderr)
	}
	if err != nil {
		return nil, err
	}
	res, err := ParseProbe(out)
	if err != nil {
		return nil, err
	}
	if res.Video.Frames <= 0 {
		return nil, mediaErr(CodeEmpty, "the master's video stream has no frames")
	}
	return res, nil
}

// StartTime returns the container start time of a local file, as ffmpeg's
// demuxers (and so the concat demuxer) see it.
func (r *Runner) StartTime(ctx context.Context, path string) (float64, error) {
	out, err := r.output(ctx, r.FFprobe, []string{"-v", "error", "-protocol_whitelist", "file",
		"-format_whitelist", "matroska", "-show_entries", "format=start_time", "-of", "default=noprint_wrappers=1:nokey=1", "-i", path}, r.ProbeLimits)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(out))
	if s == "" || s == "N/A" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

// DecodeCheckArgs decodes the first frames of the video stream of a local
// file and discards them; with -v error anything printed is a decode error.
func DecodeCheckArgs(path string, frames int) []string {
	return []string{"-hide_banner", "-nostdin", "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", "matroska",
		"-i", path, "-map", "0:v:0", "-frames:v", strconv.Itoa(frames), "-f", "null", "-"}
}

// DecodesCleanly reports whether decoding can start at the beginning of a
// local file: its first frames decode without a single error. A piece cut
// at an I-frame that is not a clean random access point (later frames refer
// to frames before it) fails this check.
func (r *Runner) DecodesCleanly(ctx context.Context, path string, frames int) (bool, error) {
	return r.decodesCleanly(ctx, DecodeCheckArgs(path, frames))
}

// SeekCheckArgs decodes the first frames of a master's video read from
// the keyframe at or before seek seconds, as a chunk that seeks reads it
// (chunkInput), and discards them.
func SeekCheckArgs(master string, seek float64, frames int) []string {
	args := ffmpeg.Input(master, chunkInputArgs(seek)).Get("v:0").
		Output("-", ffmpeg.KwArgs{"frames:v": strconv.Itoa(frames), "f": "null"}).GetArgs()
	return append([]string{"-hide_banner", "-nostdin", "-v", "error"}, args...)
}

// DecodesCleanlyAt reports whether decoding a master can start at the
// keyframe a seek to seek seconds lands on: its first frames decode
// without a single error (see DecodesCleanly).
func (r *Runner) DecodesCleanlyAt(ctx context.Context, master string, seek float64, frames int) (bool, error) {
	return r.decodesCleanly(ctx, SeekCheckArgs(master, seek, frames))
}

func (r *Runner) decodesCleanly(ctx context.Context, args []string) (bool, error) {
	cmd := r.command(ctx, r.ffmpeg(), args, r.ProbeLimits)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return false, err
	}
	if err != nil && transient(stderr.String()) {
		// A master read over HTTP that could not be read says nothing of
		// its frames: the run is to be tried again, not taken as damage.
		return false, &ExitError{Tool: "ffmpeg", Err: err, Stderr: stderr.String()}
	}
	return err == nil && strings.TrimSpace(stderr.String()) == "", nil
}

// IdetFrames is how many frames DetectFieldOrder looks at.
const IdetFrames = 250

// IdetArgs runs ffmpeg's idet filter over the first frames of input's
// video and prints its counts (at log level info) to stderr.
func IdetArgs(input string) []string {
	return append(append([]string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"}, reconnect[:]...),
		"-protocol_whitelist", InputProtocols, "-format_whitelist", MasterFormats, "-fflags", "+genpts",
		"-i", input, "-map", "0:v:0", "-frames:v", strconv.Itoa(IdetFrames), "-vf", "idet", "-an", "-f", "null", "-")
}

var idetRE = regexp.MustCompile(`Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)`)

// ParseIdet reads idet's multi-frame counts and returns "tff" or "bff" when
// one field order clearly dominates (three times the frames of the other
// order and progressive together), "progressive" otherwise. Progressive
// content with fast motion reads as a mix of both orders; interlaced
// content reads as one.
func ParseIdet(stderr string) (string, error) {
	m := idetRE.FindStringSubmatch(stderr)
	if m == nil {
		return "", errors.New("idet printed no frame counts")
	}
	tff, _ := strconv.Atoi(m[1])
	bff, _ := strconv.Atoi(m[2])
	prog, _ := strconv.Atoi(m[3])
	switch {
	case tff >= 10 && tff >= 3*(bff+prog):
		return "tff", nil
	case bff >= 10 && bff >= 3*(tff+prog):
		return "bff", nil
	}
	return "progressive", nil
}

// DetectFieldOrder measures whether a master whose stream does not declare
// its field order is interlaced, with ffmpeg's idet filter over its first
// IdetFrames frames.
func (r *Runner) DetectFieldOrder(ctx context.Context, input string) (string, error) {
	cmd := r.command(ctx, r.ffmpeg(), IdetArgs(input), r.ProbeLimits)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if le := limitError(cmd, r.ProbeLimits, stderr.String(), err); le != nil {
			return "", le
		}
		return "", mediaErr(CodeCorrupt, "the video cannot be decoded to measure interlacing: %s", lastLine(stderr.String()))
	}
	return ParseIdet(stderr.String())
}

// CaptionCodecs are the video codecs whose decoders read CEA-608/708
// captions from the pictures' user data (ATSC A/53 SEI in H.264 and
// HEVC, picture user data in MPEG-2) and pass them on with each frame.
var CaptionCodecs = []string{"h264", "hevc", "mpeg2video"}

// CaptionFrames is how many frames from its start HasCaptions decodes:
// captioned video carries its caption data (padding when no caption is
// on) in every picture.
const CaptionFrames = 5

// CaptionsArgs decodes the first CaptionFrames frames of input's video
// and prints whether the decoder met captions in them.
func CaptionsArgs(input string) []string {
	return []string{"-v", "error", "-protocol_whitelist", InputProtocols, "-format_whitelist", MasterFormats, "-fflags", "+genpts",
		"-select_streams", "v:0", "-read_intervals", "%+#" + strconv.Itoa(CaptionFrames), "-count_frames",
		"-show_entries", "stream=closed_captions", "-of", "csv=p=0", "-i", input}
}

// HasCaptions reports whether the master's video carries CEA-608/708
// closed captions in its first CaptionFrames frames. Every H.264 rung
// carries them on: the frames keep them through the filters, and x264
// writes them into its own SEI (ffmpeg's -a53cc, on by default).
func (r *Runner) HasCaptions(ctx context.Context, input string) (bool, error) {
	out, err := r.output(ctx, r.FFprobe, CaptionsArgs(input), r.ProbeLimits)
	var ee *ExitError
	if errors.As(err, &ee) {
		return false, classifyRead(ee.Stderr)
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(out)) == "1", nil
}
