package workers

import (
	"os"
	"path/filepath"
	"testing"
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
