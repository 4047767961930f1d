package api

import (
	"net/http"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/pipeline"
)

// Steering picks the edge a player fetches a title from.
type Steering interface {
	ClientZone(r *http.Request) string
	Pick(zone, title string) (edge.View, bool)
	Edges() []edge.View
}

// Play is the answer to GET /v1/play/{id}: where this client plays the
// title.
type Play struct {
	HLS  string `json:"hls"`
	DASH string `json:"dash"`
	// HLSByCodec holds a master playlist per codec family, when the title
	// has more than one.
	HLSByCodec map[string]string `json:"hls_by_codec,omitempty"`
	// Edge is the edge's name, or "origin" when no edge is healthy.
	Edge       string `json:"edge"`
	EdgeZone   string `json:"edge_zone,omitempty"`
	ClientZone string `json:"client_zone,omitempty"`
}

func (s *Server) play(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	if j.Status != pipeline.StatusComplete || j.Published == nil {
		writeError(w, http.StatusConflict, "not_published",
			"job "+j.ID+" is "+string(j.Status)+"; a title plays once its job is complete")
		return
	}
	p := Play{Edge: "origin"}
	url := s.PublicURL
	if s.Steering != nil {
		p.ClientZone = s.Steering.ClientZone(r)
		if v, ok := s.Steering.Pick(p.ClientZone, j.ID); ok {
			p.Edge, p.EdgeZone = v.Name, v.Zone
			url = func(key string) string { return v.URL + "/" + key }
		}
	}
	p.HLS, p.DASH = url(j.Published.HLS), url(j.Published.DASH)
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
	list := []edge.View{}
	if s.Steering != nil {
		list = s.Steering.Edges()
	}
	writeJSON(w, http.StatusOK, map[string]any{"edges": list})
}
