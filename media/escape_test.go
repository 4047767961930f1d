package media

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/internal/testenv"
)

// canary counts requests to an address no master may make ffmpeg reach.
func canary(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "canary", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestMasterCannotReachBeyondItself serves crafted masters over HTTP, as
// the workers read them, and checks that each one is refused before ffmpeg
// opens the local file or network address it names.
func TestMasterCannotReachBeyondItself(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	// A real video the crafted masters point at: if any of them were
	// followed, the probe would succeed on it.
	secret := testenv.Generate(t, filepath.Join(dir, "secret.ts"),
		"-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-t", "2", "-c:v", "libx264", "-f", "mpegts")
	can, hits := canary(t)
	masters := map[string]string{
		// The HLS local-file-read trick: a playlist whose segments are
		// local files or internal addresses.
		"hls-file.mp4":     "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nfile://" + secret + "\n#EXT-X-ENDLIST\n",
		"hls-network.mp4":  "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n" + can.URL + "/latest/meta-data\n#EXT-X-ENDLIST\n",
		"hls-relative.avi": "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n/secret.ts\n#EXT-X-ENDLIST\n",
		// A concat script naming a local file and a network address.
		"concat.mov": "ffconcat version 1.0\nfile '" + secret + "'\nfile '" + can.URL + "/x.ts'\n",
		// An SDP description that would open network streams.
		"session.sdp": "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n",
	}
	files := http.NewServeMux()
	files.Handle("/", http.FileServer(http.Dir(dir)))
	srv := httptest.NewServer(files)
	defer srv.Close()
	r := &Runner{}
	for name, body := range masters {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := r.Probe(ctx, srv.URL+"/"+name)
			if err == nil {
				t.Fatalf("probe read it: %+v", res)
			}
			if code := MediaCode(err); code != CodeUnsupportedFormat && code != CodeUnreadable {
				t.Errorf("error %v (code %q), want %s", err, code, CodeUnsupportedFormat)
			}
			// The split and audio runs read the master with the same lists.
			err = r.Run(ctx, Cmd{Args: SplitArgs(srv.URL+"/"+name, nil, filepath.Join(t.TempDir(), "p%d.mkv"), filepath.Join(t.TempDir(), "l.csv"))})
			if err == nil {
				t.Errorf("split read it")
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("ffmpeg made %d requests to the canary address", n)
	}
}

func TestLimitsStopRuns(t *testing.T) {
	testenv.Need(t, "ffmpeg", "prlimit")
	dir := t.TempDir()
	r := &Runner{}
	gen := func(extra ...string) []string {
		return append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"}, extra...)
	}
	cases := []struct {
		which string
		cmd   Cmd
	}{
		{"output", Cmd{Args: gen("-t", "600", "-c:v", "rawvideo", "-f", "nut", filepath.Join(dir, "big.nut")), Limits: Limits{Output: 8 << 20}}},
		{"cpu", Cmd{Args: gen("-t", "3600", "-c:v", "libx264", "-preset", "veryslow", "-f", "null", "-"), Limits: Limits{CPU: 2 * time.Second}}},
		{"memory", Cmd{Args: gen("-t", "600", "-c:v", "libx264", "-f", "null", "-"), Limits: Limits{Memory: 96 << 20}}},
	}
	for _, c := range cases {
		t.Run(c.which, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := r.Run(ctx, c.cmd)
			var le *LimitError
			if !errors.As(err, &le) || le.Which != c.which {
				t.Fatalf("got %v, want the %s limit", err, c.which)
			}
			t.Logf("%v", le)
		})
	}
}

func TestCorruptFramesAreReported(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	src := testenv.Generate(t, filepath.Join(dir, "clean.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CorruptMiddle(data)
	bad := filepath.Join(dir, "bad.mp4")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-i", bad, "-f", "null", "-"}
	var ce *CorruptError
	if err := (&Runner{}).Run(context.Background(), Cmd{Args: args, Strict: true, Decoder: DecoderName("h264")}); !errors.As(err, &ce) {
		t.Fatalf("got %v, want a CorruptError", err)
	}
	t.Logf("damaged: %v", ce)
	args[5] = src
	if err := (&Runner{}).Run(context.Background(), Cmd{Args: args, Strict: true, Decoder: "h264"}); err != nil {
		t.Fatalf("clean file: %v", err)
	}
	// A real clip whose pieces, joined by the concat demuxer, make the
	// H.264 decoder log errors at the joint while every frame decodes to
	// the same picture as the whole file: not damage.
	clip := testenv.SharedMedia(t, "02_h264-high444_720p20_cockatoo_mp3.mp4")
	pieces := filepath.Join(dir, "p%02d.mkv")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", clip, "-map", "0:v:0", "-c", "copy", "-f", "segment",
		"-segment_format", "matroska", "-segment_times", "4", pieces).CombinedOutput(); err != nil {
		t.Fatalf("split: %v %s", err, out)
	}
	list := filepath.Join(dir, "list.ffconcat")
	body := "ffconcat version 1.0\nfile '" + filepath.Join(dir, "p00.mkv") + "'\nfile '" + filepath.Join(dir, "p01.mkv") + "'\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	joint := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", list, "-f", "null", "-"}
	if err := (&Runner{}).Run(context.Background(), Cmd{Args: joint, Strict: true, Decoder: "h264"}); err != nil {
		t.Fatalf("pieces of a clean clip: %v", err)
	}
}

// TestDamagedWhereverTheRunStops: damage in a chunk's H.264 stops the
// run in the decoder or, as often, in the demuxer's bitstream filter that
// meets it too (stderr of such a run below); either is the master's
// damage, not a failure to retry. A demuxer error with no complaint about
// the stream is not.
func TestDamagedWhereverTheRunStops(t *testing.T) {
	demuxer := `[h264 @ 0x5572e356b940] left block unavailable for requested intra mode
[h264 @ 0x5572e356b940] error while decoding MB 0 13, bytestream 543
[h264 @ 0x5572e356b940] Invalid NAL unit size (15977 > 2409).
[h264 @ 0x5572e356b940] missing picture in access unit with size 2413
[concat @ 0x5572e3560a00] h264_mp4toannexb filter failed to receive output packet
/w/reel-job-encode-1/pieces.ffconcat: Invalid data found when processing input
`
	if !damaged(demuxer, "h264") {
		t.Error("a run the demuxer stopped on damaged H.264 is not counted as damage")
	}
	decoder := "[h264 @ 0x1] error while decoding MB 0 13, bytestream 543\n[h264 @ 0x1] concealing 1200 DC, 1200 AC, 1200 MV errors in P frame\n"
	if !damaged(decoder, "h264") {
		t.Error("a run the decoder stopped is not counted as damage")
	}
	if damaged("/w/pieces.ffconcat: Invalid data found when processing input\n", "h264") {
		t.Error("a demuxer error without a complaint about the stream counted as damage")
	}
}

func TestErrorsHideSignedURLs(t *testing.T) {
	u := "http://127.0.0.1:9000/reel-masters/masters/x/source?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123"
	err := classifyRead(u + ": Invalid data found when processing input\n")
	if strings.Contains(err.Error(), "X-Amz") || !strings.Contains(err.Error(), "Invalid data") {
		t.Errorf("classified: %v", err)
	}
	ee := &ExitError{Tool: "ffmpeg", Err: errors.New("exit status 1"), Stderr: "[http @ 0x1] HTTP error 503\n" + u + ": Server returned 5XX\n"}
	if strings.Contains(ee.Error(), "X-Amz") || !strings.Contains(ee.Error(), "Server returned 5XX") {
		t.Errorf("exit error: %v", ee)
	}
}

// TestPermanent sorts failed runs into those that will fail again the
// same way (the master's own streams) and those worth a retry.
func TestPermanent(t *testing.T) {
	exited := exec.Command("sh", "-c", "exit 1").Run()
	killed := exec.Command("sh", "-c", "kill -9 $$").Run()
	cases := []struct {
		err    error
		stderr string
		code   string // "" for a retry
	}{
		{exited, "[matroska @ 0x55] Can't write packet with unknown timestamp\nav_interleaved_write_frame(): Invalid argument", CodeBadTimestamps},
		{exited, "[mp4 @ 0x1] Application provided invalid, non monotonically increasing dts to muxer", CodeBadTimestamps},
		{exited, "Error initializing filter 'zscale' with args 'transfer=bt709'", CodeUnprocessable},
		{exited, "[http @ 0x1] Stream ends prematurely at 1000, should be 9000\nInvalid data found when processing input", ""},
		{exited, "http://x/?X-Amz-Signature=1: Server returned 503 Service Unavailable", ""},
		{exited, "seg_00001.m4s: No space left on device", ""},
		{killed, "[matroska @ 0x55] Can't write packet with unknown timestamp", ""},
		{errors.New("no process"), "Can't write packet with unknown timestamp", ""},
	}
	for _, c := range cases {
		me, ok := (&ExitError{Tool: "ffmpeg", Err: c.err, Stderr: c.stderr}).Permanent("the split")
		switch {
		case c.code == "" && ok:
			t.Errorf("%q (%v): permanent %v, want a retry", c.stderr, c.err, me)
		case c.code != "" && (!ok || me.Code != c.code || !strings.HasPrefix(me.Msg, "the split failed")):
			t.Errorf("%q: %v %v, want %s", c.stderr, me, ok, c.code)
		case ok && strings.Contains(me.Msg, "X-Amz"):
			t.Errorf("message shows a presigned URL: %s", me.Msg)
		}
	}
}
