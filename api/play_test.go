package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
)

// steering is a fixed edge map for the API's play answers.
type steering struct{ edges []edge.View }

func (s steering) ClientZone(r *http.Request) string { return r.Header.Get("X-Client-Zone") }
func (s steering) Status() any                       { return s.edges }
func (s steering) Route(zone, title string) (string, string, string, bool) {
	for _, e := range s.edges {
		if e.Healthy && e.Zone == zone {
			return e.URL, e.Name, e.Zone, true
		}
	}
	return "", "", "", false
}

func TestPlayAndEdges(t *testing.T) {
	st := steering{edges: []edge.View{{Name: "edge-z1", Zone: "z1", URL: "http://edge1.example", Healthy: true}}}
	e := setup(t, 1<<20, func(s *api.Server) { s.Steering = st })
	u := e.srv.URL
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	if resp.StatusCode != 201 {
		t.Fatal(resp.Status)
	}
	id := m["id"].(string)
	// Not published yet.
	if resp, m := do(t, e.c, "GET", u+"/v1/play/"+id, "", ""); resp.StatusCode != 409 || errCode(m) != "not_published" {
		t.Fatalf("play before publish: %d %v", resp.StatusCode, m)
	}
	svc := e.api.Svc
	if _, err := svc.Store.Update(context.Background(), id, func(j *pipeline.Job) error {
		j.Status = pipeline.StatusComplete
		j.Published = &pipeline.Published{HLS: "vod/" + id + "/master.m3u8", DASH: "vod/" + id + "/manifest.mpd"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", u+"/v1/play/"+id, nil)
	req.Header.Set("X-Client-Zone", "z1")
	resp, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m = decode(t, resp)
	if resp.StatusCode != 200 || m["edge"] != "edge-z1" || m["hls"] != "http://edge1.example/vod/"+id+"/master.m3u8" ||
		m["dash"] != "http://edge1.example/vod/"+id+"/manifest.mpd" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("play from z1: %d %v", resp.StatusCode, m)
	}
	// No healthy edge for the client: the origin.
	if resp, m := do(t, e.c, "GET", u+"/v1/play/"+id, "", ""); resp.StatusCode != 200 || m["edge"] != "origin" ||
		!strings.HasSuffix(m["hls"].(string), "/reel-origin/vod/"+id+"/master.m3u8") {
		t.Fatalf("play without an edge: %d %v", resp.StatusCode, m)
	}
	// Another tenant's title does not exist for it.
	if resp, _ := do(t, e.newKey(t, "globex", false), "GET", u+"/v1/play/"+id, "", ""); resp.StatusCode != 404 {
		t.Fatalf("another tenant: %d", resp.StatusCode)
	}
	if resp, _ := do(t, e.c, "GET", u+"/v1/play/not-a-job", "", ""); resp.StatusCode != 404 {
		t.Fatalf("bad id: %d", resp.StatusCode)
	}
	// The edge list is for admins.
	if resp, _ := do(t, e.c, "GET", u+"/v1/edges", "", ""); resp.StatusCode != 403 {
		t.Fatalf("edges with a tenant key: %d", resp.StatusCode)
	}
	resp, m = do(t, e.newKey(t, "ops", true), "GET", u+"/v1/edges", "", "")
	list, _ := m["edges"].([]any)
	if resp.StatusCode != 200 || len(list) != 1 || list[0].(map[string]any)["name"] != "edge-z1" {
		t.Fatalf("edges: %d %v", resp.StatusCode, m)
	}
}

// TestSignedPlayback: a private title's URLs carry a playback token, at
// the edge steering picks and at the API's own token-checking path when
// none is healthy, which streams the private origin bucket's objects
// (ranges too) and refuses a missing or altered token with 403; the
// origin bucket itself refuses anonymous reads of a private title and
// allows them for a public one.
func TestSignedPlayback(t *testing.T) {
	keys, err := playtoken.ParseKeys("k1:" + strings.Repeat("5a", 32))
	if err != nil {
		t.Fatal(err)
	}
	var s3 *origin.S3
	st := steering{edges: []edge.View{{Name: "edge-z1", Zone: "z1", URL: "http://edge1.example", Healthy: true}}}
	e := setup(t, 1<<20, func(s *api.Server) {
		s.Steering = st
		s.Signer = &playtoken.Signer{Keys: keys, TTL: time.Hour, Bind: playtoken.BindZone}
		s.Origin = &playtoken.Origin{Tokens: &playtoken.Checker{Keys: keys, Zone: playtoken.OriginZone},
			Presign: func(ctx context.Context, method, key string) (string, error) {
				return s3.Presign(ctx, method, s3.OriginBucket(), key, time.Minute)
			}}
	})
	s3 = e.s3
	ctx := context.Background()
	if err := s3.EnsureBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(public bool) (string, []byte) {
		t.Helper()
		body := `{"rungs":[{"height":360,"bitrate":800000}],"public":` + strconv.FormatBool(public) + `}`
		resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master"), ladder: body})
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %v", resp.StatusCode, m)
		}
		id := m["id"].(string)
		master := []byte("#EXTM3U\n#EXT-X-VERSION:7\n" + strings.Repeat("#EXT-X-INDEPENDENT-SEGMENTS\n", 40))
		f := filepath.Join(t.TempDir(), "master.m3u8")
		if err := os.WriteFile(f, master, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s3.PutFile(ctx, s3.OriginBucket(), "vod/"+id+"/master.m3u8", f, "application/vnd.apple.mpegurl", "max-age=10", public); err != nil {
			t.Fatal(err)
		}
		if _, err := e.api.Svc.Store.Update(ctx, id, func(j *pipeline.Job) error {
			j.Status = pipeline.StatusComplete
			j.Published = &pipeline.Published{HLS: "vod/" + id + "/master.m3u8", DASH: "vod/" + id + "/manifest.mpd"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return id, master
	}
	id, master := publish(false)
	anon := &http.Client{}

	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/play/"+id, nil)
	req.Header.Set("X-Client-Zone", "z1")
	resp, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, resp)
	edgeHLS, _ := m["hls"].(string)
	if !strings.HasPrefix(edgeHLS, "http://edge1.example/t/k1.") || !strings.HasSuffix(edgeHLS, "/vod/"+id+"/master.m3u8") {
		t.Fatalf("edge URL: %v", m)
	}
	_, m = do(t, e.c, "GET", e.srv.URL+"/v1/play/"+id, "", "")
	hls, _ := m["hls"].(string)
	if m["edge"] != "origin" || !strings.HasPrefix(hls, e.srv.URL+"/t/k1.") || !strings.HasSuffix(hls, "/vod/"+id+"/master.m3u8") {
		t.Fatalf("URL without an edge: %v", m)
	}
	// The job's outputs play the same way, and stay the same from one
	// read to the next.
	_, v1 := do(t, e.c, "GET", e.srv.URL+"/v1/jobs/"+id, "", "")
	_, v2 := do(t, e.c, "GET", e.srv.URL+"/v1/jobs/"+id, "", "")
	out, _ := v1["outputs"].(map[string]any)
	if out["hls"] != hls || fmt.Sprint(v1["outputs"]) != fmt.Sprint(v2["outputs"]) {
		t.Fatalf("outputs %v and %v, play URL %s", v1["outputs"], v2["outputs"], hls)
	}

	resp, err = anon.Get(hls)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, master) || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" ||
		resp.Header.Get("Cache-Control") != "max-age=10" {
		t.Fatalf("origin path: %d %q %q", resp.StatusCode, got, resp.Header)
	}
	// HEAD too (players measure and time-sync with it): a presigned URL
	// is good for its own method only.
	if resp, err := anon.Head(hls); err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(master)) {
		t.Fatalf("HEAD on the origin path: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", hls, nil)
	req.Header.Set("Range", "bytes=8-15")
	resp, err = anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(got, master[8:16]) {
		t.Fatalf("range: %d %q", resp.StatusCode, got)
	}
	i := strings.Index(hls, "/t/") + 3
	tampered := hls[:i+3] + "9" + hls[i+4:]
	// Another title's id: the first digit changed (to one it is not).
	otherID := "a" + id[1:]
	if id[0] == 'a' {
		otherID = "b" + id[1:]
	}
	for what, u := range map[string]string{
		"tampered":             tampered,
		"another title":        strings.Replace(hls, id, otherID, 1),
		"no token":             e.srv.URL + "/t//vod/" + id + "/master.m3u8",
		"the edge's zone":      e.srv.URL + edgeHLS[len("http://edge1.example"):],
		"a key outside vod/":   hls[:strings.Index(hls, "/vod/")] + "/masters/" + id + "/source",
		"a dot-dot in the key": hls[:strings.Index(hls, "/vod/")] + "/vod/" + id + "/../x/master.m3u8",
	} {
		resp, err := anon.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 403 {
			t.Errorf("%s: %d", what, resp.StatusCode)
			resp.Body.Close()
			continue
		}
		m := decode(t, resp)
		if !strings.HasPrefix(errCode(m), "token_") {
			t.Errorf("%s: %d %v", what, resp.StatusCode, m)
		}
	}
	if resp, err := anon.Get(s3.PublicURL("vod/" + id + "/master.m3u8")); err != nil || resp.StatusCode != 403 {
		t.Fatalf("a private title from the origin bucket anonymously: %v %v", resp.StatusCode, err)
	}

	pub, _ := publish(true)
	_, m = do(t, e.c, "GET", e.srv.URL+"/v1/play/"+pub, "", "")
	if m["hls"] != s3.PublicURL("vod/"+pub+"/master.m3u8") {
		t.Fatalf("public title: %v", m)
	}
	if resp, err := anon.Get(m["hls"].(string)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a public title from the origin bucket anonymously: %v %v", resp.StatusCode, err)
	}
}
