package media_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/subtitles"
)

// Every text subtitle codec Reel reads (SubRip, ASS, WebVTT in Matroska;
// mov_text in MP4) becomes WebVTT with the master's cue times and text,
// in one run over the master.
func TestTextArgs(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	srt := filepath.Join(dir, "in.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,500 --> 00:00:01,250\nFirst <i>line</i>\n\n2\n00:00:01,800 --> 00:00:02,900\nSecond\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	video := []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3"}
	in := []string{"-f", "srt", "-i", srt}
	testenv.Generate(t, filepath.Join(dir, "m.mkv"), append(append(append(append([]string{}, video...), in...), in...), append(in,
		"-map", "0:v", "-map", "1:s", "-map", "2:s", "-map", "3:s", "-c:v", "libx264", "-preset", "ultrafast",
		"-c:s:0", "srt", "-c:s:1", "ass", "-c:s:2", "webvtt")...)...)
	testenv.Generate(t, filepath.Join(dir, "m.mp4"), append(append(append([]string{}, video...), in...),
		"-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-preset", "ultrafast", "-c:s", "mov_text")...)
	url := testenv.ServeDir(t, dir)
	for _, c := range []struct {
		master  string
		streams []int
	}{{"m.mkv", []int{1, 2, 3}}, {"m.mp4", []int{1}}} {
		var outs []string
		for _, k := range c.streams {
			outs = append(outs, filepath.Join(dir, c.master+"."+string(rune('0'+k))+".vtt"))
		}
		if err := (&media.Runner{}).Run(context.Background(), media.Cmd{Args: media.TextArgs(url+"/"+c.master, c.streams, outs)}); err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			data, err := os.ReadFile(o)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := subtitles.Parse(o, data, subtitles.FormatWebVTT)
			if err != nil {
				t.Fatalf("%s stream %d: %v:\n%s", c.master, c.streams[i], err, data)
			}
			cues := tr.List()
			if len(cues) != 2 || cues[0].Start != 0.5 || cues[0].End != 1.25 || cues[1].Start != 1.8 || cues[1].End != 2.9 ||
				!strings.HasPrefix(cues[0].Text, "First") || cues[1].Text != "Second" {
				t.Errorf("%s stream %d: cues %+v", c.master, c.streams[i], cues)
			}
		}
	}
}
