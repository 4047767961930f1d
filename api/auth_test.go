package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/pipeline"
)

func do(t *testing.T, c *http.Client, method, url, ctype, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusNoContent {
		resp.Body.Close()
		return resp, nil
	}
	return resp, decode(t, resp)
}

func TestKeysAndTenants(t *testing.T) {
	e := setup(t, 1<<20)
	u := e.srv.URL
	// No key, a malformed header and an unknown key are all 401.
	for _, h := range []string{"", "Basic abc", "Bearer reel_notakeyatallnotakeyatall"} {
		req, _ := http.NewRequest("GET", u+"/v1/jobs", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if m := decode(t, resp); resp.StatusCode != 401 || errCode(m) != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %v", h, resp.StatusCode, m)
		}
	}
	if resp, err := http.Get(u + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz needs no key: %v %v", resp, err)
	}
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("acme's master")})
	if resp.StatusCode != 201 || m["tenant"] != "acme" {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	other := e.newKey(t, "globex", false)
	admin := e.newKey(t, "ops", true)
	// Another tenant's job does not exist for it, whatever it tries.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/jobs/" + id}, {"DELETE", "/v1/jobs/" + id}, {"POST", "/v1/jobs/" + id + "/retry"}, {"GET", "/v1/jobs/" + id + "/events"},
	} {
		if resp, m := do(t, other, c.method, u+c.path, "", ""); resp.StatusCode != 404 || errCode(m) != "not_found" {
			t.Errorf("globex %s %s: %d %v", c.method, c.path, resp.StatusCode, m)
		}
	}
	if _, l := do(t, other, "GET", u+"/v1/jobs", "", ""); l["total"].(float64) != 0 {
		t.Errorf("globex lists acme's jobs: %v", l)
	}
	if _, l := do(t, e.c, "GET", u+"/v1/jobs", "", ""); l["total"].(float64) != 1 {
		t.Errorf("acme's list: %v", l)
	}
	if resp, g := do(t, admin, "GET", u+"/v1/jobs/"+id, "", ""); resp.StatusCode != 200 || g["id"] != id {
		t.Errorf("admin get: %d %v", resp.StatusCode, g)
	}
	if _, l := do(t, admin, "GET", u+"/v1/jobs?tenant=globex", "", ""); l["total"].(float64) != 0 {
		t.Errorf("admin list of globex: %v", l)
	}
	// Keys and workers are for admins.
	for _, c := range []struct{ method, path, body string }{{"GET", "/v1/workers", ""}, {"GET", "/v1/keys", ""}, {"POST", "/v1/keys", `{"tenant":"x"}`}} {
		if resp, m := do(t, e.c, c.method, u+c.path, "application/json", c.body); resp.StatusCode != 403 || errCode(m) != "forbidden" {
			t.Errorf("tenant %s %s: %d %v", c.method, c.path, resp.StatusCode, m)
		}
	}
	resp, k := do(t, admin, "POST", u+"/v1/keys", "application/json", `{"tenant":"initech"}`)
	if resp.StatusCode != 201 || !strings.HasPrefix(k["key"].(string), "reel_") || k["tenant"] != "initech" {
		t.Fatalf("create key: %d %v", resp.StatusCode, k)
	}
	if resp, m := do(t, admin, "POST", u+"/v1/keys", "application/json", `{"tenant":"../Bad"}`); resp.StatusCode != 400 {
		t.Errorf("bad tenant: %d %v", resp.StatusCode, m)
	}
	initech := client(k["key"].(string))
	if resp, _ := do(t, initech, "GET", u+"/v1/jobs", "", ""); resp.StatusCode != 200 {
		t.Errorf("new key: %d", resp.StatusCode)
	}
	_, list := do(t, admin, "GET", u+"/v1/keys", "", "")
	if n := len(list["keys"].([]any)); n != 4 {
		t.Errorf("%d keys listed, want 4: %v", n, list)
	}
	if strings.Contains(fmt.Sprint(list), k["key"].(string)) {
		t.Errorf("the key listing holds a key")
	}
	if resp, _ := do(t, admin, "DELETE", u+"/v1/keys/"+k["id"].(string), "", ""); resp.StatusCode != 204 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := do(t, initech, "GET", u+"/v1/jobs", "", ""); resp.StatusCode != 401 {
		t.Errorf("revoked key: %d", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) { s.RateLimit = 2 })
	for i := range 3 {
		resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("x")})
		want := 201
		if i == 2 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("create %d: %d %v", i+1, resp.StatusCode, m)
		}
		if i == 2 {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 61 || errCode(m) != "rate_limited" {
				t.Errorf("429 without a usable Retry-After: %q %v", resp.Header.Get("Retry-After"), m)
			}
		}
	}
	// Reads are not limited, and another key has its own budget.
	if resp, _ := do(t, e.c, "GET", e.srv.URL+"/v1/jobs", "", ""); resp.StatusCode != 200 {
		t.Errorf("list after the limit: %d", resp.StatusCode)
	}
	other := &env{srv: e.srv, c: e.newKey(t, "acme", false)}
	if resp, m := other.post(t, form{fileName: "a.mp4", file: []byte("x")}); resp.StatusCode != 201 {
		t.Errorf("second key: %d %v", resp.StatusCode, m)
	}
}

// TestStalledUpload sends half a body and stops: the API answers 408 once
// the stall timeout passes and keeps nothing.
func TestStalledUpload(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) { s.StallTimeout = time.Second })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n" + strings.Repeat("x", 1000)
	fmt.Fprintf(conn, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n%s", e.key, body)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := decode(t, resp); resp.StatusCode != 408 || errCode(m) != "upload_stalled" {
		t.Fatalf("stalled upload: %d %v", resp.StatusCode, m)
	}
	t.Logf("answered after %s", time.Since(start).Round(10*time.Millisecond))
	keys, err := e.s3.List(context.Background(), e.s3.Bucket(), "masters/")
	if err != nil || len(keys) != 0 {
		t.Errorf("a stalled upload left objects: %v %v", keys, err)
	}
}

func tus(t *testing.T, c *http.Client, method, url string, hdr map[string]string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestResumableUpload(t *testing.T) {
	e := setup(t, 64<<20)
	u := e.srv.URL
	data := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16+1000) // over one S3 part
	resp := tus(t, e.c, "POST", u+"/v1/uploads/", map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("../x\n.mov")),
	}, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || loc == "" {
		t.Fatalf("create: %d %q", resp.StatusCode, loc)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = u + loc
	}
	id := loc[strings.LastIndex(loc, "/")+1:]
	half := 5<<20 + 123
	if resp := tus(t, e.c, "PATCH", loc, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, data[:half]); resp.StatusCode != 204 {
		t.Fatalf("first PATCH: %d", resp.StatusCode)
	}
	resp = tus(t, e.c, "HEAD", loc, nil, nil)
	off, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if resp.StatusCode != 200 || off == 0 || off > half {
		t.Fatalf("HEAD: %d offset %d", resp.StatusCode, off)
	}
	// An unfinished upload is not a job yet; nor is it another tenant's.
	other := e.newKey(t, "globex", false)
	if resp := tus(t, other, "HEAD", loc, nil, nil); resp.StatusCode != 404 {
		t.Errorf("globex HEAD: %d", resp.StatusCode)
	}
	if resp := tus(t, other, "PATCH", loc, map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, data[off:]); resp.StatusCode != 404 {
		t.Errorf("globex PATCH: %d", resp.StatusCode)
	}
	job := `{"upload":"` + id + `"}`
	if resp, m := do(t, e.c, "POST", u+"/v1/jobs", "application/json", job); resp.StatusCode != 409 || errCode(m) != "upload_incomplete" {
		t.Errorf("job from an unfinished upload: %d %v", resp.StatusCode, m)
	}
	if resp := tus(t, e.c, "PATCH", loc, map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, data[off:]); resp.StatusCode != 204 {
		t.Fatalf("second PATCH: %d", resp.StatusCode)
	}
	if resp, m := do(t, other, "POST", u+"/v1/jobs", "application/json", job); resp.StatusCode != 404 {
		t.Errorf("globex job from acme's upload: %d %v", resp.StatusCode, m)
	}
	resp, m := do(t, e.c, "POST", u+"/v1/jobs", "application/json", job)
	if resp.StatusCode != 201 || m["tenant"] != "acme" || m["name"] != "x.mov" {
		t.Fatalf("job: %d %v", resp.StatusCode, m)
	}
	// Asking again (a client that lost the answer) gives the same job.
	if resp, again := do(t, e.c, "POST", u+"/v1/jobs", "application/json", job); resp.StatusCode != 200 || again["id"] != m["id"] {
		t.Errorf("second ask: %d %v", resp.StatusCode, again)
	}
	keys, err := e.s3.List(context.Background(), e.s3.Bucket(), pipeline.UploadsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".info") {
			continue
		}
		if n, err := e.s3.Stat(context.Background(), e.s3.Bucket(), k); err != nil || n != int64(len(data)) {
			t.Errorf("%s: %d bytes (%v), want %d", k, n, err, len(data))
		}
	}
	// Too large for the limit, or without a length: refused at creation.
	if resp := tus(t, e.c, "POST", u+"/v1/uploads/", map[string]string{"Upload-Length": strconv.Itoa(65 << 20)}, nil); resp.StatusCode != 413 {
		t.Errorf("oversized upload: %d", resp.StatusCode)
	}
	if resp := tus(t, e.c, "POST", u+"/v1/uploads/", map[string]string{"Upload-Defer-Length": "1"}, nil); resp.StatusCode != 400 {
		t.Errorf("deferred length: %d", resp.StatusCode)
	}
}
