// Package playback decides what a viewer may play and where from: the
// account's subscription, the profile's maturity against the title's
// rating, the plan's concurrent streams (leases a player renews while it
// plays) and its resolution cap (the title's capped manifests), on the
// best edge.
package playback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/reel-video/reel/internal/jsonhttp"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
)

// Viewer is what an account's subscription and a profile allow.
type Viewer struct {
	Account   int64
	Maturity  string // the profile's: kids, teen or adult
	Active    bool   // the subscription allows playback now
	MaxHeight int    // the plan's resolution cap
	Streams   int    // the plan's concurrent streams
}

// Manifests are a title's manifests: object keys in the origin bucket.
type Manifests struct {
	HLS  string `json:"hls"`
	DASH string `json:"dash,omitempty"` // none for an AES-128 title
	// Encryption, for an encrypted title, is its scheme and key id.
	Encryption *pipeline.Encryption `json:"encryption,omitempty"`
	// Caps holds, by height, manifests with only the renditions no
	// taller.
	Caps map[string]Manifests `json:"caps,omitempty"`
}

// Title is what playback needs of a title.
type Title struct {
	ID        string
	Maturity  string // kids, teen or adult
	MaxHeight int    // its tallest rendition
	Manifests Manifests
}

// Leases count an account's playing streams.
type Leases interface {
	Acquire(ctx context.Context, account int64, stream string, limit int, ttl time.Duration) (ok bool, playing int, err error)
	Release(ctx context.Context, account int64, stream string) error
}

// Denied is a refusal with its HTTP status and code.
type Denied struct {
	Status  int
	Code    string
	Message string
}

func (d *Denied) Error() string { return d.Message }

// ErrNoTitle is what Title returns for a title not in the catalog.
var ErrNoTitle = errors.New("no such title")

// Service serves GET /v1/play/{id} for viewers.
type Service struct {
	// Viewer authenticates the request (a viewer's session) and says
	// what it may play on the profile; refusals are *Denied.
	Viewer func(r *http.Request, profile string) (Viewer, error)
	Title  func(ctx context.Context, id string) (Title, error)
	Leases Leases
	// Route returns the base URL, name and zone of the best edge for the
	// request; ok false sends the player to the origin.
	Route func(r *http.Request, title string) (base, name, zone string, ok bool)
	// Origin is the URL of key when no edge is healthy and Signer is
	// nil (an origin that is public itself).
	Origin func(key string) string
	// Signer, if set, signs every URL handed out: an edge's, and when no
	// edge is healthy, this service's own token-checking path (/t/, which
	// the service's owner serves from the origin bucket), at Base.
	Signer *playtoken.Signer
	// Base is this service's URL for players; "" takes the request's.
	Base     string
	LeaseTTL time.Duration // how long a stream counts without a renewal (60 s)
	Log      *slog.Logger
}

// Routes registers the service's routes on mux.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/play/{id}", s.play)
	mux.HandleFunc("DELETE /v1/play/{id}/streams/{stream}", s.stop)
}

// Play is the answer to a viewer's play request.
type Play struct {
	Title        string    `json:"title"`
	Stream       string    `json:"stream"`        // renew with ?stream= before LeaseExpires
	LeaseExpires time.Time `json:"lease_expires"` // the stream stops counting then unless renewed
	MaxHeight    int       `json:"max_height"`    // of the manifests given
	HLS          string    `json:"hls"`
	DASH         string    `json:"dash,omitempty"`
	// Encryption, for an encrypted title, is its scheme, key id and
	// ClearKey licence URL (under the same token as the manifests).
	Encryption *pipeline.Encryption `json:"encryption,omitempty"`
	Edge       string               `json:"edge"` // "origin" when no edge is healthy
	EdgeZone   string               `json:"edge_zone,omitempty"`
}

var maturityRank = map[string]int{"kids": 0, "teen": 1, "adult": 2}

var streamRE = regexp.MustCompile(`^[a-f0-9]{32}$`)

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var d *Denied
	switch {
	case errors.As(err, &d):
		jsonhttp.Error(w, d.Status, d.Code, d.Message)
	case errors.Is(err, ErrNoTitle):
		jsonhttp.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no title %q in the catalog", r.PathValue("id")))
	default:
		log := s.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("play request failed", "path", r.URL.Path, "err", err)
		jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "playback cannot be decided now; try again")
	}
}

// pick chooses the manifests for a plan's cap: the title's own when its
// tallest rendition fits, else the tallest cap that does (the title's own
// when it has none: a title with no rendition under the cap plays as it
// is).
func pick(t Title, maxHeight int) (Manifests, int) {
	if t.MaxHeight <= maxHeight || maxHeight <= 0 {
		return t.Manifests, t.MaxHeight
	}
	var caps []int
	for k := range t.Manifests.Caps {
		if h, err := strconv.Atoi(k); err == nil && h <= maxHeight {
			caps = append(caps, h)
		}
	}
	if len(caps) == 0 {
		return t.Manifests, t.MaxHeight
	}
	sort.Ints(caps)
	h := caps[len(caps)-1]
	return t.Manifests.Caps[strconv.Itoa(h)], h
}

func (s *Service) play(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.Viewer(r, r.URL.Query().Get("profile"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !v.Active {
		s.fail(w, r, &Denied{http.StatusForbidden, "subscription_inactive", "the account has no active subscription; subscribe with PUT /v1/accounts/me/subscription"})
		return
	}
	t, err := s.Title(ctx, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if maturityRank[t.Maturity] > maturityRank[v.Maturity] {
		s.fail(w, r, &Denied{http.StatusForbidden, "not_allowed_for_profile",
			fmt.Sprintf("title %s is for %s profiles; this profile is %s", t.ID, t.Maturity, v.Maturity)})
		return
	}
	stream := r.URL.Query().Get("stream")
	if stream == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		stream = hex.EncodeToString(b[:])
	} else if !streamRE.MatchString(stream) {
		s.fail(w, r, &Denied{http.StatusBadRequest, "invalid_input", "stream: the id a play answer gave"})
		return
	}
	ttl := s.LeaseTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	ok, playing, err := s.Leases.Acquire(ctx, v.Account, stream, v.Streams, ttl)
	switch {
	case err != nil:
		// Availability first: without the lease store the stream plays
		// uncounted.
		if s.Log != nil {
			s.Log.Warn("stream leases unavailable; playing uncounted", "account", v.Account, "err", err)
		}
	case !ok:
		w.Header().Set("Retry-After", strconv.Itoa(int(ttl.Seconds())))
		s.fail(w, r, &Denied{http.StatusTooManyRequests, "too_many_streams",
			fmt.Sprintf("%d streams are playing on this account and its plan allows %d; stop one (or wait %s for an ended one to lapse)", playing, v.Streams, ttl)})
		return
	}
	m, height := pick(t, v.MaxHeight)
	p := Play{Title: t.ID, Stream: stream, LeaseExpires: time.Now().Add(ttl).UTC(), MaxHeight: height, Edge: "origin"}
	url := s.Origin
	if s.Signer != nil {
		base := s.Base
		if base == "" {
			base = playtoken.RequestBase(r)
		}
		url = s.signed(r, base, playtoken.OriginZone)
	}
	if s.Route != nil {
		if base, name, zone, ok := s.Route(r, t.ID); ok {
			p.Edge, p.EdgeZone = name, zone
			url = func(key string) string { return base + "/" + key }
			if s.Signer != nil {
				url = s.signed(r, base, zone)
			}
		}
	}
	p.HLS = url(m.HLS)
	if m.DASH != "" {
		p.DASH = url(m.DASH)
	}
	if e := t.Manifests.Encryption; e != nil {
		enc := *e
		enc.Licence = ""
		if enc.Scheme != ladder.SchemeAES128 {
			enc.Licence = url(pipeline.PublishedPrefix(t.ID) + pipeline.LicenceName)
		}
		p.Encryption = &enc
	}
	w.Header().Set("Cache-Control", "no-store")
	jsonhttp.Write(w, http.StatusOK, p)
}

// signed turns object keys into URLs at base (an edge in zone, or this
// service's origin path) under playback tokens for the client of r.
func (s *Service) signed(r *http.Request, base, zone string) func(key string) string {
	addr := playtoken.ClientAddr(r)
	return func(key string) string { return s.Signer.URL(base, key, zone, addr) }
}

func (s *Service) stop(w http.ResponseWriter, r *http.Request) {
	v, err := s.Viewer(r, r.URL.Query().Get("profile"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Leases.Release(r.Context(), v.Account, r.PathValue("stream")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
