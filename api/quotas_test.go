package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// TestTenantJobLimit: a tenant with as many unfinished jobs as allowed is
// refused a new one (429 quota_exceeded, saying what to do) while another
// tenant is not; a job that ends frees its place, and so does one whose
// end was never reported (a release lost with a crash).
func TestTenantJobLimit(t *testing.T) {
	e := setup(t, 1<<20, func(s *api.Server) {
		q := &store.Quotas{C: s.Svc.Store.(*store.Redis).C}
		s.Quotas, s.MaxJobsPerTenant = q, 3
		s.Svc.Notify = func(ctx context.Context, j *pipeline.Job, event string) {
			if event != pipeline.EventCreated {
				_ = q.Release(ctx, j.Tenant, j.ID)
			}
		}
	})
	var ids []string
	for range 3 {
		resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
		if resp.StatusCode != 201 {
			t.Fatalf("job within the limit: %d %v", resp.StatusCode, m)
		}
		ids = append(ids, m["id"].(string))
	}
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	msg, _ := m["error"].(map[string]any)["message"].(string)
	if resp.StatusCode != 429 || errCode(m) != "quota_exceeded" || !strings.Contains(msg, "3 unfinished jobs") || !strings.Contains(msg, "REEL_TENANT_MAX_JOBS") {
		t.Fatalf("a job past the limit: %d %v", resp.StatusCode, m)
	}
	// Another tenant is not held up by acme's batch.
	globex := e.newKey(t, "globex", false)
	if resp, m := do(t, globex, "POST", e.srv.URL+"/v1/jobs", "application/json", `{"source":"s3://x/y"}`); resp.StatusCode == 429 {
		t.Fatalf("another tenant refused for acme's jobs: %v", m)
	}
	// Canceling one frees its place.
	if resp, _ := do(t, e.c, "DELETE", e.srv.URL+"/v1/jobs/"+ids[0], "", ""); resp.StatusCode != 200 {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")}); resp.StatusCode != 201 {
		t.Fatalf("after a cancel: %d %v", resp.StatusCode, m)
	}
	// A job that ended without its end being reported still frees its
	// place once the limit is reached.
	if _, err := e.api.Svc.Store.Update(context.Background(), ids[1], func(j *pipeline.Job) error {
		return j.Fail(pipeline.CodeInternal, "ended elsewhere", j.UpdatedAt)
	}); err != nil {
		t.Fatal(err)
	}
	if resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")}); resp.StatusCode != 201 {
		t.Fatalf("after an unreported end: %d %v", resp.StatusCode, m)
	}
	// Retrying a failed job counts it again: refused while full.
	if resp, m := do(t, e.c, "POST", e.srv.URL+"/v1/jobs/"+ids[1]+"/retry", "", ""); resp.StatusCode != 429 || errCode(m) != "quota_exceeded" {
		t.Fatalf("a retry past the limit: %d %v", resp.StatusCode, m)
	}
	// Admin keys are not limited.
	admin := e.newKey(t, "ops", true)
	if resp, m := do(t, admin, "POST", e.srv.URL+"/v1/jobs/"+ids[1]+"/retry", "", ""); resp.StatusCode != 202 {
		t.Fatalf("an admin's retry: %d %v", resp.StatusCode, m)
	}
}

// TestTenantByteLimit: a tenant whose finished titles and masters take
// its stored-bytes limit is refused a new job (429 quota_exceeded,
// saying how to make room) while another tenant is not; deleting a title
// removes its objects from both buckets, stops it playing and makes the
// room again. A job still running cannot have its title deleted.
func TestTenantByteLimit(t *testing.T) {
	ctx := context.Background()
	e := setup(t, 1<<20, func(s *api.Server) {
		s.Usage, s.MaxBytesPerTenant = &store.Usage{C: s.Svc.Store.(*store.Redis).C}, 1000
	})
	usage := e.api.Usage.(*store.Usage)
	resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	if resp.StatusCode != 201 {
		t.Fatalf("first job: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	// The job finishes: its title is published and counted.
	title := pipeline.PublishedPrefix(id) + "master.m3u8"
	if err := e.s3.PutBytes(ctx, e.s3.OriginBucket(), title, []byte("#EXTM3U\n"), "application/vnd.apple.mpegurl"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Svc.Store.Update(ctx, id, func(j *pipeline.Job) error {
		j.Status, j.StoredBytes = pipeline.StatusComplete, 1500
		j.Published = &pipeline.Published{HLS: title}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := usage.Set(ctx, "acme", id, 1500); err != nil {
		t.Fatal(err)
	}
	resp, m = e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	msg, _ := m["error"].(map[string]any)["message"].(string)
	if resp.StatusCode != 429 || errCode(m) != "quota_exceeded" || !strings.Contains(msg, "stores 1500 bytes") || !strings.Contains(msg, "DELETE /v1/jobs/{id}/title") {
		t.Fatalf("a job past the byte limit: %d %v", resp.StatusCode, m)
	}
	// Another tenant is not held up by acme's bytes; its running job's
	// title cannot be deleted.
	acme, globex := e.c, e.newKey(t, "globex", false)
	e.c = globex
	resp, m = e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	e.c = acme
	if resp.StatusCode != 201 {
		t.Fatalf("another tenant's job: %d %v", resp.StatusCode, m)
	}
	if resp, m := do(t, globex, "DELETE", e.srv.URL+"/v1/jobs/"+m["id"].(string)+"/title", "", ""); resp.StatusCode != 409 {
		t.Fatalf("deleting a running job's title: %d %v", resp.StatusCode, m)
	}
	// Deleting the title: gone from both buckets, not playable, room made.
	for range 2 { // the second time changes nothing
		resp, m = do(t, e.c, "DELETE", e.srv.URL+"/v1/jobs/"+id+"/title", "", "")
		if resp.StatusCode != 200 || m["purged_at"] == nil || m["outputs"] != nil || m["stored_bytes"] != nil {
			t.Fatalf("delete the title: %d %v", resp.StatusCode, m)
		}
	}
	for _, o := range [][2]string{{e.s3.OriginBucket(), title}, {e.s3.Bucket(), pipeline.MasterKey(id)}} {
		if _, err := e.s3.Stat(ctx, o[0], o[1]); err == nil {
			t.Errorf("%s/%s is still stored", o[0], o[1])
		}
	}
	if resp, m := do(t, e.c, "GET", e.srv.URL+"/v1/play/"+id, "", ""); resp.StatusCode != 404 {
		t.Fatalf("play a deleted title: %d %v", resp.StatusCode, m)
	}
	if n, err := usage.Total(ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("acme stores %d bytes after the delete: %v", n, err)
	}
	if resp, m := e.post(t, form{fileName: "a.mp4", file: []byte("master")}); resp.StatusCode != 201 {
		t.Fatalf("after deleting the title: %d %v", resp.StatusCode, m)
	}
}
