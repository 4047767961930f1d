package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// trackSwitch is a switch of audio or subtitle language a player made,
// and the media time it made it at.
type trackSwitch struct {
	Lang string  `json:"lang"`
	At   float64 `json:"at"`
}

// cue is a text track cue as the video element holds it.
type cue struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// playerResult is what player/index.html reports in window.reelResult.
type playerResult struct {
	Player   string   `json:"player"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	Switches []struct {
		Height int     `json:"height"`
		At     float64 `json:"at"`
	} `json:"switches"`
	Stalls   int     `json:"stalls"`
	Ended    bool    `json:"ended"`
	EndedBy  string  `json:"endedBy"` // "video" (the element's event) or "dash.js"
	Duration float64 `json:"duration"`
	Played   float64 `json:"played"`
	Levels   int     `json:"levels"`
	// Forced: the page forced the switches (play's switches).
	Forced bool `json:"forced"`
	// With sync=1: the media time of each flash presented, and where the
	// audio and video SourceBuffers start.
	Flashes    []float64 `json:"flashes"`
	AudioStart *float64  `json:"audioStart"`
	VideoStart *float64  `json:"videoStart"`
	// With live=1: whether the player saw the title growing, how far it
	// played and what was seekable meanwhile.
	// With audio=LANG: the audio languages offered, the one playing
	// before the switch, and each audio switch rendered.
	AudioLangs    []string      `json:"audioLangs"`
	AudioFrom     string        `json:"audioFrom"`
	AudioSwitches []trackSwitch `json:"audioSwitches"`
	// With text=A,B: the subtitle languages offered, the first shown,
	// each switch asked for, and every cue each language's track held.
	TextLangs         []string         `json:"textLangs"`
	TextFrom          string           `json:"textFrom"`
	TextSwitches      []trackSwitch    `json:"textSwitches"`
	Cues              map[string][]cue `json:"cues"`
	LiveSeen          bool             `json:"liveSeen"`
	PlayedWhileLive   float64          `json:"playedWhileLive"`
	SeekableWhileLive [][]float64      `json:"seekableWhileLive"`
}

// playerFiles are what the player page server serves, from player/.
var playerFiles = map[string]string{
	"/":                "index.html",
	"/hls.min.js":      "node_modules/hls.js/dist/hls.min.js",
	"/dash.all.min.js": "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
	"/shaka-player.js": "node_modules/shaka-player/dist/shaka-player.compiled.js",
}

// servePlayer serves player/index.html with the pinned hls.js and dash.js
// on http://localhost:PORT: another origin than the media's
// http://127.0.0.1:PORT, as on a real website.
func servePlayer() (string, func(), error) {
	dir := filepath.Join(testenv.RepoRoot(), "player")
	files := playerFiles
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
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
	return "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/", func() { _ = srv.Close() }, nil
}

// The browser and player page shared by every test that plays a title.
var players struct {
	once   sync.Once
	ctx    context.Context
	page   string
	err    error
	cancel func()
}

// browser starts Debian's headless Chromium and the player page once per
// test binary; TestMain stops them.
func browser(t *testing.T) (context.Context, string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium (apt-get install chromium)")
	}
	for _, f := range playerFiles {
		if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), "player", f)); err != nil {
			testenv.Missing(t, "player/"+f+" (make deps runs npm ci in player/)")
		}
	}
	players.once.Do(func() {
		page, stopPage, err := servePlayer()
		if err != nil {
			players.err = err
			return
		}
		dir, err := os.MkdirTemp("", "reel-chromium-")
		if err != nil {
			stopPage()
			players.err = err
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.Flag("mute-audio", true),
			chromedp.UserDataDir(dir),
		}
		actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelC := chromedp.NewContext(actx)
		players.ctx, players.page = ctx, page
		players.cancel = func() { cancelC(); cancelA(); stopPage(); os.RemoveAll(dir) }
		players.err = chromedp.Do(ctx)
	})
	if players.err != nil {
		t.Fatalf("start chromium: %v", players.err)
	}
	return players.ctx, players.page
}

// stopBrowser ends the shared browser, if one was started.
func stopBrowser() {
	if players.cancel != nil {
		players.cancel()
	}
}

// playBoth plays a finished job's HLS output in hls.js and its DASH output
// in dash.js and holds both to checkPlayback. It returns whether both
// played.
func playBoth(t *testing.T, v pipeline.View) bool {
	t.Helper()
	ctx, page := browser(t)
	ok, switches := true, switchable(t, v)
	for _, p := range []struct{ player, src string }{{"hls", v.Outputs.HLS}, {"dash", v.Outputs.DASH}} {
		// Twice real time, four times for titles over 20 s.
		rate := "2"
		if d := float64(v.Renditions[0].Frames) / v.Source.Conform.Rate.Float(); d > 20 {
			rate = "4"
		}
		res := play(t, ctx, page, p.player, p.src, rate, switches)
		t.Logf("%s: %+v", p.player, res)
		if !checkPlayback(t, res, v) {
			ok = false
		}
	}
	playedTable.Lock()
	playedTable.ok[v.Name] = ok
	playedTable.Unlock()
	return ok
}

var playedTable = struct {
	sync.Mutex
	ok map[string]bool
}{ok: map[string]bool{}}

// play loads src in the test page with the given player and waits until
// the video ends or fails (90 s at most); with switches, the page forces a
// switch to the highest rendition and back to the lowest on the way. A run
// that does neither fails the test with what the page's media pipeline
// held at that moment.
func play(t *testing.T, ctx context.Context, page, player, src, rate string, switches bool) playerResult {
	t.Helper()
	q := url.Values{"player": {player}, "src": {src}, "rate": {rate}}
	if switches {
		q.Set("switch", "1")
	}
	return playURL(t, ctx, page, q)
}

// switchable says whether a title can show the forced switches: it has
// two renditions or more of its first codec, and three segments of a
// second or longer. A switch is shown where a segment of the new
// rendition starts (dash.js reports it rendered only there), so the switch
// up needs a segment boundary after a quarter of the title and the switch
// back another one after that.
func switchable(t *testing.T, v pipeline.View) bool {
	t.Helper()
	family := codecFamily(v)
	if len(family) < 2 {
		return false
	}
	url := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8") + family[len(family)-1].Name + "/index.m3u8"
	_, body := get(t, url)
	pl, _, err := m3u8.Decode(*bytes.NewBuffer(body), true)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	long := 0
	for _, s := range pl.(*m3u8.MediaPlaylist).Segments {
		if s != nil && s.Duration >= 1 {
			long++
		}
	}
	return long >= 3
}

// codecFamily lists the renditions of the title's first codec, highest
// first.
func codecFamily(v pipeline.View) []pipeline.RenditionView {
	var family []pipeline.RenditionView
	for _, r := range v.Renditions {
		if r.Codec == v.Renditions[0].Codec {
			family = append(family, r)
		}
	}
	return family
}

// playURL is play with the page's query given whole.
func playURL(t *testing.T, ctx context.Context, page string, q url.Values) playerResult {
	t.Helper()
	player := q.Get("player")
	u := page + "?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 100*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	deadline := time.Now().Add(90 * time.Second)
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
		if time.Now().After(deadline) {
			state, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.reelState()`))
			raw, _ := json.Marshal(state)
			t.Fatalf("%s did not end within 90 s: last report %+v\nmedia state: %s (%v)", player, res, raw, err)
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
	browser(t)
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
		t.Run(codec, func(t *testing.T) { playBoth(t, v) })
	}
}

// checkPlayback holds one playback to the rules: to the end, no error, no
// stall, and (where the page forced them: res.Forced) the switches
// mid-stream.
func checkPlayback(t *testing.T, res playerResult, v pipeline.View) bool {
	t.Helper()
	if len(res.Errors) > 0 || res.Stalls > 0 || !res.Ended {
		t.Errorf("%s: errors %q, %d stalls, ended %v", res.Player, res.Errors, res.Stalls, res.Ended)
		return false
	}
	want := float64(v.Renditions[0].Frames) / v.Source.Conform.Rate.Float()
	if res.Played < want-0.5 {
		t.Errorf("%s: played to %.2f s of %.2f s", res.Player, res.Played, want)
		return false
	}
	if !res.Forced {
		return true
	}
	family := codecFamily(v)
	top, low := family[0].Height, family[len(family)-1].Height
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
		return false
	}
	return true
}
