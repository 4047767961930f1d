package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/pipeline"
)

// liveLadder cuts the 24 s fault master into three chunks of two 4 s
// segments.
const liveLadder = `{"rungs":[{"height":720,"bitrate":2500000,"preset":"fast"},{"height":360,"bitrate":700000,"preset":"fast"}],"segment_seconds":4,"chunk_segments":2}`

// mediaPlaylist fetches and parses an HLS media playlist.
func mediaPlaylist(t *testing.T, u string) (*m3u8.MediaPlaylist, string) {
	t.Helper()
	_, body := get(t, u)
	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(body), true)
	if err != nil || typ != m3u8.MEDIA {
		t.Fatalf("%s: %v\n%s", u, err, body)
	}
	return pl.(*m3u8.MediaPlaylist), string(body)
}

// TestPlayableWhileEncoding holds the encodes of every chunk but the first
// (the fault stack's ffmpeg wrapper waits while a flag file exists): the
// job becomes playable with its first chunk published as a growing title
// (HLS EVENT playlists, a dynamic MPD) whose segments are all there, that
// /v1/play hands out and that hls.js and dash.js play from its start
// while the rest is held; released, the title grows into the finished
// one, the same segments first, byte for byte, and both players, still
// playing, reach its end.
func TestPlayableWhileEncoding(t *testing.T) {
	f := startFaults(t)
	ctx, page := browser(t)
	hold := f.failEncodes(t, "hold-encodes")
	id := f.submit(t, faultMaster(t), liveLadder)
	var v pipeline.View
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		v = f.job(t, id)
		if v.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%+v), not playable\nlog:\n%s", id, v.Status, v.Error, tail(f.logText(), 4000))
		}
		if v.Status == pipeline.StatusPlayable {
			break
		}
	}
	if v.Live == nil || v.Live.Chunks != 1 || v.Live.Seconds != 8 || v.PlayableAt == nil || v.Outputs == nil || v.Outputs.HLS == "" {
		t.Fatalf("playable job: live %+v, playable at %v, outputs %+v", v.Live, v.PlayableAt, v.Outputs)
	}
	if p, code := f.play(t, id, ""); code != http.StatusOK || !p.Live || p.HLS == "" || p.DASH == "" {
		t.Fatalf("GET /v1/play of a playable title: %d %+v", code, p)
	}
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	_, master8 := get(t, v.Outputs.HLS)
	if !strings.Contains(string(master8), "#EXT-X-STREAM-INF:") || !strings.Contains(string(master8), "audio/index.m3u8") {
		t.Fatalf("master playlist of the growing title:\n%s", master8)
	}
	checkHeaders(t, v.Outputs.HLS, "application/vnd.apple.mpegurl", "max-age=1")
	// Every media playlist is an EVENT playlist without an end, listing
	// the first chunk (two 4 s segments), all of whose segments are
	// there; what they hold is 8 s of frames.
	early := map[string][32]byte{}
	for _, r := range v.Renditions {
		pl, text := mediaPlaylist(t, base+r.Name+"/index.m3u8")
		if pl.MediaType != m3u8.EVENT || pl.Closed || strings.Contains(text, "ENDLIST") || pl.TargetDuration != 4 || pl.Count() != 2 {
			t.Fatalf("%s while growing:\n%s", r.Name, text)
		}
		for _, s := range pl.Segments[:pl.Count()] {
			resp, body := get(t, base+r.Name+"/"+s.URI)
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Fatalf("%s/%s: %d", r.Name, s.URI, resp.StatusCode)
			}
			early[r.Name+"/"+s.URI] = sha256.Sum256(body)
		}
		if _, text := mediaPlaylist(t, base+r.Name+"/iframes.m3u8"); !strings.Contains(text, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(text, "ENDLIST") {
			t.Errorf("%s I-frame playlist while growing:\n%s", r.Name, text)
		}
		local := filepath.Join(t.TempDir(), r.Name+".mp4")
		var whole []byte
		for _, name := range []string{"init.mp4", "seg_00000.m4s", "seg_00001.m4s"} {
			_, b := get(t, base+r.Name+"/"+name)
			whole = append(whole, b...)
		}
		if err := os.WriteFile(local, whole, 0o644); err != nil {
			t.Fatal(err)
		}
		if n := ffprobeFrames(t, local); n != 200 {
			t.Errorf("%s: the first chunk's segments hold %d frames, want 200", r.Name, n)
		}
	}
	audio, text := mediaPlaylist(t, base+"audio/index.m3u8")
	var audioDur float64
	for _, s := range audio.Segments[:audio.Count()] {
		audioDur += s.Duration
	}
	if audio.MediaType != m3u8.EVENT || strings.Contains(text, "ENDLIST") || audioDur < 8 || audioDur > 12.1 {
		t.Errorf("audio while growing (%.3f s):\n%s", audioDur, text)
	}
	_, mpdBody := get(t, v.Outputs.DASH)
	var mpd struct {
		Type                      string `xml:"type,attr"`
		AvailabilityStartTime     string `xml:"availabilityStartTime,attr"`
		MinimumUpdatePeriod       string `xml:"minimumUpdatePeriod,attr"`
		MediaPresentationDuration string `xml:"mediaPresentationDuration,attr"`
		Sets                      []struct {
			Reps []struct {
				S []struct {
					D int64 `xml:"d,attr"`
					R int   `xml:"r,attr"`
				} `xml:"SegmentTemplate>SegmentTimeline>S"`
			} `xml:"Representation"`
		} `xml:"Period>AdaptationSet"`
	}
	if err := xml.Unmarshal(mpdBody, &mpd); err != nil {
		t.Fatalf("MPD: %v\n%s", err, mpdBody)
	}
	if mpd.Type != "dynamic" || mpd.AvailabilityStartTime == "" || mpd.MinimumUpdatePeriod == "" || mpd.MediaPresentationDuration != "" || len(mpd.Sets) != 2 {
		t.Fatalf("MPD of the growing title:\n%s", mpdBody)
	}
	for _, s := range mpd.Sets[0].Reps {
		n := 0
		for _, e := range s.S {
			n += e.R + 1
		}
		if n != 2 {
			t.Errorf("a video Representation lists %d segments, want 2:\n%s", n, mpdBody)
		}
	}

	// hls.js and dash.js, each in a tab of its own, play the published
	// part from its start while the rest is held, and can seek anywhere
	// in it.
	players := []struct{ name, src string }{{"hls", v.Outputs.HLS}, {"dash", v.Outputs.DASH}}
	polls := make([]func() playerResult, len(players))
	states := make([]func() string, len(players))
	for i, p := range players {
		polls[i], states[i] = playLive(t, ctx, page, p.name, p.src)
	}
	res := make([]playerResult, len(players))
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		done := true
		for i := range players {
			res[i] = polls[i]()
			done = done && res[i].PlayedWhileLive >= 7.5
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the players did not play the published 8 s within 90 s: %+v\nmedia state: %s\n%s", res, states[0](), states[1]())
		}
	}
	if st := f.job(t, id).Status; st != pipeline.StatusPlayable {
		t.Fatalf("the job moved on to %s while its chunks were held", st)
	}
	for i, p := range players {
		if sk := res[i].SeekableWhileLive; len(sk) != 1 || sk[0][0] > 0.1 || sk[0][1] < 7.5 {
			t.Errorf("%s: seekable while growing: %v", p.name, sk)
		}
	}

	// Released: the title grows to the whole, and the players go on to
	// its end.
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	for deadline := released.Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		done := true
		for i := range players {
			res[i] = polls[i]()
			done = done && res[i].Ended
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			jv := f.job(t, id)
			t.Fatalf("the players did not reach the end of the finished title within 90 s of the release: %+v\nmedia state: %s\n%s\njob %s, live %+v\nlog:\n%s",
				res, states[0](), states[1](), jv.Status, jv.Live, tail(f.logText(), 4000))
		}
	}
	t.Logf("both players at the end %s after the held encodes were released", time.Since(released).Round(time.Millisecond))
	v = f.awaitEnd(t, id, 4*time.Minute)
	checkComplete(t, f.devStack, v)
	for i, p := range players {
		if r := res[i]; !r.LiveSeen || r.Stalls > 0 || r.Played < 23.5 {
			t.Errorf("%s: %+v", p.name, r)
		}
	}
	for _, r := range v.Renditions {
		pl, text := mediaPlaylist(t, base+r.Name+"/index.m3u8")
		if pl.MediaType != m3u8.VOD || !pl.Closed || pl.TargetDuration != 4 || pl.Count() != 6 {
			t.Errorf("%s finished:\n%s", r.Name, text)
		}
		for name, sum := range early {
			if !strings.HasPrefix(name, r.Name+"/") {
				continue
			}
			if _, body := get(t, base+name); sha256.Sum256(body) != sum {
				t.Errorf("%s changed once the title was finished", name)
			}
		}
	}
	if v.Live != nil || v.PlayableAt == nil || v.PlayableAt.After(*v.FinishedAt) || v.Timings["stream"] == nil {
		t.Errorf("finished job: live %+v, playable at %v, finished at %v, timings %v", v.Live, v.PlayableAt, v.FinishedAt, v.Timings)
	}
	checkHeaders(t, v.Outputs.HLS, "application/vnd.apple.mpegurl", "max-age=10")
	verify(t, v, faultMaster(t), true, 4)
}

// playLive opens the player page in a tab of its own on a title that may
// still be growing (live=1) and returns what reads the page's report; a
// player error fails the test.
func playLive(t *testing.T, browser context.Context, page, player, src string) (func() playerResult, func() string) {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	q := url.Values{"player": {player}, "src": {src}, "rate": {"2"}, "live": {"1"}}
	if err := chromedp.Do(tab, chromedp.Navigate(page+"?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.reelState()`))
		raw, _ := json.Marshal(st)
		return fmt.Sprintf("%s: %s (%v)", player, raw, err)
	}
	return func() playerResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[*playerResult](`window.reelResult`))
		if err != nil || r == nil {
			t.Fatalf("%s: %v", player, err)
		}
		if len(r.Errors) > 0 {
			t.Fatalf("%s on the growing title: %q", player, r.Errors)
		}
		return *r
	}, state
}
