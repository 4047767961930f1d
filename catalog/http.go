package catalog

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/reel-video/reel/internal/jsonhttp"
)

// Handler serves the catalog under /v1/catalog: browsing, search and
// look-ups for anyone; writing metadata for operators, as Admin decides.
// Answers served from the index while the store is down carry
// X-Reel-Fallback: stale.
type Handler struct {
	Cat   *Catalog
	Admin func(r *http.Request) bool
	// Popular, when set, returns the most watched titles, as the
	// recommender last left them in the shared cache: what a viewer's
	// page shows while the recommender is away.
	Popular func() ([]Title, bool)
	Log     *slog.Logger
}

// Routes registers the handler's routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/catalog", h.list)
	mux.HandleFunc("GET /v1/catalog/search", h.search)
	mux.HandleFunc("GET /v1/catalog/popular", h.popular)
	mux.HandleFunc("GET /v1/catalog/{id}", h.get)
	mux.HandleFunc("PUT /v1/catalog/{id}", h.operator(h.put))
	mux.HandleFunc("DELETE /v1/catalog/{id}", h.operator(h.delete))
}

// statusOf maps the domain codes to HTTP statuses.
var statusOf = map[string]int{
	"invalid_input": http.StatusBadRequest,
	"not_found":     http.StatusNotFound,
	"not_published": http.StatusConflict,
	"forbidden":     http.StatusForbidden,
}

func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, v any, stale bool, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
		jsonhttp.Error(w, statusOf[e.Code], e.Code, e.Message)
	case err != nil:
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("catalog request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "the catalog cannot answer now; try again")
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		if stale {
			w.Header().Set("X-Reel-Fallback", "stale")
		}
		jsonhttp.Write(w, status, public(v))
	}
}

func (h *Handler) operator(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.Admin == nil || !h.Admin(r) {
			jsonhttp.Error(w, http.StatusForbidden, "forbidden", "writing the catalog needs an admin API key (Authorization: Bearer)")
			return
		}
		f(w, r)
	}
}

func limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, invalid("limit %q: a number from 1 to 100", s)
	}
	return n, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err != nil {
		h.answer(w, r, 0, nil, false, err)
		return
	}
	q := r.URL.Query()
	p, stale, err := h.Cat.List(r.Context(), ListQuery{Genre: q.Get("genre"), Maturity: q.Get("maturity"), Cursor: q.Get("cursor"), Limit: n})
	h.answer(w, r, http.StatusOK, p, stale, err)
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err != nil {
		h.answer(w, r, 0, nil, false, err)
		return
	}
	hits, err := h.Cat.Search(r.Context(), r.URL.Query().Get("q"), r.URL.Query().Get("maturity"), n)
	h.answer(w, r, http.StatusOK, map[string]any{"hits": hits}, false, err)
}

// popular answers the popular titles a profile of ?maturity= may watch,
// from the cache.
func (h *Handler) popular(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err != nil {
		h.answer(w, r, 0, nil, false, err)
		return
	}
	m := r.URL.Query().Get("maturity")
	if _, err := Levels(m); err != nil {
		h.answer(w, r, 0, nil, false, err)
		return
	}
	if h.Popular == nil {
		jsonhttp.Error(w, http.StatusNotFound, "not_found", "no popular titles: the catalog has no shared cache configured (REEL_MEMCACHED)")
		return
	}
	all, ok := h.Popular()
	if !ok {
		jsonhttp.Error(w, http.StatusNotFound, "not_found", "no popular titles in the cache yet: the recommender has not trained a model (reel recs train)")
		return
	}
	if n == 0 {
		n = 20
	}
	titles := []Title{}
	for _, t := range all {
		if len(titles) < n && t.Allowed(m) {
			titles = append(titles, t)
		}
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"titles": titles, "source": "cache"})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	t, stale, err := h.Cat.Get(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, t, stale, err)
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	var m Metadata
	if !jsonhttp.Decode(w, r, &m, 64<<10, "the metadata JSON") {
		return
	}
	t, err := h.Cat.Put(r.Context(), r.PathValue("id"), m)
	h.answer(w, r, http.StatusOK, t, false, err)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	h.answer(w, r, http.StatusNoContent, nil, false, h.Cat.Delete(r.Context(), r.PathValue("id")))
}

// public leaves the manifests out of titles in an answer: players get
// them from GET /v1/play, with the entitlement checks.
func public(v any) any {
	switch x := v.(type) {
	case Title:
		x.Manifests = nil
		return x
	case Page:
		out := Page{Next: x.Next, Titles: make([]Title, len(x.Titles))}
		for i, t := range x.Titles {
			t.Manifests = nil
			out.Titles[i] = t
		}
		return out
	case map[string]any:
		if hits, ok := x["hits"].([]Hit); ok {
			out := make([]Hit, len(hits))
			for i, h := range hits {
				h.Manifests = nil
				out[i] = h
			}
			return map[string]any{"hits": out}
		}
	}
	return v
}
