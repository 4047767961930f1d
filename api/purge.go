package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/reel-video/reel/pipeline"
)

// deleteTitle answers DELETE /v1/jobs/{id}/title: an ended job's
// published title, its master and what is left of its work are deleted,
// and its bytes no longer count against its tenant. The job stays, with
// purged_at, and no longer plays. The master is deleted only where Reel
// stored it (an upload, a fetched URL), never an operator's s3:// object.
// Asking again changes nothing.
func (s *Server) deleteTitle(w http.ResponseWriter, r *http.Request) {
	j, ok := s.loadJob(w, r)
	if !ok {
		return
	}
	if !j.Status.Terminal() {
		writeError(w, http.StatusConflict, "conflict", "job "+j.ID+" is "+string(j.Status)+": cancel it first (DELETE /v1/jobs/{id}), then delete its title")
		return
	}
	now := s.Svc.Time()
	j, err := s.Svc.Store.Update(r.Context(), j.ID, func(j *pipeline.Job) error {
		if j.PurgedAt == nil {
			j.PurgedAt = &now
		}
		j.Published, j.Live, j.StoredBytes = nil, nil, 0
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The record says purged first: a removal that fails is done again by
	// asking again.
	if err := s.purge(r.Context(), j); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeView(w, r, http.StatusOK, j)
}

// purge deletes job j's objects from both buckets and stops counting them.
func (s *Server) purge(ctx context.Context, j *pipeline.Job) error {
	o := s.Uploads
	prefixes := [][2]string{
		{o.OriginBucket(), pipeline.PublishedPrefix(j.ID)},
		{o.Bucket(), pipeline.MasterPrefix(j.ID)},
		{o.Bucket(), pipeline.WorkPrefix(j.ID)},
	}
	// A resumable upload is the tenant's own: its object and record go.
	if k := j.Input.Key; j.Input.Bucket == o.Bucket() && strings.HasPrefix(k, pipeline.UploadsPrefix) && !strings.Contains(strings.TrimPrefix(k, pipeline.UploadsPrefix), "/") {
		prefixes = append(prefixes, [2]string{o.Bucket(), k})
	}
	var errs []error
	for _, p := range prefixes {
		errs = append(errs, o.RemovePrefix(ctx, p[0], p[1]))
	}
	if s.Usage != nil {
		errs = append(errs, s.Usage.Remove(ctx, j.Tenant, j.ID))
	}
	return errors.Join(errs...)
}
