package workers

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

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
	// spriteQuality is the JPEG quality of the sprite sheets; the grids a
	// chunk makes are finer (media.SpritesArgs), as they are encoded again.
	spriteQuality = 85
)

// A chunk's own trick-play files, under its segments' prefix.
const (
	trickDir = "trick"
	gridName = "grid_%03d.jpg"
)

// chunkTrick is what a chunk's encode made for the title's trick play
// (chunkTrickPlay), stored in trickDir beside its segments: its Thumbs
// thumbnails in order, in grids laid out as the title's sprite sheets
// (gridName, spriteCols × spriteRows each), and the poster if the
// poster's frame is in the chunk.
type chunkTrick struct {
	Thumbs int  `json:"thumbs"`
	Poster bool `json:"poster,omitempty"`
}

// trickLayout says where a title's trick play is taken from: the poster
// from the top rung of the first codec family, the thumbnails (tw × th,
// one every every frames from the first) from the smallest rung of that
// family at least as large.
type trickLayout struct {
	top, src packager.Track
	tw, th   int
	every    int64
	poster   int64 // the poster's frame
	frames   int64 // the title's
}

// layoutFor is the trick-play layout of job j with rungs tracks (the
// title's or one chunk's: only their names, codecs and sizes are read).
func layoutFor(j *pipeline.Job, tracks []packager.Track) trickLayout {
	family := packager.ByCodec(tracks)[0] // tallest first
	top := family[0]
	fps := j.Plan.FPS()
	frames := j.Plan.Chunks[len(j.Plan.Chunks)-1].End
	l := trickLayout{top: top, src: top, frames: frames, every: max(int64(math.Round(thumbEvery*fps)), 1),
		poster: int64(math.Min(posterShare*float64(frames), posterMax*fps))}
	tw, th := thumbBox, ladder.Even(float64(thumbBox*top.Height)/float64(top.Width))
	if top.Height > top.Width {
		tw, th = ladder.Even(float64(thumbBox*top.Width)/float64(top.Height)), thumbBox
	}
	for _, t := range family {
		if t.Width >= tw && t.Height >= th {
			l.src = t
		}
	}
	l.tw, l.th = min(tw, l.src.Width), min(th, l.src.Height)
	return l
}

// thumbs returns the number of the first thumbnail in frames [start, end)
// and how many there are.
func (l trickLayout) thumbs(start, end int64) (first, n int64) {
	first = (start + l.every - 1) / l.every
	return first, max((end+l.every-1)/l.every-first, 0)
}

// chunkTrickPlay makes chunk k's share of the title's trick play into out
// (chunkTrick) from its rungs, tracks, whose segments are in segDir (a
// folder per rung, on the title's numbering, as cutChunk leaves them).
// The thumbnails and the poster are made side by side.
func (w *Worker) chunkTrickPlay(ctx context.Context, j *pipeline.Job, k int, tracks []packager.Track, segDir, out string) (chunkTrick, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return chunkTrick{}, err
	}
	l := layoutFor(j, tracks)
	p := j.Plan
	c := p.Chunks[k]
	fps := p.FPS()
	_, n := l.thumbs(c.Start, c.End)
	t := chunkTrick{Thumbs: int(n), Poster: c.Start <= l.poster && l.poster < c.End}
	g, gctx := errgroup.WithContext(ctx)
	if n > 0 {
		g.Go(func() error {
			in := filepath.Join(out, "thumbs-src.mp4")
			if err := joinLocal(in, filepath.Join(segDir, l.src.Name), l.src.Init, l.src.Segments); err != nil {
				return err
			}
			list := filepath.Join(out, "thumbs-src.ffconcat")
			if err := writeConcat(list, []string{in}, nil, nil); err != nil {
				return err
			}
			args := media.SpritesArgs(list, l.every, c.Start%l.every, l.tw, l.th, spriteCols, spriteRows, filepath.Join(out, gridName))
			if err := w.Media.Run(gctx, media.Cmd{Args: args, Limits: w.Limits.streamLimits(float64(c.End-c.Start)/fps, 0)}); err != nil {
				return err
			}
			for i := range grids(int(n)) {
				if _, err := os.Stat(filepath.Join(out, fmt.Sprintf(gridName, i+1))); err != nil {
					return fmt.Errorf("thumbnail grid %d of chunk %d is missing: %w", i+1, k, err)
				}
			}
			return errors.Join(os.Remove(in), os.Remove(list))
		})
	}
	if t.Poster {
		g.Go(func() error {
			// The segment that holds the poster's frame; a joined short
			// tail makes the last one longer.
			seg := min(int((l.poster-c.Start)/max(p.SegmentFrames, 1)), len(l.top.Segments)-1)
			in := filepath.Join(out, "poster-src.mp4")
			if err := joinLocal(in, filepath.Join(segDir, l.top.Name), l.top.Init, l.top.Segments[seg:seg+1]); err != nil {
				return err
			}
			pos := float64(l.poster-c.Start-int64(seg)*p.SegmentFrames) / fps
			if err := w.Media.Run(gctx, media.Cmd{Args: media.PosterArgs(in, pos, filepath.Join(out, posterName)), Limits: w.Limits.streamLimits(0, 0)}); err != nil {
				return err
			}
			return os.Remove(in)
		})
	}
	return t, g.Wait()
}

// grids is how many grids n thumbnails fill.
func grids(n int) int { return (n + spriteCols*spriteRows - 1) / (spriteCols * spriteRows) }

// joinLocal writes the initialization segment init and segments segs of
// the track in dir into one fragmented MP4 file at dst.
func joinLocal(dst, dir, init string, segs []packager.Segment) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	add := func(name string) error {
		p, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer p.Close()
		_, err = io.Copy(f, p)
		return err
	}
	if err := add(init); err != nil {
		return err
	}
	for _, s := range segs {
		if err := add(s.URI); err != nil {
			return err
		}
	}
	return f.Close()
}

// trickPlay writes the title's poster image and its WebVTT thumbnail
// track with the sprite sheets, from what each chunk made
// (chunkTrickPlay), and uploads them beside the manifests. A chunk stored
// without its trick play has it made here from its segments.
func (w *Worker) trickPlay(ctx context.Context, j *pipeline.Job, tracks []packager.Track, chunks []chunkSegments, dir string) error {
	if len(tracks) == 0 {
		return nil
	}
	l := layoutFor(j, tracks)
	dirs := make([]string, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	for k := range chunks {
		dirs[k] = filepath.Join(dir, trickDir, fmt.Sprintf("%05d", k))
		g.Go(func() error {
			if chunks[k].Trick == nil {
				t, err := w.remakeChunkTrick(gctx, j, k, chunks[k].Tracks, dirs[k])
				chunks[k].Trick = &t
				return err
			}
			return w.fetchChunkTrick(gctx, j, k, *chunks[k].Trick, dirs[k])
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	count := 0
	poster := ""
	for k, c := range chunks {
		count += c.Trick.Thumbs
		if c.Trick.Poster {
			poster = filepath.Join(dirs[k], posterName)
		}
	}
	if _, want := l.thumbs(0, l.frames); count != int(want) {
		return fmt.Errorf("the chunks made %d thumbnails, the title has %d", count, want)
	}
	if poster == "" {
		return errors.New("no chunk made the poster")
	}
	if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), pipeline.PackagedPrefix(j.ID)+posterName, poster, contentType(posterName), "", false); err != nil {
		return err
	}
	out := filepath.Join(dir, thumbsDir)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	parts := make([]thumbGrids, len(chunks))
	for k, c := range chunks {
		parts[k] = thumbGrids{dir: dirs[k], n: c.Trick.Thumbs}
	}
	if err := composeSheets(parts, l.tw, l.th, filepath.Join(out, spriteName)); err != nil {
		return err
	}
	fps := j.Plan.FPS()
	vtt := packager.ThumbnailsVTT(packager.Sprites{
		Count: count, Interval: float64(l.every) / fps, Duration: float64(l.frames) / fps,
		W: l.tw, H: l.th, Cols: spriteCols, Rows: spriteRows,
		Sheet: func(i int) string { return fmt.Sprintf(spriteName, i+1) },
	})
	if err := os.WriteFile(filepath.Join(out, thumbsVTT), vtt, 0o644); err != nil {
		return err
	}
	return w.uploadDir(ctx, out, pipeline.PackagedPrefix(j.ID)+thumbsDir+"/")
}

// fetchChunkTrick downloads what chunk k made for the trick play (t) into
// dir.
func (w *Worker) fetchChunkTrick(ctx context.Context, j *pipeline.Job, k int, t chunkTrick, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prefix := j.Plan.Chunks[k].Segments + trickDir + "/"
	var names []string
	for i := range grids(t.Thumbs) {
		names = append(names, fmt.Sprintf(gridName, i+1))
	}
	if t.Poster {
		names = append(names, posterName)
	}
	for _, name := range names {
		if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), prefix+name, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// remakeChunkTrick makes chunk k's trick play into dir from its stored
// segments, for a chunk stored without it.
func (w *Worker) remakeChunkTrick(ctx context.Context, j *pipeline.Job, k int, tracks []packager.Track, dir string) (chunkTrick, error) {
	l := layoutFor(j, tracks)
	segDir := filepath.Join(dir, "seg")
	prefix := j.Plan.Chunks[k].Segments
	need := []packager.Track{l.src}
	if l.top.Name != l.src.Name {
		need = append(need, l.top)
	}
	for _, tr := range need {
		if err := os.MkdirAll(filepath.Join(segDir, tr.Name), 0o755); err != nil {
			return chunkTrick{}, err
		}
		names := []string{tr.Init}
		for _, s := range tr.Segments {
			names = append(names, s.URI)
		}
		for _, name := range names {
			if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), prefix+tr.Name+"/"+name, filepath.Join(segDir, tr.Name, name)); err != nil {
				return chunkTrick{}, err
			}
		}
	}
	return w.chunkTrickPlay(ctx, j, k, tracks, segDir, dir)
}

// thumbGrids are one chunk's n thumbnails, in grids (gridName) in dir.
type thumbGrids struct {
	dir string
	n   int
}

// composeSheets lays the thumbnails of parts, in order, into the title's
// sprite sheets of spriteCols × spriteRows thumbnails of w × h, written
// to pattern (numbered from 1). Each sheet is a whole grid, black where
// the last has no thumbnails.
func composeSheets(parts []thumbGrids, w, h int, pattern string) error {
	per := spriteCols * spriteRows
	cell := func(i int) image.Rectangle {
		i %= per
		at := image.Pt(i%spriteCols*w, i/spriteCols*h)
		return image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))}
	}
	var sheet *image.RGBA
	next := 0 // thumbnails laid so far
	for _, p := range parts {
		var grid image.Image
		for i := range p.n {
			if i%per == 0 {
				var err error
				if grid, err = readJPEG(filepath.Join(p.dir, fmt.Sprintf(gridName, i/per+1))); err != nil {
					return err
				}
			}
			src := cell(i).Add(grid.Bounds().Min)
			if !src.In(grid.Bounds()) {
				return fmt.Errorf("thumbnail grid %d in %s is %v, too small for thumbnail %d of %dx%d", i/per+1, p.dir, grid.Bounds().Size(), i, w, h)
			}
			if next%per == 0 {
				if sheet != nil {
					if err := writeJPEG(fmt.Sprintf(pattern, next/per), sheet); err != nil {
						return err
					}
				}
				sheet = image.NewRGBA(image.Rect(0, 0, spriteCols*w, spriteRows*h))
				draw.Draw(sheet, sheet.Bounds(), image.Black, image.Point{}, draw.Src)
			}
			draw.Draw(sheet, cell(next), grid, src.Min, draw.Src)
			next++
		}
	}
	if sheet == nil {
		return nil
	}
	return writeJPEG(fmt.Sprintf(pattern, (next-1)/per+1), sheet)
}

func readJPEG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return img, nil
}

func writeJPEG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: spriteQuality}); err != nil {
		return err
	}
	return f.Close()
}
