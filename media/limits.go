package media

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// MasterFormats is the allow-list of demuxers that may read a master (the
// names ffmpeg's -format_whitelist matches). It holds containers and raw
// streams that carry one title, and leaves out every demuxer that opens
// other resources named inside the file (hls, dash, concat, image2 file
// patterns, tee, subfile, playlists) and images: a master that is really a
// playlist or a script is refused before it can make ffmpeg read another
// local file or network address.
const MasterFormats = "mov,matroska,webm,avi,mpegts,mpeg,mpegvideo,flv,asf,mxf,dv,ogg,nut,ivf,obu," +
	"h264,hevc,m4v,yuv4mpegpipe,mjpeg,wav,mp3,aac,flac,w64"

// PieceFormats reads the pieces the split writes, through the concat
// demuxer Reel writes its lists for.
const PieceFormats = "concat,matroska"

// EncodedFormats reads the chunks the encode writes, through the concat
// demuxer Reel writes its lists for.
const EncodedFormats = "concat,mov"

// InputProtocols is the protocol allow-list of a master read over HTTP.
const InputProtocols = "http,https,tcp,tls"

// reconnect are the options of every master read over HTTP that let
// ffmpeg and ffprobe ride out the object store failing over: a dropped
// connection is resumed with a range request, and a 404 or 5xx from a
// node while the cluster settles (an object not yet readable there) is
// asked again, pausing 1 s, then 2, 4 and 8. Without them a cut-off
// read looks like a truncated master, a permanent media error.
var reconnect = [...]string{"-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_on_http_error", "404,5xx", "-reconnect_delay_max", "8"}

// reconnectKw is reconnect as ffmpeg-go input options.
func reconnectKw(kw ffmpeg.KwArgs) ffmpeg.KwArgs {
	for i := 0; i+1 < len(reconnect); i += 2 {
		kw[reconnect[i][1:]] = reconnect[i+1]
	}
	return kw
}

// Limits bound one ffmpeg or ffprobe run through setrlimit (prlimit runs
// the tool with them in place): a crafted master cannot make it run,
// allocate or write without end. Zero leaves a limit off.
type Limits struct {
	CPU    time.Duration // CPU time (RLIMIT_CPU)
	Memory int64         // address space in bytes (RLIMIT_AS)
	Output int64         // largest file it may write, in bytes (RLIMIT_FSIZE)
}

// args returns prlimit's options for l.
func (l Limits) args() []string {
	var a []string
	if l.CPU > 0 {
		s := int64(l.CPU.Seconds() + 0.5)
		// The soft limit sends SIGXCPU (ffmpeg stops cleanly); the hard
		// one, a little later, SIGKILL.
		a = append(a, fmt.Sprintf("--cpu=%d:%d", s, s+10))
	}
	if l.Memory > 0 {
		a = append(a, "--as="+strconv.FormatInt(l.Memory, 10))
	}
	if l.Output > 0 {
		a = append(a, "--fsize="+strconv.FormatInt(l.Output, 10))
	}
	return a
}

// LimitError is a run stopped by one of its Limits.
type LimitError struct {
	Which string // "cpu", "memory" or "output"
	Limit string // the limit, in words
	Err   error
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ffmpeg went over its %s limit of %s", e.Which, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Err }

// CorruptError is a run whose decoder reported damaged data in the master.
type CorruptError struct {
	Decoder string
	Line    string // the first error the decoder printed
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the %s decoder found damaged data: %s", e.Decoder, e.Line)
}

// Media error codes: why a master cannot be transcoded. Each is the job's
// error.code when it fails on the master.
const (
	CodeUnreadable        = "unreadable_media"    // not a media file ffmpeg recognises
	CodeUnsupportedFormat = "unsupported_format"  // a container (or playlist, script, image) outside MasterFormats
	CodeTruncated         = "truncated_media"     // the file ends early
	CodeNoVideo           = "no_video"            // no video stream
	CodeUnsupportedCodec  = "unsupported_codec"   // a video codec ffmpeg cannot decode
	CodeBadDimensions     = "invalid_dimensions"  // frame size or pixel aspect out of range
	CodeBadFrameRate      = "invalid_frame_rate"  // zero, negative or absurd frame rate
	CodeEmpty             = "empty_media"         // no frames or zero duration
	CodeCorrupt           = "corrupt_media"       // decode errors in the picture
	CodeBadTimestamps     = "invalid_timestamps"  // timestamps no muxer can write, even regenerated
	CodeUnprocessable     = "unprocessable_media" // ffmpeg fails on the master itself, the same way each time
)

// MediaError is a master that cannot be transcoded, with the code of why.
// It wraps ErrInvalidMedia.
type MediaError struct {
	Code string
	Msg  string
}

func (e *MediaError) Error() string { return e.Msg }

// Unwrap makes every MediaError an ErrInvalidMedia.
func (e *MediaError) Unwrap() error { return ErrInvalidMedia }

func mediaErr(code, format string, a ...any) error {
	return &MediaError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// MediaCode returns err's media error code, or "" if it has none.
func MediaCode(err error) string {
	var me *MediaError
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

var pictureSizeRE = regexp.MustCompile(`Picture size (\d+)x(\d+) is invalid`)

var notAllowedRE = regexp.MustCompile(`\[([a-z0-9_,]+) @ 0x[0-9a-f]+\] Format not on whitelist`)

// classifyRead turns what ffprobe or ffmpeg printed when it could not open
// a master into a MediaError.
func classifyRead(stderr string) error {
	switch {
	case notAllowedRE.MatchString(stderr):
		name := notAllowedRE.FindStringSubmatch(stderr)[1]
		what := "its format " + strconv.Quote(name)
		switch {
		case strings.Contains(name, "hls") || strings.Contains(name, "dash") || strings.Contains(name, "concat"):
			what = "it is a playlist or script (" + name + "), which could make ffmpeg read other files"
		case strings.Contains(name, "pipe") || strings.Contains(name, "image"):
			what = "it is a still image (" + name + ")"
		}
		return mediaErr(CodeUnsupportedFormat, "the master was refused: %s is not one Reel reads; upload a video file (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, MXF, FLV, Ogg, raw H.264/HEVC, Y4M)", what)
	case pictureSizeRE.MatchString(stderr):
		m := pictureSizeRE.FindStringSubmatch(stderr)
		return mediaErr(CodeBadDimensions, "the video declares a frame size of %sx%s, which no decoder accepts", m[1], m[2])
	case strings.Contains(stderr, "moov atom not found"):
		return mediaErr(CodeTruncated, "the MP4/MOV master has no index (moov atom): the file is incomplete or was cut off; upload the whole file")
	case strings.Contains(stderr, "Invalid data found when processing input"), strings.Contains(stderr, "could not find codec parameters"),
		strings.Contains(stderr, "EBML header parsing failed"), strings.Contains(stderr, "Failed to read"):
		return mediaErr(CodeUnreadable, "the master is not a media file ffmpeg can read (%s); upload a video file", strings.TrimPrefix(lastLine(stderr), "the master: "))
	}
	return mediaErr(CodeUnreadable, "ffprobe cannot read the master: %s; upload a video file", lastLine(stderr))
}

// signedURLRE matches a presigned S3 URL, which must not end up in a job's
// error message: it reads the master until it expires.
var signedURLRE = regexp.MustCompile(`https?://[^\s'"]*X-Amz-[^\s'"]*`)

// redact replaces presigned URLs in s.
func redact(s string) string {
	return signedURLRE.ReplaceAllString(s, "the master")
}

func lastLine(s string) string {
	s = strings.TrimPrefix(redact(s), "the master: ")
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		return "no message"
	}
	if len(l) > 300 {
		l = l[:300]
	}
	return l
}

// decoderNames maps a probed codec name to the name its decoder logs under
// where the two differ.
var decoderNames = map[string]string{"msmpeg4v3": "msmpeg4", "av1": "libdav1d"}

// DecoderName is the name the decoder of codec logs its errors under.
func DecoderName(codec string) string {
	if n, ok := decoderNames[codec]; ok {
		return n
	}
	return codec
}
