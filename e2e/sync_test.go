package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/timeline"
)

// Flash/beep masters: a black picture with one white frame every
// flashEvery frames (frame flashAt of each cycle), and a 1 kHz beep for
// exactly the duration of each white frame, so a title whose sound and
// picture are in sync plays each beep as its flash is on screen.
const (
	flashEvery = 24
	flashAt    = 12
	syncTitle  = 6.0 // seconds
)

// flashBeepMaster writes a flash/beep master at rate (an ffmpeg rate such
// as "30000/1001").
func flashBeepMaster(t *testing.T, dir, rate string) string {
	t.Helper()
	video := fmt.Sprintf("color=c=black:s=320x180:r=%s,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(mod(n\\,%d)\\,%d)'", rate, flashEvery, flashAt)
	audio := fmt.Sprintf("aevalsrc='eq(mod(floor(t*%s)\\,%d)\\,%d)*0.5*sin(2*PI*1000*t)':s=48000", rate, flashEvery, flashAt)
	name := "flash-" + strings.ReplaceAll(rate, "/", "_") + ".mov"
	return testenv.Generate(t, filepath.Join(dir, name), "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
		"-t", strconv.FormatFloat(syncTitle, 'f', -1, 64), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le")
}

// syncLadder has one small rung of every codec.
const syncLadder = `{"rungs":[{"codec":"h264","height":180,"bitrate":300000},{"codec":"hevc","height":180,"bitrate":250000},` +
	`{"codec":"vp9","height":180,"bitrate":250000},{"codec":"av1","height":180,"bitrate":200000}],"segment_seconds":2,"skip_quality":true}`

var (
	framePTS = regexp.MustCompile(`pts_time:([0-9.\-]+)`)
	yavg     = regexp.MustCompile(`lavfi\.signalstats\.YAVG=([0-9.]+)`)
	beepEnd  = regexp.MustCompile(`silence_end: ([0-9.\-]+)`)
)

// flashTimes decodes video stream vmap of input (with its own timestamps)
// and returns the presentation time of every white frame.
func flashTimes(t *testing.T, input, vmap string) []float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-copyts", "-i", input, "-map", vmap,
		"-vf", "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-").Output()
	if err != nil {
		t.Fatalf("decode %s %s: %v", input, vmap, err)
	}
	var times []float64
	pts := math.NaN()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := framePTS.FindStringSubmatch(sc.Text()); m != nil {
			pts, _ = strconv.ParseFloat(m[1], 64)
		} else if m := yavg.FindStringSubmatch(sc.Text()); m != nil {
			if y, _ := strconv.ParseFloat(m[1], 64); y > 128 && !math.IsNaN(pts) {
				times = append(times, pts)
			}
		}
	}
	return times
}

// beepTimes decodes audio stream amap of input (with its own timestamps)
// and returns the time each beep starts.
func beepTimes(t *testing.T, input, amap string) []float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "info", "-copyts", "-i", input, "-map", amap,
		"-af", "silencedetect=n=-30dB:d=0.2", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("decode %s %s: %v\n%s", input, amap, err, out)
	}
	var times []float64
	for _, m := range beepEnd.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		times = append(times, v)
	}
	return times
}

// syncOffset pairs each beep with its flash and returns the mean time by
// which sound leads picture (negative: it lags), in seconds.
func syncOffset(t *testing.T, what string, flashes, beeps []float64) float64 {
	t.Helper()
	want := int(syncTitle) - 1
	if len(flashes) < want || len(beeps) < want {
		t.Fatalf("%s: %d flashes and %d beeps decoded, want %d of each at least", what, len(flashes), len(beeps), want)
	}
	n := min(len(flashes), len(beeps))
	var sum float64
	for i := 0; i < n; i++ {
		sum += flashes[i] - beeps[i]
	}
	return sum / float64(n)
}

// TestAVSync puts flash/beep masters at several frame rates through the
// pipeline with a rung of every codec and measures, as ffmpeg decodes the
// published HLS and DASH presentations, how far each beep is from its
// flash: the offset must stay under half a frame.
func TestAVSync(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	for _, rate := range []string{"24", "25", "30000/1001"} {
		r, err := timeline.ParseRational(rate)
		if err != nil {
			t.Fatal(err)
		}
		frame := 1 / r.Float()
		id := s.submit(t, flashBeepMaster(t, dir, rate), syncLadder)
		if code, out := s.watch(t, id); code != 0 {
			t.Fatalf("%s fps: reel watch exit %d:\n%s", rate, code, out)
		}
		v := s.job(t, id)
		t.Run(strings.ReplaceAll(rate, "/", "_"), func(t *testing.T) {
			for i, rend := range v.Renditions {
				hls := v.Outputs.HLSByCodec[rend.Codec]
				checkFlashSync(t, fmt.Sprintf("%s fps %s HLS", rate, rend.Codec), frame,
					flashTimes(t, hls, "0:v:0"), beepTimes(t, hls, "0:a:0"))
				dash := v.Outputs.DASH
				checkFlashSync(t, fmt.Sprintf("%s fps %s DASH", rate, rend.Codec), frame,
					flashTimes(t, dash, "0:v:"+strconv.Itoa(i)), beepTimes(t, dash, "0:a:0"))
			}
			if !t.Failed() {
				playSync(t, v, frame)
			}
		})
	}
}

// checkFlashSync fails when sound and picture are half a frame or more apart.
func checkFlashSync(t *testing.T, what string, frame float64, flashes, beeps []float64) {
	t.Helper()
	off := syncOffset(t, what, flashes, beeps)
	t.Logf("%s: sound leads picture by %+.1f ms (%.2f frames)", what, off*1000, off/frame)
	if math.Abs(off) >= frame/2 {
		t.Errorf("%s: sound leads picture by %.1f ms (%.2f frames); want under half a frame", what, off*1000, off/frame)
	}
}

// playSync plays a flash/beep title at normal speed in headless Chromium,
// the HLS presentation of each codec Chromium decodes in hls.js and the
// DASH presentation in dash.js, and compares the media time of each
// presented flash (requestVideoFrameCallback) with the media time of its
// beep in the audio SourceBuffer: where the buffer starts plus the beep's
// place in the audio track as decoded.
func playSync(t *testing.T, v pipeline.View, frame float64) {
	t.Helper()
	ctx, page := browser(t)
	audioURL := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8") + "audio/index.m3u8"
	first := startTime(t, audioURL)
	var inTrack []float64
	for _, b := range beepTimes(t, audioURL, "0:a:0") {
		inTrack = append(inTrack, b-first)
	}
	type run struct{ player, what, src string }
	var runs []run
	for _, codec := range []string{"h264", "hevc", "vp9", "av1"} {
		if src, ok := v.Outputs.HLSByCodec[codec]; ok {
			runs = append(runs, run{"hls", "hls.js " + codec, src})
		}
	}
	runs = append(runs, run{"dash", "dash.js", v.Outputs.DASH})
	for _, r := range runs {
		if r.player == "hls" && !decodes(t, ctx, v, strings.TrimPrefix(r.what, "hls.js ")) {
			t.Logf("%s: Chromium has no decoder for the codec; measured in ffmpeg only", r.what)
			continue
		}
		res := playURL(t, ctx, page, url.Values{"player": {r.player}, "src": {r.src}, "rate": {"1"}, "sync": {"1"}})
		if len(res.Errors) > 0 || !res.Ended || res.AudioStart == nil {
			t.Errorf("%s: errors %q, ended %v, audio buffered from %v", r.what, res.Errors, res.Ended, res.AudioStart)
			continue
		}
		var beeps []float64
		for _, b := range inTrack {
			beeps = append(beeps, *res.AudioStart+b)
		}
		// A frame dropped in playback can hide a flash: pair each flash
		// seen with the nearest beep.
		if len(res.Flashes) < 3 {
			t.Errorf("%s: %d flashes presented (%v), want 3 at least", r.what, len(res.Flashes), res.Flashes)
			continue
		}
		worst := 0.0
		for _, f := range res.Flashes {
			d := math.Inf(1)
			for _, b := range beeps {
				if math.Abs(f-b) < math.Abs(d) {
					d = f - b
				}
			}
			if math.Abs(d) > math.Abs(worst) {
				worst = d
			}
		}
		vstart := math.NaN()
		if res.VideoStart != nil {
			vstart = *res.VideoStart
		}
		t.Logf("%s in Chromium: %d flashes, sound leads picture by %+.1f ms at most (%.2f frames); SourceBuffers start at %.4f s (audio), %.4f s (video)",
			r.what, len(res.Flashes), worst*1000, worst/frame, *res.AudioStart, vstart)
		if math.Abs(worst) >= frame/2 {
			t.Errorf("%s in Chromium: sound leads picture by %.1f ms (%.2f frames); want under half a frame", r.what, worst*1000, worst/frame)
		}
	}
}

// startTime is the first timestamp of input's first stream.
func startTime(t *testing.T, input string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "0", "-show_entries", "stream=start_time", "-of", "csv=p=0", input).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", input, err)
	}
	f, err := strconv.ParseFloat(strings.Fields(string(out) + " x")[0], 64)
	if err != nil {
		t.Fatalf("ffprobe %s: start time %q", input, out)
	}
	return f
}

// decodes reports whether Chromium's MediaSource takes the codec string of
// the title's rendition of codec.
func decodes(t *testing.T, ctx context.Context, v pipeline.View, codec string) bool {
	t.Helper()
	for _, r := range v.Renditions {
		if r.Codec == codec {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`MediaSource.isTypeSupported('video/mp4; codecs="%s"')`, r.Codecs)))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
	}
	return false
}
