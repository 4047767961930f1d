package edge

import (
	"net/http"
	"strings"

	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/playtoken"
)

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
		http.Error(w, "not found: this edge passes no key requests on (set REEL_KEY_SERVICE to the API's URL)", http.StatusNotFound)
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
