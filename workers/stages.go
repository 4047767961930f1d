package workers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/timeline"
)

// presignFor is how long ffmpeg may read a master through one URL.
const presignFor = 12 * time.Hour

func (w *Worker) masterURL(ctx context.Context, j *pipeline.Job) (string, error) {
	return w.Objects.PresignGet(ctx, j.Input.Bucket, j.Input.Key, presignFor)
}

// probe reads the master with ffprobe and records what it found.
func (w *Worker) probe(ctx context.Context, r *run) error {
	j := r.job
	u, err := w.masterURL(ctx, j)
	if err != nil {
		return err
	}
	// Whether the video carries closed captions is read beside the probe,
	// which reads the whole master: it decodes the first frames only.
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	type found struct {
		yes bool
		err error
	}
	captions := make(chan found, 1)
	go func() {
		yes, err := w.Media.HasCaptions(cctx, u)
		captions <- found{yes, err}
	}()
	res, err := w.Media.Probe(ctx, u)
	if err != nil {
		return w.mediaFailure(ctx, j.ID, "the probe", err)
	}
	v := res.Video
	measured := ""
	if !v.Interlaced() && v.FieldOrder != "progressive" {
		// The stream does not say: measure it on the first frames.
		if measured, err = w.Media.DetectFieldOrder(ctx, u); err != nil {
			return w.mediaFailure(ctx, j.ID, "the interlacing check", err)
		}
	}
	conf := media.ConformFor(v, measured)
	vstart := v.StartTime - res.StartTime
	info := &pipeline.SourceInfo{
		Format: res.Format, Duration: res.Duration, Size: res.Size, VideoCodec: v.Codec,
		Width: v.Width, Height: v.Height, SAR: v.SAR.String(), FrameRate: v.FrameRate.String(),
		FrameRateNum: v.FrameRate.Num, FrameRateDen: v.FrameRate.Den, PixFmt: v.PixFmt, Frames: v.Frames,
		AvgFrameRate: v.AvgFrameRate.String(), FieldOrder: v.FieldOrder, Rotation: v.Rotation,
		ColorRange: v.ColorRange, ColorSpace: v.ColorSpace, VideoStart: vstart,
		Ignored: res.Ignored, Conform: conf, Seek: media.Seekable(res.Format, v.Codec),
	}
	if measured != "" {
		info.FieldOrder = measured
	}
	vdur := v.Duration
	if vdur <= 0 {
		vdur = res.Duration - vstart
	}
	if conf.VFR {
		info.FirstSlot = conf.FirstSlot(vstart)
	}
	info.OutputFrames = conf.OutputFrames(v.Frames, vstart, vdur)
	if res.Audio != nil {
		a := res.Audio
		info.AudioCodec, info.AudioChans = a.Codec, a.Channels
		info.AudioStream, info.AudioStreams, info.AudioStart = a.Index, a.Streams, a.StartTime-res.StartTime
		for _, t := range res.AudioTracks {
			info.AudioTracks = append(info.AudioTracks, pipeline.SourceAudio{Stream: t.Index, Codec: t.Codec, Channels: t.Channels,
				Language: t.Language, Name: t.Name, Role: t.Role, Default: t.Index == a.Index})
		}
	}
	if slices.Contains(media.CaptionCodecs, v.Codec) {
		f := <-captions
		if f.err != nil {
			return w.mediaFailure(ctx, j.ID, "the closed-caption check", f.err)
		}
		info.Captions = f.yes
	}
	for _, t := range res.Texts {
		info.TextTracks = append(info.TextTracks, pipeline.SourceText{Stream: t.Index, Codec: t.Codec, Language: t.Language,
			Name: t.Name, Default: t.Default, Forced: t.Forced, SDH: t.SDH})
	}
	if list := j.Ladder.Audio; len(list) > 0 {
		chosen, err := chooseAudio(info.AudioTracks, list)
		if err != nil {
			return w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, err)
		}
		info.AudioTracks = chosen
	}
	info.Notes = sourceNotes(info, res)
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.Source, j.HasAudio = info, res.Audio != nil
		return nil
	})
	return err
}

// plan picks the rungs and cuts the video into chunks.
func (w *Worker) plan(ctx context.Context, r *run) error {
	j := r.job
	src := j.Source
	if src == nil {
		return fmt.Errorf("plan %s: job has no probe result", j.ID)
	}
	l := j.Ladder.Normalize()
	c := src.Conform
	rungs, err := ladder.Select(l, ladder.Source{Width: c.DisplayWidth, Height: c.DisplayHeight, HDR: c.HDR != ""})
	if err != nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, err)
	}
	chunkSegs, slots := l.ChunkSegments, 0
	if chunkSegs == 0 {
		if w.Slots != nil {
			if slots, err = w.Slots(ctx); err != nil {
				w.log().Warn("cannot count the workers' slots; chunks of the default size", "job", j.ID, "err", err)
			}
		}
		segFrames := timeline.SegmentFrames(c.Rate, l.SegmentSeconds)
		chunkSegs = pipeline.AutoChunkSegments(src.OutputFrames, segFrames, slots)
	}
	plan, err := pipeline.MakePlan(src.OutputFrames, c.Rate.Num, c.Rate.Den, l.SegmentSeconds, chunkSegs)
	if err != nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, err)
	}
	whole := slices.ContainsFunc(l.Rungs, func(r ladder.Rung) bool { return !media.KeyframesWhereForced(r.Codec) })
	plan.SetPreroll(l.Preroll(), whole)
	if l.ChunkSegments == 0 {
		// A short first chunk makes the title playable early.
		plan.ShortenFirst(slots)
	}
	plan.Conform, plan.FirstSlot = c, src.FirstSlot
	// Masters with an index ffmpeg seeks by are read where each chunk
	// needs them; the others are split first.
	plan.Seek, plan.Start = src.Seek, src.VideoStart
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		if j.Plan.Readable() {
			return nil // a duplicate plan task must not undo the split or the encodes
		}
		j.Plan = &plan
		j.Renditions = nil
		if l.PerTitle() {
			return nil // the analysis chooses the rungs
		}
		j.Renditions = make([]pipeline.Rendition, len(rungs))
		for i, r := range rungs {
			j.Renditions[i] = pipeline.Rendition{Rung: r, Frames: plan.Frames}
		}
		return nil
	})
	return err
}

// split cuts the master's video into pieces by stream copy and stores
// them; the pipeline then queues the analysis or the encodes.
func (w *Worker) split(ctx context.Context, r *run) error {
	j := r.job
	if j.Plan == nil {
		return fmt.Errorf("split %s: job has no plan", j.ID)
	}
	var pieces []pipeline.Piece
	if len(j.Plan.Pieces) == 0 {
		var err error
		if pieces, err = w.splitPieces(ctx, r); err != nil {
			return err
		}
	}
	_, err := w.done(ctx, r, func(j *pipeline.Job) error {
		if j.Plan != nil && len(j.Plan.Pieces) == 0 {
			j.Plan.Pieces = pieces
		}
		return nil
	})
	return err
}

// splitPieces runs the split and stores the pieces.
func (w *Worker) splitPieces(ctx context.Context, r *run) ([]pipeline.Piece, error) {
	j := r.job
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	u, err := w.masterURL(ctx, j)
	if err != nil {
		return nil, err
	}
	list := filepath.Join(dir, "pieces.csv")
	lim := w.Limits.streamLimits(j.Source.Duration, j.Input.Size)
	if err := w.Media.Run(ctx, media.Cmd{Args: media.SplitArgs(u, j.Plan.Cuts(), filepath.Join(dir, "piece_%05d.mkv"), list), Limits: lim}); err != nil {
		return nil, w.mediaFailure(ctx, j.ID, "the split", fmt.Errorf("split %s: %w", j.ID, err))
	}
	f, err := os.Open(list)
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("split %s: piece list: %w", j.ID, err)
	}
	// Each piece is inspected and uploaded on its own goroutine, a few at a
	// time: the decode check is CPU, the upload is I/O.
	pieces := make([]pipeline.Piece, len(rows))
	errs := make([]error, len(rows))
	sem := make(chan struct{}, splitParallelism)
	var wg sync.WaitGroup
	for i, row := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pieces[i], errs[i] = w.storePiece(ctx, j, filepath.Join(dir, filepath.Base(row[0])), i == 0)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("split %s: %w", j.ID, err)
	}
	if len(pieces) == 0 {
		return nil, w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, errors.New("the master's video stream holds no packets that can be copied"))
	}
	return pieces, nil
}

// splitParallelism bounds the pieces inspected and uploaded at once.
const splitParallelism = 3

// storePiece reads a piece's start time, checks that decoding can start
// there (one second of frames must decode without an error; the master's
// first piece always can), and uploads it.
func (w *Worker) storePiece(ctx context.Context, j *pipeline.Job, path string, first bool) (pipeline.Piece, error) {
	name := filepath.Base(path)
	start, err := w.Media.StartTime(ctx, path)
	if err != nil {
		return pipeline.Piece{}, fmt.Errorf("%s: %w", name, err)
	}
	clean := first
	if !first {
		if clean, err = w.Media.DecodesCleanly(ctx, path, max(int(j.Plan.FPS()+0.5), 2)); err != nil {
			return pipeline.Piece{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	key := pipeline.PieceKey(j.ID, name)
	if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), key, path, "video/x-matroska", "", false); err != nil {
		return pipeline.Piece{}, err
	}
	return pipeline.Piece{Key: key, Start: start, Clean: clean}, nil
}

// writeConcat writes an ffconcat list of local files with their durations
// (the last one without) and, where inpoints has a positive entry, the time
// of a keyframe each file is to be read from. An in point is written
// rounded up to the microsecond, so the demuxer's seek (to the last
// keyframe at or before it) lands on that keyframe.
func writeConcat(path string, files []string, durations, inpoints []float64) error {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for i, f := range files {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(f, "'", `'\''`))
		if i < len(inpoints) && inpoints[i] > 0 {
			fmt.Fprintf(&b, "inpoint %.6f\n", math.Ceil(inpoints[i]*1e6)/1e6)
		}
		if i < len(durations) {
			fmt.Fprintf(&b, "duration %.6f\n", durations[i])
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// fetchPieces downloads the pieces a chunk window reads into dir and
// returns the ffconcat list that joins them.
func (w *Worker) fetchPieces(ctx context.Context, j *pipeline.Job, win pipeline.Window, dir string) (string, error) {
	var files []string
	for _, i := range win.Pieces {
		p := filepath.Join(dir, filepath.Base(j.Plan.Pieces[i].Key))
		if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), j.Plan.Pieces[i].Key, p); err != nil {
			return "", err
		}
		files = append(files, p)
	}
	list := filepath.Join(dir, "pieces.ffconcat")
	return list, writeConcat(list, files, win.Durations, nil)
}

// chunkSource returns what a chunk window is read from: the pieces it
// needs, downloaded into dir and listed in an ffconcat file, or, for a
// plan that seeks, the master's presigned URL and the window to read
// from it. Decoding must start cleanly where the seek lands, as the split
// checks at each piece: a keyframe that later frames reach past (an H.264
// I-frame that is not IDR) is passed over for earlier ones, from further
// and further back, down to the master's start.
func (w *Worker) chunkSource(ctx context.Context, j *pipeline.Job, win pipeline.Window, dir string) (list, master string, _ pipeline.Window, err error) {
	if !j.Plan.Seek {
		list, err = w.fetchPieces(ctx, j, win, dir)
		return list, "", win, err
	}
	if master, err = w.masterURL(ctx, j); err != nil {
		return "", "", win, err
	}
	frames := max(int(j.Plan.FPS()+0.5), 2)
	for back := seekBack; win.Seek > 0; back *= 2 {
		clean, err := w.Media.DecodesCleanlyAt(ctx, master, win.Seek, frames)
		if err != nil {
			return "", "", win, err
		}
		if clean {
			break
		}
		win = j.Plan.SeekTo(win, max(win.Seek-back, 0))
	}
	return "", master, win, nil
}

// seekBack is how much earlier a chunk seeks first when decoding cannot
// start cleanly where its seek landed; each further try doubles it.
const seekBack = 5.0

// encode decodes one chunk once and encodes every video rung from it.
func (w *Worker) encode(ctx context.Context, r *run) error {
	j, t := r.job, r.task
	if j.Plan == nil || t.Chunk < 0 || t.Chunk >= len(j.Plan.Chunks) {
		return w.failPermanently(ctx, j.ID, pipeline.CodeInternal, fmt.Errorf("encode: chunk %d is not in the plan", t.Chunk))
	}
	if j.Plan.Chunks[t.Chunk].Segments != "" {
		// Encoded already (a task delivered again after its worker
		// recorded it): hand the result back again, so the fan-in
		// counts the chunk, without encoding it twice.
		_, err := w.done(ctx, r, nil)
		return err
	}
	win, err := j.Plan.ChunkWindow(t.Chunk)
	if err != nil {
		return err
	}
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return err
	}
	defer cleanup()
	list, master, win, err := w.chunkSource(ctx, j, win, dir)
	if err != nil {
		return err
	}
	rungs := make([]ladder.Rung, len(j.Renditions))
	outs := make([]string, len(j.Renditions))
	for i, rend := range j.Renditions {
		rungs[i], outs[i] = rend.Rung, filepath.Join(dir, rend.Name+".mp4")
	}
	chunk := j.Plan.Chunks[t.Chunk]
	spec := media.EncodeSpec{
		ConcatList: list, MasterURL: master, Seek: win.Seek, Conform: j.Plan.Conform, Window: win.Select, Preroll: win.Preroll,
		SegmentSeconds: j.Plan.SegmentSeconds, Rungs: rungs, Outputs: outs,
	}
	if !j.Ladder.SkipQuality {
		spec.StatsDir = dir
	}
	frames := chunk.End - chunk.Start + win.Preroll
	seconds := float64(frames) / j.Plan.FPS()
	encStart := time.Now()
	report := w.throttle(func(p media.Progress) {
		// Progress counts the chunk's own frames, not its preroll.
		done := min(max(p.Frames-win.Preroll, 0), chunk.End-chunk.Start)
		w.progress(ctx, r, float64(done))
	})
	var written int64
	err = w.Media.Run(ctx, media.Cmd{Args: media.EncodeArgs(spec), Env: spec.StatsEnv(), Limits: w.Limits.encodeLimits(frames, seconds, rungs),
		Strict: true, Decoder: media.DecoderName(j.Source.VideoCodec), OnProgress: func(p media.Progress) {
			written = p.Frames
			report(p)
		}})
	if err == nil && j.Plan.Seek && written < frames && t.Chunk < len(j.Plan.Chunks)-1 {
		// Pieces are cut from one reading of the whole master; a seek
		// trusts its index. One that lands past the keyframe it names
		// leaves frames out, which nothing after this would notice. (The
		// last chunk runs to the end of the master, whose frame count is
		// an estimate for some masters until packaging.)
		return w.failPermanently(ctx, j.ID, pipeline.CodeInvalidMedia, fmt.Errorf(
			"encode %s chunk %d: the master's index is damaged: read from %.3f s, the chunk has %d of its %d frames; remux the master (ffmpeg -i IN -c copy OUT.mkv) and upload it again",
			j.ID, t.Chunk, win.Seek, written, frames))
	}
	if err != nil {
		// A damaged frame stops the encode wherever it is in what the chunk
		// decodes, preroll included.
		where := fmt.Sprintf("the frames chunk %d decodes (%.1f s to %.1f s)", t.Chunk,
			float64(chunk.Start-win.Preroll)/j.Plan.FPS(), float64(chunk.End)/j.Plan.FPS())
		return w.mediaFailure(ctx, j.ID, where, fmt.Errorf("encode %s chunk %d: %w", j.ID, t.Chunk, err))
	}
	encoded := time.Since(encStart)
	for _, codec := range ladder.Codecs {
		if slices.ContainsFunc(rungs, func(r ladder.Rung) bool { return r.Codec == codec }) {
			w.Metrics.Encode(codec, frames, j.Plan.FPS(), encoded)
		}
	}
	var quality []timeline.QualityStats
	if !j.Ladder.SkipQuality {
		if quality, err = w.measure(ctx, j, spec, win, written); err != nil {
			return w.mediaFailure(ctx, j.ID, fmt.Sprintf("the quality measurement of chunk %d", t.Chunk), fmt.Errorf("encode %s chunk %d: quality: %w", j.ID, t.Chunk, err))
		}
	}
	segments, err := w.cutChunk(ctx, j, t.Chunk, outs, dir)
	if err != nil {
		return err
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		if j.Plan == nil || t.Chunk >= len(j.Plan.Chunks) {
			return nil
		}
		c := &j.Plan.Chunks[t.Chunk]
		if c.Segments == "" {
			// The first run of the chunk to finish is the one published;
			// a second delivery's segments are left unused.
			c.Segments, c.Quality = segments, quality
		}
		return nil
	})
	return err
}

// audio encodes every audio rendition of the title (AudioRenditions) in
// one run over the whole title, into CMAF segments, each in a folder of
// its own under the job's encoded audio.
func (w *Worker) audio(ctx context.Context, r *run) error {
	j := r.job
	if j.Source == nil || j.Plan == nil {
		return fmt.Errorf("audio %s: the job has no probe result or plan", j.ID)
	}
	dir, u, cleanup, err := w.masterWork(ctx, r)
	if err != nil {
		return err
	}
	defer cleanup()
	l := j.Ladder.Normalize()
	shift, dur := titleTimeline(j)
	tracks := pipeline.AudioRenditions(j)
	if len(tracks) == 0 {
		return fmt.Errorf("audio %s: the master has no audio to encode", j.ID)
	}
	outs := make([]media.AudioOut, len(tracks))
	bits := int64(0)
	for i, t := range tracks {
		d := filepath.Join(dir, t.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		outs[i] = media.AudioOut{Stream: t.Stream, Codec: t.Codec, Channels: t.Channels, Bitrate: t.Bitrate,
			Playlist: filepath.Join(d, ffmpegPlaylist), InitName: initName, SegPattern: filepath.Join(d, segPattern)}
		bits += int64(t.Bitrate)
	}
	// With a loudness target, the renditions are measured first and get
	// the gain (and limiter) that brings each to it; the encode measures
	// what it encodes either way.
	var before []timeline.Loudness
	if t := l.Loudness; t != nil {
		run := func(ctx context.Context, c media.Cmd) error {
			c.Limits = w.Limits.streamLimits(dur, 0)
			return w.Media.Run(ctx, c)
		}
		if before, err = media.Normalize(ctx, run, u, shift, dur, outs, t.Target, t.Ceiling(), dir); err != nil {
			return w.mediaFailure(ctx, j.ID, "the audio's loudness measurement", fmt.Errorf("audio %s: loudness: %w", j.ID, err))
		}
	}
	args := media.AudioTracksArgs(u, shift, dur, l.SegmentSeconds, outs, true)
	err = w.Media.Run(ctx, media.Cmd{Args: args, Env: media.LoudnessEnv(dir), Limits: w.Limits.streamLimits(dur, bits*int64(dur+1)/8),
		OnProgress: w.throttle(func(p media.Progress) {
			if dur > 0 {
				w.progress(ctx, r, min(p.OutTime.Seconds()/dur, 0.99))
			}
		})})
	if err != nil {
		return w.mediaFailure(ctx, j.ID, "the audio", fmt.Errorf("audio %s: %w", j.ID, err))
	}
	measured, err := media.ReadLoudness(dir, len(outs))
	if err != nil {
		return fmt.Errorf("audio %s: %w", j.ID, err)
	}
	for i := range tracks {
		tracks[i].Loudness = &measured[i]
		if before != nil {
			tracks[i].Loudness = &before[i]
			tracks[i].Normalized = &pipeline.Normalization{Gain: math.Round(outs[i].Gain*100) / 100, Limit: outs[i].Limit, Loudness: measured[i]}
		}
	}
	for _, t := range tracks {
		if err := w.uploadDir(ctx, filepath.Join(dir, t.Name), pipeline.EncodedAudioPrefix(j.ID)+t.Name+"/"); err != nil {
			return err
		}
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.AudioTracks = tracks
		if j.Source != nil {
			j.Source.Notes = append(slices.DeleteFunc(j.Source.Notes, func(n string) bool { return strings.HasPrefix(n, loudnessNote) }),
				loudnessNotes(tracks, l.Loudness)...)
		}
		return nil
	})
	return err
}

// loudnessNote starts each note the audio task adds to the source's.
const loudnessNote = "audio track "

// loudnessNotes say in words each audio track's loudness and what
// normalization to target (if any) did to it.
func loudnessNotes(tracks []pipeline.AudioTrack, target *ladder.LoudnessTarget) []string {
	var notes []string
	for _, t := range tracks {
		if t.Loudness == nil {
			continue
		}
		m := *t.Loudness
		n := fmt.Sprintf("%s%s (stream %d, %s): ", loudnessNote, t.Name, t.Stream, count(t.Channels, "channel"))
		if m.Silent() {
			n += "silent"
		} else {
			n += fmt.Sprintf("%.1f LUFS integrated, %.1f LU range, %.1f dBTP true peak", m.Integrated, m.Range, m.TruePeak)
		}
		switch z := t.Normalized; {
		case z == nil:
		case m.Silent():
			n += fmt.Sprintf("; left silent, not raised to the %g LUFS target", target.Target)
		default:
			n += fmt.Sprintf("; normalized to %g LUFS with a gain of %+.2f dB", target.Target, z.Gain)
			if z.Limit < 0 {
				n += fmt.Sprintf(" and its peaks limited under %.1f dBTP", z.Limit)
			}
			n += fmt.Sprintf(": %.1f LUFS, %.1f dBTP", z.Loudness.Integrated, z.Loudness.TruePeak)
			if z.Gain >= timeline.MaxLoudnessGain {
				n += fmt.Sprintf(" (the gain is capped at %g dB)", timeline.MaxLoudnessGain)
			}
		}
		notes = append(notes, n)
	}
	return notes
}

// chooseAudio keeps the master's audio streams a job lists, in its
// order and with its labels; the one it marks default, else the master's
// default among them, else the first, is the default.
func chooseAudio(streams []pipeline.SourceAudio, list []ladder.AudioChoice) ([]pipeline.SourceAudio, error) {
	var out []pipeline.SourceAudio
	chosenDefault := slices.ContainsFunc(list, func(c ladder.AudioChoice) bool { return c.Default })
	for _, c := range list {
		i := slices.IndexFunc(streams, func(a pipeline.SourceAudio) bool { return a.Stream == c.Stream })
		if i < 0 {
			var have []string
			for _, a := range streams {
				have = append(have, strconv.Itoa(a.Stream))
			}
			if len(have) == 0 {
				return nil, fmt.Errorf("the job lists audio stream %d, but the master has no audio stream Reel can decode; leave \"audio\" out of the job", c.Stream)
			}
			return nil, fmt.Errorf("the job lists audio stream %d, but the master's audio streams are %s; list those (ffprobe's stream indexes) or leave \"audio\" out to carry every one", c.Stream, strings.Join(have, ", "))
		}
		a := streams[i]
		if c.Language != "" {
			if a.Language = media.Language(c.Language); a.Language == "" {
				return nil, fmt.Errorf("the job's audio language %q for stream %d is not a known language; use a BCP 47 tag such as \"en\" or \"pt-BR\"", c.Language, c.Stream)
			}
		}
		if c.Name != "" {
			a.Name = c.Name
		}
		if chosenDefault {
			a.Default = c.Default
		}
		out = append(out, a)
	}
	return out, nil
}

// uploadDir uploads the files of dir (not recursive) under prefix.
func (w *Worker) uploadDir(ctx context.Context, dir, prefix string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), prefix+e.Name(), filepath.Join(dir, e.Name()), contentType(e.Name()), "", false); err != nil {
			return err
		}
	}
	return nil
}

// measure returns each rung's PSNR and SSIM against the chunk's source
// frames, conformed and scaled as for the encode: what the encoders that
// measure themselves reported, and for the other rungs a second run that
// decodes the source and those rungs again.
//
// Each rung's count must be what the encode wrote, preroll left out: a
// second run that reads the master over HTTP ends early, as if at its end,
// when the connection fails.
func (w *Worker) measure(ctx context.Context, j *pipeline.Job, enc media.EncodeSpec, win pipeline.Window, written int64) ([]timeline.QualityStats, error) {
	reported, err := media.ReadEncoderQuality(enc)
	if err != nil {
		return nil, err
	}
	q := make([]timeline.QualityStats, len(enc.Rungs))
	spec := media.QualitySpec{ConcatList: enc.ConcatList, MasterURL: enc.MasterURL, Seek: enc.Seek, Conform: j.Plan.Conform, Window: win.Select, Preroll: win.Preroll}
	var rest []int
	for i, r := range reported {
		if r != nil {
			q[i] = *r
			continue
		}
		rest = append(rest, i)
		spec.Rungs = append(spec.Rungs, enc.Rungs[i])
		spec.Encoded = append(spec.Encoded, enc.Outputs[i])
		spec.PSNRLogs = append(spec.PSNRLogs, filepath.Join(enc.StatsDir, fmt.Sprintf("psnr-%d.log", i)))
		spec.SSIMLogs = append(spec.SSIMLogs, filepath.Join(enc.StatsDir, fmt.Sprintf("ssim-%d.log", i)))
	}
	if len(rest) > 0 {
		lim := w.Limits.encodeLimits(written, 0, spec.Rungs)
		if err := w.Media.Run(ctx, media.Cmd{Args: media.QualityArgs(spec), Limits: lim}); err != nil {
			return nil, err
		}
		for k, i := range rest {
			if q[i], err = media.ReadQuality(spec.PSNRLogs[k], spec.SSIMLogs[k]); err != nil {
				return nil, err
			}
		}
	}
	for i := range q {
		if want := written - win.Preroll; q[i].Frames != want {
			return nil, fmt.Errorf("%s: %d frames measured, %d encoded after the preroll", enc.Rungs[i].Name, q[i].Frames, want)
		}
	}
	return q, nil
}

// sourceNotes says in words what Reel does about a master.
func sourceNotes(s *pipeline.SourceInfo, res *media.ProbeResult) []string {
	var notes []string
	c := s.Conform
	if c.Deinterlace != "" {
		how := "the stream says so"
		if s.FieldOrder != res.Video.FieldOrder {
			how = "measured with idet"
		}
		notes = append(notes, fmt.Sprintf("interlaced (%s, %s): deinterlaced with bwdif, one frame per frame", c.Deinterlace, how))
	}
	if c.Rotate != 0 {
		notes = append(notes, fmt.Sprintf("rotation metadata: turned %d° clockwise", c.Rotate))
	}
	if res.Discontinuous {
		notes = append(notes, fmt.Sprintf("timestamps jump (a splice or clock reset): %d frames at %s fps, read as one continuous timeline with the jumps closed", res.Video.Frames, ratio(c.InputRate.String())))
	}
	if c.VFR {
		notes = append(notes, fmt.Sprintf("variable frame rate (average %s fps): resampled by timestamp to a constant %s fps", ratio(s.AvgFrameRate), ratio(c.Rate.String())))
	} else if c.Decimate > 1 {
		notes = append(notes, fmt.Sprintf("%s fps is above %d: every %d frames one is kept, for %s fps", ratio(c.InputRate.String()), timeline.MaxOutputRate, c.Decimate, ratio(c.Rate.String())))
	}
	if sar, err := timeline.ParseRational(s.SAR); err == nil && sar.Num != sar.Den {
		notes = append(notes, fmt.Sprintf("pixel aspect %s: scaled to square pixels at %dx%d display size", s.SAR, c.DisplayWidth, c.DisplayHeight))
	}
	if c.InRange == "pc" {
		notes = append(notes, "full-range source: converted to limited range")
	}
	if c.HDR != "" {
		name := map[string]string{timeline.TransferPQ: "PQ (SMPTE ST 2084)", timeline.TransferHLG: "HLG (ARIB STD-B67)"}[c.HDR]
		notes = append(notes, fmt.Sprintf("HDR, %s transfer, %s primaries: SDR rungs tone-mapped to BT.709 (zscale and tonemap, Hable curve, %d cd/m² reference white); HDR rungs keep the transfer, 10-bit BT.2020", name, c.InPrimaries, media.ToneMapPeak))
	}
	if len(res.AudioTracks) > 1 || len(s.AudioTracks) == 1 && s.AudioTracks[0].Channels >= 6 {
		for _, a := range res.AudioTracks {
			if !slices.ContainsFunc(s.AudioTracks, func(c pipeline.SourceAudio) bool { return c.Stream == a.Index }) {
				notes = append(notes, fmt.Sprintf("audio stream %d: left out (the job does not list it)", a.Index))
			}
		}
		for _, a := range s.AudioTracks {
			var about []string
			if a.Language != "" {
				about = append(about, a.Language)
			}
			if a.Name != "" {
				about = append(about, strconv.Quote(a.Name))
			}
			if a.Role != "" {
				about = append(about, a.Role)
			}
			about = append(about, count(a.Channels, "channel"))
			if a.Default {
				about = append(about, "default")
			}
			what := "a stereo AAC track"
			if a.Channels >= 6 {
				what = "a stereo AAC track (downmix) and a 5.1 E-AC-3 track"
			}
			notes = append(notes, fmt.Sprintf("audio stream %d (%s): %s", a.Stream, strings.Join(about, ", "), what))
		}
	}
	if s.Captions {
		notes = append(notes, "CEA-608/708 closed captions in the video: carried in every H.264 rung (HLS CLOSED-CAPTIONS, DASH Accessibility), not in the other codecs' rungs")
	}
	if len(s.Ignored) > 0 {
		notes = append(notes, "streams left out: "+strings.Join(s.Ignored, ", "))
	}
	return notes
}

// count writes n things: "1 channel", "6 channels".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// ratio prints a frame rate such as "30000/1001" as "29.97".
func ratio(r string) string {
	q, err := timeline.ParseRational(r)
	if err != nil || q.Den == 0 {
		return r
	}
	return strconv.FormatFloat(math.Round(q.Float()*1000)/1000, 'f', -1, 64)
}
