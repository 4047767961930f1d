package workers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/subtitles"
)

// A subtitle track's files in the title: its WebVTT segments (HLS) and
// the whole track (DASH).
const (
	textSegPattern = "seg_%05d.vtt"
	textWhole      = "whole.vtt"
)

// textNotes start each note the text task adds to the source's.
var textNotes = []string{"subtitle stream ", "subtitle file "}

// textSource is one subtitle track the text task makes: a text stream
// of the master or a file sent with the job.
type textSource struct {
	track pipeline.TextTrack
	// what names it in notes ("subtitle stream 3 (subrip, fr)");
	// path is where its WebVTT is read from; shift moves its cues onto
	// the title's timeline.
	what, path string
	shift      float64
	failed     string // why it could not be read, if it could not
}

// text makes a WebVTT track, on the title's timeline, of every text
// subtitle stream of the master (in one ffmpeg run that reads it once)
// and every subtitle file sent with the job, and stores each whole for
// the package stage. A track that cannot be read or holds no usable cue
// is left out, with a note saying why; it never fails the job.
func (w *Worker) text(ctx context.Context, r *run) error {
	j := r.job
	if j.Source == nil || j.Plan == nil {
		return fmt.Errorf("text %s: the job has no probe result or plan", j.ID)
	}
	dir, u, cleanup, err := w.masterWork(ctx, r)
	if err != nil {
		return err
	}
	defer cleanup()
	shift, dur := titleTimeline(j)
	srcs, err := w.textStreams(ctx, j, u, dir, shift, dur)
	if err != nil {
		return err
	}
	files, err := w.textFiles(ctx, j, dir, len(srcs))
	if err != nil {
		return err
	}
	srcs = append(srcs, files...)
	var tracks []pipeline.TextTrack
	var notes []string
	for _, src := range srcs {
		if src.failed != "" {
			notes = append(notes, fmt.Sprintf("%s: left out: %s", src.what, src.failed))
			continue
		}
		tr, dropped, err := placeText(src.path, src.track.Name, src.shift, dur)
		if err != nil {
			var se *subtitles.Error
			if !errors.As(err, &se) {
				return fmt.Errorf("text %s: %w", j.ID, err)
			}
			notes = append(notes, fmt.Sprintf("%s: left out: %s", src.what, se.Msg))
			continue
		}
		data, err := tr.WebVTT()
		if err != nil {
			return fmt.Errorf("text %s: %s: %w", j.ID, src.what, err)
		}
		name := src.track.Name
		p := filepath.Join(dir, name+".title.vtt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), pipeline.EncodedTextKey(j.ID, name), p, "text/vtt", "", false); err != nil {
			return err
		}
		t := src.track
		t.Cues = tr.Cues()
		tracks = append(tracks, t)
		n := fmt.Sprintf("%s: a WebVTT track, %s", src.what, count(tr.Cues(), "cue"))
		if dropped > 0 {
			n += fmt.Sprintf(" (%d outside the video's time left out)", dropped)
		}
		notes = append(notes, n)
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.TextTracks = tracks
		if j.Source != nil {
			j.Source.Notes = append(slices.DeleteFunc(j.Source.Notes, func(n string) bool {
				return slices.ContainsFunc(textNotes, func(p string) bool { return strings.HasPrefix(n, p) })
			}), notes...)
		}
		return nil
	})
	return err
}

// textStreams converts the master's text subtitle streams to WebVTT in
// dir, in one run; if a stream spoils that run, each on its own, so the
// others are kept.
func (w *Worker) textStreams(ctx context.Context, j *pipeline.Job, u, dir string, shift, dur float64) ([]textSource, error) {
	streams := j.Source.TextTracks
	srcs := make([]textSource, len(streams))
	idx := make([]int, len(streams))
	outs := make([]string, len(streams))
	for k, s := range streams {
		idx[k], outs[k] = s.Stream, filepath.Join(dir, pipeline.TextName(k)+".vtt")
		stream := s.Stream
		// A stream's default flag does not turn its subtitles on: many
		// muxers set it on every track. Only a listed file may be the
		// default.
		srcs[k] = textSource{track: pipeline.TextTrack{Name: pipeline.TextName(k), Stream: &stream, Language: s.Language, Label: s.Name,
			Forced: s.Forced, SDH: s.SDH}, what: fmt.Sprintf("%s%d (%s)", textNotes[0], s.Stream, textAbout(s)), path: outs[k], shift: -shift}
	}
	if len(streams) == 0 {
		return nil, nil
	}
	lim := w.Limits.streamLimits(dur, subtitles.MaxFileSize)
	err := w.Media.Run(ctx, media.Cmd{Args: media.TextArgs(u, idx, outs), Limits: lim})
	if err == nil {
		return srcs, nil
	}
	if ctx.Err() != nil || transientRun(err) {
		return nil, fmt.Errorf("text %s: %w", j.ID, err)
	}
	for k := range streams {
		if err := w.Media.Run(ctx, media.Cmd{Args: media.TextArgs(u, idx[k:k+1], outs[k:k+1]), Limits: lim}); err != nil {
			if ctx.Err() != nil || transientRun(err) {
				return nil, fmt.Errorf("text %s: %w", j.ID, err)
			}
			srcs[k].failed = "ffmpeg cannot convert it to WebVTT: " + firstLine(err.Error())
		}
	}
	return srcs, nil
}

// textFiles fetches the subtitle files sent with the job (stored as
// WebVTT, cue times from the video's first frame) into dir, naming their
// tracks from the n-th on.
func (w *Worker) textFiles(ctx context.Context, j *pipeline.Job, dir string, n int) ([]textSource, error) {
	var srcs []textSource
	for i, sc := range j.Sidecars {
		k := slices.IndexFunc(j.Ladder.Subtitles, func(f ladder.SubtitleFile) bool { return f.File == sc.File })
		if k < 0 {
			continue // validated when the job was created
		}
		f := j.Ladder.Subtitles[k]
		name := pipeline.TextName(n + i)
		src := textSource{track: pipeline.TextTrack{Name: name, File: f.File, Language: media.Language(f.Language), Label: f.Name,
			Default: f.Default, Forced: f.Forced, SDH: f.SDH}, what: fmt.Sprintf("%s%s (%s)", textNotes[1], strconv.Quote(f.File), f.Language),
			path: filepath.Join(dir, name+".vtt")}
		if src.track.Language == "" {
			src.failed = fmt.Sprintf("%q is not a known language; send it again with a BCP 47 tag such as \"en\" or \"pt-BR\"", f.Language)
		} else if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), sc.Key, src.path); err != nil {
			return nil, fmt.Errorf("text %s: %s: %w", j.ID, f.File, err)
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// placeText reads a track's WebVTT and puts it on the title's timeline:
// its cues move by shift seconds (a stream's by the video's start in the
// master, a file's not at all), and none is after dur. A file that is
// not usable is a *subtitles.Error.
func placeText(path, name string, shift, dur float64) (*subtitles.Track, int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > subtitles.MaxFileSize {
		return nil, 0, &subtitles.Error{Name: name, Msg: fmt.Sprintf("is %d bytes of WebVTT, over the %d-byte limit for a subtitle track", fi.Size(), subtitles.MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	tr, err := subtitles.Parse(name, data, subtitles.FormatWebVTT)
	if err != nil {
		return nil, 0, err
	}
	dropped := tr.Place(shift, dur)
	if tr.Cues() == 0 {
		return nil, 0, &subtitles.Error{Name: name, Msg: fmt.Sprintf("has no cue within the video's %.3f s", dur)}
	}
	return tr, dropped, nil
}

// textAbout describes a text stream in a note: its language, title and
// kind.
func textAbout(s pipeline.SourceText) string {
	about := []string{s.Codec}
	if s.Language != "" {
		about = append(about, s.Language)
	}
	if s.Name != "" {
		about = append(about, strconv.Quote(s.Name))
	}
	if s.Forced {
		about = append(about, "forced")
	}
	if s.SDH {
		about = append(about, "SDH")
	}
	if s.Default {
		about = append(about, "default")
	}
	return strings.Join(about, ", ")
}

// masterWork makes a task's temporary folder and a URL to read the
// master from.
func (w *Worker) masterWork(ctx context.Context, r *run) (dir, url string, cleanup func(), err error) {
	if dir, cleanup, err = w.tempDir(r); err != nil {
		return "", "", nil, err
	}
	if url, err = w.masterURL(ctx, r.job); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, url, cleanup, nil
}

// titleTimeline is where the title starts in the master (seconds on
// Reel's timeline) and how long it is: the audio and text tracks are put
// on it.
func titleTimeline(j *pipeline.Job) (shift, dur float64) {
	p := j.Plan
	shift = j.Source.VideoStart
	if p.Conform.VFR {
		shift = float64(p.FirstSlot) / p.FPS()
	}
	return shift, float64(p.Frames) / p.FPS()
}

// transientRun says whether a failed run failed for a reason outside the
// master (the object store, the machine): retried, not recorded.
func transientRun(err error) bool {
	var ee *media.ExitError
	if errors.As(err, &ee) {
		_, permanent := ee.Permanent("")
		return !permanent
	}
	var lim *media.LimitError
	return !errors.As(err, &lim)
}

// firstLine is the first line of s.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// titleText cuts each of the title's subtitle tracks at the boundaries of
// video's segments into WebVTT segments that map the title's timeline
// onto the video's presentation time, and adds them, the whole track and
// its media playlist to files (by name under the title's folder).
func (w *Worker) titleText(ctx context.Context, j *pipeline.Job, video packager.Track, dir string, files map[string][]byte) ([]packager.TextTrack, error) {
	if len(j.TextTracks) == 0 {
		return nil, nil
	}
	bounds := []float64{0}
	for _, s := range video.Segments {
		bounds = append(bounds, bounds[len(bounds)-1]+s.Duration)
	}
	var start int64
	if video.Timescale > 0 {
		start = video.Start * 90000 / int64(video.Timescale)
	}
	var out []packager.TextTrack
	for _, t := range j.TextTracks {
		p := filepath.Join(dir, t.Name+".vtt")
		if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), pipeline.EncodedTextKey(j.ID, t.Name), p); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		tr, err := subtitles.Parse(t.Name, data, subtitles.FormatWebVTT)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		segs, err := tr.Segments(bounds, start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		pt := packager.TextTrack{Name: t.Name, Language: t.Language, Label: t.Label, Default: t.Default, Forced: t.Forced, SDH: t.SDH,
			Whole: textWhole, Size: int64(len(data))}
		for k, seg := range segs {
			uri := fmt.Sprintf(textSegPattern, k)
			files[t.Name+"/"+uri] = seg
			pt.Segments = append(pt.Segments, packager.Segment{URI: uri, Duration: video.Segments[k].Duration, Size: int64(len(seg))})
		}
		files[t.Name+"/"+textWhole] = data
		files[t.Name+"/"+mediaPlaylist] = packager.TextPlaylist(pt)
		out = append(out, pt)
	}
	return out, nil
}
