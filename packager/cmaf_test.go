package packager

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
)

// fragmented writes 3 s of 24 fps H.264 with B-frames as ffmpeg's HLS
// muxer cuts it (1 s fMP4 segments) and returns the folder and the
// segment names.
func fragmented(t *testing.T) (string, []string) {
	t.Helper()
	testenv.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24", "-t", "2.5",
		"-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "24", "-keyint_min", "24", "-sc_threshold", "0",
		"-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
		"-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", filepath.Join(dir, "seg_%d.m4s"), filepath.Join(dir, "index.m3u8"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return dir, []string{"seg_0.m4s", "seg_1.m4s", "seg_2.m4s"}
}

func readAll(t *testing.T, dir string, names ...string) []byte {
	t.Helper()
	var b []byte
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, data...)
	}
	return b
}

// probe returns ffprobe's start time and frame count of an MP4 file.
func probe(t *testing.T, data []byte) (float64, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=start_time,nb_read_frames", "-of", "csv=p=0", p).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	start, _ := strconv.ParseFloat(f[0], 64)
	n, _ := strconv.Atoi(f[1])
	return start, n
}

func TestAlignTrack(t *testing.T) {
	dir, segs := fragmented(t)
	init := readAll(t, dir, "init.mp4")
	ts, err := InitTimescale(init)
	if err != nil {
		t.Fatal(err)
	}
	first := readAll(t, dir, segs[0])
	ept, err := EarliestPresentation(first)
	if err != nil {
		t.Fatal(err)
	}
	// Two B-frames: the first picture is presented two frames late.
	if want := int64(2 * ts / 24); ept != want {
		t.Errorf("earliest presentation %d, want %d (timescale %d)", ept, want, ts)
	}
	_, frames := probe(t, append(init, readAll(t, dir, segs...)...))
	if frames != 60 {
		t.Fatalf("%d frames", frames)
	}
	// ffmpeg's own edit list maps the track to itself.
	if !bytes.Contains(init, []byte("edts")) {
		t.Fatal("ffmpeg wrote no edit list; the test no longer covers DropEditLists")
	}
	bare, err := DropEditLists(init)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bare, []byte("edts")) || len(bare) >= len(init) {
		t.Errorf("edit list left in: %d bytes from %d", len(bare), len(init))
	}
	// Shifted by one frame: every timestamp one frame later, every size kept.
	by := int64(ts / 24)
	shifted := append([]byte{}, bare...)
	for _, s := range segs {
		data := readAll(t, dir, s)
		out, err := ShiftDecodeTime(data, by)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(data) {
			t.Fatalf("%s: %d bytes, was %d", s, len(out), len(data))
		}
		shifted = append(shifted, out...)
	}
	got, n := probe(t, shifted)
	if want := float64(ept+by) / float64(ts); n != 60 || got < want-1e-4 || got > want+1e-4 {
		t.Errorf("shifted: start %.4f, %d frames; want %.4f, 60", got, n, want)
	}
	if e, _ := EarliestPresentation(shifted[len(bare):]); e != ept+by {
		t.Errorf("shifted earliest presentation %d, want %d", e, ept+by)
	}
	if _, err := ShiftDecodeTime(first, -ept-by-1); err == nil {
		t.Error("a shift before 0 was accepted")
	}
	// The last two segments joined: one segment, every frame.
	joined, err := JoinSegments(readAll(t, dir, segs[1]), readAll(t, dir, segs[2]))
	if err != nil {
		t.Fatal(err)
	}
	if _, n := probe(t, append(append(bare, first...), joined...)); n != 60 {
		t.Errorf("joined: %d frames, want 60", n)
	}
	if bytes.Count(joined, []byte("styp")) > 1 {
		t.Error("joined segment has two segment type boxes")
	}
	for _, bad := range [][]byte{nil, []byte("not a segment at all"), init} {
		if _, err := EarliestPresentation(bad); err == nil {
			t.Errorf("EarliestPresentation(%.8q) succeeded", bad)
		}
		if _, err := ShiftDecodeTime(bad, 1); err == nil {
			t.Errorf("ShiftDecodeTime(%.8q) succeeded", bad)
		}
	}
	if _, err := InitTimescale(first); err == nil {
		t.Error("InitTimescale of a media segment succeeded")
	}
}
