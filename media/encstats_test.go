package media_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/timeline"
)

// TestEncoderQualityMatchesTwoDecodes holds the quality the H.264 encoder
// reports for itself to the second run it replaces (QualityArgs: the
// source decoded, conformed and scaled again, each rung decoded): within
// 0.1 dB PSNR and 0.002 SSIM, over the same frames, on the shared clips
// and a synthetic noisy master, with a preroll left out as the encode
// stage leaves it.
func TestEncoderQualityMatchesTwoDecodes(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	type master struct {
		name, path string
		end        float64 // seconds of the master encoded; 0 for all
	}
	dir := t.TempDir()
	masters := []master{{name: "noise", path: testenv.Generate(t, filepath.Join(dir, "noise.mkv"),
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,noise=alls=12:allf=t", "-t", "5", "-c:v", "libx264", "-crf", "12", "-preset", "ultrafast")}}
	if !testing.Short() {
		for _, c := range []master{
			{name: "02_h264-high444_720p20_cockatoo_mp3.mp4"},
			{name: "03_vp8_640x360-24_rocket-launch_vorbis.webm"},
			{name: "06_mpeg2_720x405-25_city_noaudio.mpg"},
			{name: "08_msmpeg4v3_768x576-10_80s-pedestrians_noaudio.avi", end: 24},
		} {
			c.path = testenv.SharedMedia(t, c.name)
			masters = append(masters, c)
		}
	}
	for _, m := range masters {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			checkEncoderQuality(t, m.path, m.end)
		})
	}
}

func checkEncoderQuality(t *testing.T, master string, end float64) {
	dir := t.TempDir()
	// The split's piece: the master's video, stream-copied into Matroska.
	piece := filepath.Join(dir, "piece.mkv")
	run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-fflags", "+genpts", "-i", master, "-map", "0:v:0", "-c", "copy", piece)
	// The master's probe, on a file: without the http protocol's
	// reconnect options, with the file protocol allowed.
	var probe []string
	for args := media.ProbeArgs(piece); len(args) > 0; args = args[1:] {
		switch {
		case strings.HasPrefix(args[0], "-reconnect"):
			args = args[1:]
		case args[0] == "-protocol_whitelist":
			probe, args = append(probe, args[0], "file"), args[1:]
		default:
			probe = append(probe, args[0])
		}
	}
	out, err := exec.Command("ffprobe", probe...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", piece, err)
	}
	res, err := media.ParseProbe(out)
	if err != nil {
		t.Fatal(err)
	}
	c := media.ConformFor(res.Video, "")
	l := ladder.Default().Normalize()
	rungs, err := ladder.Select(l, ladder.Source{Width: c.DisplayWidth, Height: c.DisplayHeight})
	if err != nil {
		t.Fatal(err)
	}
	// The top rung, the lowest and one HEVC rung, which does not measure
	// itself and is left to the second run.
	hevc := rungs[len(rungs)-1]
	hevc.Codec, hevc.Profile, hevc.Preset, hevc.CRF = ladder.CodecHEVC, "main", "ultrafast", ladder.DefaultCRF[ladder.CodecHEVC]
	rungs = []ladder.Rung{rungs[0], rungs[len(rungs)-1], hevc}
	list := filepath.Join(dir, "pieces.ffconcat")
	if err := os.WriteFile(list, []byte(fmt.Sprintf("ffconcat version 1.0\nfile '%s'\n", piece)), 0o644); err != nil {
		t.Fatal(err)
	}
	seg := 2.0
	spec := media.EncodeSpec{ConcatList: list, Conform: c, Window: timeline.Window{End: end}, SegmentSeconds: seg,
		Preroll: timeline.SegmentFrames(c.Rate, seg), Rungs: rungs, StatsDir: dir}
	for i := range rungs {
		spec.Outputs = append(spec.Outputs, filepath.Join(dir, fmt.Sprintf("r%d.mp4", i)))
	}
	r := &media.Runner{}
	if err := r.Run(context.Background(), media.Cmd{Args: media.EncodeArgs(spec), Env: spec.StatsEnv()}); err != nil {
		t.Fatal(err)
	}
	reported, err := media.ReadEncoderQuality(spec)
	if err != nil {
		t.Fatal(err)
	}
	if reported[2] != nil {
		t.Errorf("the HEVC rung has reported quality %+v; its encoder does not measure itself", reported[2])
	}
	q := media.QualitySpec{ConcatList: list, Conform: c, Window: spec.Window, Preroll: spec.Preroll, Rungs: rungs[:2], Encoded: spec.Outputs[:2]}
	for i := range q.Rungs {
		q.PSNRLogs = append(q.PSNRLogs, filepath.Join(dir, fmt.Sprintf("psnr-%d.log", i)))
		q.SSIMLogs = append(q.SSIMLogs, filepath.Join(dir, fmt.Sprintf("ssim-%d.log", i)))
	}
	if err := r.Run(context.Background(), media.Cmd{Args: media.QualityArgs(q)}); err != nil {
		t.Fatal(err)
	}
	for i := range q.Rungs {
		want, err := media.ReadQuality(q.PSNRLogs[i], q.SSIMLogs[i])
		if err != nil {
			t.Fatal(err)
		}
		got := reported[i]
		t.Logf("%dp: encoder %.3f dB %.4f, two decodes %.3f dB %.4f over %d frames", rungs[i].Height, got.PSNR(), got.SSIM(), want.PSNR(), want.SSIM(), want.Frames)
		if got.Frames != want.Frames {
			t.Errorf("%dp: the encoder reported %d frames after the preroll, the second run measured %d", rungs[i].Height, got.Frames, want.Frames)
		}
		if d := math.Abs(got.PSNR() - want.PSNR()); d > 0.1 {
			t.Errorf("%dp: PSNR %.3f dB reported, %.3f dB measured: %.3f dB apart, want within 0.1", rungs[i].Height, got.PSNR(), want.PSNR(), d)
		}
		if d := math.Abs(got.SSIM() - want.SSIM()); d > 0.002 {
			t.Errorf("%dp: SSIM %.4f reported, %.4f measured: %.4f apart, want within 0.002", rungs[i].Height, got.SSIM(), want.SSIM(), d)
		}
	}
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, b)
	}
}
