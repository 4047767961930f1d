package playtoken_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/playtoken"
)

const (
	k1 = "k1:" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	k2 = "k2:" + "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

func keys(t *testing.T, s string) playtoken.Keys {
	t.Helper()
	ks, err := playtoken.ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestParseKeys(t *testing.T) {
	ks := keys(t, k2+", "+k1)
	if len(ks) != 2 || ks[0].ID != "k2" || ks[1].ID != "k1" || len(ks[0].Secret) != 32 {
		t.Fatalf("parsed %+v", ks)
	}
	for in, want := range map[string]string{
		"":                    "no playback key",
		"k1":                  "want ID:HEXSECRET",
		"k1:abcd":             "at least 32 bytes",
		"k 1:" + k1[3:]:       "want ID:HEXSECRET",
		k1 + "," + k1:         "given twice",
		"k1:" + k1[3:] + "zz": "at least 32 bytes",
	} {
		_, err := playtoken.ParseKeys(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q) = %v, want an error saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), k1[3:]) {
			t.Errorf("ParseKeys(%q): the error shows the secret: %v", in, err)
		}
	}
}

func TestCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	signer := keys(t, k2+","+k1) // k2 signs; k1 is the previous key
	old := keys(t, k1)
	gone := keys(t, "k0:"+strings.Repeat("ab", 32))
	key := "vod/job1/hls/v0/seg_00001.m4s"
	exp := now.Add(time.Hour)
	valid := signer.Sign("vod/job1/", exp, playtoken.Bind{})
	tampered := []byte(valid)
	tampered[len(tampered)-3] ^= 1
	for _, c := range []struct {
		name, token, key, addr, zone, code string
	}{
		{"valid", valid, key, "", "z1", ""},
		{"manifest of the same title", valid, "vod/job1/master.m3u8", "", "", ""},
		{"signed with the previous key", old.Sign("vod/job1/", exp, playtoken.Bind{}), key, "", "", ""},
		{"missing", "", key, "", "", "token_missing"},
		{"malformed", "abc", key, "", "", "token_malformed"},
		{"bad signature encoding", "k2.1.-.!!!", key, "", "", "token_malformed"},
		{"signature spelt another way", valid[:len(valid)-1] + string(valid[len(valid)-1]^1), key, "", "", "token_malformed"},
		{"expired", signer.Sign("vod/job1/", now.Add(-time.Second), playtoken.Bind{}), key, "", "", "token_expired"},
		{"expiring now", signer.Sign("vod/job1/", now, playtoken.Bind{}), key, "", "", "token_expired"},
		{"tampered", string(tampered), key, "", "", "token_invalid"},
		{"expiry extended", strings.Replace(valid, ".1800003600.", ".1900003600.", 1), key, "", "", "token_invalid"},
		{"another title", valid, "vod/job2/master.m3u8", "", "", "token_invalid"},
		{"title prefix trick", valid, "vod/job1", "", "", "token_invalid"},
		{"outside vod", valid, "masters/job1/source", "", "", "token_invalid"},
		{"rotated out", gone.Sign("vod/job1/", exp, playtoken.Bind{}), key, "", "", "token_key_unknown"},
		{"zone bound, right zone", signer.Sign("vod/job1/", exp, playtoken.Bind{Zone: "z1"}), key, "", "z1", ""},
		{"zone bound, other zone", signer.Sign("vod/job1/", exp, playtoken.Bind{Zone: "z1"}), key, "", "z2", "token_wrong_zone"},
		{"address bound, same", signer.Sign("vod/job1/", exp, playtoken.Bind{Addr: "10.0.0.7"}), key, "10.0.0.7", "", ""},
		{"address bound, other", signer.Sign("vod/job1/", exp, playtoken.Bind{Addr: "10.0.0.7"}), key, "10.0.0.8", "", "token_wrong_client"},
	} {
		ch := &playtoken.Checker{Keys: signer, Zone: c.zone, Now: clock}
		err := ch.Check(c.token, c.key, c.addr)
		var code string
		if r, ok := err.(*playtoken.Refusal); ok {
			code = r.Code
		} else if err != nil {
			t.Errorf("%s: %v is not a refusal", c.name, err)
		}
		if code != c.code {
			t.Errorf("%s: got %q (%v), want %q", c.name, code, err, c.code)
		}
	}
}

func TestURLAndSplit(t *testing.T) {
	ks := keys(t, k1)
	u := ks.URL("http://edge:8090/", "vod/j/", "vod/j/master.m3u8", time.Now().Add(time.Hour), playtoken.Bind{Zone: "z1"})
	p := strings.TrimPrefix(u, "http://edge:8090")
	token, key, ok := playtoken.Split(p)
	if !ok || key != "vod/j/master.m3u8" {
		t.Fatalf("Split(%q) = %q, %q, %v", p, token, key, ok)
	}
	if err := (&playtoken.Checker{Keys: ks, Zone: "z1"}).Check(token, key, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := playtoken.Split("/vod/j/master.m3u8"); ok {
		t.Error("a path without /t/ split as tokened")
	}
}

func TestRefusalWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	(&playtoken.Refusal{Code: "token_expired", Message: "expired"}).Write(rec)
	var body struct {
		Error struct{ Code, Message string }
	}
	if rec.Code != 403 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != "token_expired" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %q", rec.Code, rec.Body.String(), rec.Header())
	}
}

// FuzzCheck: no token, however crafted, passes for a title it was not
// signed for, and none makes Check panic.
func FuzzCheck(f *testing.F) {
	ks, _ := playtoken.ParseKeys(k1)
	f.Add(ks.Sign("vod/a/", time.Now().Add(time.Hour), playtoken.Bind{}), "vod/b/x.m4s")
	f.Add("k1.99999999999.zejE.AAAA", "vod/a/x")
	f.Add("...", "vod//x")
	f.Fuzz(func(t *testing.T, token, key string) {
		err := (&playtoken.Checker{Keys: ks}).Check(token, key, "")
		if err == nil && !strings.HasPrefix(key, "vod/a/") {
			t.Fatalf("token %q passed for %q", token, key)
		}
	})
}
