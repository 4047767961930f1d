package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/netguard"
)

func TestCheck(t *testing.T) {
	p := &netguard.Policy{}
	for addr, ok := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "127.8.0.2": false, "10.1.2.3": false, "172.20.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false, "::": false,
		"fe80::1": false, "fd00:ec2::254": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false,
	} {
		err := p.Check(netip.MustParseAddr(addr))
		if (err == nil) != ok || (err != nil && !errors.Is(err, netguard.ErrForbidden)) {
			t.Errorf("%s: %v, want allowed %v", addr, err, ok)
		}
	}
	allow, err := netguard.ParseAllow("10.1.0.0/16, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p.Allow = allow
	for addr, ok := range map[string]bool{"10.1.9.9": true, "10.2.0.1": false, "127.0.0.1": true, "127.0.0.2": false} {
		if err := p.Check(netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("allowing 10.1.0.0/16 and 127.0.0.1, %s: %v", addr, err)
		}
	}
	if _, err := netguard.ParseAllow("10.0.0.0/33"); err == nil {
		t.Error("a bad network parsed")
	}
}

func TestCheckURL(t *testing.T) {
	p := &netguard.Policy{}
	for raw, want := range map[string]string{
		"ftp://example.com/x":            "not an http",
		"http:///x":                      "not an http",
		"https://user:pw@example.com/":   "credentials",
		"http://127.0.0.1:9000/":         "not public",
		"http://[::1]/":                  "not public",
		"http://169.254.169.254/latest/": "not public",
		"http://localhost/":              "not public",
		"http://no-such-host.invalid/":   "does not resolve",
		"http://0x7f000001/":             "",
	} {
		_, err := p.CheckURL(context.Background(), raw)
		if want == "" {
			continue // resolver-dependent
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
	if _, err := p.CheckURL(context.Background(), "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address: %v", err)
	}
}

// TestClientRefusesRedirectsInward: a request to an allowed address that
// redirects to a service the policy does not allow is refused when the
// redirect connects, after resolution.
func TestClientRefusesRedirectsInward(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secret")) }))
	defer inner.Close()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	outer := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, inner.URL, http.StatusFound)
	})}}
	outer.Start()
	defer outer.Close()
	c := (&netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}).Client(5 * time.Second)
	resp, err := c.Get(outer.URL + "/hook")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the allowed address: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := c.Get(outer.URL + "/elsewhere"); err == nil || !errors.Is(err, netguard.ErrForbidden) {
		t.Fatalf("a redirect to a loopback service not allowed: %v", err)
	}
	if _, err := (&netguard.Policy{}).Client(5 * time.Second).Get(inner.URL); err == nil || !errors.Is(err, netguard.ErrForbidden) {
		t.Fatalf("loopback reached: %v", err)
	}
}
