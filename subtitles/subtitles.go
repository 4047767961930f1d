// Package subtitles reads text subtitles (SubRip and WebVTT files, and
// the WebVTT ffmpeg makes of a master's subtitle streams) into cues on a
// title's timeline, checks them, and writes them as WebVTT: whole, for
// DASH, and cut at the title's segment boundaries with an
// X-TIMESTAMP-MAP, for HLS. Parsing and writing are go-astisub's.
package subtitles

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asticode/go-astisub"
)

// Limits on a subtitle file.
const (
	// MaxFileSize bounds a subtitle file: a two-hour film's dialogue is
	// about 100 KiB of SubRip.
	MaxFileSize = 2 << 20
	// MaxCues bounds the cues of one track.
	MaxCues = 20000
	// MaxCueSeconds bounds one cue's length.
	MaxCueSeconds = 60
)

// Formats Reel reads.
const (
	FormatSRT    = "srt"
	FormatWebVTT = "vtt"
)

// Error is a subtitle file Reel refuses: what is wrong with it and what
// to do.
type Error struct {
	Name string // the file's name, or which stream
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("subtitles %s: %s", e.Name, e.Msg) }

// Track is a parsed subtitle track: its cues in order of start.
type Track struct {
	subs *astisub.Subtitles
}

// Cues is how many cues the track has.
func (t *Track) Cues() int { return len(t.subs.Items) }

// Cue is one cue's timing and text, for checks and tests.
type Cue struct {
	Start, End float64 // seconds
	Text       string
}

// List returns the track's cues.
func (t *Track) List() []Cue {
	out := make([]Cue, len(t.subs.Items))
	for i, it := range t.subs.Items {
		out[i] = Cue{Start: it.StartAt.Seconds(), End: it.EndAt.Seconds(), Text: it.String()}
	}
	return out
}

// DetectFormat names the format of a subtitle file from its name and, if
// that says nothing, its first line: "srt" or "vtt", or "" if neither.
func DetectFormat(name string, data []byte) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".srt":
		return FormatSRT
	case ".vtt", ".webvtt":
		return FormatWebVTT
	}
	head := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(head, []byte("WEBVTT")) {
		return FormatWebVTT
	}
	if bytes.Contains(head[:min(len(head), 4096)], []byte("-->")) {
		return FormatSRT
	}
	return ""
}

// Parse reads a SubRip or WebVTT file (format "srt" or "vtt"; "" detects
// it) named name and checks it: a UTF-8 text file of at most MaxFileSize
// bytes with at least one cue and at most MaxCues, each ending after it
// starts, none before 0 or longer than MaxCueSeconds. Cues are put in
// order of start. A file that fails a check is an *Error saying what is
// wrong.
func Parse(name string, data []byte, format string) (*Track, error) {
	bad := func(format string, a ...any) error { return &Error{Name: name, Msg: fmt.Sprintf(format, a...)} }
	if len(data) > MaxFileSize {
		return nil, bad("is %d bytes, over the %d-byte limit for a subtitle file; split it or remove what is not dialogue", len(data), MaxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, bad("is empty; send a SubRip (.srt) or WebVTT (.vtt) file with cues")
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, bad("is not a UTF-8 text file; send SubRip (.srt) or WebVTT (.vtt) saved as UTF-8")
	}
	if format == "" {
		format = DetectFormat(name, data)
	}
	var (
		subs *astisub.Subtitles
		err  error
	)
	switch format {
	case FormatSRT:
		subs, err = astisub.ReadFromSRT(bytes.NewReader(data))
	case FormatWebVTT:
		if !bytes.HasPrefix(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), []byte("WEBVTT")) {
			return nil, bad("does not start with the line WEBVTT; a WebVTT file must, and a SubRip file should be named .srt")
		}
		subs, err = astisub.ReadFromWebVTT(bytes.NewReader(data))
	default:
		return nil, bad("is neither SubRip nor WebVTT (no \"-->\" cue timings); send a .srt or .vtt file")
	}
	if err != nil {
		return nil, bad("%s", strings.TrimPrefix(err.Error(), "astisub: "))
	}
	if len(subs.Items) == 0 {
		return nil, bad("has no cues; each cue needs a line \"00:00:01,000 --> 00:00:02,000\" (SubRip) or \"00:00:01.000 --> 00:00:02.000\" (WebVTT) and text")
	}
	if len(subs.Items) > MaxCues {
		return nil, bad("has %d cues, over the limit of %d", len(subs.Items), MaxCues)
	}
	for i, it := range subs.Items {
		switch {
		case it.StartAt < 0:
			return nil, bad("cue %d starts before 0 (%s)", i+1, stamp(it.StartAt))
		case it.EndAt <= it.StartAt:
			return nil, bad("cue %d ends at %s, not after it starts at %s; fix its timing", i+1, stamp(it.EndAt), stamp(it.StartAt))
		case it.EndAt-it.StartAt > MaxCueSeconds*time.Second:
			return nil, bad("cue %d lasts %s, over %d s; check its timing (%s --> %s)", i+1, (it.EndAt - it.StartAt).Round(time.Millisecond), MaxCueSeconds, stamp(it.StartAt), stamp(it.EndAt))
		}
	}
	subs.Order()
	return &Track{subs: subs}, nil
}

// stamp writes d as a WebVTT timestamp.
func stamp(d time.Duration) string {
	d = d.Round(time.Millisecond)
	return fmt.Sprintf("%02d:%02d:%02d.%03d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, d.Milliseconds()%1000)
}

// Place puts the track on a title's timeline: every cue moves by shift
// seconds (negative: earlier); cues that end before 0 or start at or after
// duration are dropped, and the others cut to [0, duration]. It returns
// how many cues were dropped.
func (t *Track) Place(shift, duration float64) int {
	by := time.Duration(shift * float64(time.Second))
	end := time.Duration(duration * float64(time.Second))
	var kept []*astisub.Item
	for _, it := range t.subs.Items {
		it.StartAt, it.EndAt = it.StartAt+by, it.EndAt+by
		if it.EndAt <= 0 || it.StartAt >= end {
			continue
		}
		it.StartAt, it.EndAt = max(it.StartAt, 0), min(it.EndAt, end)
		kept = append(kept, it)
	}
	dropped := len(t.subs.Items) - len(kept)
	t.subs.Items = kept
	return dropped
}

// WebVTT writes the whole track as one WebVTT file, cue times on the
// title's timeline (DASH's text representation).
func (t *Track) WebVTT() ([]byte, error) {
	head, cues, err := t.blocks()
	if err != nil {
		return nil, err
	}
	return join(head, cues), nil
}

// blocks writes the whole track as WebVTT and splits it into its head
// (the WEBVTT line, then any STYLE and REGION blocks) and one block per
// cue, in the order of the track's cues, each with its comments. Cue
// identifiers are the cue's number in the whole track, so a cue repeated
// in several segments keeps one identifier and two cues never share one:
// players drop a cue whose identifier they already hold.
func (t *Track) blocks() (head []string, cues []string, err error) {
	var b bytes.Buffer
	if err := t.subs.WriteToWebVTT(&b); err != nil {
		return nil, nil, err
	}
	var note string
	for _, blk := range strings.Split(strings.TrimSpace(b.String()), "\n\n") {
		switch {
		case strings.HasPrefix(blk, "NOTE"):
			note += blk + "\n\n"
		case strings.Contains(blk, " --> "):
			cues = append(cues, note+blk)
			note = ""
		default:
			head = append(head, blk)
		}
	}
	if len(cues) != len(t.subs.Items) {
		return nil, nil, fmt.Errorf("subtitles: wrote %d cues of %d", len(cues), len(t.subs.Items))
	}
	return head, cues, nil
}

// join writes a WebVTT file of head and cue blocks.
func join(head, cues []string) []byte {
	return []byte(strings.Join(append(append([]string{}, head...), cues...), "\n\n") + "\n")
}

// Segments cuts the track at the title's segment boundaries (seconds,
// from 0 to the title's end: one more than there are segments) into
// WebVTT segments for HLS. Each holds every cue that shows during it (a
// cue that spans a boundary is in each segment it spans, with the same
// identifier, as RFC 8216 3.5 allows), with cue times on the title's
// timeline, and maps that timeline onto the media's:
// X-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:start, where start is the
// title's first presentation time in 90 kHz units.
func (t *Track) Segments(bounds []float64, start int64) ([][]byte, error) {
	if len(bounds) < 2 {
		return nil, errors.New("subtitles: no segments to cut the track into")
	}
	head, cues, err := t.blocks()
	if err != nil {
		return nil, err
	}
	// The WEBVTT line, then the map, then the rest of the head.
	m := (&astisub.WebVTTTimestampMap{MpegTS: start}).String()
	head = append([]string{head[0] + "\n" + m}, head[1:]...)
	out := make([][]byte, 0, len(bounds)-1)
	for k := 0; k+1 < len(bounds); k++ {
		from := time.Duration(bounds[k] * float64(time.Second))
		to := time.Duration(bounds[k+1] * float64(time.Second))
		var in []string
		for i, it := range t.subs.Items {
			if it.StartAt < to && it.EndAt > from {
				in = append(in, cues[i])
			}
		}
		out = append(out, join(head, in))
	}
	return out, nil
}
