package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/pipeline"
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
