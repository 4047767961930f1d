package playtoken_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/playtoken"
)

// TestOriginKeys: the token-checking path of a server that holds no keys
// (the catalog's) passes a title's licence and key requests on to the key
// service once their token passes, from any zone, with the client's
// address (the first X-Forwarded-For entry, behind the gateway) as the
// only X-Forwarded-For entry; a request without a valid token goes
// nowhere.
func TestOriginKeys(t *testing.T) {
	ks := keys(t, k1)
	var calls int
	var xff, path string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		xff, path = r.Header.Get("X-Forwarded-For"), r.URL.Path
		_, _ = io.WriteString(w, "licence")
	}))
	defer svc.Close()
	u, err := relay.ParseKeyService(svc.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := relay.KeyProxy(u, playtoken.ClientAddr)
	o := &playtoken.Origin{Tokens: &playtoken.Checker{Keys: ks, Zone: playtoken.OriginZone},
		Keys: func(w http.ResponseWriter, r *http.Request, _, _ string) { proxy.ServeHTTP(w, r) }}
	srv := httptest.NewServer(o)
	defer srv.Close()
	hour := time.Now().Add(time.Hour)
	post := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/t/"+token+"/vod/job1/licence", strings.NewReader(`{"kids":["x"]}`))
		req.Header.Set("X-Forwarded-For", "198.51.100.7, 10.0.0.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for what, tok := range map[string]string{
		"another title's token": ks.Sign("vod/job2/", hour, playtoken.Bind{}),
		"an expired token":      ks.Sign("vod/job1/", time.Now().Add(-time.Second), playtoken.Bind{}),
		"another client's":      ks.Sign("vod/job1/", hour, playtoken.Bind{Addr: "203.0.113.1"}),
	} {
		if st, body := post(tok); st != 403 || !strings.Contains(body, `"token_`) {
			t.Errorf("%s: %d %s", what, st, body)
		}
	}
	if calls != 0 {
		t.Fatalf("refused requests reached the key service %d times", calls)
	}
	tok := ks.Sign("vod/job1/", hour, playtoken.Bind{Zone: "z2"})
	if st, body := post(tok); st != 200 || body != "licence" || calls != 1 || xff != "198.51.100.7" || path != "/t/"+tok+"/vod/job1/licence" {
		t.Fatalf("a valid token of another zone: %d %q, passed on as %s with X-Forwarded-For %q", st, body, path, xff)
	}
}
