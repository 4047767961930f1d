// Package relay passes a client's GET or HEAD of a media object through
// to an upstream URL (the origin) and the upstream's answer back: ranges,
// conditional requests and the headers a player and a cache need.
package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Request is r's method and its range and conditional headers, addressed
// to url.
func Request(r *http.Request, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, nil)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Range", "If-None-Match", "If-Modified-Since", "If-Range"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// Copy answers with resp: its status, its content headers and its body.
func Copy(w http.ResponseWriter, resp *http.Response) {
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Range", "ETag", "Last-Modified", "Cache-Control", "Accept-Ranges"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// Admit sets the CORS headers browser players need (exposing expose as
// well) and answers a preflight (204) or a method other than GET and
// HEAD (405) itself; it returns whether the request is left to answer.
func Admit(w http.ResponseWriter, r *http.Request, expose string) bool {
	return admit(w, r, expose, "GET, HEAD", "Range, If-None-Match, If-Modified-Since")
}

// AdmitKeys is Admit for a title's ClearKey licence (POST, JSON) and
// AES-128 key (GET).
func AdmitKeys(w http.ResponseWriter, r *http.Request) bool {
	return admit(w, r, "", "GET, POST", "Content-Type")
}

func admit(w http.ResponseWriter, r *http.Request, expose, methods, headers string) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	// Date too: dash.js takes the clock of a live MPD from its answer.
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Date, ETag, Last-Modified"+expose)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", headers)
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	if !strings.Contains(", "+methods+",", ", "+r.Method+",") {
		h.Set("Allow", methods)
		http.Error(w, "method not allowed: "+strings.ReplaceAll(methods, ", ", " and "), http.StatusMethodNotAllowed)
		return false
	}
	return true
}

// KeyProxy passes requests for titles' licences and AES-128 keys on to
// the key service at base (the API), for a server that holds no keys
// (an edge, the catalog). The client's address, as client says, goes
// with them as the only X-Forwarded-For entry (one the client sent is
// dropped), for tokens bound to it; the service's CORS headers are
// dropped for the caller's own.
func KeyProxy(base *url.URL, client func(*http.Request) string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.Host = base.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-For", client(pr.In))
		},
		ModifyResponse: func(resp *http.Response) error {
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
				resp.Header.Del(h)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "the key service cannot be reached; try again shortly", http.StatusBadGateway)
		},
	}
}

// ParseKeyService checks the key service's base URL.
func ParseKeyService(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("key service %q is not an http(s) URL", s)
	}
	return u, nil
}
