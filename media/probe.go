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
	"os/exec"
	"strconv"
	"strings"
)

// ErrInvalidMedia marks a master that cannot be transcoded. It is permanent:
// retrying will not help.
var ErrInvalidMedia = errors.New("invalid media")

// Rational is a ratio such as a frame rate (30000/1001) or an aspect ratio.
type Rational struct {
	Num int `json:"num"`
	Den int `json:"den"`
}

// Float returns the value of r, or 0 when the denominator is 0.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// ParseRational reads "30000/1001", "16:9" or "25".
func ParseRational(s string) (Rational, error) {
	s = strings.TrimSpace(s)
	sep := strings.IndexAny(s, "/:")
	if sep < 0 {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Rational{}, fmt.Errorf("rational %q: %w", s, err)
		}
		return Rational{n, 1}, nil
	}
	n, err1 := strconv.Atoi(s[:sep])
	d, err2 := strconv.Atoi(s[sep+1:])
	if err1 != nil || err2 != nil {
		return Rational{}, fmt.Errorf("rational %q is not N/D", s)
	}
	return Rational{n, d}, nil
}

// VideoInfo describes the video stream Reel transcodes.
type VideoInfo struct {
	Index     int      `json:"index"`
	Codec     string   `json:"codec"`
	Width     int      `json:"width"`
	Height    int      `json:"height"`
	SAR       Rational `json:"sar"`
	FrameRate Rational `json:"frame_rate"`
	PixFmt    string   `json:"pix_fmt"`
	Frames    int64    `json:"frames"`
	Duration  float64  `json:"duration"`
}

// AudioInfo describes the audio stream Reel encodes, if any.
type AudioInfo struct {
	Index      int    `json:"index"`
	Codec      string `json:"codec"`
	Channels   int    `json:"channels"`
	SampleRate int    `json:"sample_rate"`
}

// ProbeResult is what Reel keeps of an ffprobe run.
type ProbeResult struct {
	Format   string     `json:"format"`
	Duration float64    `json:"duration"`
	Size     int64      `json:"size"`
	BitRate  int64      `json:"bit_rate"`
	Video    VideoInfo  `json:"video"`
	Audio    *AudioInfo `json:"audio,omitempty"`
}

type ffprobeJSON struct {
	Streams []struct {
		Index         int    `json:"index"`
		CodecType     string `json:"codec_type"`
		CodecName     string `json:"codec_name"`
		Width         int    `json:"width"`
		Height        int    `json:"height"`
		SampleAspect  string `json:"sample_aspect_ratio"`
		RFrameRate    string `json:"r_frame_rate"`
		AvgFrameRate  string `json:"avg_frame_rate"`
		PixFmt        string `json:"pix_fmt"`
		NbFrames      string `json:"nb_frames"`
		NbReadPackets string `json:"nb_read_packets"`
		Duration      string `json:"duration"`
		Channels      int    `json:"channels"`
		SampleRate    string `json:"sample_rate"`
		Disposition   struct {
			Default     int `json:"default"`
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

// ParseProbe turns ffprobe's JSON (-show_format -show_streams) into a
// ProbeResult. It returns an error wrapping ErrInvalidMedia when the master
// has no usable video stream or no duration.
func ParseProbe(data []byte) (*ProbeResult, error) {
	var p ffprobeJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: ffprobe output is not JSON: %v", ErrInvalidMedia, err)
	}
	res := &ProbeResult{Format: p.Format.FormatName}
	res.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	res.Size, _ = strconv.ParseInt(p.Format.Size, 10, 64)
	res.BitRate, _ = strconv.ParseInt(p.Format.BitRate, 10, 64)
	videoFound := false
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if videoFound || s.Disposition.AttachedPic == 1 {
				continue
			}
			videoFound = true
			v := VideoInfo{Index: s.Index, Codec: s.CodecName, Width: s.Width, Height: s.Height, PixFmt: s.PixFmt}
			v.SAR, _ = ParseRational(s.SampleAspect)
			if v.SAR.Num <= 0 || v.SAR.Den <= 0 {
				v.SAR = Rational{1, 1}
			}
			v.FrameRate, _ = ParseRational(s.RFrameRate)
			if avg, err := ParseRational(s.AvgFrameRate); err == nil && avg.Num > 0 && avg.Den > 0 &&
				(v.FrameRate.Float() <= 0 || v.FrameRate.Float() > 2*avg.Float()) {
				v.FrameRate = avg
			}
			if n, err := strconv.ParseInt(s.NbReadPackets, 10, 64); err == nil {
				v.Frames = n
			} else if n, err := strconv.ParseInt(s.NbFrames, 10, 64); err == nil {
				v.Frames = n
			}
			v.Duration, _ = strconv.ParseFloat(s.Duration, 64)
			res.Video = v
		case "audio":
			if res.Audio != nil {
				continue
			}
			sr, _ := strconv.Atoi(s.SampleRate)
			res.Audio = &AudioInfo{Index: s.Index, Codec: s.CodecName, Channels: s.Channels, SampleRate: sr}
		}
	}
	if !videoFound {
		return nil, fmt.Errorf("%w: the master has no video stream", ErrInvalidMedia)
	}
	v := res.Video
	if v.Width <= 0 || v.Height <= 0 || v.Width > 8192 || v.Height > 8192 {
		return nil, fmt.Errorf("%w: video size %dx%d is outside 1x1..8192x8192", ErrInvalidMedia, v.Width, v.Height)
	}
	fps := v.FrameRate.Float()
	if fps <= 0 || fps > 240 || math.IsNaN(fps) {
		return nil, fmt.Errorf("%w: video frame rate %s is not usable", ErrInvalidMedia, v.FrameRate)
	}
	if res.Duration <= 0 {
		res.Duration = v.Duration
	}
	if res.Duration <= 0 {
		return nil, fmt.Errorf("%w: the master has zero duration", ErrInvalidMedia)
	}
	return res, nil
}

// ProbeArgs returns the ffprobe arguments for input: streams and format,
// and a count of every stream's packets. Counting reads the whole master
// once, because header frame counts are not trustworthy for every
// container and the frame count is the pipeline's invariant.
func ProbeArgs(input string) []string {
	return []string{"-v", "error", "-protocol_whitelist", InputProtocols,
		"-print_format", "json", "-show_format", "-show_streams", "-count_packets", "-i", input}
}

// Probe runs ffprobe on input (an http(s) URL) in one pass.
func (r *Runner) Probe(ctx context.Context, input string) (*ProbeResult, error) {
	out, err := r.output(ctx, r.FFprobe, ProbeArgs(input))
	if err != nil {
		return nil, fmt.Errorf("%w: ffprobe cannot read the master to the end: %v", ErrInvalidMedia, err)
	}
	res, err := ParseProbe(out)
	if err != nil {
		return nil, err
	}
	if res.Video.Frames <= 0 {
		return nil, fmt.Errorf("%w: the video stream has no frames", ErrInvalidMedia)
	}
	return res, nil
}

// StartTime returns the container start time of a local file, as ffmpeg's
// demuxers (and so the concat demuxer) see it.
func (r *Runner) StartTime(ctx context.Context, path string) (float64, error) {
	out, err := r.output(ctx, r.FFprobe, []string{"-v", "error", "-protocol_whitelist", "file",
		"-show_entries", "format=start_time", "-of", "default=noprint_wrappers=1:nokey=1", "-i", path})
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
	return []string{"-hide_banner", "-nostdin", "-v", "error", "-protocol_whitelist", "file",
		"-i", path, "-map", "0:v:0", "-frames:v", strconv.Itoa(frames), "-f", "null", "-"}
}

// DecodesCleanly reports whether decoding can start at the beginning of a
// local file: its first frames decode without a single error. A piece cut
// at an I-frame that is not a clean random access point (later frames refer
// to frames before it) fails this check.
func (r *Runner) DecodesCleanly(ctx context.Context, path string, frames int) (bool, error) {
	cmd := command(ctx, r.ffmpeg(), DecodeCheckArgs(path, frames))
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
	return err == nil && strings.TrimSpace(stderr.String()) == "", nil
}
