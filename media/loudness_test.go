package media_test

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/timeline"
)

// A real clip (a rocket launch at -30.2 LUFS, true peak -13.2 dBTP) is
// normalized in two passes to streaming and broadcast targets: what is
// delivered, AAC decoded, measures within 0.5 LU of the target with its
// true peaks under the ceiling, and the loudness Reel records before and
// after is ffmpeg's own measurement of the master and the encoder input.
func TestNormalize(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	clip := testenv.SharedMedia(t, "03_vp8_640x360-24_rocket-launch_vorbis.webm")
	master := testenv.ServeDir(t, filepath.Dir(clip)) + "/" + filepath.Base(clip)
	orig := testenv.Loudness(t, clip)
	const duration = 8.0
	run := (&media.Runner{}).Run
	for _, tc := range []struct {
		target, ceiling float64
		limited         bool
	}{
		{-16, -1, true},  // +14 dB raises the peaks to +1 dBTP
		{-23, -1, false}, // +7 dB leaves them at -6
		{-24, -2, false},
		{-14, -1, true},
	} {
		t.Run(strconv.FormatFloat(tc.target, 'f', -1, 64), func(t *testing.T) {
			dir := t.TempDir()
			outs := []media.AudioOut{{Stream: 1, Codec: "aac", Channels: 2, Bitrate: 128000,
				Playlist: filepath.Join(dir, "index.m3u8"), InitName: "init.mp4", SegPattern: filepath.Join(dir, "seg_%05d.m4s")}}
			before, err := media.Normalize(context.Background(), run, master, 0, duration, outs, tc.target, tc.ceiling, dir)
			if err != nil {
				t.Fatal(err)
			}
			if b := before[0]; math.Abs(b.Integrated-orig.Integrated) > 0.2 || math.Abs(b.Range-orig.Range) > 0.3 || math.Abs(b.TruePeak-orig.TruePeak) > 0.2 {
				t.Errorf("measured before %+v, ffmpeg measures the clip %+v", b, orig)
			}
			if limited := outs[0].Limit < 0; limited != tc.limited {
				t.Errorf("limited: %v, want %v (gain %.2f dB)", limited, tc.limited, outs[0].Gain)
			}
			if err := run(context.Background(), media.Cmd{Args: media.AudioTracksArgs(master, 0, duration, 2, outs, true), Env: media.LoudnessEnv(dir)}); err != nil {
				t.Fatal(err)
			}
			after, err := media.ReadLoudness(dir, 1)
			if err != nil {
				t.Fatal(err)
			}
			got := testenv.Loudness(t, filepath.Join(dir, "index.m3u8"))
			t.Logf("target %g LUFS, ceiling %g dBTP: gain %.2f dB, limit %.1f dBTP; before %+v; encoder input %+v; delivered %+v",
				tc.target, tc.ceiling, outs[0].Gain, outs[0].Limit, before[0], after[0], got)
			if math.Abs(got.Integrated-tc.target) > 0.5 {
				t.Errorf("delivered %.2f LUFS, want %g within 0.5 LU", got.Integrated, tc.target)
			}
			if math.Abs(after[0].Integrated-got.Integrated) > 0.3 {
				t.Errorf("recorded %.2f LUFS, the delivered track measures %.2f", after[0].Integrated, got.Integrated)
			}
			if got.TruePeak > tc.ceiling {
				t.Errorf("delivered true peak %.2f dBTP, above the ceiling %g", got.TruePeak, tc.ceiling)
			}
		})
	}
}

// A silent track is measured as silent and left as it is.
func TestNormalizeSilence(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	testenv.Generate(t, filepath.Join(dir, "m.mkv"), "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2",
		"-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le")
	outs := []media.AudioOut{{Stream: 1, Codec: "aac", Channels: 2, Bitrate: 128000}}
	before, err := media.Normalize(context.Background(), (&media.Runner{}).Run, testenv.ServeDir(t, dir)+"/m.mkv", 0, 2, outs, -16, -1, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !before[0].Silent() || before[0].TruePeak != timeline.SilenceFloor || outs[0].Gain != 0 || outs[0].Limit != 0 {
		t.Errorf("silence: measured %+v, gain %g, limit %g", before[0], outs[0].Gain, outs[0].Limit)
	}
}

// A 5.1 stream and a stereo one, three renditions: the measuring run
// (every rendition without priming, so the 5.1 stream's two share their
// timeline) builds and measures each in its own channels; a stream that
// feeds three renditions of one priming is split three ways.
func TestLoudnessOfSurround(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	six := "0.1*sin(2*PI*440*t)|0.1*sin(2*PI*550*t)|0.1*sin(2*PI*660*t)|0.1*sin(2*PI*60*t)|0.1*sin(2*PI*770*t)|0.1*sin(2*PI*880*t)"
	testenv.Generate(t, filepath.Join(dir, "m.mkv"), "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
		"-f", "lavfi", "-i", "aevalsrc="+six+":channel_layout=5.1:sample_rate=48000:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=3",
		"-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le")
	master := testenv.ServeDir(t, dir) + "/m.mkv"
	outs := []media.AudioOut{{Stream: 1, Codec: "aac", Channels: 2}, {Stream: 1, Codec: "eac3", Channels: 6}, {Stream: 2, Codec: "aac", Channels: 2}}
	before, err := media.Normalize(context.Background(), (&media.Runner{}).Run, master, 0, 3, outs, -23, -1, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stereo downmix %+v, 5.1 %+v, stereo %+v", before[0], before[1], before[2])
	for k, b := range before {
		if b.Silent() || b.Integrated > -5 {
			t.Errorf("rendition %d measured %+v", k, b)
		}
	}
	// BS.1770 weighs the surround channels up and leaves out the LFE: the
	// 5.1 track and its downmix measure differently.
	if math.Abs(before[0].Integrated-before[1].Integrated) < 0.5 {
		t.Errorf("the downmix and the 5.1 track measure the same (%.1f LUFS): one was measured for both", before[0].Integrated)
	}
	three := []media.AudioOut{{Stream: 2, Codec: "aac", Channels: 2}, {Stream: 2, Codec: "aac", Channels: 2, Gain: -6}, {Stream: 2, Codec: "aac", Channels: 6}}
	if err := (&media.Runner{}).Run(context.Background(), media.Cmd{Args: media.LoudnessArgs(master, 0, 3, three), Env: media.LoudnessEnv(dir)}); err != nil {
		t.Fatal(err)
	}
	got, err := media.ReadLoudness(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0].Integrated - got[1].Integrated; math.Abs(d-6) > 0.2 {
		t.Errorf("a -6 dB rendition of the same stream measures %.1f LU lower", d)
	}
}
