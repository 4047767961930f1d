package workers

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
)

// jpegLuma is the mean luma of r, 4 pixels in from its edges, in a
// decoded colour JPEG, in the JPEG's full range.
func jpegLuma(t *testing.T, img image.Image, r image.Rectangle) float64 {
	t.Helper()
	yc, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("%T, want a YCbCr JPEG", img)
	}
	r = r.Inset(4)
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += float64(yc.Y[yc.YOffset(x, y)])
			n++
		}
	}
	return sum / n
}

// meanY is jpegLuma in limited range, as the source frames were made, to
// compare with what they were made with.
func meanY(t *testing.T, img image.Image, r image.Rectangle) float64 {
	t.Helper()
	return 16 + jpegLuma(t, img, r)*219/255
}

// TestChunkTrickPlay: a chunk in the middle of a title gives the
// thumbnails at the title's whole multiples of the interval that fall in
// it, in a grid, and the poster when its frame is in the chunk. Each
// frame of the test chunk has the luma of its number in the title.
func TestChunkTrickPlay(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	// 10 fps, 3 s segments: 20 frames between thumbnails, the poster at
	// frame 60 of 600. Chunk 1 is frames 30 to 90.
	j := &pipeline.Job{Plan: &pipeline.Plan{FrameRateNum: 10, FrameRateDen: 1, SegmentSeconds: 3, SegmentFrames: 30, Frames: 600,
		Chunks: []pipeline.Chunk{{Start: 0, End: 30}, {Index: 1, Start: 30, End: 90}, {Index: 2, Start: 90, End: 600}}}}
	seg := filepath.Join(dir, "seg", "180p")
	if err := os.MkdirAll(seg, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Generate(t, filepath.Join(seg, ffmpegPlaylist), "-f", "lavfi", "-i", "nullsrc=s=320x180:r=10:d=6,format=yuv420p,geq=lum='60+2*N':cb=128:cr=128",
		"-c:v", "libx264", "-qp", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
		"-f", "hls", "-hls_time", "3", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", initName,
		"-hls_segment_filename", filepath.Join(seg, segPattern), "-hls_playlist_type", "vod")
	tr, err := readTrack(seg)
	if err != nil {
		t.Fatal(err)
	}
	tr.Name, tr.Codec, tr.Width, tr.Height = "180p", ladder.CodecH264, 320, 180
	w := &Worker{Media: &media.Runner{}}
	out := filepath.Join(dir, "trick")
	got, err := w.chunkTrickPlay(context.Background(), j, 1, []packager.Track{tr}, filepath.Join(dir, "seg"), out)
	if err != nil {
		t.Fatal(err)
	}
	if got != (chunkTrick{Thumbs: 3, Poster: true}) {
		t.Fatalf("chunk 1 made %+v, want 3 thumbnails and the poster", got)
	}
	l := layoutFor(j, []packager.Track{tr})
	grid, err := readJPEG(filepath.Join(out, fmt.Sprintf(gridName, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if b := grid.Bounds(); b.Dx() != spriteCols*l.tw || b.Dy() != spriteRows*l.th {
		t.Fatalf("grid %v, want %dx%d thumbnails of %dx%d", b, spriteCols, spriteRows, l.tw, l.th)
	}
	for i, frame := range []int{40, 60, 80} {
		r := image.Rect(i*l.tw, 0, (i+1)*l.tw, l.th)
		if y, want := meanY(t, grid, r), float64(2*frame); math.Abs(y-want) > 3 {
			t.Errorf("thumbnail %d has luma %.1f, want frame %d's %.0f", i, y, frame, want)
		}
	}
	poster, err := readJPEG(filepath.Join(out, posterName))
	if err != nil {
		t.Fatal(err)
	}
	if y := meanY(t, poster, poster.Bounds()); math.Abs(y-120) > 3 {
		t.Errorf("poster has luma %.1f, want frame 60's 120", y)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Errorf("the chunk's trick-play folder holds %d files, want the grid and the poster", len(entries))
	}
}

// TestComposeSheets: thumbnails from chunks of 3 and 105 (two grids) are
// laid in order into two sheets, the second black after its last.
func TestComposeSheets(t *testing.T) {
	dir := t.TempDir()
	const w, h = 24, 16
	shade := func(i int) uint8 { return uint8(20 + i*2) }
	per := spriteCols * spriteRows
	makeGrids := func(name string, first, n int) thumbGrids {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for g := range grids(n) {
			img := image.NewGray(image.Rect(0, 0, spriteCols*w, spriteRows*h))
			for i := g * per; i < min(n, (g+1)*per); i++ {
				c := i % per
				cell := image.Rect(c%spriteCols*w, c/spriteCols*h, c%spriteCols*w+w, c/spriteCols*h+h)
				for y := cell.Min.Y; y < cell.Max.Y; y++ {
					for x := cell.Min.X; x < cell.Max.X; x++ {
						img.SetGray(x, y, color.Gray{shade(first + i)})
					}
				}
			}
			if err := writeJPEG(filepath.Join(d, fmt.Sprintf(gridName, g+1)), img); err != nil {
				t.Fatal(err)
			}
		}
		return thumbGrids{dir: d, n: n}
	}
	parts := []thumbGrids{makeGrids("a", 0, 3), makeGrids("b", 3, 105)}
	pattern := filepath.Join(dir, spriteName)
	if err := composeSheets(parts, w, h, pattern); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf(pattern, 3)); err == nil {
		t.Fatal("108 thumbnails made a third sheet")
	}
	lumaAt := func(sheet, cell int) float64 {
		img, err := readJPEG(fmt.Sprintf(pattern, sheet))
		if err != nil {
			t.Fatal(err)
		}
		return jpegLuma(t, img, image.Rect(cell%spriteCols*w, cell/spriteCols*h, cell%spriteCols*w+w, cell/spriteCols*h+h))
	}
	for _, i := range []int{0, 2, 3, 99, 100, 102, 107} {
		if y, want := lumaAt(i/per+1, i%per), float64(shade(i)); math.Abs(y-want) > 4 {
			t.Errorf("thumbnail %d: luma %.1f, want %.0f", i, y, want)
		}
	}
	if y := lumaAt(2, 8); y > 4 {
		t.Errorf("the second sheet after its last thumbnail: luma %.1f, want black", y)
	}
}
