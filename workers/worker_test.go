package workers

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/reel-video/reel/pipeline"
)

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"master.m3u8": "application/vnd.apple.mpegurl", "manifest.mpd": "application/dash+xml",
		"seg_00001.m4s": "video/iso.segment", "init.mp4": "video/mp4", "x.bin": "application/octet-stream",
	} {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestWriteConcatQuotes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "list.ffconcat")
	if err := writeConcat(p, []string{"/w/a.mkv", "/w/it's.mkv"}, []float64{4.004}, []float64{0, 2.0020000001}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "ffconcat version 1.0\nfile '/w/a.mkv'\nduration 4.004000\nfile '/w/it'\\''s.mkv'\ninpoint 2.002001\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReadTrackRejectsForeignPaths(t *testing.T) {
	dir := t.TempDir()
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n../../secret.m4s\n#EXT-X-ENDLIST\n"
	if err := os.WriteFile(filepath.Join(dir, ffmpegPlaylist), []byte(pl), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readTrack(dir); err == nil {
		t.Fatal("readTrack accepted a segment outside its folder")
	}
}

func TestSamplesSpreadOverTheTitle(t *testing.T) {
	// 60 s at 25 fps in 4 s segments, sized for two slots (8 and 7
	// segments), the first chunk then shortened to one segment: chunks
	// start at 0, 4 and 32 s. The one sample of a minute is at the chunk
	// starting nearest the middle (32 s), not at the second of three
	// (4 s).
	p, err := pipeline.MakePlan(1500, 25, 1, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	p.ShortenFirst(2)
	if got := samples(&p, 60); len(got) != 1 || got[0] != 2 {
		t.Errorf("samples of a 60 s title over chunks %v = %v, want [2]", p.Chunks, got)
	}
	// Ten minutes in 60 chunks of 10 s: eight samples, one per eighth,
	// each at the chunk starting nearest the eighth's middle.
	p, err = pipeline.MakePlan(15000, 25, 1, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{4, 11, 19, 26, 34, 41, 49, 56}
	if got := samples(&p, 600); !slices.Equal(got, want) {
		t.Errorf("samples of a 600 s title in 60 chunks = %v, want %v", got, want)
	}
}
