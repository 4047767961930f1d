package media

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/timeline"
)

// TestCodecStringsFromEncoders encodes a short clip with each ladder codec's
// own arguments, packages it as CMAF, and reads the codec string and the
// first I-frame's byte range back.
func TestCodecStringsFromEncoders(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	want := map[string]*regexp.Regexp{
		ladder.CodecH264: regexp.MustCompile(`^avc1\.6400[0-9a-f]{2}$`),
		ladder.CodecHEVC: regexp.MustCompile(`^hvc1\.1\.6\.L\d+\.[0-9A-F]{2}`),
		ladder.CodecVP9:  regexp.MustCompile(`^vp09\.00\.\d\d\.08$`),
		ladder.CodecAV1:  regexp.MustCompile(`^av01\.0\.\d\d[MH]\.08$`),
	}
	for codec, re := range want {
		t.Run(codec, func(t *testing.T) {
			dir := t.TempDir()
			r := ladder.Ladder{Rungs: []ladder.Rung{{Codec: codec, Width: 320, Height: 240, Bitrate: 400000}}}.Normalize().Rungs[0]
			enc := filepath.Join(dir, "enc.mp4")
			args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2"}
			for k, v := range CodecArgs(r, 25, 0, timeline.Conform{Rate: timeline.Rational{Num: 25, Den: 1}}) {
				args = append(args, "-"+k)
				if v != "" {
					args = append(args, v.(string))
				}
			}
			testenv.Generate(t, enc, args...)
			list := filepath.Join(dir, "list.ffconcat")
			if err := os.WriteFile(list, []byte("ffconcat version 1.0\nfile '"+enc+"'\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			pkg := PackageArgs(list, 1, filepath.Join(dir, "p.m3u8"), "init.mp4", filepath.Join(dir, "seg_%05d.m4s"))
			if out, err := exec.Command("ffmpeg", pkg...).CombinedOutput(); err != nil {
				t.Fatalf("package: %v\n%s", err, out)
			}
			init, err := os.ReadFile(filepath.Join(dir, "init.mp4"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := packager.CodecString(init)
			if err != nil || !re.MatchString(s) {
				t.Fatalf("codec string %q, %v; want %s", s, err, re)
			}
			seg, err := os.ReadFile(filepath.Join(dir, "seg_00001.m4s"))
			if err != nil {
				t.Fatal(err)
			}
			off, n, err := packager.IFrameRange(seg)
			if err != nil || off < 0 || n <= 8 || off+n > int64(len(seg)) || string(seg[off+4:off+8]) != "moof" {
				t.Fatalf("I-frame range %d+%d of %d bytes: %v", off, n, len(seg), err)
			}
			t.Logf("%s: %s, keyframe %d of %d segment bytes", codec, s, n, len(seg))
		})
	}
}

// TestKeyframesWhereForced encodes with each codec's own arguments and a
// one-second preroll, and checks that every codec KeyframesWhereForced
// names puts its keyframes on the first frame, where the preroll ends and
// every segment after that, and nowhere else: what a chunk whose preroll
// is not whole segments relies on.
func TestKeyframesWhereForced(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	const seg, preroll = 50, 25 // 2 s segments and a 1 s preroll at 25 fps
	for _, codec := range ladder.Codecs {
		if !KeyframesWhereForced(codec) {
			continue
		}
		t.Run(codec, func(t *testing.T) {
			r := ladder.Ladder{Rungs: []ladder.Rung{{Codec: codec, Width: 320, Height: 240, Bitrate: 400000}}}.Normalize().Rungs[0]
			enc := filepath.Join(t.TempDir(), "enc.mp4")
			args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "200"}
			for k, v := range CodecArgs(r, seg, preroll, timeline.Conform{Rate: timeline.Rational{Num: 25, Den: 1}}) {
				args = append(args, "-"+k)
				if v != "" {
					args = append(args, v.(string))
				}
			}
			testenv.Generate(t, enc, args...)
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame",
				"-of", "csv=p=0", enc).Output()
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, line := range strings.Fields(string(out)) {
				if strings.HasPrefix(line, "1") {
					got = append(got, i)
				}
			}
			want := []int{0, 25, 75, 125, 175}
			if !slices.Equal(got, want) {
				t.Errorf("keyframes at frames %v, want %v", got, want)
			}
		})
	}
}
