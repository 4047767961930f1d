package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
)

// indexName is the index a chunk's segments are stored with.
const indexName = "index.json"

// chunkSegments is the index of one chunk's CMAF segments: each rung's
// track (in rendition order) with the segments of this chunk alone,
// numbered and timed on the title's timeline, and the title's start they
// were aligned to.
type chunkSegments struct {
	// Start is the presentation time, in seconds, of the title's first
	// picture: the latest first picture of the rungs (an encoder that
	// reorders frames presents its first one late), which is where every
	// track of the title starts (see packager.ShiftDecodeTime).
	Start  float64          `json:"start"`
	Tracks []packager.Track `json:"tracks"`
	// Trick is the chunk's share of the title's trick play; a chunk
	// stored before chunks made their own has none.
	Trick *chunkTrick `json:"trick,omitempty"`
}

// cutChunk cuts each rung's encoded chunk k (outs, in rendition order),
// from its first keyframe after the preroll, into CMAF segments, moves
// them onto the title's timeline (the chunk's first picture presented at
// the title's start plus the chunk's start) with the title's segment
// numbers, joins a short tail in the title's last chunk, and stores them
// with their index under a prefix of this run's own, which it returns.
func (w *Worker) cutChunk(ctx context.Context, j *pipeline.Job, k int, outs []string, dir string) (string, error) {
	p := j.Plan
	fps := p.FPS()
	c := p.Chunks[k]
	key, err := w.titleKey(j)
	if err != nil {
		return "", w.failPermanently(ctx, j.ID, pipeline.CodeKeyUnavailable, fmt.Errorf("package %s chunk %d: %w", j.ID, k, err))
	}
	pre := float64(p.Preroll(k)) / fps
	tracks := make([]packager.Track, len(j.Renditions))
	delays := make([]float64, len(j.Renditions))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	for i, r := range j.Renditions {
		g.Go(func() (err error) {
			out := filepath.Join(dir, "seg", r.Name)
			if tracks[i], delays[i], err = w.cutRung(gctx, j, r, outs[i], pre, float64(c.End-c.Start)/fps, out); err != nil {
				return fmt.Errorf("package %s %s chunk %d: %w", j.ID, r.Name, k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	last := k == len(p.Chunks)-1
	var start float64
	for i, d := range delays {
		start = max(start, d)
		// Segment numbers follow from the plan: every chunk but the last
		// holds whole segments.
		if want := int((c.End - c.Start) / max(p.SegmentFrames, 1)); !last && len(tracks[i].Segments) != want {
			return "", fmt.Errorf("package %s %s chunk %d: cut into %d segments, the plan has %d", j.ID, tracks[i].Name, k, len(tracks[i].Segments), want)
		}
	}
	join := last && p.ShortTail()
	first := int(c.Start / max(p.SegmentFrames, 1))
	var run [6]byte
	if _, err := rand.Read(run[:]); err != nil {
		return "", err
	}
	prefix := pipeline.ChunkSegmentsPrefix(j.ID, k, hex.EncodeToString(run[:]))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	for i := range tracks {
		g.Go(func() error {
			tr := &tracks[i]
			if err := finishChunkRung(filepath.Join(dir, "seg", tr.Name), tr, start+float64(c.Start)/fps, join, first); err != nil {
				return fmt.Errorf("package %s %s chunk %d: %w", j.ID, tr.Name, k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	// The rungs are stored while the chunk's trick play is made; an
	// encrypted title's rungs are encrypted once the trick play has read
	// them.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	var trick chunkTrick
	trickRead := make(chan struct{})
	g.Go(func() (err error) {
		out := filepath.Join(dir, trickDir)
		trick, err = w.chunkTrickPlay(gctx, j, k, tracks, filepath.Join(dir, "seg"), out)
		close(trickRead)
		if err != nil {
			return fmt.Errorf("package %s chunk %d: trick play: %w", j.ID, k, err)
		}
		return w.uploadDir(gctx, out, prefix+trickDir+"/")
	})
	for i := range tracks {
		g.Go(func() error {
			out := filepath.Join(dir, "seg", tracks[i].Name)
			if err := os.Remove(filepath.Join(out, ffmpegPlaylist)); err != nil {
				return err
			}
			if key != nil {
				<-trickRead
				if err := key.encryptTrack(out, &tracks[i]); err != nil {
					return fmt.Errorf("package %s %s chunk %d: %w", j.ID, tracks[i].Name, k, err)
				}
			}
			return w.uploadDir(gctx, out, prefix+tracks[i].Name+"/")
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	// The index goes last: a prefix with an index holds every segment.
	data, err := json.Marshal(chunkSegments{Start: start, Tracks: tracks, Trick: &trick})
	if err != nil {
		return "", err
	}
	idx := filepath.Join(dir, "seg", indexName)
	if err := os.WriteFile(idx, data, 0o644); err != nil {
		return "", err
	}
	return prefix, w.Objects.PutFile(ctx, w.Objects.Bucket(), prefix+indexName, idx, "application/json", "", false)
}

// cutRung cuts one rung's encoded chunk (the file in, read from in point
// pre seconds, lasting dur seconds) into CMAF segments in out by stream
// copy. It returns the track as ffmpeg wrote it, its Start the first
// picture's presentation time (trackStart), and the encoder's delay: how
// long after its first decode time that picture is presented, in
// seconds.
func (w *Worker) cutRung(ctx context.Context, j *pipeline.Job, r pipeline.Rendition, in string, pre, dur float64, out string) (packager.Track, float64, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return packager.Track{}, 0, err
	}
	list := out + ".ffconcat"
	if err := writeConcat(list, []string{in}, nil, []float64{pre}); err != nil {
		return packager.Track{}, 0, err
	}
	args := media.PackageArgs(list, j.Plan.SegmentSeconds, filepath.Join(out, ffmpegPlaylist), initName, filepath.Join(out, segPattern))
	// A stream copy: CPU as for copying, the file as large as the encode's.
	lim := w.Limits.streamLimits(dur+pre, 0)
	lim.Output = w.Limits.encodeLimits(0, dur+pre, []ladder.Rung{r.Rung}).Output
	if err := w.Media.Run(ctx, media.Cmd{Args: args, Limits: lim}); err != nil {
		return packager.Track{}, 0, err
	}
	tr, err := readTrack(out)
	if err != nil {
		return packager.Track{}, 0, err
	}
	if err := trackStart(out, &tr); err != nil {
		return packager.Track{}, 0, err
	}
	first, err := os.ReadFile(filepath.Join(out, tr.Segments[0].URI))
	if err != nil {
		return packager.Track{}, 0, err
	}
	decode, err := packager.DecodeTime(first)
	if err != nil {
		return packager.Track{}, 0, err
	}
	tr.Name, tr.Codec, tr.Width, tr.Height, tr.FrameRate = r.Name, r.Codec, r.Width, r.Height, j.Plan.FPS()
	if c := j.Plan.Conform; c.HDR != "" {
		tr.VideoRange = "SDR"
		if r.HDR {
			tr.VideoRange = strings.ToUpper(c.HDR)
		}
	}
	return tr, float64(tr.Start-decode) / float64(tr.Timescale), nil
}

// finishChunkRung aligns a rung's cut chunk in out to present its first
// picture at start seconds (alignTrack, joining a short tail with join),
// renames its segments to the title's numbers from first on, and reads
// its codec string and keyframe ranges.
func finishChunkRung(out string, tr *packager.Track, start float64, join bool, first int) error {
	if err := alignTrack(out, tr, start, join); err != nil {
		return err
	}
	init, err := os.ReadFile(filepath.Join(out, initName))
	if err != nil {
		return err
	}
	if tr.Codecs, err = packager.CodecString(init); err != nil {
		return err
	}
	for i := range tr.Segments {
		s := &tr.Segments[i]
		data, err := os.ReadFile(filepath.Join(out, s.URI))
		if err != nil {
			return err
		}
		off, n, err := packager.IFrameRange(data)
		if err != nil {
			return fmt.Errorf("%s: %w", s.URI, err)
		}
		tr.IFrames = append(tr.IFrames, packager.Range{Offset: off, Length: n})
	}
	// Renamed from the last down, so no name is taken twice.
	for i := len(tr.Segments) - 1; i >= 0; i-- {
		s := &tr.Segments[i]
		name := fmt.Sprintf(segPattern, first+i)
		if name != s.URI {
			if err := os.Rename(filepath.Join(out, s.URI), filepath.Join(out, name)); err != nil {
				return err
			}
			s.URI = name
		}
	}
	return nil
}

// readChunks reads the segment index of the first n chunks of the job.
func (w *Worker) readChunks(ctx context.Context, j *pipeline.Job, n int, dir string) ([]chunkSegments, error) {
	out := make([]chunkSegments, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(publishParallelism)
	for k := range n {
		prefix := j.Plan.Chunks[k].Segments
		if prefix == "" {
			return nil, fmt.Errorf("chunk %d of job %s has no segments stored", k, j.ID)
		}
		g.Go(func() error {
			p := filepath.Join(dir, fmt.Sprintf("index-%05d.json", k))
			if err := w.Objects.GetFile(gctx, w.Objects.Bucket(), prefix+indexName, p); err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(data, &out[k]); err != nil {
				return fmt.Errorf("chunk %d's segment index: %w", k, err)
			}
			if len(out[k].Tracks) != len(j.Renditions) {
				return fmt.Errorf("chunk %d's segment index has %d rungs, the job %d", k, len(out[k].Tracks), len(j.Renditions))
			}
			return nil
		})
	}
	return out, g.Wait()
}

// titleTracks joins the chunks' tracks into the title's, one per rung:
// the first chunk's initialization segment and start, every chunk's
// segments and keyframe ranges in order. Every chunk must have been
// aligned to the same start, with the same codec string and timescale in
// each rung: chunks encoded with the same settings always are, and
// anything else would not play as one track.
func titleTracks(chunks []chunkSegments) ([]packager.Track, error) {
	if len(chunks) == 0 {
		return nil, errors.New("package: no chunk")
	}
	tracks := make([]packager.Track, len(chunks[0].Tracks))
	for i := range tracks {
		tracks[i] = chunks[0].Tracks[i]
		tracks[i].Segments = nil
		tracks[i].IFrames = nil
	}
	for k, c := range chunks {
		if math.Abs(c.Start-chunks[0].Start) > 1e-6 {
			return nil, fmt.Errorf("package: chunk %d starts its title at %.6f s, chunk 0 at %.6f s: the encoder delayed its first picture differently", k, c.Start, chunks[0].Start)
		}
		for i, tr := range c.Tracks {
			t := &tracks[i]
			if tr.Name != t.Name || tr.Codecs != t.Codecs || tr.Timescale != t.Timescale {
				return nil, fmt.Errorf("package: chunk %d of rung %s is %s at timescale %d, chunk 0 %s at %d", k, t.Name, tr.Codecs, tr.Timescale, t.Codecs, t.Timescale)
			}
			t.Segments = append(t.Segments, tr.Segments...)
			t.IFrames = append(t.IFrames, tr.IFrames...)
		}
	}
	return tracks, nil
}

// titleAudio returns the title's audio tracks aligned to start at start
// seconds with the video (audioTrack: stored under the packaged prefix,
// a short tail joined), made from the audio task's segments, and
// describes them at AlignedAudioKey for the manifests written later
// while the title grows (storedAudio).
func (w *Worker) titleAudio(ctx context.Context, j *pipeline.Job, dir string, start float64) ([]packager.Track, error) {
	renditions, legacy := audioTracks(j)
	tracks := make([]packager.Track, len(renditions))
	for i, a := range renditions {
		tr, err := w.audioTrack(ctx, j, a, legacy, dir, start, j.Plan.ShortTail())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		tracks[i] = tr
	}
	data, err := json.Marshal(tracks)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "audio.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return nil, err
	}
	return tracks, w.Objects.PutFile(ctx, w.Objects.Bucket(), pipeline.AlignedAudioKey(j.ID), p, "application/json", "", false)
}

// storedAudio reads the audio tracks titleAudio described (one object,
// not a list, for a title described before it had several).
func (w *Worker) storedAudio(ctx context.Context, j *pipeline.Job, dir string) ([]packager.Track, error) {
	p := filepath.Join(dir, "audio.json")
	if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), pipeline.AlignedAudioKey(j.ID), p); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var tracks []packager.Track
	if err := json.Unmarshal(data, &tracks); err != nil {
		var one packager.Track
		if err1 := json.Unmarshal(data, &one); err1 != nil {
			return nil, fmt.Errorf("audio tracks: %w", err)
		}
		tracks = []packager.Track{one}
	}
	return tracks, nil
}
