package workers

import (
	"context"
	"fmt"
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
// its sprite sheets, from the renditions packRung left in dir, and uploads
// them beside the manifests.
func (w *Worker) trickPlay(ctx context.Context, j *pipeline.Job, tracks []packager.Track, dir string) error {
	if len(tracks) == 0 {
		return nil
	}
	family := packager.ByCodec(tracks)[0] // tallest first
	top := family[0]
	fps := j.Plan.FPS()
	frames := int64(math.Round(top.Duration() * fps))

	// Poster: the frame posterShare into the title (at most posterMax
	// seconds), from the top rendition's chunk that holds it.
	at := int64(math.Min(posterShare*float64(frames), posterMax*fps))
	chunk := j.Plan.Chunks[len(j.Plan.Chunks)-1]
	for _, c := range j.Plan.Chunks {
		if at >= c.Start && at < c.End {
			chunk = c
			break
		}
	}
	poster := filepath.Join(dir, posterName)
	in := filepath.Join(dir, "in-"+top.Name, fmt.Sprintf("%05d.mp4", chunk.Index))
	pos := float64(at-chunk.Start+j.Plan.Preroll(chunk.Index)) / fps
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
	list := filepath.Join(dir, "in-"+src.Name, "chunks.ffconcat")
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
