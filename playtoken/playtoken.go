// Package playtoken signs and checks the tokens that let a player fetch a
// private title: an HMAC-SHA256 over the title's path prefix, an expiry,
// the id of the key that signed it and what it is bound to (an edge zone
// or a client address, or nothing). The token rides in the URL's path,
// /t/{token}/vod/{id}/..., so that the relative URLs inside HLS and DASH
// manifests carry it to every playlist and segment without rewriting.
package playtoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/internal/jsonhttp"
	"github.com/reel-video/reel/pipeline"
)

// Key is one signing key.
type Key struct {
	ID     string
	Secret []byte
}

// Keys are the keys in use: the first signs, all of them are accepted, so
// a rotation adds a new first key and keeps the previous one until the
// tokens it signed have expired.
type Keys []Key

var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// MinSecret is the shortest secret accepted, in bytes.
const MinSecret = 32

// ParseKeys reads "id:hexsecret,id:hexsecret" (the first signs).
func ParseKeys(s string) (Keys, error) {
	var ks Keys
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, hx, ok := strings.Cut(part, ":")
		if !ok || !kidRE.MatchString(id) {
			return nil, fmt.Errorf("playback key %q: want ID:HEXSECRET, the ID 1 to 16 letters, digits, - or _", redact(part))
		}
		secret, err := hex.DecodeString(hx)
		if err != nil || len(secret) < MinSecret {
			return nil, fmt.Errorf("playback key %s: the secret must be at least %d bytes written in hex (generate one with: openssl rand -hex 32)", id, MinSecret)
		}
		if seen[id] {
			return nil, fmt.Errorf("playback key %s is given twice; each key needs its own id", id)
		}
		seen[id] = true
		ks = append(ks, Key{ID: id, Secret: secret})
	}
	if len(ks) == 0 {
		return nil, errors.New("no playback key: want ID:HEXSECRET[,ID:HEXSECRET] (generate a secret with: openssl rand -hex 32)")
	}
	return ks, nil
}

// redact keeps a key's id and hides its secret in messages.
func redact(part string) string {
	if id, _, ok := strings.Cut(part, ":"); ok {
		return id + ":…"
	}
	if len(part) > 16 {
		return part[:16] + "…"
	}
	return part
}

// Bind is what a token is bound to: nothing, the zone of the edges that
// may serve it, or the client's address.
type Bind struct {
	Zone string
	Addr string
}

func (b Bind) encode() string {
	switch {
	case b.Addr != "":
		return "a" + base64.RawURLEncoding.EncodeToString([]byte(b.Addr))
	case b.Zone != "":
		return "z" + base64.RawURLEncoding.EncodeToString([]byte(b.Zone))
	}
	return "-"
}

func decodeBind(s string) (Bind, bool) {
	if s == "-" {
		return Bind{}, true
	}
	if len(s) < 2 || len(s) > 120 {
		return Bind{}, false
	}
	v, err := base64.RawURLEncoding.DecodeString(s[1:])
	if err != nil {
		return Bind{}, false
	}
	switch s[0] {
	case 'a':
		return Bind{Addr: string(v)}, true
	case 'z':
		return Bind{Zone: string(v)}, true
	}
	return Bind{}, false
}

func mac(secret []byte, kid, exp, bind, prefix string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("reel-play/1\n" + kid + "\n" + exp + "\n" + bind + "\n" + prefix))
	return h.Sum(nil)
}

// Sign returns a token for the titles' objects under prefix (vod/{id}/)
// that expires at exp, signed with the first key.
func (ks Keys) Sign(prefix string, exp time.Time, b Bind) string {
	k := ks[0]
	e := strconv.FormatInt(exp.Unix(), 10)
	bind := b.encode()
	return k.ID + "." + e + "." + bind + "." + base64.RawURLEncoding.EncodeToString(mac(k.Secret, k.ID, e, bind, prefix))
}

// Root is the path element that precedes a token: /t/{token}/{key}.
const Root = "t"

// URL returns base + "/t/{token}/" + key: the URL of origin object key
// under a token signed for its title's prefix.
func (ks Keys) URL(base, prefix, key string, exp time.Time, b Bind) string {
	return strings.TrimRight(base, "/") + "/" + Root + "/" + ks.Sign(prefix, exp, b) + "/" + key
}

// Refusal is why a request's token was refused: a code for programs and
// a message for people.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Write answers the refusal: 403 with a JSON error body, never cached.
func (r *Refusal) Write(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	jsonhttp.Error(w, http.StatusForbidden, r.Code, r.Message)
}

// Checker checks tokens against the keys in use, for a server in Zone
// (an edge's zone; "" accepts no zone-bound token).
type Checker struct {
	Keys Keys
	Zone string
	Now  func() time.Time
}

// Split takes a request path /t/{token}/{key} apart; ok is false for a
// path that does not start with /t/.
func Split(p string) (token, key string, ok bool) {
	rest, found := strings.CutPrefix(p, "/"+Root+"/")
	if !found {
		return "", "", false
	}
	token, key, _ = strings.Cut(rest, "/")
	return token, key, true
}

// Check checks token for object key (its title's prefix is the key's
// first two path elements, vod/{id}/) requested from client address addr
// (an IP, without port). It compares in constant time and returns a
// *Refusal saying what was wrong.
func (c *Checker) Check(token, key, addr string) error {
	if token == "" {
		return &Refusal{"token_missing", "this title is private: request it with the URL GET /v1/play/{id} returns, which carries a playback token"}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || len(token) > 256 {
		return &Refusal{"token_malformed", "the playback token is not one Reel issued; ask GET /v1/play/{id} for a new URL"}
	}
	kid, exp, bind, sig := parts[0], parts[1], parts[2], parts[3]
	b, okBind := decodeBind(bind)
	e, err := strconv.ParseInt(exp, 10, 64)
	// Strict: a signature has one spelling (the last character's unused
	// bits must be zero).
	got, errSig := base64.RawURLEncoding.Strict().DecodeString(sig)
	if !kidRE.MatchString(kid) || err != nil || !okBind || errSig != nil || len(got) != sha256.Size {
		return &Refusal{"token_malformed", "the playback token is not one Reel issued; ask GET /v1/play/{id} for a new URL"}
	}
	prefix, ok := titlePrefix(key)
	if !ok {
		return &Refusal{"token_invalid", "the token does not cover this path: a token is for one title's objects under vod/{id}/"}
	}
	var secret []byte
	for _, k := range c.Keys {
		if k.ID == kid {
			secret = k.Secret
		}
	}
	if secret == nil {
		return &Refusal{"token_key_unknown", "the key that signed this token (" + kid + ") is no longer in use; ask GET /v1/play/{id} for a new URL"}
	}
	if !hmac.Equal(got, mac(secret, kid, exp, bind, prefix)) {
		return &Refusal{"token_invalid", "the token was not issued for this title, or was altered; ask GET /v1/play/{id} for a new URL"}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if now().Unix() >= e {
		return &Refusal{"token_expired", "the playback token expired at " + time.Unix(e, 0).UTC().Format(time.RFC3339) + "; ask GET /v1/play/{id} for a new URL"}
	}
	switch {
	case b.Zone != "" && b.Zone != c.Zone:
		return &Refusal{"token_wrong_zone", "the token plays from the edges of zone " + b.Zone + ", not from here; ask GET /v1/play/{id} for a new URL"}
	case b.Addr != "" && b.Addr != addr:
		return &Refusal{"token_wrong_client", "the token was issued to another client address; ask GET /v1/play/{id} for a new URL from this one"}
	}
	return nil
}

// titlePrefix is the title's prefix vod/{id}/ of object key
// vod/{id}/...
func titlePrefix(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, pipeline.PublishedRoot)
	if !ok {
		return "", false
	}
	id, tail, ok := strings.Cut(rest, "/")
	if !ok || id == "" || tail == "" {
		return "", false
	}
	return pipeline.PublishedPrefix(id), true
}
