package playback_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/store"
)

func TestPlay(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	// Viewers by token: the profile's maturity and the plan.
	viewers := map[string]playback.Viewer{
		"basic":    {Account: 1, Maturity: "adult", Active: true, MaxHeight: 720, Streams: 1},
		"premium":  {Account: 2, Maturity: "adult", Active: true, MaxHeight: 2160, Streams: 4},
		"kid":      {Account: 3, Maturity: "kids", Active: true, MaxHeight: 1080, Streams: 2},
		"canceled": {Account: 4, Maturity: "adult", Active: false, MaxHeight: 1080, Streams: 2},
	}
	title := playback.Title{ID: "tos", Maturity: "teen", MaxHeight: 1080, Manifests: playback.Manifests{
		HLS: "vod/tos/master.m3u8", DASH: "vod/tos/manifest.mpd",
		Caps: map[string]playback.Manifests{
			"480": {HLS: "vod/tos/cap480.m3u8", DASH: "vod/tos/cap480.mpd"},
			"720": {HLS: "vod/tos/cap720.m3u8", DASH: "vod/tos/cap720.mpd"}}}}
	edgeUp := true
	s := &playback.Service{
		Viewer: func(r *http.Request, profile string) (playback.Viewer, error) {
			v, ok := viewers[r.Header.Get("Authorization")[len("Bearer "):]]
			if !ok {
				return v, &playback.Denied{Status: 401, Code: "unauthorized", Message: "sign in"}
			}
			return v, nil
		},
		Title: func(_ context.Context, id string) (playback.Title, error) {
			if id != "tos" {
				return playback.Title{}, playback.ErrNoTitle
			}
			return title, nil
		},
		Leases: &store.Streams{C: rdb},
		Route: func(r *http.Request, id string) (string, string, string, bool) {
			return "http://edge-z1", "edge-z1", "z1", edgeUp
		},
		Origin: func(key string) string { return "http://origin/" + key },
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	play := func(token, path string) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return resp.StatusCode, resp.Header, v
	}
	code := func(v map[string]any) any { return v["error"].(map[string]any)["code"] }

	st, _, v := play("basic", "/v1/play/tos?profile=1")
	if st != 200 || v["hls"] != "http://edge-z1/vod/tos/cap720.m3u8" || v["dash"] != "http://edge-z1/vod/tos/cap720.mpd" || v["max_height"].(float64) != 720 || v["edge"] != "edge-z1" {
		t.Fatalf("a Basic plan: %d %v", st, v)
	}
	stream := v["stream"].(string)
	st, hdr, v := play("basic", "/v1/play/tos?profile=1")
	if st != 429 || code(v) != "too_many_streams" || hdr.Get("Retry-After") == "" {
		t.Fatalf("a second stream on a one-stream plan: %d %v", st, v)
	}
	if st, _, v = play("basic", "/v1/play/tos?profile=1&stream="+stream); st != 200 || v["stream"] != stream {
		t.Fatalf("renewing the playing stream: %d %v", st, v)
	}
	req, _ := http.NewRequest("DELETE", srv.URL+"/v1/play/tos/streams/"+stream+"?profile=1", nil)
	req.Header.Set("Authorization", "Bearer basic")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("stop: %v %v", resp, err)
	}
	if st, _, _ = play("basic", "/v1/play/tos?profile=1"); st != 200 {
		t.Fatalf("after stopping the stream: %d", st)
	}
	edgeUp = false
	if st, _, v = play("premium", "/v1/play/tos?profile=2"); st != 200 || v["hls"] != "http://origin/vod/tos/master.m3u8" || v["edge"] != "origin" || v["max_height"].(float64) != 1080 {
		t.Fatalf("a Premium plan with no edge up: %d %v", st, v)
	}
	if st, _, v = play("kid", "/v1/play/tos?profile=3"); st != 403 || code(v) != "not_allowed_for_profile" {
		t.Fatalf("a teen title on a kids profile: %d %v", st, v)
	}
	if st, _, v = play("canceled", "/v1/play/tos?profile=4"); st != 403 || code(v) != "subscription_inactive" {
		t.Fatalf("no subscription: %d %v", st, v)
	}
	if st, _, _ = play("nobody", "/v1/play/tos?profile=4"); st != 401 {
		t.Fatalf("no session: %d", st)
	}
	if st, _, v = play("premium", "/v1/play/nothing?profile=2"); st != 404 {
		t.Fatalf("no title: %d %v", st, v)
	}
	if st, _, _ = play("premium", "/v1/play/tos?profile=2&stream=../x"); st != 400 {
		t.Fatalf("a bad stream id: %d", st)
	}
	// An encrypted title: its licence next to its manifests, on the same
	// edge; an AES-128 title has no MPD and no licence.
	edgeUp = true
	title.Manifests.Encryption = &pipeline.Encryption{Scheme: "cbcs", KeyID: "0123abcd-0123-4567-89ab-0123456789ab"}
	st, _, v = play("premium", "/v1/play/tos?profile=2")
	if enc, _ := v["encryption"].(map[string]any); st != 200 || enc["scheme"] != "cbcs" || enc["key_id"] != "0123abcd-0123-4567-89ab-0123456789ab" || enc["licence"] != "http://edge-z1/vod/tos/licence" {
		t.Fatalf("an encrypted title: %d %v", st, v)
	}
	title.Manifests = playback.Manifests{HLS: "vod/tos/master.m3u8", Encryption: &pipeline.Encryption{Scheme: "aes-128", KeyID: "0123abcd-0123-4567-89ab-0123456789ab"}}
	if st, _, v = play("premium", "/v1/play/tos?profile=2"); st != 200 || v["dash"] != nil || v["encryption"].(map[string]any)["licence"] != nil {
		t.Fatalf("an AES-128 title: %d %v", st, v)
	}
}
