package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// TestEncryptedPlayback publishes one master three times, encrypted with
// cenc, cbcs and aes-128, and plays each from an edge as a viewer would:
// the CENC titles in dash.js and Shaka Player with W3C ClearKey (the
// licence asked of the edge, which passes it on to the API), the AES-128
// title in hls.js (its key fetched where the playlist says). Without a
// valid token the licence and the key are refused; the segments do not
// decode without the key; the CPIX document holds the key the licence
// gives.
func TestEncryptedPlayback(t *testing.T) {
	p := startPlatform(t)
	ctx, page := browser(t)
	until(t, 30*time.Second, "two healthy edges", func() bool {
		e := p.edges(t)
		return len(e) == 2 && e["edge-z1"].Healthy && e["edge-z2"].Healthy
	})
	dir := t.TempDir()
	master := testenv.Generate(t, filepath.Join(dir, "protected.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	ids := map[string]string{}
	for _, scheme := range []string{"cenc", "cbcs", "aes-128"} {
		ids[scheme] = p.submit(t, master, `{"rungs":[{"height":240,"bitrate":400000},{"height":144,"bitrate":150000}],"segment_seconds":2,"chunk_segments":2,"encryption":{"scheme":"`+scheme+`"}}`)
	}
	for _, scheme := range []string{"cenc", "cbcs", "aes-128"} {
		id := ids[scheme]
		v := p.awaitEnd(t, id, 3*time.Minute)
		if v.Status != pipeline.StatusComplete {
			t.Fatalf("%s title: %s %+v", scheme, v.Status, v.Error)
		}
		if v.Encryption == nil || v.Encryption.Scheme != scheme || len(v.Encryption.KeyID) != 36 {
			t.Fatalf("%s title's encryption: %+v", scheme, v.Encryption)
		}
		pl, code := p.play(t, id, "z1")
		if code != 200 || pl.Edge != "edge-z1" || pl.Encryption == nil {
			t.Fatalf("play %s: %d %+v", scheme, code, pl)
		}
		key := cpixKey(t, p, id, v.Encryption.KeyID)
		t.Run(scheme, func(t *testing.T) {
			base := pl.HLS[:strings.LastIndex(pl.HLS, "/vod/")]
			edgeURL := base[:strings.Index(base, "/t/")]
			checkKeyRefusals(t, edgeURL, id, ids, scheme)
			checkUndecodable(t, base+"/vod/"+id+"/240p", master, dir)
			if scheme == "aes-128" {
				if pl.DASH != "" || pl.Encryption.Licence != "" {
					t.Errorf("an AES-128 title is HLS only, with no licence: %+v", pl)
				}
				_, got := get(t, base+"/vod/"+id+"/key")
				if !bytes.Equal(got, key) {
					t.Errorf("the AES-128 key from the edge is not the CPIX document's")
				}
				res := playURL(t, ctx, page, url.Values{"player": {"hls"}, "src": {pl.HLS}, "rate": {"2"}})
				t.Logf("hls.js: %+v", res)
				checkPlayback(t, res, v)
				return
			}
			if !strings.HasPrefix(pl.Encryption.Licence, base+"/vod/"+id+"/licence") {
				t.Fatalf("licence URL %q is not the edge's under the token", pl.Encryption.Licence)
			}
			if got := clearKeyLicence(t, pl.Encryption.Licence, v.Encryption.KeyID); !bytes.Equal(got, key) {
				t.Errorf("the licence's key is not the CPIX document's")
			}
			for _, player := range []string{"dash", "shaka", "hls"} {
				src := pl.DASH
				if player == "hls" {
					src = pl.HLS
				}
				res := playURL(t, ctx, page, url.Values{"player": {player}, "src": {src}, "rate": {"2"}, "licence": {pl.Encryption.Licence}})
				t.Logf("%s: %+v", player, res)
				checkPlayback(t, res, v)
			}
		})
	}
}

// cpixKey reads the content key of title id from its CPIX document, and
// checks the document names kid.
func cpixKey(t *testing.T, p *platform, id, kid string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", p.api+"/v1/jobs/"+id+"/cpix", nil)
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct {
			KID   string `xml:"kid,attr"`
			Value string `xml:"Data>Secret>PlainValue"`
		} `xml:"ContentKeyList>ContentKey"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || len(doc.Keys) != 1 || doc.Keys[0].KID != kid {
		t.Fatalf("CPIX of %s: %d %v %+v", id, resp.StatusCode, err, doc)
	}
	key, err := base64.StdEncoding.DecodeString(doc.Keys[0].Value)
	if err != nil || len(key) != 16 {
		t.Fatalf("CPIX key %q: %v", doc.Keys[0].Value, err)
	}
	return key
}

// clearKeyLicence asks licence for key id kid (a UUID) as a W3C ClearKey
// player does, and returns the key it gives.
func clearKeyLicence(t *testing.T, licence, kid string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(kid, "-", ""))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	resp, err := http.Post(licence, "application/json", strings.NewReader(`{"kids":["`+b64.EncodeToString(raw)+`"],"type":"temporary"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lic struct {
		Keys []struct{ Kty, K, KID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&lic); err != nil || resp.StatusCode != 200 || len(lic.Keys) != 1 || lic.Keys[0].KID != b64.EncodeToString(raw) {
		t.Fatalf("licence: %d %v %+v", resp.StatusCode, err, lic)
	}
	key, err := b64.DecodeString(lic.Keys[0].K)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// checkKeyRefusals asks the edge at edgeURL for title id's licence or key
// without a valid token (none, expired, tampered, another title's): each
// is refused with 403 and a JSON reason.
func checkKeyRefusals(t *testing.T, edgeURL, id string, ids map[string]string, scheme string) {
	t.Helper()
	name, method := "licence", "POST"
	if scheme == "aes-128" {
		name, method = "key", "GET"
	}
	path := "vod/" + id + "/" + name
	valid := signedBase(t, edgeURL, id)
	other := signedBase(t, edgeURL, ids["cenc"])
	if scheme == "cenc" {
		other = signedBase(t, edgeURL, ids["cbcs"])
	}
	for what, u := range map[string]string{
		"no token":          edgeURL + "/" + path,
		"a tampered token":  edgeURL + "/t/" + tamper(strings.TrimPrefix(valid, edgeURL+"/t/")) + "/" + path,
		"another title's":   other + "/" + path,
		"a malformed token": edgeURL + "/t/x.y/" + path,
	} {
		req, _ := http.NewRequest(method, u, strings.NewReader(`{"kids":["AAAAAAAAAAAAAAAAAAAAAA"],"type":"temporary"}`))
		if status, got := refusal(t, req); status != 403 || !strings.HasPrefix(got.Code, "token_") {
			t.Errorf("%s %s with %s: %d %+v", method, name, what, status, got)
		}
	}
}

// checkUndecodable fetches the first segment of the rendition at rung
// (a URL under a valid token) with its initialization segment and
// decodes its first picture with ffmpeg, which knows no key: it must fail,
// or show garbage (PSNR against the master's first picture under 20 dB,
// where the clear encode scores above 30).
func checkUndecodable(t *testing.T, rung, master, dir string) {
	t.Helper()
	_, init := get(t, rung+"/init.mp4")
	_, seg := get(t, rung+"/seg_00000.m4s")
	f := filepath.Join(dir, "undecodable-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".mp4")
	if err := os.WriteFile(f, append(init, seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", f, "-i", master, "-lavfi", "[0:v][1:v]psnr", "-frames:v", "1", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Logf("ffmpeg cannot decode the segment without its key: %v", lastLine(out))
		return
	}
	m := regexp.MustCompile(`average:([0-9.]+|inf)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no PSNR from ffmpeg:\n%s", out)
	}
	psnr, _ := strconv.ParseFloat(string(m[1]), 64)
	if string(m[1]) == "inf" || psnr >= 20 {
		t.Fatalf("the segment decodes without its key: PSNR %s dB against the master\n%s", m[1], out)
	}
	t.Logf("without its key the segment decodes to garbage: PSNR %.1f dB against the master", psnr)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
