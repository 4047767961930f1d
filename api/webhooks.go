package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/webhooks"
)

// MaxWebhooks is how many endpoints one tenant may have for all its jobs,
// and MaxJobWebhooks how many one job may have of its own.
const (
	MaxWebhooks    = 16
	MaxJobWebhooks = 4
)

type createWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Tenant is whose jobs the endpoint hears of: an admin key's choice;
	// a tenant key's own tenant otherwise.
	Tenant string `json:"tenant"`
	// Job, if set, makes the endpoint the job's own: it hears of that
	// job alone.
	Job string `json:"job"`
}

// webhookEndpoint answers 404 for an endpoint another tenant owns.
func (s *Server) webhookEndpoint(w http.ResponseWriter, r *http.Request) (webhooks.Endpoint, bool) {
	e, err := s.Webhooks.Get(r.Context(), r.PathValue("id"))
	if err == nil {
		if c := caller(r); !c.Admin && c.Tenant != e.Tenant {
			err = webhooks.ErrNotFound
		}
	}
	if errors.Is(err, webhooks.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no webhook endpoint %q", r.PathValue("id")))
		return e, false
	}
	if err != nil {
		s.fail(w, r, err)
		return e, false
	}
	return e, true
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	const want = `want {"url": "https://...", "events": ["job.completed", ...], "job": "ID" (optional)}`
	var req createWebhookRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "malformed JSON body: "+want+": "+err.Error())
		return
	}
	c := caller(r)
	tenant := c.Tenant
	if req.Tenant != "" && req.Tenant != c.Tenant {
		if !c.Admin {
			writeError(w, http.StatusForbidden, "forbidden", "a tenant key makes endpoints for its own tenant only")
			return
		}
		if !pipeline.ValidTenant(req.Tenant) {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("tenant %q: %s", req.Tenant, pipeline.TenantRule))
			return
		}
		tenant = req.Tenant
	}
	if req.Job != "" {
		j, err := s.Svc.Store.Get(r.Context(), req.Job)
		if err == nil && !owns(r, j) {
			err = pipeline.ErrNotFound
		}
		if errors.Is(err, pipeline.ErrNotFound) {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("job %q: no such job of yours", req.Job))
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		tenant = j.Tenant
	}
	if len(req.Events) == 0 {
		req.Events = webhooks.Lifecycle
	}
	for _, ev := range req.Events {
		if !slices.Contains(webhooks.Events, ev) {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("event %q: want some of %s", ev, strings.Join(webhooks.Events, ", ")))
			return
		}
	}
	if len(req.URL) > 2048 {
		writeError(w, http.StatusBadRequest, "invalid", "url: longer than 2048 characters")
		return
	}
	if _, err := s.WebhookPolicy.CheckURL(r.Context(), req.URL); err != nil {
		msg := "url: " + err.Error()
		if errors.Is(err, netguard.ErrForbidden) {
			msg += "; webhooks go to public addresses only, unless the operator allows the network (REEL_WEBHOOK_ALLOW)"
		}
		writeError(w, http.StatusBadRequest, "invalid", msg)
		return
	}
	list, most, whose := s.Webhooks.List, MaxWebhooks, "tenant "+tenant
	if req.Job != "" {
		list, most, whose = s.Webhooks.ListJob, MaxJobWebhooks, "job "+req.Job
	}
	key := tenant
	if req.Job != "" {
		key = req.Job
	}
	existing, err := list(r.Context(), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(existing) >= most {
		writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("%s has %d webhook endpoints, the most allowed; delete one first", whose, len(existing)))
		return
	}
	e := webhooks.Endpoint{ID: webhooks.NewID(), Tenant: tenant, URL: req.URL, Events: req.Events, Job: req.Job, Secret: webhooks.NewSecret(),
		CreatedAt: time.Now().UTC()}
	if err := s.Webhooks.Create(r.Context(), e); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+e.ID)
	writeJSON(w, http.StatusCreated, e) // the secret, this once
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	c := caller(r)
	tenant := c.Tenant
	if t := r.URL.Query().Get("tenant"); t != "" && c.Admin {
		tenant = t
	}
	list, err := s.Webhooks.List(r.Context(), tenant)
	if job := r.URL.Query().Get("job"); job != "" {
		// A job's own endpoints, for its owner.
		j, gerr := s.Svc.Store.Get(r.Context(), job)
		if gerr == nil && !owns(r, j) {
			gerr = pipeline.ErrNotFound
		}
		if gerr != nil {
			s.fail(w, r, gerr)
			return
		}
		list, err = s.Webhooks.ListJob(r.Context(), job)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []webhooks.Endpoint{}
	for _, e := range list {
		e.Secret = ""
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	if e, ok := s.webhookEndpoint(w, r); ok {
		e.Secret = ""
		writeJSON(w, http.StatusOK, e)
	}
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	e, ok := s.webhookEndpoint(w, r)
	if !ok {
		return
	}
	if err := s.Webhooks.Delete(r.Context(), e.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	e, ok := s.webhookEndpoint(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "invalid", "limit: a number from 1 to 500")
			return
		}
		limit = n
	}
	list, err := s.Webhooks.Deliveries(r.Context(), e.ID, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}
