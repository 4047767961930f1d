package history

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/reel-video/reel/internal/jsonhttp"
)

// Handler serves viewing history under /v1/history. Viewers decides
// whether a request may read and write a profile's history; Admin whether
// it carries an operator's credentials.
type Handler struct {
	Store   *Store
	Viewers func(r *http.Request, profile string) error
	Admin   func(r *http.Request) bool
	// CompactAfter is the age past which a compaction run by an operator
	// moves events, unless the request says otherwise.
	CompactAfter time.Duration
	Now          func() time.Time
	Log          *slog.Logger
}

// Routes registers the handler's routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/history/heartbeats", h.heartbeat)
	mux.HandleFunc("GET /v1/history/{profile}", h.events)
	mux.HandleFunc("GET /v1/history/{profile}/continue", h.continueWatching)
	mux.HandleFunc("POST /v1/history/compactions", h.compact)
}

// Denied is what Viewers returns to refuse a request: Status 401, 403 or
// 404, with a message.
type Denied struct {
	Status  int
	Code    string
	Message string
}

func (d *Denied) Error() string { return d.Message }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var d *Denied
	var e *Error
	switch {
	case errors.As(err, &d):
		jsonhttp.Error(w, d.Status, d.Code, d.Message)
	case errors.As(err, &e):
		jsonhttp.Error(w, http.StatusBadRequest, e.Code, e.Message)
	case errors.Is(err, context.Canceled):
	default:
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("history request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "the history store cannot answer now; try again")
	}
}

func (h *Handler) allowed(w http.ResponseWriter, r *http.Request, profile string) bool {
	if h.Viewers == nil {
		jsonhttp.Error(w, http.StatusForbidden, "forbidden", "no viewer authentication is configured")
		return false
	}
	if err := h.Viewers(r, profile); err != nil {
		h.fail(w, r, err)
		return false
	}
	return true
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// heartbeat takes one heartbeat: {"profile","title","position","duration","device"};
// its time is the server's.
func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Profile  string  `json:"profile"`
		Title    string  `json:"title"`
		Position float64 `json:"position"`
		Duration float64 `json:"duration"`
		Device   string  `json:"device"`
	}
	if !jsonhttp.Decode(w, r, &b, 16<<10, "a heartbeat") {
		return
	}
	e := Event{Profile: b.Profile, Title: b.Title, Position: b.Position, Duration: b.Duration, Device: b.Device, At: h.now().UTC()}
	if err := e.Check(); err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.allowed(w, r, e.Profile) {
		return
	}
	if err := h.Store.Live.Append(r.Context(), e); err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusAccepted, e)
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("profile")
	if !h.allowed(w, r, p) {
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "limit: a number from 1 to 1000")
			return
		}
		limit = n
	}
	evs, err := h.Store.Events(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"events": evs[:min(limit, len(evs))], "total": len(evs)})
}

func (h *Handler) continueWatching(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("profile")
	if !h.allowed(w, r, p) {
		return
	}
	c, err := h.Store.Continue(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"continue": c})
}

// compact runs a compaction now: {"older_than": "720h"} (the configured
// age when left out).
func (h *Handler) compact(w http.ResponseWriter, r *http.Request) {
	if h.Admin == nil || !h.Admin(r) {
		jsonhttp.Error(w, http.StatusForbidden, "forbidden", "compactions need an admin API key (Authorization: Bearer)")
		return
	}
	var b struct {
		OlderThan string `json:"older_than"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&b); err != nil {
			jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "the body is not {\"older_than\": \"720h\"}: "+err.Error())
			return
		}
	}
	age := h.CompactAfter
	if b.OlderThan != "" {
		d, err := time.ParseDuration(b.OlderThan)
		if err != nil || d < 0 {
			jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "older_than: a duration such as \"720h\"")
			return
		}
		age = d
	}
	rep, err := h.Store.Compact(r.Context(), h.now().Add(-age))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, rep)
}
