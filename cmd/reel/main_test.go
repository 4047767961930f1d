package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/internal/golden"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
)

func runArgs(args ...string) (string, string, error) {
	var out, errw bytes.Buffer
	err := run(context.Background(), args, &out, &errw)
	return out.String(), errw.String(), err
}

func TestCommandLine(t *testing.T) {
	t.Setenv("REEL_REDIS_ADDR", "")
	t.Setenv("REEL_S3_ENDPOINT", "")
	if out, _, err := runArgs("config", "--markdown"); err != nil || out != config.Markdown() {
		t.Errorf("reel config --markdown: %v\n%s", err, out)
	}
	if out, _, err := runArgs("config"); err != nil || !strings.Contains(out, "REEL_FFMPEG_CPU_PER_FRAME") {
		t.Errorf("reel config: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		code exitCode
		says string
	}{
		{nil, 2, "Servers:"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"dev", "--workers", "0"}, 2, "from 1 to 64"},
		{[]string{"worker", "--no-such-flag"}, 2, "--concurrency int"},
		{[]string{"status"}, 2, "want 1 argument(s)"},
		{[]string{"api", "--help"}, 0, "REEL_ADDR"},
	} {
		_, stderr, err := runArgs(c.args...)
		var code exitCode
		if !errors.As(err, &code) || code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("reel %v: %v, stderr %q; want exit %d saying %q", c.args, err, stderr, c.code, c.says)
		}
	}
	// A configuration error names the setting.
	if _, _, err := runArgs("api"); err == nil || !strings.Contains(err.Error(), "REEL_REDIS_ADDR (--redis), REEL_REDIS_SENTINELS or REEL_REDIS_CLUSTER is required") {
		t.Errorf("reel api without Redis: %v", err)
	}
	t.Setenv("REEL_RATE_LIMIT", "lots")
	if _, _, err := runArgs("api", "--redis", "r:1", "--s3", "s:1"); err == nil || !strings.Contains(err.Error(), `REEL_RATE_LIMIT="lots"`) {
		t.Errorf("reel api with a bad REEL_RATE_LIMIT: %v", err)
	}
}

func TestStatusOutput(t *testing.T) {
	at := time.Date(2026, 11, 26, 7, 29, 0, 0, time.UTC)
	v := &pipeline.View{ID: "9123f560-adb0-4d76-897b-b3ddb62199e6", Status: pipeline.StatusEncoding, Name: "demo.mp4", CreatedAt: at,
		Warnings: []string{"subtitles de.srt: cue 3 ends at 00:00:04.000, not after it starts at 00:00:05.000; fix its timing; the title is made without it"},
		Progress: pipeline.ProgressView{Overall: 0.5, ChunksDone: 1, ChunksTotal: 3},
		Source: &pipeline.SourceInfo{Width: 1920, Height: 1080, VideoCodec: "h264", FrameRate: "30/1", Frames: 900, Duration: 30,
			AudioCodec: "aac", Notes: []string{"2 audio streams: stream 2 (the one marked default) is used, the others are left out"}},
		Renditions: []pipeline.RenditionView{{Rendition: pipeline.Rendition{Rung: ladder.Rung{Name: "1080p", Codec: "h264", Width: 1920, Height: 1080, Bitrate: 6000000},
			Codecs: "avc1.640028", Bandwidth: 4697490, AverageBandwidth: 4620387, Quality: &pipeline.Quality{PSNR: 43.251, SSIM: 0.994}}, Progress: 0.45}},
	}
	var b bytes.Buffer
	printStatus(&b, v)
	b.WriteString(plainLine(v) + "\n")
	v.Status, v.Live = pipeline.StatusPlayable, &pipeline.Live{Chunks: 1, Seconds: 4}
	v.Outputs = &pipeline.Outputs{HLS: "http://o/vod/9123f560/master.m3u8", DASH: "http://o/vod/9123f560/manifest.mpd"}
	printStatus(&b, v)
	v.Live, v.Outputs = nil, nil
	v.Status, v.Error = pipeline.StatusFailed, &pipeline.JobError{Code: "corrupt_media", Message: "the master's video is damaged"}
	printStatus(&b, v)
	golden.Equal(t, "status.txt", b.Bytes())
}

// --subtitles adds each file to the ladder with its language (the
// default rungs when no ladder is given) and reads it; a file the ladder
// lists already keeps its entry.
func TestWithSubtitles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"fr.srt", "en.vtt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("text of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, files, err := withSubtitles(nil, "fr="+filepath.Join(dir, "fr.srt"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ladder.Parse(raw)
	if err != nil || len(l.Rungs) != 5 || len(l.Subtitles) != 1 || l.Subtitles[0] != (ladder.SubtitleFile{File: "fr.srt", Language: "fr"}) || files["fr.srt"] != "text of fr.srt" {
		t.Errorf("%s %v %v", raw, files, err)
	}
	raw, _, err = withSubtitles([]byte(`{"rungs":[{"height":240,"bitrate":300000}],"subtitles":[{"file":"en.vtt","language":"en","sdh":true}]}`),
		"en="+filepath.Join(dir, "en.vtt")+",fr="+filepath.Join(dir, "fr.srt"))
	if err != nil {
		t.Fatal(err)
	}
	if l, err = ladder.Parse(raw); err != nil || len(l.Rungs) != 1 || len(l.Subtitles) != 2 || !l.Subtitles[0].SDH || l.Subtitles[1].File != "fr.srt" {
		t.Errorf("%s %v", raw, err)
	}
	for _, bad := range []string{"fr", "=x.srt", "fr=" + filepath.Join(dir, "missing.srt"), "english please=" + filepath.Join(dir, "fr.srt")} {
		if _, _, err := withSubtitles(nil, bad); err == nil || !strings.Contains(err.Error(), "--subtitles") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
