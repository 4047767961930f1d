package workers

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
)

// Trick-play files of a title, relative to its folder.
const (
	posterName  = "poster.jpg"
	thumbsDir   = "thumbs"
	thumbsVTT   = "thumbs.vtt"
	spriteName  = "sprite_%03d.jpg"
	thumbBox    = 240 // a thumbnail fits in thumbBox × thumbBox
	thumbEvery  = 2.0 // seconds between thumbnails, rounded to whole frames
	spriteCols  = 10
	spriteRows  = 10
	posterShare = 0.1 // the poster is the frame this far into the title
	posterMax   = 10.0
)

// trickPlay writes the poster image and the WebVTT thumbnail track with
// its sprite sheets, from the title's segments (chunks, joined into
// tracks), and uploads them beside the manifests.
func (w *Worker) trickPlay(ctx context.Context, j *pipeline.Job, tracks []packager.Track, chunks []chunkSegments, dir string) error {
	if len(tracks) == 0 {
		return nil
	}
	family := packager.ByCodec(tracks)[0] // tallest first
	top := family[0]
	fps := j.Plan.FPS()
	frames := int64(math.Round(top.Duration() * fps))

	// Poster: the frame posterShare into the title (at most posterMax
	// seconds), from the top rendition's segment that holds it.
	at := int64(math.Min(posterShare*float64(frames), posterMax*fps))
	seg := min(int(at/max(j.Plan.SegmentFrames, 1)), len(top.Segments)-1)
	in := filepath.Join(dir, "poster-src.mp4")
	if err := w.joinSegments(ctx, j, chunks, top, seg, seg+1, in); err != nil {
		return err
	}
	poster := filepath.Join(dir, posterName)
	pos := float64(at-int64(seg)*j.Plan.SegmentFrames) / fps
	if err := w.Media.Run(ctx, media.Cmd{Args: media.PosterArgs(in, pos, poster), Limits: w.Limits.streamLimits(0, 0)}); err != nil {
		return err
	}
	if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), pipeline.PackagedPrefix(j.ID)+posterName, poster, contentType(posterName), ""); err != nil {
		return err
	}

	// Thumbnails, from the smallest rendition that is at least as large.
	tw, th := thumbBox, ladder.Even(float64(thumbBox*top.Height)/float64(top.Width))
	if top.Height > top.Width {
		tw, th = ladder.Even(float64(thumbBox*top.Width)/float64(top.Height)), thumbBox
	}
	src := top
	for _, t := range family {
		if t.Width >= tw && t.Height >= th {
			src = t
		}
	}
	tw, th = min(tw, src.Width), min(th, src.Height)
	every := max(int64(math.Round(thumbEvery*fps)), 1)
	out := filepath.Join(dir, thumbsDir)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	whole := filepath.Join(dir, "thumbs-src.mp4")
	if err := w.joinSegments(ctx, j, chunks, src, 0, len(src.Segments), whole); err != nil {
		return err
	}
	list := filepath.Join(dir, "thumbs-src.ffconcat")
	if err := writeConcat(list, []string{whole}, nil, nil); err != nil {
		return err
	}
	if err := w.Media.Run(ctx, media.Cmd{Args: media.SpritesArgs(list, every, tw, th, spriteCols, spriteRows, filepath.Join(out, spriteName)),
		Limits: w.Limits.streamLimits(float64(frames)/fps, 0)}); err != nil {
		return err
	}
	count := int((frames + every - 1) / every)
	vtt := packager.ThumbnailsVTT(packager.Sprites{
		Count: count, Interval: float64(every) / fps, Duration: float64(frames) / fps,
		W: tw, H: th, Cols: spriteCols, Rows: spriteRows,
		Sheet: func(i int) string { return fmt.Sprintf(spriteName, i+1) },
	})
	sheets := (count + spriteCols*spriteRows - 1) / (spriteCols * spriteRows)
	for i := 1; i <= sheets; i++ {
		if _, err := os.Stat(filepath.Join(out, fmt.Sprintf(spriteName, i))); err != nil {
			return fmt.Errorf("sprite sheet %d of %d is missing: %w", i, sheets, err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, thumbsVTT), vtt, 0o644); err != nil {
		return err
	}
	return w.uploadDir(ctx, out, pipeline.PackagedPrefix(j.ID)+thumbsDir+"/")
}

// joinSegments writes segments [from, to) of track tr (whose segments the
// chunks hold), after its initialization segment, into one fragmented MP4
// file at dst.
func (w *Worker) joinSegments(ctx context.Context, j *pipeline.Job, chunks []chunkSegments, tr packager.Track, from, to int, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tmp := dst + ".part"
	add := func(key string) error {
		if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), key, tmp); err != nil {
			return err
		}
		p, err := os.Open(tmp)
		if err != nil {
			return err
		}
		defer p.Close()
		_, err = io.Copy(f, p)
		return err
	}
	if err := add(j.Plan.Chunks[0].Segments + tr.Name + "/" + tr.Init); err != nil {
		return err
	}
	i := 0
	for k, c := range chunks {
		for _, ct := range c.Tracks {
			if ct.Name != tr.Name {
				continue
			}
			for _, s := range ct.Segments {
				if i >= from && i < to {
					if err := add(j.Plan.Chunks[k].Segments + tr.Name + "/" + s.URI); err != nil {
						return err
					}
				}
				i++
			}
		}
	}
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	return f.Close()
}
