package media_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
)

// The probe reads a progressive MP4 or QuickTime master's index instead of
// the whole master only where the index says what reading it would: the
// frames ffmpeg reads, all of whose data is in the file. Every other master
// is counted, and a cut-short one still fails as truncated.
func TestProbeReadsMP4Index(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30", "-c:a", "aac"}
	gen := func(name string, args ...string) string {
		return testenv.Generate(t, filepath.Join(dir, name), append(append([]string{}, src...), args...)...)
	}
	plain := gen("plain.mp4")
	gen("faststart.mp4", "-movflags", "+faststart")
	gen("quicktime.mov")
	gen("fragmented.mp4", "-movflags", "frag_keyframe+empty_moov")
	gen("tracks.mkv")
	// Cut 1.3 s into a GOP by stream copy: the edit list starts past
	// frames ffmpeg then leaves out.
	testenv.Generate(t, filepath.Join(dir, "edited.mp4"), "-ss", "1.3", "-i", plain, "-t", "2", "-c", "copy")
	cut := func(name, from string, share float64) {
		data, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data[:int(float64(len(data))*share)], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cut("cut-faststart.mp4", "faststart.mp4", 0.6)
	cut("cut.mp4", "plain.mp4", 0.6)

	for _, c := range []struct {
		file  string
		index bool // the index stands in for the count
	}{
		{"plain.mp4", true}, {"faststart.mp4", true}, {"quicktime.mov", true},
		{"fragmented.mp4", false}, {"tracks.mkv", false}, {"edited.mp4", false},
		{"cut-faststart.mp4", false}, {"cut.mp4", false},
	} {
		f, err := os.Open(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		idx, err := media.ReadMP4Index(f, fi.Size())
		f.Close()
		switch {
		case c.index && err != nil:
			t.Errorf("%s: %v, want its index read", c.file, err)
		case !c.index && !errors.Is(err, media.ErrNoIndex):
			t.Errorf("%s: index %+v, error %v; want ErrNoIndex", c.file, idx, err)
		case c.index && (len(idx.VideoSamples) != 2 || idx.VideoSamples[0] != 120 || idx.VideoSamples[1] != -1):
			t.Errorf("%s: video samples %v, want [120 -1]", c.file, idx.VideoSamples)
		}
	}

	// A crafted index is read no further than its boxes allow, and never
	// stands in for a count it does not hold: every byte of the moov box
	// changed in turn (to 0, to 0xff, or its top bit flipped, by turns)
	// gives an index or ErrNoIndex, never a panic.
	data, err := os.ReadFile(filepath.Join(dir, "faststart.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	moov := bytes.Index(data, []byte("moov")) - 4
	mdat := bytes.Index(data, []byte("mdat")) - 4
	if moov < 0 || mdat < moov {
		t.Fatalf("faststart.mp4: moov at %d, mdat at %d", moov, mdat)
	}
	for i := moov; i < mdat; i++ {
		was := data[i]
		data[i] = []byte{0x00, 0xff, was ^ 0x80}[i%3]
		if _, err := media.ReadMP4Index(bytes.NewReader(data), int64(len(data))); err != nil && !errors.Is(err, media.ErrNoIndex) {
			t.Fatalf("byte %d set to %#x: %v", i, data[i], err)
		}
		data[i] = was
	}

	base := testenv.ServeDir(t, dir)
	r := &media.Runner{}
	for _, name := range []string{"plain.mp4", "faststart.mp4", "quicktime.mov", "fragmented.mp4", "tracks.mkv"} {
		p, err := r.Probe(context.Background(), base+"/"+name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Video.Frames != 120 || p.Audio == nil {
			t.Errorf("%s: %d frames, audio %+v; want 120 and the audio", name, p.Video.Frames, p.Audio)
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		idx, _ := media.ReadMP4Index(f, fi.Size())
		f.Close()
		if want := filepath.Ext(name) != ".mkv" && name != "fragmented.mp4"; idx.Counts(p) != want {
			t.Errorf("%s: the index stands in for the count: %v, want %v", name, idx.Counts(p), want)
		}
	}
	// The edit list leaves out the frames before the GOP's keyframe: the
	// count says how many ffmpeg reads.
	counted, err := r.Probe(context.Background(), base+"/edited.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if counted.Video.Frames <= 0 || counted.Video.Frames > 2*30+30 {
		t.Errorf("edited.mp4: %d frames", counted.Video.Frames)
	}
	for _, name := range []string{"cut-faststart.mp4", "cut.mp4"} {
		_, err := r.Probe(context.Background(), base+"/"+name)
		if media.MediaCode(err) != media.CodeTruncated {
			t.Errorf("%s: %v, want %s", name, err, media.CodeTruncated)
		}
	}
}
