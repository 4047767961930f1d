package playtoken

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/pipeline"
)

// Binding modes of a Signer.
const (
	BindNone = "none"
	BindZone = "zone"
	BindAddr = "addr"
)

// OriginZone is the zone tokens are bound to when they are for an
// Origin path rather than an edge (under BindZone).
const OriginZone = "origin"

// Signer issues URLs of a private title's objects.
type Signer struct {
	Keys Keys
	// TTL is how long a URL plays at most; it plays at least 5/6 of it
	// (expiries are rounded so that a title's URLs stay the same for a
	// while, and answers that list them change only when they do).
	TTL  time.Duration
	Bind string // BindNone, BindZone or BindAddr
	Now  func() time.Time
}

// DefaultTTL is a Signer's TTL when none is set.
const DefaultTTL = 6 * time.Hour

// URL returns the URL of origin object key (vod/{id}/...) at base (an
// edge's or Origin's) under a token for its title, bound, as the Signer
// says, to zone (the zone of the edges at base) or addr (the client's).
func (s *Signer) URL(base, key, zone, addr string) string {
	prefix, _ := titlePrefix(key)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	step := ttl / 6
	exp := now().Truncate(step).Add(ttl)
	var b Bind
	switch s.Bind {
	case BindZone:
		b.Zone = zone
	case BindAddr:
		b.Addr = addr
	}
	return s.Keys.URL(base, prefix, key, exp, b)
}

// ClientAddr is the client's address as a server behind Reel's gateway
// sees it: the first X-Forwarded-For entry, else the peer's address.
func ClientAddr(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		return strings.TrimSpace(strings.Split(xff, ",")[0])
	}
	return PeerAddr(r)
}

// RequestBase is the scheme and host a client reached the server of r
// at: X-Forwarded-Proto and X-Forwarded-Host when a proxy set them, else
// the request's own.
func RequestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = strings.TrimSpace(strings.Split(h, ",")[0])
	}
	return scheme + "://" + host
}

// PeerAddr is the address of the peer of r, without its port.
func PeerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Origin serves /t/{token}/vod/{id}/... from the private origin bucket,
// for players when no edge is healthy: it checks the token (bound to
// OriginZone under BindZone, to the client's address as ClientAddr sees
// it under BindAddr), then streams the object from a presigned URL,
// passing ranges and conditional requests through. Presigned URLs alone
// cannot play HLS or DASH: their manifests name segments by relative URL,
// which would not carry the signature.
type Origin struct {
	Tokens *Checker
	// Keys, if set, answers a request for a title's ClearKey licence or
	// AES-128 key (KeyPath) once its token passes.
	Keys func(w http.ResponseWriter, r *http.Request, id, name string)
	// Presign returns a URL for a GET or HEAD (method) of origin object
	// key.
	Presign func(ctx context.Context, method, key string) (string, error)
	Client  *http.Client
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, key, ok := Split(r.URL.Path)
	if id, name, isKey := KeyPath(key); ok && isKey {
		o.serveKey(w, r, token, key, id, name)
		return
	}
	if !relay.Admit(w, r, "") {
		return
	}
	if !ok {
		(&Refusal{"token_missing", "a title's objects are served under /t/{token}/vod/{id}/"}).Write(w)
		return
	}
	if err := o.Tokens.Check(token, key, ClientAddr(r)); err != nil {
		err.(*Refusal).Write(w)
		return
	}
	if strings.Contains(key, "//") || strings.Contains("/"+key+"/", "/../") || strings.Contains("/"+key+"/", "/./") {
		http.Error(w, "not found: not a published object's path", http.StatusNotFound)
		return
	}
	u, err := o.Presign(r.Context(), r.Method, key)
	if err != nil {
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
		return
	}
	req, err := relay.Request(r, u)
	if err != nil {
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
		return
	}
	c := o.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		http.Error(w, "the origin cannot be reached; try again shortly", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		// The store's own answer (an XML error) is not passed on.
		http.Error(w, "not found: "+key, http.StatusNotFound)
		return
	case resp.StatusCode >= 500:
		http.Error(w, "the origin cannot serve this now; try again shortly", http.StatusBadGateway)
		return
	}
	relay.Copy(w, resp)
}

// KeyPath says whether origin key is a title's ClearKey licence or AES-128
// key (vod/{id}/licence, vod/{id}/key), which are no objects of the
// origin, and names the title and which.
func KeyPath(key string) (id, name string, ok bool) {
	rest, found := strings.CutPrefix(key, pipeline.PublishedRoot)
	if !found {
		return "", "", false
	}
	id, name, found = strings.Cut(rest, "/")
	if !found || id == "" || (name != pipeline.LicenceName && name != pipeline.KeyName) {
		return "", "", false
	}
	return id, name, true
}

// serveKey answers a request for a title's licence or key under token.
// A token bound to a zone is taken from any: an edge passes its players'
// key requests on here, and the edge checked the zone.
func (o *Origin) serveKey(w http.ResponseWriter, r *http.Request, token, key, id, name string) {
	if !relay.AdmitKeys(w, r) {
		return
	}
	if err := o.Tokens.Check(token, key, ClientAddr(r)); err != nil && err.(*Refusal).Code != "token_wrong_zone" {
		err.(*Refusal).Write(w)
		return
	}
	if o.Keys == nil {
		http.Error(w, "not found: this server holds no title keys", http.StatusNotFound)
		return
	}
	o.Keys(w, r, id, name)
}
