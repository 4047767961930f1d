package media_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
)

// One run encodes a 5.1 stream to stereo AAC and 5.1 E-AC-3 and a second
// stereo stream to AAC: each rendition has its channels, lasts the
// video's duration, and a click at 1 s in the master is heard at 1 s in
// every one of them (within a millisecond), encoder delays included.
func TestAudioTracksInSync(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	click := "if(between(t\\,1\\,1.005)\\,0.8*sin(2*PI*2000*t)\\,0)"
	six := click
	for i := 1; i < 6; i++ {
		six += "|" + click
	}
	testenv.Generate(t, filepath.Join(dir, "m.mkv"),
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
		"-f", "lavfi", "-i", "aevalsrc="+six+":channel_layout=5.1:sample_rate=48000:duration=3",
		"-f", "lavfi", "-i", "aevalsrc="+click+"|"+click+":channel_layout=stereo:sample_rate=48000:duration=3",
		"-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le")
	type want struct {
		name, codec string
		stream, ch  int
	}
	wants := []want{{"st", "aac", 1, 2}, {"sur", "eac3", 1, 6}, {"two", "aac", 2, 2}}
	var outs []media.AudioOut
	for _, w := range wants {
		d := filepath.Join(dir, w.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, media.AudioOut{Stream: w.stream, Codec: w.codec, Channels: w.ch, Bitrate: 96000 * w.ch,
			Playlist: filepath.Join(d, "index.m3u8"), InitName: "init.mp4", SegPattern: filepath.Join(d, "seg_%05d.m4s")})
	}
	const duration = 3.0
	args := media.AudioTracksArgs(testenv.ServeDir(t, dir)+"/m.mkv", 0, duration, 2, outs)
	if err := (&media.Runner{}).Run(context.Background(), media.Cmd{Args: args}); err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		pl := filepath.Join(dir, w.name, "index.m3u8")
		pcm, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", pl, "-ac", "1", "-f", "f32le", "-").Output()
		if err != nil {
			t.Fatalf("%s: decode: %v", w.name, err)
		}
		n := len(pcm) / 4
		onset := -1
		for i := 0; i < n; i++ {
			if math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(pcm[4*i:])))) > 0.05 {
				onset = i
				break
			}
		}
		if at := float64(onset) / 48000; onset < 0 || math.Abs(at-1) > 0.001 {
			t.Errorf("%s: the click is at %.4f s, want 1 s", w.name, at)
		}
		if got := float64(n) / 48000; math.Abs(got-duration) > 0.03 {
			t.Errorf("%s: %.3f s of audio, want %.1f", w.name, got, duration)
		}
		p, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name,channels", "-of", "csv=p=0", pl).Output()
		if err != nil {
			t.Fatal(err)
		}
		// The playlist is read as a program: its stream comes first.
		got := strings.TrimRight(strings.Fields(string(p))[0], ",")
		if want := w.codec + "," + strconv.Itoa(w.ch); got != want {
			t.Errorf("%s: stream %q, want %q", w.name, got, want)
		}
	}
}
