package api_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/netguard"
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
