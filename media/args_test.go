package media

import (
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/golden"
	"github.com/reel-video/reel/ladder"
)

func lines(args []string) []byte { return []byte(strings.Join(args, "\n") + "\n") }

func TestEncodeArgsGolden(t *testing.T) {
	rungs, err := ladder.Select(ladder.Default().Normalize(), ladder.Source{Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	spec := EncodeSpec{
		ConcatList: "/w/pieces.ffconcat", TrimStart: 3.983333, TrimEnd: 15.983333,
		FrameRate: Rational{30000, 1001}, SegmentSeconds: 4, Rungs: rungs[:3],
		Outputs: []string{"/w/1080p.mp4", "/w/720p.mp4", "/w/540p.mp4"},
	}
	golden.Equal(t, "encode_3rungs.args", lines(EncodeArgs(spec)))
	spec.Rungs, spec.Outputs, spec.TrimEnd, spec.FrameRate = rungs[4:], []string{"/w/234p.mp4"}, 0, Rational{25, 1}
	golden.Equal(t, "encode_1rung_last.args", lines(EncodeArgs(spec)))
}

func TestOtherArgsGolden(t *testing.T) {
	golden.Equal(t, "split.args", lines(SplitArgs("http://s3/m?X-Amz=1&b=2", []float64{12.012, 24.024}, "/w/piece_%05d.mkv", "/w/pieces.csv")))
	golden.Equal(t, "audio.args", lines(AudioArgs("http://s3/m", 128000, 4, "/w/a/index.m3u8", "init.mp4", "/w/a/seg_%05d.m4s")))
	golden.Equal(t, "package.args", lines(PackageArgs("/w/720p.ffconcat", 4, "/w/720p/ffmpeg.m3u8", "init.mp4", "/w/720p/seg_%05d.m4s")))
	golden.Equal(t, "probe.args", lines(ProbeArgs("http://s3/m")))
}

func TestTimescale(t *testing.T) {
	for fr, want := range map[Rational]int{{30, 1}: 90000, {30000, 1001}: 90000, {24000, 1001}: 24000, {25, 1}: 90000, {7, 1}: 10003} {
		if got := Timescale(fr); got != want {
			t.Errorf("Timescale(%v) = %d, want %d", fr, got, want)
		}
	}
	if got := SegmentFrames(Rational{30000, 1001}, 4); got != 120 {
		t.Errorf("SegmentFrames 29.97 = %d", got)
	}
}
