package api_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/origin"
)

// TestJobFromURL: a job may name its master by an http(s) URL at an
// allowed address; a URL at an inside address, a cloud metadata address,
// with credentials or of another scheme is refused with 400 before any
// job is made.
func TestJobFromURL(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) {
		s.IngestPolicy = &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	})
	u := e.srv.URL + "/v1/jobs"
	for src, want := range map[string]string{
		"http://169.254.169.254/latest/meta-data/iam": "not public",
		"http://10.0.0.9/master.mov":                  "REEL_INGEST_ALLOW",
		"http://[::1]:8080/master.mov":                "not public",
		"https://user:secret@example.com/master.mov":  "credentials",
		"file:///etc/passwd":                          "an http:// or https:// URL",
		"gopher://example.com/master":                 "an http:// or https:// URL",
	} {
		resp, m := do(t, e.c, "POST", u, "application/json", `{"source":"`+src+`"}`)
		if msg, _ := m["error"].(map[string]any)["message"].(string); resp.StatusCode != 400 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %v, want 400 saying %q", src, resp.StatusCode, m, want)
		}
	}
	resp, m := do(t, e.c, "POST", u, "application/json", `{"source":"http://127.0.0.1:9/films/Big%20Buck.mov?X-Amz-Signature=abc"}`)
	if resp.StatusCode != 201 || m["status"] != "queued" || m["name"] != "Big Buck.mov" {
		t.Fatalf("a job from an allowed URL: %d %v", resp.StatusCode, m)
	}
	if strings.Contains(resp.Header.Get("Location")+toString(m), "X-Amz-Signature") {
		t.Errorf("the job's view shows the source URL's query: %v", m)
	}
}

func toString(m map[string]any) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k)
		b.WriteString("=")
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteString(";")
	}
	return b.String()
}

// TestJobFromForeignS3: an s3:// source in another store, with
// credentials, becomes a job fetched through a URL presigned with them
// (the credentials are not kept); an endpoint at an inside address is
// refused, and so are incomplete credentials.
func TestJobFromForeignS3(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) {
		s.IngestPolicy = &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		s.PresignForeign = func(ctx context.Context, f api.ForeignSource, bucket, key string, ttl time.Duration) (string, error) {
			return origin.PresignForeign(ctx, f.Endpoint, f.Region, f.AccessKey, f.SecretKey, !f.Insecure, bucket, key, ttl)
		}
	})
	ctx := context.Background()
	master := []byte("a master in someone else's bucket")
	if err := e.s3.PutBytes(ctx, e.s3.Bucket(), "theirs/film.mov", master, "video/quicktime"); err != nil {
		t.Fatal(err)
	}
	endpoint := strings.TrimPrefix(strings.TrimSuffix(e.s3.PublicURL(""), "/"+e.s3.OriginBucket()+"/"), "http://")
	creds := func(ep string) string {
		return `"source_credentials":{"endpoint":"` + ep + `","access_key":"` + devstack.MinioUser + `","secret_key":"` + devstack.MinioPassword + `","insecure":true}`
	}
	u := e.srv.URL + "/v1/jobs"
	resp, m := do(t, e.c, "POST", u, "application/json", `{"source":"s3://`+e.s3.Bucket()+`/theirs/film.mov",`+creds(endpoint)+`}`)
	if resp.StatusCode != 201 || m["name"] != "film.mov" || m["status"] != "queued" {
		t.Fatalf("a job from another store: %d %v", resp.StatusCode, m)
	}
	j, err := e.api.Svc.Store.Get(ctx, m["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(j.Input.URL, devstack.MinioPassword) || !strings.Contains(j.Input.URL, "X-Amz-Signature=") {
		t.Fatalf("the job keeps %q", j.Input.URL)
	}
	got, err := http.Get(j.Input.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || string(body) != string(master) {
		t.Fatalf("the presigned URL: %d %q", got.StatusCode, body)
	}
	for what, c := range map[string]struct{ body, want string }{
		"metadata endpoint":  {`{"source":"s3://bucket/k",` + creds("169.254.169.254") + `}`, "not public"},
		"no secret":          {`{"source":"s3://b/k","source_credentials":{"endpoint":"s3.example.com","access_key":"a"}}`, "source_credentials"},
		"endpoint with path": {`{"source":"s3://b/k",` + creds("example.com/x") + `}`, "source_credentials"},
		"no key":             {`{"source":"s3://b",` + creds(endpoint) + `}`, "s3://BUCKET/KEY"},
	} {
		resp, m := do(t, e.c, "POST", u, "application/json", c.body)
		if msg, _ := m["error"].(map[string]any)["message"].(string); resp.StatusCode != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want 400 saying %q", what, resp.StatusCode, m, c.want)
		}
	}
}
