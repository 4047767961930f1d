package support

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/jsonhttp"
)

// Handler serves the look-up under /v1/support, to requests Allowed
// says carry a support or admin key.
type Handler struct {
	Index   *Index
	Allowed func(*http.Request) bool
	Log     *slog.Logger
}

// Routes registers the handler's routes.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/support/users/{id}/events", h.userEvents)
	mux.HandleFunc("GET /v1/support/sessions/{id}", h.session)
}

func (h *Handler) allowed(w http.ResponseWriter, r *http.Request) bool {
	if h.Allowed == nil || !h.Allowed(r) {
		jsonhttp.Error(w, http.StatusForbidden, "forbidden", "customer support look-ups need a support or admin API key (reel keys create --tenant NAME --support)")
		return false
	}
	return true
}

func (h *Handler) userEvents(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	user := r.PathValue("id")
	q := Query{Text: r.URL.Query().Get("q"), Type: r.URL.Query().Get("type")}
	if !events.ValidID(user) {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "user "+strconv.Quote(user)+": an account id (letters, digits, _ or -)")
		return
	}
	if q.Type != "" && !typeRE.MatchString(q.Type) {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "type "+strconv.Quote(q.Type)+": an event type (error.playback) or family (error)")
		return
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := r.URL.Query().Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", p.name+" "+strconv.Quote(s)+": an RFC 3339 time, such as 2026-12-04T10:00:00Z")
				return
			}
			*p.to = t
		}
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "limit: a number from 1 to 1000")
			return
		}
		q.Limit = n
	}
	res, err := h.Index.UserEvents(r.Context(), user, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, res)
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	id := r.PathValue("id")
	if !events.ValidID(id) {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "session "+strconv.Quote(id)+": a playback session id (letters, digits, _ or -)")
		return
	}
	res, err := h.Index.Session(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(res.Events) == 0 {
		jsonhttp.Error(w, http.StatusNotFound, "not_found", "no events of session "+id+" are indexed (yet)")
		return
	}
	jsonhttp.Write(w, http.StatusOK, res)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	log.Error("support look-up failed", "path", r.URL.Path, "err", err)
	jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "the support index cannot answer now; try again")
}

// typeRE is an event type (error.playback) or family (error).
var typeRE = regexp.MustCompile(`^[a-z]+(\.[a-z][a-z0-9_]{0,39})?$`)
