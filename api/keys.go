package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/protect"
)

// protectJob gives a job that asks for encryption its content key,
// sealed under the master key for this job alone; it answers the request
// itself and returns false when the job cannot be encrypted here.
func (s *Server) protectJob(w http.ResponseWriter, j *pipeline.Job) bool {
	e := j.Ladder.Encryption
	if e == nil {
		return true
	}
	if s.KeyMaster == nil {
		writeError(w, http.StatusBadRequest, "invalid_ladder",
			"ladder: encryption: this server has no master key to keep titles' keys under (the operator sets REEL_KEY_MASTER); submit the job without encryption, or ask the operator")
		return false
	}
	k, err := protect.NewKey()
	if err == nil {
		var wrapped string
		if wrapped, err = s.KeyMaster.Wrap(j.ID, k); err == nil {
			j.Protection = &pipeline.Protection{Scheme: e.Scheme, KeyID: k.KIDHex(), WrappedKey: wrapped}
			return true
		}
	}
	writeError(w, http.StatusInternalServerError, "internal", "cannot make the title's key: "+err.Error())
	return false
}

// titleKey opens title id's content key.
func (s *Server) titleKey(r *http.Request, id string) (*pipeline.Job, protect.Key, error) {
	j, err := s.Svc.Store.Get(r.Context(), id)
	if err != nil {
		return nil, protect.Key{}, err
	}
	if j.Protection == nil {
		return j, protect.Key{}, errClear
	}
	if s.KeyMaster == nil {
		return j, protect.Key{}, errors.New("this server has no master key (REEL_KEY_MASTER)")
	}
	k, err := s.KeyMaster.Unwrap(j.ID, j.Protection.WrappedKey)
	return j, k, err
}

var errClear = errors.New("the title is not encrypted")

// ServeKey answers, for a player holding title id's playback token (which
// playtoken.Origin checked), a W3C ClearKey licence request (POST
// .../licence) of a cbcs or cenc title, or the key (GET .../key) of an
// AES-128 title. Neither is cached anywhere.
func (s *Server) ServeKey(w http.ResponseWriter, r *http.Request, id, name string) {
	w.Header().Set("Cache-Control", "no-store")
	j, k, err := s.titleKey(r, id)
	switch {
	case errors.Is(err, pipeline.ErrNotFound) || errors.Is(err, errClear) || (err == nil && !j.Playable()):
		writeError(w, http.StatusNotFound, "not_found", "no encrypted title "+id+" is published")
		return
	case err != nil:
		s.log().Error("cannot open a title's key", "job", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the title's key cannot be opened now; try again shortly")
		return
	}
	aes := j.Protection.Scheme == ladder.SchemeAES128
	switch {
	case name == pipeline.KeyName && aes && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(k.Key[:])
	case name == pipeline.LicenceName && !aes && r.Method == http.MethodPost:
		req, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "cannot read the licence request: "+err.Error())
			return
		}
		lic, err := protect.ClearKeyLicence(req, k)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_licence_request", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(lic)
	case name == pipeline.KeyName:
		writeError(w, http.StatusNotFound, "not_found", "title "+id+" is encrypted with "+j.Protection.Scheme+": its keys come from its ClearKey licence (POST .../licence)")
	case name == pipeline.LicenceName && aes:
		writeError(w, http.StatusNotFound, "not_found", "title "+id+" is encrypted with aes-128: players fetch its key (GET .../key) as its playlists say")
	default:
		allow := http.MethodPost
		if name == pipeline.KeyName {
			allow = http.MethodGet
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "a licence is POSTed, a key is fetched with GET")
	}
}

// cpix answers GET /v1/jobs/{id}/cpix: the title's key as a DASH-IF
// CPIX document, for its owner to hand a commercial DRM key server. The
// key is in the clear in it: it is never cached.
func (s *Server) cpix(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	_, k, err := s.titleKey(r, j.ID)
	switch {
	case errors.Is(err, errClear):
		writeError(w, http.StatusNotFound, "not_encrypted", "job "+j.ID+" is not encrypted: a job asks for it with \"encryption\": {\"scheme\": ...} in its ladder")
		return
	case err != nil:
		s.log().Error("cannot open a title's key", "job", j.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the title's key cannot be opened now; try again shortly")
		return
	}
	doc, err := protect.CPIX(j.ID, j.Protection.Scheme, k)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(doc)
}
