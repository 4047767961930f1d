package api

import (
	"net/http"
	"time"

	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
)

// Steering picks the edge a player fetches a title from (edge.Steering).
type Steering interface {
	// ClientZone is the zone a request comes from, or "".
	ClientZone(r *http.Request) string
	// Route returns the base URL, name and zone of the best healthy edge
	// for a client in zone asking for title; ok is false when no edge is
	// healthy.
	Route(zone, title string) (url, name, edgeZone string, ok bool)
	// Status is the edge map as steering sees it, for GET /v1/edges.
	Status() any
}

func (s *Server) play(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	if j.PurgedAt != nil {
		writeError(w, http.StatusNotFound, "not_found", "the title of job "+j.ID+" was deleted at "+j.PurgedAt.UTC().Format(time.RFC3339))
		return
	}
	if !j.Playable() {
		writeError(w, http.StatusConflict, "not_published",
			"job "+j.ID+" is "+string(j.Status)+"; a title plays once its first chunks are published (status playable) or its job is complete")
		return
	}
	p := pipeline.Play{Edge: "origin", Live: j.Status != pipeline.StatusComplete}
	url := s.originURLs(r, j)
	if s.Steering != nil {
		p.ClientZone = s.Steering.ClientZone(r)
		if base, name, zone, ok := s.Steering.Route(p.ClientZone, j.ID); ok {
			p.Edge, p.EdgeZone = name, zone
			url = s.edgeURLs(r, j, base, zone)
		}
	}
	p.HLS = url(j.Published.HLS)
	if j.Published.DASH != "" {
		p.DASH = url(j.Published.DASH)
	}
	p.Encryption = pipeline.EncryptionFor(j, url)
	for codec, key := range j.Published.HLSByCodec {
		if p.HLSByCodec == nil {
			p.HLSByCodec = map[string]string{}
		}
		p.HLSByCodec[codec] = url(key)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) edges(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	var list any = []any{}
	if s.Steering != nil {
		list = s.Steering.Status()
	}
	writeJSON(w, http.StatusOK, map[string]any{"edges": list})
}

// originURLs turns the object keys of job j's title into the URLs its
// owner plays them at without an edge: the origin bucket's for a public
// title, else the API's token-checking path under a signed token.
func (s *Server) originURLs(r *http.Request, j *pipeline.Job) func(key string) string {
	if s.Signer == nil || s.Origin == nil || j.Ladder.Public {
		return s.PublicURL
	}
	base := s.baseURL(r)
	addr := playtoken.ClientAddr(r)
	return func(key string) string { return s.Signer.URL(base, key, playtoken.OriginZone, addr) }
}

// edgeURLs turns the object keys of job j's title into URLs at the edge
// at base (in zone): signed, unless the title is public.
func (s *Server) edgeURLs(r *http.Request, j *pipeline.Job, base, zone string) func(key string) string {
	if s.Signer == nil || j.Ladder.Public {
		return func(key string) string { return base + "/" + key }
	}
	addr := playtoken.ClientAddr(r)
	return func(key string) string { return s.Signer.URL(base, key, zone, addr) }
}

// baseURL is the API's URL as the client of r reaches it.
func (s *Server) baseURL(r *http.Request) string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	return playtoken.RequestBase(r)
}
