package edge

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/playtoken"
)

// keyProxy passes requests for titles' licences and AES-128 keys on to
// the key service at base (the API): the edge holds no keys. The client's
// address goes with them as the only X-Forwarded-For entry (one the
// client sent is dropped), for tokens bound to it; the service's CORS
// headers are dropped for the edge's own.
func keyProxy(base *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.Host = base.Host
			pr.SetXForwarded()
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

// serveKey answers a request for a title's licence or key
// (/t/{token}/vod/{id}/licence or .../key): its token is checked as any
// other request's, then the request goes to the key service.
func (e *Edge) serveKey(w http.ResponseWriter, r *http.Request) {
	if !relay.AdmitKeys(w, r) {
		return
	}
	if _, refused := e.authorize(r); refused != nil {
		e.refused.Add(1)
		refused.Write(w)
		return
	}
	if e.keys == nil {
		http.Error(w, "not found: this edge passes no key requests on (set REEL_EDGE_KEY_SERVICE to the API's URL)", http.StatusNotFound)
		return
	}
	e.keys.ServeHTTP(w, r)
}

// isKeyRequest says whether r asks for a title's licence or key, with a
// token or without.
func isKeyRequest(r *http.Request) bool {
	_, key, ok := playtoken.Split(r.URL.Path)
	if !ok {
		key = strings.TrimPrefix(r.URL.Path, "/")
	}
	_, _, isKey := playtoken.KeyPath(key)
	return isKey
}
