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
	master := testenv.ServeDir(t, dir) + "/m.mkv"
	const duration = 3.0
	t.Run("plain", func(t *testing.T) {
		checkInSync(t, master, duration, []syncCase{{"st", "aac", 1, 2, 0, 0}, {"sur", "eac3", 1, 6, 0, 0}, {"two", "aac", 2, 2, 0, 0}}, false)
	})
	// Gain and the limiter (with its lookahead) move no sample in time,
	// and the run measures what each encoder is given.
	t.Run("gain, limiter and loudness", func(t *testing.T) {
		checkInSync(t, master, duration, []syncCase{{"st", "aac", 1, 2, 6, -3}, {"sur", "eac3", 1, 6, -2, 0}, {"two", "aac", 2, 2, 0, 0}}, true)
	})
}

// syncCase is one rendition checkInSync encodes: its gain and limiter
// (dB) and what it must be.
type syncCase struct {
	name, codec string
	stream, ch  int
	gain, limit float64
}

func checkInSync(t *testing.T, master string, duration float64, wants []syncCase, measure bool) {
	dir := t.TempDir()
	var outs []media.AudioOut
	for _, w := range wants {
		d := filepath.Join(dir, w.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, media.AudioOut{Stream: w.stream, Codec: w.codec, Channels: w.ch, Bitrate: 96000 * w.ch, Gain: w.gain, Limit: w.limit,
			Playlist: filepath.Join(d, "index.m3u8"), InitName: "init.mp4", SegPattern: filepath.Join(d, "seg_%05d.m4s")})
	}
	args := media.AudioTracksArgs(master, 0, duration, 2, outs, measure)
	cmd := media.Cmd{Args: args}
	if measure {
		cmd.Env = media.LoudnessEnv(dir)
	}
	if err := (&media.Runner{}).Run(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	if measure {
		got, err := media.ReadLoudness(dir, len(outs))
		if err != nil {
			t.Fatal(err)
		}
		// The click's peak is 0.8 (-1.9 dBFS) in every channel.
		for k, w := range wants {
			peak := -1.94 + w.gain
			if w.limit < 0 {
				peak = min(peak, w.limit)
			}
			if l := got[k]; math.Abs(l.TruePeak-peak) > 0.3 || l.Silent() {
				t.Errorf("%s: measured %+v, want a true peak of %.1f dBTP", w.name, l, peak)
			}
		}
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
