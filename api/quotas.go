package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/reel-video/reel/pipeline"
)

// Quotas counts each tenant's unfinished jobs (store.Quotas).
type Quotas interface {
	// Reserve counts job id among tenant's unfinished jobs unless max
	// are counted already (ok false, with how many).
	Reserve(ctx context.Context, tenant, id string, max int) (ok bool, n int, err error)
	Release(ctx context.Context, tenant, id string) error
}

// Usage is the bytes each tenant stores (store.Usage).
type Usage interface {
	Total(ctx context.Context, tenant string) (int64, error)
	Remove(ctx context.Context, tenant, id string) error
}

// reserve counts job j against its tenant's limits on stored bytes and
// on unfinished jobs, or answers 429 quota_exceeded and returns false.
// Admin keys are not limited.
func (s *Server) reserve(w http.ResponseWriter, r *http.Request, j *pipeline.Job) bool {
	if caller(r).Admin {
		return true
	}
	if s.Usage != nil && s.MaxBytesPerTenant > 0 {
		n, err := s.Usage.Total(r.Context(), j.Tenant)
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		if n >= s.MaxBytesPerTenant {
			writeError(w, http.StatusTooManyRequests, "quota_exceeded", fmt.Sprintf(
				"tenant %s stores %d bytes of titles and their masters, at or over its limit of %d (REEL_TENANT_MAX_BYTES); delete titles it no longer needs (DELETE /v1/jobs/{id}/title) and submit again",
				j.Tenant, n, s.MaxBytesPerTenant))
			return false
		}
	}
	if s.Quotas == nil || s.MaxJobsPerTenant <= 0 {
		return true
	}
	ok, n, err := s.Quotas.Reserve(r.Context(), j.Tenant, j.ID, s.MaxJobsPerTenant)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if !ok {
		writeError(w, http.StatusTooManyRequests, "quota_exceeded", fmt.Sprintf(
			"tenant %s has %d unfinished jobs, the most it may have at once (REEL_TENANT_MAX_JOBS); wait for some to end, or cancel some, and submit again",
			j.Tenant, n))
		return false
	}
	return true
}

// release stops counting job j against its tenant (a submission that
// failed); the job's end does the same through the pipeline's events.
func (s *Server) release(r *http.Request, j *pipeline.Job) {
	if s.Quotas == nil || s.MaxJobsPerTenant <= 0 {
		return
	}
	if err := s.Quotas.Release(r.Context(), j.Tenant, j.ID); err != nil {
		s.log().Warn("cannot release a job from its tenant's count", "job", j.ID, "err", err)
	}
}
