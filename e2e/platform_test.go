package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/gateway"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
)

// platform is a `reel dev --edges 2` on Redis and MinIO the test owns, so
// it can stop them.
type platform struct {
	*devStack
	dir   string
	redis *devstack.Proc
	minio *devstack.Proc
	rport int
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	testenv.Need(t, "ffmpeg", "ffprobe", "redis-server", "minio", "memcached")
	p := &platform{dir: t.TempDir()}
	var err error
	if p.rport, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	if p.redis, err = devstack.StartRedisOn(context.Background(), "", filepath.Join(p.dir, "redis"), p.rport); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.redis.Stop() })
	if p.minio, err = devstack.StartMinio(context.Background(), "", filepath.Join(p.dir, "minio")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.minio.Stop)
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p.devStack = launchDev(t, buildReel(t), port, filepath.Join(p.dir, "data"), []string{
		"REEL_S3_ACCESS_KEY=" + devstack.MinioUser, "REEL_S3_SECRET_KEY=" + devstack.MinioPassword,
	}, "--redis", p.redis.Addr, "--s3", p.minio.Addr, "--edges", "2")
	t.Cleanup(p.stop)
	p.readKey(t)
	return p
}

func (s *devStack) edges(t *testing.T) map[string]edge.View {
	t.Helper()
	list, err := s.client().Edges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]edge.View{}
	for _, e := range list {
		m[e.Name] = e
	}
	return m
}

// play asks where a client in zone plays the title, and the answer's
// status.
func (s *devStack) play(t *testing.T, id, zone string) (pipeline.Play, int) {
	t.Helper()
	p, err := s.client().Play(context.Background(), id, zone)
	var ae *client.Error
	switch {
	case err == nil:
		return *p, http.StatusOK
	case errors.As(err, &ae):
		return pipeline.Play{}, ae.Status
	}
	t.Fatal(err)
	return pipeline.Play{}, 0
}

// edgeStatus is what the edge at url reports of itself; false when it
// does not answer.
func edgeStatus(url string) (edge.Status, bool) {
	var st edge.Status
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// upstreamHealthy reports whether the gateway at gw counts the instance at
// url healthy.
func upstreamHealthy(gw, url string) bool {
	resp, err := http.Get(gw + "/gateway/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct{ Upstreams []gateway.UpstreamStatus }
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return false
	}
	for _, u := range h.Upstreams {
		if u.URL == url {
			return u.Healthy
		}
	}
	return false
}

func until(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// checkRefusals asks the edge at url for every object of title id without
// a valid token (none, expired, altered, another title's, signed with a
// key no longer in use): each gets 403 with a JSON reason, and the edge
// fetches nothing from the origin for them.
func checkRefusals(t *testing.T, url, id string, keys []string) {
	t.Helper()
	ks, err := playtoken.ParseKeys(os.Getenv("REEL_PLAYBACK_KEYS"))
	if err != nil {
		t.Fatal(err)
	}
	retired, _ := playtoken.ParseKeys("old:" + strings.Repeat("0f", 32))
	prefix := "vod/" + id + "/"
	hour := time.Now().Add(time.Hour)
	valid := ks.Sign(prefix, hour, playtoken.Bind{})
	tokens := map[string]string{
		"token_missing":     "",
		"token_expired":     ks.Sign(prefix, time.Now().Add(-time.Second), playtoken.Bind{}),
		"token_invalid":     tamper(valid),
		"token_key_unknown": retired.Sign(prefix, hour, playtoken.Bind{}),
	}
	before, _ := edgeStatus(url)
	refused := 0
	for code, tok := range tokens {
		for _, k := range keys {
			u := url + "/" + k
			if code != "token_missing" {
				u = url + "/t/" + tok + "/" + k
			}
			req, _ := http.NewRequest("GET", u, nil)
			if status, got := refusal(t, req); status != 403 || got.Code != code {
				t.Fatalf("%s without a valid token (%s): %d %+v", k, code, status, got)
			}
			refused++
		}
	}
	// Another title's token, on this title's manifest.
	resp, err := http.Get(url + "/t/" + ks.Sign("vod/"+strings.Repeat("0", len(id))+"/", hour, playtoken.Bind{}) + "/" + prefix + "master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("another title's token: %d", resp.StatusCode)
	}
	after, _ := edgeStatus(url)
	if after.OriginFetches != before.OriginFetches || after.Refused-before.Refused != int64(refused+1) {
		t.Fatalf("refusals: origin fetches %d -> %d, refused %d -> %d (sent %d)", before.OriginFetches, after.OriginFetches, before.Refused, after.Refused, refused+1)
	}
	t.Logf("the edge refused %d requests without a valid token (403, JSON reason) and fetched nothing from the origin for them", refused+1)
}

// refusal sends req and reads the JSON reason of its answer.
func refusal(t *testing.T, req *http.Request) (int, struct{ Code, Message string }) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&b) // no JSON: an empty reason
	return resp.StatusCode, b.Error
}

// signedBase is the base URL under which the server at url serves title
// id's objects with a valid playback token: base + "/" + key.
func signedBase(t *testing.T, url, id string) string {
	t.Helper()
	ks, err := playtoken.ParseKeys(os.Getenv("REEL_PLAYBACK_KEYS"))
	if err != nil {
		t.Fatal(err)
	}
	return url + "/" + playtoken.Root + "/" + ks.Sign("vod/"+id+"/", time.Now().Add(time.Hour), playtoken.Bind{})
}

// tamper changes one character in the middle of a token's signature.
func tamper(token string) string {
	b := []byte(token)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// fetchAll GETs every object of a title from base (an edge or the origin)
// and returns the X-Cache header values seen and each body's length.
func fetchAll(t *testing.T, base string, keys []string) (map[string]int, map[string]int) {
	t.Helper()
	caches, sizes := map[string]int{}, map[string]int{}
	for _, k := range keys {
		resp, err := http.Get(base + "/" + k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s from %s: %d", k, base, resp.StatusCode)
		}
		caches[resp.Header.Get("X-Cache")]++
		sizes[k] = len(body)
	}
	return caches, sizes
}

// TestPlatform runs the delivery side end to end on real processes: a
// title is published and pre-positioned on both edges, steered by zone,
// steered around an edge that stops answering and back, keeps playing
// with Redis down and the API stopped, and an edge restarted keeps its
// disk.
func TestPlatform(t *testing.T) {
	p := startPlatform(t)
	until(t, 30*time.Second, "two healthy edges", func() bool {
		e := p.edges(t)
		return len(e) == 2 && e["edge-z1"].Healthy && e["edge-z2"].Healthy
	})
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "platform.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	id := p.submit(t, master, `{"rungs":[{"height":240,"bitrate":400000},{"height":144,"bitrate":150000}],"segment_seconds":2,"chunk_segments":2}`)
	v := p.awaitEnd(t, id, 3*time.Minute)
	if v.Status != pipeline.StatusComplete {
		t.Fatalf("job %s: %+v", v.Status, v.Error)
	}
	keys, err := p.s3(t).List(context.Background(), "reel-origin", "vod/"+id+"/")
	if err != nil || len(keys) < 10 {
		t.Fatalf("published keys: %v %v", keys, err)
	}

	// Fill: both edges pre-position the title, all of it (the window is
	// always open in dev).
	took := until(t, 30*time.Second, "both edges hold the whole title", func() bool {
		for _, e := range p.edges(t) {
			st, ok := edgeStatus(e.URL)
			if !ok {
				return false
			}
			if st.TitlesHeld != 1 || st.ObjectsHeld != len(keys) || st.FillPending != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("both edges held all %d objects %v after the job completed", len(keys), took)

	// Steering by zone, to URLs that carry a playback token.
	edges := p.edges(t)
	for _, zone := range []string{"z1", "z2"} {
		pl, code := p.play(t, id, zone)
		if code != 200 || pl.Edge != "edge-"+zone || !strings.HasPrefix(pl.HLS, edges["edge-"+zone].URL+"/t/") ||
			!strings.HasSuffix(pl.HLS, "/vod/"+id+"/master.m3u8") || !strings.HasPrefix(pl.DASH, edges["edge-"+zone].URL+"/t/") {
			t.Fatalf("play from %s: %d %+v", zone, code, pl)
		}
	}
	// Every object from an edge under the token: a hit, the same bytes as
	// the origin (through the API's token-checking path).
	pz2, _ := p.play(t, id, "z2")
	z2base := pz2.HLS[:strings.LastIndex(pz2.HLS, "/vod/")]
	caches, sizes := fetchAll(t, z2base, keys)
	_, want := fetchAll(t, strings.TrimSuffix(v.Outputs.HLS, "/vod/"+id+"/master.m3u8"), keys)
	if caches["HIT"] != len(keys) {
		t.Fatalf("X-Cache from the pre-positioned edge: %v", caches)
	}
	for k, n := range want {
		if sizes[k] != n {
			t.Fatalf("%s: %d bytes from the edge, %d from the origin", k, sizes[k], n)
		}
	}
	seg := z2base + "/vod/" + id + "/" + v.Renditions[0].Name + "/seg_00000.m4s"
	req, _ := http.NewRequest(http.MethodGet, seg, nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 206 || resp.ContentLength != 100 {
		t.Fatalf("range from the edge: %v %v", resp, err)
	}
	resp.Body.Close()
	checkRefusals(t, edges["edge-z2"].URL, id, keys)

	// An edge that stops answering is out of the steering set within 5 s,
	// and back once it answers.
	z2 := edges["edge-z2"].PID
	signalPID(t, z2, syscall.SIGSTOP)
	out := until(t, 5*time.Second, "z2 clients steered away from a stopped edge", func() bool {
		pl, _ := p.play(t, id, "z2")
		return pl.Edge == "edge-z1"
	})
	signalPID(t, z2, syscall.SIGCONT)
	back := until(t, 5*time.Second, "the edge back in the steering set", func() bool {
		pl, _ := p.play(t, id, "z2")
		return pl.Edge == "edge-z2"
	})
	t.Logf("stopped edge out of the steering set after %v, back %v after it answered again", out.Round(10*time.Millisecond), back.Round(10*time.Millisecond))

	// Degraded: Redis down. Steering answers from its last edge map, the
	// job from the cache, the key from memory.
	p.redis.Stop()
	pl, code := p.play(t, id, "z1")
	if code != 200 || pl.Edge != "edge-z1" {
		t.Fatalf("play with Redis down: %d %+v", code, pl)
	}
	// And the API stopped too: the title plays from the edge.
	switches := switchable(t, v) // asks the API's origin path
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }()
		if c, err := (&http.Client{Timeout: time.Second}).Get(p.api + "/healthz"); err == nil {
			c.Body.Close()
			t.Fatal("the API still answers")
		}
		if caches, _ := fetchAll(t, pl.HLS[:strings.LastIndex(pl.HLS, "/vod/")], keys); caches["HIT"] != len(keys) {
			t.Fatalf("edge with Redis and the API down: %v", caches)
		}
		ctx, page := browser(t)
		res := play(t, ctx, page, "hls", pl.HLS, "2", switches)
		t.Logf("hls.js from edge-z1 with Redis and the API down: %+v", res)
		checkPlayback(t, res, v)
		res = play(t, ctx, page, "dash", pl.DASH, "2", switches)
		t.Logf("dash.js from edge-z1 with Redis and the API down: %+v", res)
		checkPlayback(t, res, v)
	}()

	// Redis back (same port and data); an edge killed is restarted by
	// reel dev and keeps what it held on disk.
	if p.redis, err = devstack.StartRedisOn(context.Background(), "", filepath.Join(p.dir, "redis"), p.rport); err != nil {
		t.Fatal(err)
	}
	// The API was stopped for longer than a registration lasts: wait for
	// edge-z1 to be listed again before taking its pid.
	var before edge.View
	listed := until(t, 30*time.Second, "edge-z1 listed again after Redis came back", func() bool {
		before = p.edges(t)["edge-z1"]
		return before.Healthy && before.PID > 0
	})
	t.Logf("edge-z1 listed and healthy %v after Redis came back", listed.Round(10*time.Millisecond))
	signalPID(t, before.PID, syscall.SIGKILL)
	until(t, 30*time.Second, "edge-z1 restarted", func() bool {
		e := p.edges(t)["edge-z1"]
		return e.Healthy && e.PID != before.PID && e.PID != 0
	})
	after := p.edges(t)["edge-z1"]
	if after.BytesHeld != before.BytesHeld || after.TitlesHeld != 1 {
		t.Fatalf("restarted edge holds %d bytes of %d titles, before %d", after.BytesHeld, after.TitlesHeld, before.BytesHeld)
	}
	if caches, _ := fetchAll(t, after.URL+pl.HLS[len(edges["edge-z1"].URL):strings.LastIndex(pl.HLS, "/vod/")], keys); caches["HIT"] != len(keys) {
		t.Fatalf("restarted edge: %v", caches)
	}
}

// TestGatewayInstanceKilled runs two `reel api` instances behind a `reel
// gateway` and SIGKILLs one under load: requests go on through the other.
func TestGatewayInstanceKilled(t *testing.T) {
	p := startPlatform(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "gw.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast")
	id := p.submit(t, master, `{"rungs":[{"height":144,"bitrate":150000}],"segment_seconds":2}`)
	if v := p.awaitEnd(t, id, 3*time.Minute); v.Status != pipeline.StatusComplete {
		t.Fatalf("job: %s", v.Status)
	}
	env := append(os.Environ(), "REEL_S3_ACCESS_KEY="+devstack.MinioUser, "REEL_S3_SECRET_KEY="+devstack.MinioPassword, "REEL_WORK_DIR="+t.TempDir())
	start := func(args ...string) (*exec.Cmd, string) {
		port, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(p.bin, append([]string{args[0], "--addr", addr}, args[1:]...)...)
		cmd.Env = append(env, "REEL_GATEWAY_RATE_LIMIT=0")
		log := &syncWriter{b: &bytes.Buffer{}}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if !healthy("http://"+addr, 30*time.Second) {
			t.Fatalf("reel %s did not start", args[0])
		}
		return cmd, "http://" + addr
	}
	api1, url1 := start("api", "--redis", p.redis.Addr, "--s3", p.minio.Addr)
	_, url2 := start("api", "--redis", p.redis.Addr, "--s3", p.minio.Addr)
	_, gw := start("gateway", "--upstream", "z1="+url1+",z2="+url2, "--redis", p.redis.Addr)

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	paths := []string{"/v1/jobs/" + id, "/v1/play/" + id, "/v1/jobs?limit=5"}
	const clients = 8
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := p.c.Get(gw + paths[n%len(paths)])
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					if err != nil {
						failures = append(failures, err.Error())
					} else {
						failures = append(failures, resp.Status)
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// Kill one instance once the load runs through both, and stop the
	// load once the gateway has taken the dead one out and served a good
	// many requests since.
	until(t, time.Minute, "load through the gateway", func() bool { return ok.Load() >= 200 })
	beforeKill := ok.Load()
	_ = api1.Process.Kill()
	_ = api1.Wait()
	took := until(t, time.Minute, "the gateway taking the killed instance out", func() bool {
		return !upstreamHealthy(gw, url1) && ok.Load()-beforeKill >= 200
	})
	t.Logf("instance out and 200 requests answered %s after the kill", took.Round(time.Millisecond))
	close(stop)
	wg.Wait()
	t.Logf("%d requests answered (%d before the kill), %d failed: %v", ok.Load(), beforeKill, failed.Load(), failures)
	// At most the requests in flight on the killed instance may fail; the
	// gateway sends GETs whose connection broke to the other instance.
	if failed.Load() > clients || ok.Load()-beforeKill < 50 {
		t.Fatalf("%d failed requests (bound %d), %d answered after the kill", failed.Load(), clients, ok.Load()-beforeKill)
	}
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`reel_gateway_requests_total{code="200",group="main",route="jobs"}`, `reel_gateway_breaker_state{route="play"} 0`,
		`reel_gateway_upstream_healthy{group="main",instance="0",url="` + url1 + `",zone="z1"} 0`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("gateway /metrics lacks %s", want)
		}
	}
}
