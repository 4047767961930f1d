package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/playtoken"
)

// TestKeyRequests: an edge passes a title's licence and key requests on
// to the key service only once their token passes, with the client's
// address as the only X-Forwarded-For entry and one set of CORS headers;
// without a key service it answers 404 saying which setting is missing.
func TestKeyRequests(t *testing.T) {
	keys := tokenKeys(t, "k1:"+strings.Repeat("11", 32))
	var calls atomic.Int64
	var seen http.Header
	var seenPath, seenMethod string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		seen, seenPath, seenMethod = r.Header.Clone(), r.URL.Path, r.Method
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[],"type":"temporary"}`)
	}))
	t.Cleanup(svc.Close)
	o := newOrigin(t)
	edge := func(service string) *httptest.Server {
		e, err := New(Config{Name: "edge-k", Zone: "z1", Origin: o.URL, Dir: t.TempDir(), KeyService: service,
			Tokens: &playtoken.Checker{Keys: keys, Zone: "z1"}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(e.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	srv := edge(svc.URL)
	tok := keys.Sign("vod/job-a/", time.Now().Add(time.Hour), playtoken.Bind{})
	post := func(url string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"kids":["AAAAAAAAAAAAAAAAAAAAAA"]}`))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, body := fetch(t, req)
		return resp, string(body)
	}
	for what, u := range map[string]string{
		"no token":              srv.URL + "/vod/job-a/licence",
		"another title's token": srv.URL + "/t/" + keys.Sign("vod/job-b/", time.Now().Add(time.Hour), playtoken.Bind{}) + "/vod/job-a/licence",
		"another zone's token":  srv.URL + "/t/" + keys.Sign("vod/job-a/", time.Now().Add(time.Hour), playtoken.Bind{Zone: "z2"}) + "/vod/job-a/licence",
	} {
		if resp, body := post(u); resp.StatusCode != 403 || !strings.Contains(body, `"token_`) {
			t.Errorf("licence with %s: %d %s", what, resp.StatusCode, body)
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("refused requests reached the key service %d times", calls.Load())
	}
	resp, body := post(srv.URL+"/t/"+tok+"/vod/job-a/licence", "X-Forwarded-For", "203.0.113.9")
	if resp.StatusCode != 200 || body != `{"keys":[],"type":"temporary"}` || calls.Load() != 1 {
		t.Fatalf("licence under a valid token: %d %s", resp.StatusCode, body)
	}
	if seenMethod != "POST" || seenPath != "/t/"+tok+"/vod/job-a/licence" || seen.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("passed on as %s %s with X-Forwarded-For %q", seenMethod, seenPath, seen.Get("X-Forwarded-For"))
	}
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 {
		t.Fatalf("Access-Control-Allow-Origin: %q (a browser refuses more than one)", got)
	}
	if resp, body := post(edge("").URL + "/t/" + tok + "/vod/job-a/licence"); resp.StatusCode != 404 || !strings.Contains(body, "REEL_KEY_SERVICE") {
		t.Fatalf("an edge without a key service: %d %s", resp.StatusCode, body)
	}
}
