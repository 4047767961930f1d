package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/playtoken"
)

func tokenKeys(t *testing.T, s string) playtoken.Keys {
	t.Helper()
	ks, err := playtoken.ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestTokens: the edge refuses every request without a valid token for
// the title asked, with 403 and a JSON reason, before it reads its disk or
// the origin; a valid token plays, from the origin once and from disk
// after; a public title plays untokened and a private one does not.
func TestTokens(t *testing.T) {
	current := tokenKeys(t, "k2:"+strings.Repeat("22", 32))
	previous := tokenKeys(t, "k1:"+strings.Repeat("11", 32))
	retired := tokenKeys(t, "k0:"+strings.Repeat("00", 32))
	accepted := append(append(playtoken.Keys{}, current...), previous...)
	o := newOrigin(t)
	key := "vod/job-a/720p/seg_00001.m4s"
	want := o.put(key, 5000)
	o.put("vod/job-b/720p/seg_00001.m4s", 5000)
	o.put("vod/job-pub/master.m3u8", 100)
	var lookups atomic.Int64
	e, err := New(Config{Name: "edge-t", Zone: "z1", Origin: o.URL, Dir: t.TempDir(),
		Tokens: &playtoken.Checker{Keys: accepted, Zone: "z1"},
		Public: func(_ context.Context, title string) (bool, error) { lookups.Add(1); return title == "job-pub", nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	hour := time.Now().Add(time.Hour)
	valid := current.Sign("vod/job-a/", hour, playtoken.Bind{})
	// Another base64url character where all its bits count.
	tampered := []rune(valid)
	if i := len(tampered) - 10; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}

	for _, c := range []struct{ name, path, code string }{
		{"no token", "/" + key, "token_missing"},
		{"expired", "/t/" + current.Sign("vod/job-a/", time.Now().Add(-time.Minute), playtoken.Bind{}) + "/" + key, "token_expired"},
		{"tampered", "/t/" + string(tampered) + "/" + key, "token_invalid"},
		{"another title's token", "/t/" + current.Sign("vod/job-b/", hour, playtoken.Bind{}) + "/" + key, "token_invalid"},
		{"a token for this title used on another", "/t/" + valid + "/vod/job-b/720p/seg_00001.m4s", "token_invalid"},
		{"rotated-out key", "/t/" + retired.Sign("vod/job-a/", hour, playtoken.Bind{}) + "/" + key, "token_key_unknown"},
		{"another zone's token", "/t/" + current.Sign("vod/job-a/", hour, playtoken.Bind{Zone: "z2"}) + "/" + key, "token_wrong_zone"},
		{"another client's token", "/t/" + current.Sign("vod/job-a/", hour, playtoken.Bind{Addr: "192.0.2.1"}) + "/" + key, "token_wrong_client"},
		{"garbage", "/t/%00%ff/" + key, "token_malformed"},
	} {
		resp, body := get(t, srv.URL+c.path)
		var b struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != 403 || json.Unmarshal(body, &b) != nil || b.Error.Code != c.code || b.Error.Message == "" {
			t.Errorf("%s: %d %s, want 403 %s", c.name, resp.StatusCode, body, c.code)
		}
	}
	if n := o.count(key) + o.count("vod/job-b/720p/seg_00001.m4s"); n != 0 {
		t.Fatalf("refused requests fetched %d objects from the origin", n)
	}
	if st := e.Status(); st.OriginFetches != 0 || st.Hits+st.Misses != 0 || st.Refused != 9 {
		t.Fatalf("after refusals: %+v", st)
	}

	for _, tok := range []string{valid, previous.Sign("vod/job-a/", hour, playtoken.Bind{}), current.Sign("vod/job-a/", hour, playtoken.Bind{Zone: "z1"}),
		current.Sign("vod/job-a/", hour, playtoken.Bind{Addr: "127.0.0.1"})} {
		resp, body := get(t, srv.URL+"/t/"+tok+"/"+key)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("valid token %s: %d, %d bytes", tok, resp.StatusCode, len(body))
		}
	}
	if n := o.count(key); n != 1 {
		t.Errorf("four plays fetched the object %d times, want once", n)
	}
	// A cached object still needs a token.
	if resp, _ := get(t, srv.URL+"/"+key); resp.StatusCode != 403 {
		t.Errorf("a cached private object untokened: %d", resp.StatusCode)
	}
	for range 3 {
		if resp, _ := get(t, srv.URL+"/vod/job-pub/master.m3u8"); resp.StatusCode != 200 {
			t.Fatalf("public title untokened: %d", resp.StatusCode)
		}
	}
	if n := lookups.Load(); n != 2 { // job-a once, job-pub once
		t.Errorf("public lookups: %d, want 2 (answers are kept)", n)
	}
}
