package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/protect"
)

// TestTitleKeys follows an encrypted title's key from the job that asks
// for it to the players that get it: sealed in the job (never shown),
// named by its key id in the job's view, given in a CPIX document to the
// job's owner only, in a ClearKey licence (cbcs, cenc) or as the AES-128
// key only under the title's playback token, and never for a job whose
// server has no master key.
func TestTitleKeys(t *testing.T) {
	ctx := context.Background()
	keys, _ := playtoken.ParseKeys("k1:" + strings.Repeat("ab", 32))
	master, _ := protect.ParseMaster(strings.Repeat("cd", 32))
	e := setup(t, 1<<20, func(s *api.Server) {
		s.Signer = &playtoken.Signer{Keys: keys}
		s.KeyMaster = master
		s.Origin = &playtoken.Origin{Tokens: &playtoken.Checker{Keys: keys, Zone: playtoken.OriginZone}, Keys: s.ServeKey}
	})
	submit := func(scheme string) (string, map[string]any) {
		t.Helper()
		resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master"), ladder: `{"rungs":[{"height":240,"bitrate":300000}],"encryption":{"scheme":"` + scheme + `"}}`})
		if resp.StatusCode != 201 {
			t.Fatalf("submit %s: %d %v", scheme, resp.StatusCode, m)
		}
		id := m["id"].(string)
		if _, err := e.api.Svc.Store.Update(ctx, id, func(j *pipeline.Job) error {
			j.Status = pipeline.StatusComplete
			j.Published = &pipeline.Published{HLS: "vod/" + j.ID + "/master.m3u8"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return id, m
	}
	cbcs, view := submit("cbcs")
	j, err := e.api.Svc.Store.Get(ctx, cbcs)
	if err != nil || j.Protection == nil || len(j.Protection.KeyID) != 32 || j.Protection.WrappedKey == "" {
		t.Fatalf("the job's key: %+v %v", j.Protection, err)
	}
	raw, _ := json.Marshal(view)
	enc, _ := view["encryption"].(map[string]any)
	if bytes.Contains(raw, []byte(j.Protection.WrappedKey)) || enc["scheme"] != "cbcs" || enc["key_id"] == nil {
		t.Fatalf("the job's view must name the key id and never hold the key: %s", raw)
	}
	key, err := master.Unwrap(cbcs, j.Protection.WrappedKey)
	if err != nil || key.KIDHex() != j.Protection.KeyID {
		t.Fatalf("the sealed key: %v", err)
	}

	// CPIX: its owner gets the key; another tenant does not see the job.
	resp, err := e.c.Get(e.srv.URL + "/v1/jobs/" + cbcs + "/cpix")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(doc, []byte(base64.StdEncoding.EncodeToString(key.Key[:]))) || !bytes.Contains(doc, []byte(key.KIDUUID())) {
		t.Fatalf("CPIX: %d %s", resp.StatusCode, doc)
	}
	if resp, err := e.newKey(t, "other", false).Get(e.srv.URL + "/v1/jobs/" + cbcs + "/cpix"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("another tenant's CPIX request: %v %v", resp.StatusCode, err)
	}

	// The licence, under the title's token only.
	b64 := base64.RawURLEncoding
	licReq := `{"kids":["` + b64.EncodeToString(key.KID[:]) + `"],"type":"temporary"}`
	tok := keys.Sign("vod/"+cbcs+"/", time.Now().Add(time.Hour), playtoken.Bind{})
	other, _ := submit("cenc")
	for what, c := range map[string]struct {
		url  string
		code int
	}{
		"the title's token":         {"/t/" + tok + "/vod/" + cbcs + "/licence", 200},
		"a malformed token":         {"/t/x/vod/" + cbcs + "/licence", 403},
		"another title's token":     {"/t/" + keys.Sign("vod/"+other+"/", time.Now().Add(time.Hour), playtoken.Bind{}) + "/vod/" + cbcs + "/licence", 403},
		"an expired token":          {"/t/" + keys.Sign("vod/"+cbcs+"/", time.Now().Add(-time.Second), playtoken.Bind{}) + "/vod/" + cbcs + "/licence", 403},
		"a token of another zone":   {"/t/" + keys.Sign("vod/"+cbcs+"/", time.Now().Add(time.Hour), playtoken.Bind{Zone: "z9"}) + "/vod/" + cbcs + "/licence", 200},
		"the AES-128 key of a cbcs": {"/t/" + tok + "/vod/" + cbcs + "/key", 404},
	} {
		method := "POST"
		if strings.HasSuffix(c.url, "/key") {
			method = "GET"
		}
		req, _ := http.NewRequest(method, e.srv.URL+c.url, strings.NewReader(licReq))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("licence with %s: %d %s, want %d", what, resp.StatusCode, body, c.code)
			continue
		}
		if c.code == 200 && !bytes.Contains(body, []byte(`"k":"`+b64.EncodeToString(key.Key[:])+`"`)) {
			t.Errorf("licence with %s: %s", what, body)
		}
		if c.code != 200 && !bytes.Contains(body, []byte(`"code"`)) {
			t.Errorf("licence with %s: %d without a JSON reason: %s", what, resp.StatusCode, body)
		}
	}
	// A licence request for another key id is refused with what was wrong.
	req, _ := http.NewRequest("POST", e.srv.URL+"/t/"+tok+"/vod/"+cbcs+"/licence", strings.NewReader(`{"kids":["AAAAAAAAAAAAAAAAAAAAAA"]}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 || errCode(decode(t, resp)) != "invalid_licence_request" {
		t.Fatalf("a licence for another key id: %v %v", resp.StatusCode, err)
	}
	// A browser's preflight of the licence POST.
	req, _ = http.NewRequest("OPTIONS", e.srv.URL+"/t/"+tok+"/vod/"+cbcs+"/licence", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %v %v", resp, err)
	}

	// AES-128: the key itself, under the token.
	aes, _ := submit("aes-128")
	j, _ = e.api.Svc.Store.Get(ctx, aes)
	want, _ := master.Unwrap(aes, j.Protection.WrappedKey)
	resp, err = http.Get(e.srv.URL + "/t/" + keys.Sign("vod/"+aes+"/", time.Now().Add(time.Hour), playtoken.Bind{}) + "/vod/" + aes + "/key")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, want.Key[:]) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("AES-128 key: %d %s", resp.StatusCode, hex.EncodeToString(got))
	}

	// A server without a master key refuses encrypted jobs, saying why.
	e.api.KeyMaster = nil
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master"), ladder: `{"rungs":[{"height":240,"bitrate":300000}],"encryption":{"scheme":"cenc"}}`})
	if resp.StatusCode != 400 || errCode(m) != "invalid_ladder" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "REEL_KEY_MASTER") {
		t.Fatalf("encryption without a master key: %d %v", resp.StatusCode, m)
	}
	resp, m = e.post(t, form{fileName: "a.mp4", file: []byte("master"), ladder: `{"rungs":[{"height":240,"bitrate":300000}],"public":true,"encryption":{"scheme":"cenc"}}`})
	if resp.StatusCode != 400 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "public") {
		t.Fatalf("a public encrypted title: %d %v", resp.StatusCode, m)
	}
}
