package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
)

// TestViewerSide runs `reel dev --platform --mariadb` (accounts, catalog
// and history on a MariaDB master pair with a read replica) behind `reel
// gateway`, and walks a viewer and an operator through it: sign up,
// subscribe, a published title's metadata, search with a typo, entitled
// playback, heartbeats and continue watching, the ledger audit.
func TestViewerSide(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "minio", "memcached", "mariadbd", "mariadb-install-db")
	dir, err := stackDir("reel-viewer-")
	if err != nil {
		t.Fatal(err)
	}
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildReel(t)
	hlsjs := filepath.Join(testenv.RepoRoot(), "player", playerFiles["/hls.min.js"])
	s := launchDev(t, bin, port, filepath.Join(dir, "data"), []string{"REEL_UI_HLSJS=" + hlsjs}, "--platform", "--mariadb")
	defer s.stop()
	s.readKey(t)
	urls := map[string]string{}
	for _, svc := range []string{"accounts", "catalog", "history"} {
		m := regexp.MustCompile(svc + ` (http://\S+)`).FindStringSubmatch(s.logText())
		if m == nil {
			t.Fatalf("no %s address in the reel dev banner:\n%s", svc, s.logText())
		}
		urls[svc] = m[1]
	}
	if !regexp.MustCompile(`MariaDB masters \S+ and \S+ \(semi-synchronous\), replica`).MatchString(s.logText()) {
		t.Fatalf("the banner names no MariaDB pair:\n%s", s.logText())
	}
	gport, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	gw := "http://127.0.0.1:" + strconv.Itoa(gport)
	cmd := exec.Command(bin, "gateway", "--addr", "127.0.0.1:"+strconv.Itoa(gport), "--upstream", "z1="+s.api, "--redis", s.redisAddr(t),
		"--accounts", "z1="+urls["accounts"], "--catalog", "z1="+urls["catalog"], "--history", "z1="+urls["history"])
	cmd.Env = append(cmd.Environ(), "REEL_GATEWAY_RATE_LIMIT=0")
	var glog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &glog, &glog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	until(t, 30*time.Second, "the gateway's upstreams healthy", func() bool {
		return upstreamHealthy(gw, urls["accounts"]) && upstreamHealthy(gw, urls["catalog"]) && upstreamHealthy(gw, urls["history"])
	})

	call := jsonCaller(t, gw)
	call("POST", "/v1/accounts", "", "", `{"email":"viewer@example.com","password":"correct horse battery"}`, 201)
	tok := call("POST", "/v1/accounts/sessions", "", "", `{"email":"viewer@example.com","password":"correct horse battery"}`, 201)["token"].(string)
	call("PUT", "/v1/accounts/me/subscription", tok, "first", `{"plan":"standard"}`, 200)
	me := call("GET", "/v1/accounts/me", tok, "", "", 200)
	if me["subscription"].(map[string]any)["state"] != "active" {
		t.Fatalf("after subscribing: %v", me)
	}
	profile := fmt.Sprint(int64(me["profiles"].([]any)[0].(map[string]any)["id"].(float64)))
	if a := call("GET", "/v1/accounts/audit", s.key, "", "", 200); a["ok"] != true {
		t.Fatalf("ledger audit: %v", a)
	}

	master := testenv.Generate(t, filepath.Join(t.TempDir(), "m.mp4"), "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")
	v := s.complete(t, master, `{"skip_quality": true}`)
	call("PUT", "/v1/catalog/"+v.ID, tok, "", `{"title":"Big Buck Bunny","maturity_rating":"G"}`, 403)
	call("PUT", "/v1/catalog/"+v.ID, s.key, "", `{"title":"Big Buck Bunny","synopsis":"A rabbit.","genres":["comedy"],"cast":["Sacha Goedegebure"],"year":2008,"maturity_rating":"G"}`, 200)
	call("PUT", "/v1/catalog/not-a-job", s.key, "", `{"title":"x","maturity_rating":"G"}`, 409)
	hits := call("GET", "/v1/catalog/search?q=big+buk+buny&maturity=kids", "", "", "", 200)["hits"].([]any)
	if len(hits) != 1 || hits[0].(map[string]any)["id"] != v.ID || hits[0].(map[string]any)["duration"].(float64) < 3.9 {
		t.Fatalf("search through the gateway: %v", hits)
	}

	// Entitled playback: a viewer's session on /v1/play goes to the
	// catalog service; the tenant's API key still to the API.
	play := call("GET", "/v1/play/"+v.ID+"?profile="+profile, tok, "", "", 200)
	if play["stream"] == "" || play["hls"] == "" {
		t.Fatalf("viewer play: %v", play)
	}
	if resp, body := get(t, play["hls"].(string)); resp.StatusCode != 200 || !bytes.Contains(body, []byte("#EXTM3U")) {
		t.Fatalf("the entitled master playlist: %d", resp.StatusCode)
	}
	call("GET", "/v1/play/"+v.ID+"?profile=999999", tok, "", "", 404)
	if p := call("GET", "/v1/play/"+v.ID, s.key, "", "", 200); p["edge"] == "" || p["stream"] != nil {
		t.Fatalf("a tenant's play: %v", p)
	}

	for _, pos := range []int{5, 15, 25} {
		call("POST", "/v1/history/heartbeats", tok, "", fmt.Sprintf(`{"profile":%q,"title":%q,"position":%d,"duration":600,"device":"web"}`, profile, v.ID, pos), 202)
	}
	call("POST", "/v1/history/heartbeats", "", "", fmt.Sprintf(`{"profile":%q,"title":%q,"position":1}`, profile, v.ID), 401)
	cont := call("GET", "/v1/history/"+profile+"/continue", tok, "", "", 200)["continue"].([]any)
	if len(cont) != 1 || cont[0].(map[string]any)["position"].(float64) != 25 {
		t.Fatalf("continue watching: %v", cont)
	}
	rep := call("POST", "/v1/history/compactions", s.key, "", `{"older_than":"0s"}`, 200)
	if rep["rows"].(float64) != 3 {
		t.Fatalf("compaction: %v", rep)
	}
	if h := call("GET", "/v1/history/"+profile, tok, "", "", 200); h["total"].(float64) != 3 {
		t.Fatalf("history after the compaction: %v", h)
	}
	bctx, _ := browser(t)
	watchPage(t, bctx, s, v.ID)
	account := fmt.Sprint(int64(me["account"].(map[string]any)["id"].(float64)))
	eventPipeline(t, bctx, s, gw, tok, account, profile, v.ID)
}

// eventPipeline checks, through the gateway reel dev started, what the
// viewers' page reported while it played: the support look-up finds the
// viewer's playback session; a player's error is searchable within 2 s;
// a model trained on the archive gives the profile rows the page shows;
// and through a gateway with no route to the recommender (bare, the
// test's own) the page shows the popular titles the catalog keeps in
// the cache.
func eventPipeline(t *testing.T, bctx context.Context, s *devStack, bareGW, tok, account, profile, id string) {
	t.Helper()
	m := regexp.MustCompile(`gateway (http://\S+)`).FindStringSubmatch(s.logText())
	if m == nil {
		t.Fatalf("no gateway in the reel dev banner:\n%s", s.logText())
	}
	gw := m[1]
	do := jsonCaller(t, gw)
	call := func(method, path, auth, body string, want int) map[string]any {
		t.Helper()
		return do(method, path, auth, "", body, want)
	}
	// The page's playback, by session.
	var session string
	until(t, 10*time.Second, "the page's view.start in the support index", func() bool {
		evs := call("GET", "/v1/support/users/"+account+"/events?type=view.start", s.key, "", 200)["events"].([]any)
		if len(evs) == 0 {
			return false
		}
		e := evs[0].(map[string]any)
		session, _ = e["session"].(string)
		return e["title"] == id && e["profile"] == profile
	})
	timeline := call("GET", "/v1/support/sessions/"+session, s.key, "", 200)["events"].([]any)
	types := map[string]bool{}
	for _, e := range timeline {
		types[e.(map[string]any)["type"].(string)] = true
	}
	if !types["view.start"] || !types["perf.startup"] || !types["view.heartbeat"] {
		t.Fatalf("session %s's timeline: %v", session, timeline)
	}
	call("GET", "/v1/support/users/"+account+"/events", tok, "", 403)
	// A player's error, searchable within 2 s of its report.
	body := fmt.Sprintf(`{"type":"error.playback","at":%q,"profile":%q,"session":%q,"title":%q,"code":"bufferStalledError","message":"media: bufferStalledError at segment 2"}`,
		time.Now().UTC().Format(time.RFC3339Nano), profile, session, id)
	if a := call("POST", "/v1/events", tok, body, 200); a["accepted"].(float64) != 1 {
		t.Fatalf("the error event: %v", a)
	}
	took := until(t, 2*time.Second, "the reported error searchable", func() bool {
		return len(call("GET", "/v1/support/users/"+account+"/events?q=bufferStalledError&type=error", s.key, "", 200)["events"].([]any)) == 1
	})
	t.Logf("a reported playback error was searchable after %s", took)
	// Recommendations: trained once on the archive (the archiver writes a
	// batch within 5 s), loaded by the recommender within 5 s.
	cm := regexp.MustCompile(`catalog (http://\S+)`).FindStringSubmatch(s.logText())
	sm := regexp.MustCompile(`S3 http://(\S+)`).FindStringSubmatch(s.logText())
	until(t, 30*time.Second, "a model trained on the archived views", func() bool {
		cmd := exec.Command(s.bin, "recs", "train", "--catalog", cm[1])
		cmd.Env = append(cmd.Environ(), "REEL_S3_ENDPOINT="+sm[1], "REEL_S3_ACCESS_KEY="+devstack.MinioUser, "REEL_S3_SECRET_KEY="+devstack.MinioPassword)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("reel recs train: %v\n%s", err, out)
		}
		return !bytes.Contains(out, []byte(" 0 profiles"))
	})
	until(t, 20*time.Second, "the profile's rows", func() bool {
		req, _ := http.NewRequest("GET", gw+"/v1/recs/"+profile, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			Rows []struct{ Kind string } `json:"rows"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode == 200 && len(v.Rows) > 0
	})
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	rows := func(page, from string, navigate bool) {
		t.Helper()
		var open chromedp.Action[chromedp.Void] = chromedp.Sleep(0)
		if navigate {
			open = chromedp.Navigate(page)
		}
		err := chromedp.Do(ctx, open, chromedp.WaitVisible(chromedp.CSS(`#rows .recs[data-kind="popular"] .title[data-id="`+id+`"]`)))
		dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
		defer dcancel()
		got, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`window.reelWatch.rowsFrom`))
		if err != nil || got != from {
			text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText + "\n" + JSON.stringify(window.reelWatch)`))
			t.Fatalf("%s: rows from %q, want %q: %v\n%s", page, got, from, err, text)
		}
	}
	// The page keeps the viewer's session per origin: signed in on reel
	// dev's gateway already, it signs in again on the bare one.
	rows(gw+"/ui/watch.html", "recommender", true)
	// With the collector unreachable the page keeps its events and sends
	// them once it is back.
	eval := func(js string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	eval(`window.realFetch = window.fetch; window.fetch = (u, o) => String(u).includes("/v1/events") ? Promise.reject(new TypeError("collector down")) : window.realFetch(u, o); 1`)
	eval(`for (let i = 0; i < 3; i++) report("ui.search", {profile: String(profile().id), attrs: {q: "while-collector-down"}}); 1`)
	until(t, 10*time.Second, "the page's failed send", func() bool { return eval(`ev.backoff`) > 1000 && eval(`window.reelWatch.eventsBuffered`) >= 3 })
	eval(`window.fetch = window.realFetch; 1`)
	until(t, 40*time.Second, "the buffered events sent", func() bool { return eval(`window.reelWatch.eventsBuffered`) == 0 })
	until(t, 5*time.Second, "the buffered events in the support index", func() bool {
		return len(call("GET", "/v1/support/users/"+account+"/events?q=while-collector-down", s.key, "", 200)["events"].([]any)) == 3
	})
	// The support page finds the viewer's playback error.
	err := chromedp.Do(ctx, chromedp.Navigate(gw+"/ui/support.html"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), s.key),
		chromedp.SendKeys(chromedp.CSS("#user"), account),
		chromedp.SendKeys(chromedp.CSS("#q"), "bufferStalledError"),
		chromedp.Click(chromedp.CSS(`#find button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#events tr.error")))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText + "\n" + JSON.stringify(window.reelSupport)`))
		t.Fatalf("support page: %v\n%s", err, text)
	}
	if n := eval(`window.reelSupport.events.length`); n != 1 {
		t.Fatalf("support page: %v events for the error's words", n)
	}
	err = chromedp.Do(ctx, chromedp.Navigate(bareGW+"/ui/watch.html"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "viewer@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("#signin-button")))
	if err != nil {
		t.Fatal(err)
	}
	rows(bareGW+"/ui/watch.html", "popular-cache", false) // signed in: the page shows home
}

// watchState is the viewers' page's window.reelWatch.
type watchState struct {
	SignedIn   bool     `json:"signedIn"`
	Titles     int      `json:"titles"`
	Hits       int      `json:"hits"`
	Playing    string   `json:"playing"`
	Heartbeats int      `json:"heartbeats"`
	Continued  []string `json:"continued"`
	Errors     []string `json:"errors"`
}

// watchPage signs in to the viewers' page in headless Chromium through
// the gateway reel dev --platform started, finds the title in the catalog
// and by a search with typos, plays it with hls.js, pauses it, and finds
// it under "continue watching".
func watchPage(t *testing.T, bctx context.Context, s *devStack, id string) {
	t.Helper()
	m := regexp.MustCompile(`viewers' page (http://\S+)`).FindStringSubmatch(s.logText())
	if m == nil {
		t.Fatalf("no viewers' page in the reel dev banner:\n%s", s.logText())
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	state := func() watchState {
		r, err := chromedp.Run(ctx, chromedp.Evaluate[*watchState](`window.reelWatch`))
		if err != nil || r == nil {
			t.Fatalf("the page's state: %v", err)
		}
		return *r
	}
	fail := func(what string, err error) {
		dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
		defer dcancel()
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText + "\n" + JSON.stringify(window.reelWatch)`))
		t.Fatalf("viewers' page, %s: %v\n%s", what, err, text)
	}
	card := `.title[data-id="` + id + `"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "viewer@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#catalog "+card)),
		chromedp.WaitNotVisible(chromedp.CSS("#signin")),
		chromedp.SendKeys(chromedp.CSS("#q"), "big buk buny"),
		chromedp.Click(chromedp.CSS("#search")),
		chromedp.WaitVisible(chromedp.CSS("#hits "+card)),
		chromedp.Click(chromedp.CSS("#hits "+card)),
	)
	if err != nil {
		fail("sign in, browse, search", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		at, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("video").currentTime`))
		if err != nil {
			fail("playing", err)
		}
		st := state()
		if len(st.Errors) > 0 || time.Now().After(deadline) {
			fail("playing", fmt.Errorf("at %.2f s, state %+v", at, st))
		}
		if st.Playing == id && st.Heartbeats >= 1 && at > 0.5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("video").pause(), true`)); err != nil {
		fail("pause", err)
	}
	for {
		st := state()
		if len(st.Continued) > 0 && st.Continued[0] == id {
			break
		}
		if time.Now().After(deadline) {
			fail("continue watching", fmt.Errorf("state %+v", st))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jsonCaller returns a function that sends a request to base with a
// bearer token and an Idempotency-Key (each when not empty), fails the
// test unless the answer has status want, and returns its JSON body.
func jsonCaller(t *testing.T, base string) func(method, path, auth, key, body string, want int) map[string]any {
	return func(method, path, auth, key, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s%s: %d %s, want %d", method, base, path, resp.StatusCode, b, want)
		}
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return v
	}
}
