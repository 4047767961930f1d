package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// playerResult is what player/index.html reports in window.reelResult.
type playerResult struct {
	Player   string   `json:"player"`
	Errors   []string `json:"errors"`
	Switches []struct {
		Height int     `json:"height"`
		At     float64 `json:"at"`
	} `json:"switches"`
	Stalls   int     `json:"stalls"`
	Ended    bool    `json:"ended"`
	Duration float64 `json:"duration"`
	Played   float64 `json:"played"`
	Levels   int     `json:"levels"`
}

// servePlayer serves player/index.html with the pinned hls.js and dash.js
// on http://localhost:PORT: another origin than the media's
// http://127.0.0.1:PORT, as on a real website.
func servePlayer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "player")
	files := map[string]string{
		"/":                "index.html",
		"/hls.min.js":      "node_modules/hls.js/dist/hls.min.js",
		"/dash.all.min.js": "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			testenv.Missing(t, "player/"+f+" (run make deps: npm ci in player/)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(dir, f))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"
}

// browser starts Debian's headless Chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// play loads src in the test page with the given player and waits until
// the video ends (or a minute passes).
func play(t *testing.T, ctx context.Context, page, player, src string) playerResult {
	t.Helper()
	u := page + "?" + url.Values{"player": {player}, "src": {src}, "rate": {"2"}}.Encode()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	var res playerResult
	for {
		r, err := chromedp.Run(ctx, chromedp.Evaluate[*playerResult](`window.reelResult`))
		if err != nil {
			t.Fatalf("%s: %v (last report %+v)", player, err, res)
		}
		if r != nil {
			res = *r
		}
		if res.Ended || len(res.Errors) > 0 {
			return res
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestPlaybackInBrowsers plays Reel's HLS output in hls.js and its DASH
// output in dash.js, in headless Chromium, for an H.264 title and a VP9
// title: each plays to the end without an error or a stall, and a forced
// switch to the highest and then the lowest rendition happens mid-stream.
func TestPlaybackInBrowsers(t *testing.T) {
	s := startStack(t)
	ctx := browser(t)
	page := servePlayer(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "play.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	titles := map[string]string{
		"h264": `{"rungs":[{"height":360,"bitrate":700000},{"height":234,"bitrate":300000},{"height":144,"bitrate":120000}],"segment_seconds":2,"chunk_segments":2}`,
		"vp9":  `{"rungs":[{"codec":"vp9","height":360,"bitrate":500000},{"codec":"vp9","height":144,"bitrate":100000}],"segment_seconds":2,"chunk_segments":2}`,
	}
	for _, codec := range []string{"h264", "vp9"} {
		id := s.submit(t, master, titles[codec])
		if code, out := s.watch(t, id); code != 0 {
			t.Fatalf("%s title: reel watch exit %d:\n%s", codec, code, out)
		}
		v := s.job(t, id)
		for player, src := range map[string]string{"hls": v.Outputs.HLS, "dash": v.Outputs.DASH} {
			t.Run(codec+"/"+player, func(t *testing.T) {
				res := play(t, ctx, page, player, src)
				t.Logf("%+v", res)
				checkPlayback(t, res, v)
			})
		}
	}
}

func checkPlayback(t *testing.T, res playerResult, v pipeline.View) {
	t.Helper()
	if len(res.Errors) > 0 || res.Stalls > 0 || !res.Ended {
		t.Fatalf("%s: errors %q, %d stalls, ended %v", res.Player, res.Errors, res.Stalls, res.Ended)
	}
	want := float64(v.Renditions[0].Frames) / v.Source.Conform.Rate.Float()
	if res.Played < want-0.5 {
		t.Errorf("%s: played to %.2f s of %.2f s", res.Player, res.Played, want)
	}
	top, low := v.Renditions[0].Height, v.Renditions[len(v.Renditions)-1].Height
	seen, step := "", 0
	for _, s := range res.Switches {
		seen += fmt.Sprintf("%dp@%.1fs ", s.Height, s.At)
		// Starts on the lowest, then the highest mid-stream, then the
		// lowest again.
		switch {
		case step == 0 && s.Height == low:
			step = 1
		case step == 1 && s.Height == top && s.At > 0.5:
			step = 2
		case step == 2 && s.Height == low:
			step = 3
		}
	}
	if step != 3 {
		t.Errorf("%s: rendition switches %s; want %dp, then %dp and %dp again mid-stream", res.Player, seen, low, top, low)
	}
}
