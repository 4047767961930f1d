package api_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/pipeline"
)

// TestAbandonedUploadsExpire: an expiry sweep removes the resumable
// uploads that received nothing since its cut-off, unfinished (its S3
// multipart upload aborted, its buffered part gone) or finished and never
// made a job, and keeps a job's master and anything active since.
func TestAbandonedUploadsExpire(t *testing.T) {
	e := setup(t, 64<<20)
	ctx := context.Background()
	start := func(size int, body []byte) (loc, id string) {
		t.Helper()
		resp := tus(t, e.c, "POST", e.srv.URL+"/v1/uploads/", map[string]string{"Upload-Length": strconv.Itoa(size)}, nil)
		loc = resp.Header.Get("Location")
		if resp.StatusCode != 201 || loc == "" {
			t.Fatalf("create: %d", resp.StatusCode)
		}
		if !strings.HasPrefix(loc, "http") {
			loc = e.srv.URL + loc
		}
		if resp := tus(t, e.c, "PATCH", loc, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, body); resp.StatusCode != 204 {
			t.Fatalf("PATCH: %d", resp.StatusCode)
		}
		return loc, loc[strings.LastIndex(loc, "/")+1:]
	}
	before := time.Now().Add(-time.Minute)
	// Unfinished: one whole S3 part (16 MiB) and a buffered rest.
	unfinished, unfinishedID := start(20<<20, bytes.Repeat([]byte("u"), 17<<20))
	// Finished, never a job.
	orphan, _ := start(100, bytes.Repeat([]byte("o"), 100))
	// Finished, and a job's master.
	master, masterID := start(100, bytes.Repeat([]byte("m"), 100))
	if resp, m := do(t, e.c, "POST", e.srv.URL+"/v1/jobs", "application/json", `{"upload":"`+masterID+`"}`); resp.StatusCode != 201 {
		t.Fatalf("job: %d %v", resp.StatusCode, m)
	}
	// The unfinished upload's S3 multipart upload and its parts.
	object, multipart, _ := strings.Cut(unfinishedID, "+")
	parts := func() (int, error) {
		res, err := (minio.Core{Client: e.s3.C}).ListObjectParts(ctx, e.s3.Bucket(), pipeline.UploadsPrefix+object, multipart, 0, 1000)
		return len(res.ObjectParts), err
	}
	if n, err := parts(); n != 1 || err != nil {
		t.Fatalf("the unfinished upload has %d parts (%v), want 1", n, err)
	}
	list, err := e.s3.TusUploads(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("uploads: %v %v", list, err)
	}
	var activity []api.UploadActivity
	for _, u := range list {
		if u.LastActive.Before(before) {
			t.Errorf("%s last active %v, before it was created", u.ID, u.LastActive)
		}
		activity = append(activity, api.UploadActivity{ID: u.ID, LastActive: u.LastActive})
	}
	hasJob := func(ctx context.Context, id string) (bool, error) {
		_, err := e.api.Svc.Store.Get(ctx, id)
		if errors.Is(err, pipeline.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	// Everything was active after the cut-off: all kept.
	rep, err := e.api.Resumable.Expire(ctx, activity, before, hasJob)
	if err != nil || rep.Uploads != 0 || rep.Kept != 3 {
		t.Fatalf("a sweep with everything active: %+v %v", rep, err)
	}
	rep, err = e.api.Resumable.Expire(ctx, activity, time.Now().Add(time.Minute), hasJob)
	if err != nil || rep.Uploads != 2 || rep.Kept != 1 || rep.Bytes != 17<<20+100 {
		t.Fatalf("a sweep past every upload: %+v %v", rep, err)
	}
	for what, loc := range map[string]string{"unfinished": unfinished, "orphan": orphan} {
		if resp := tus(t, e.c, "HEAD", loc, nil, nil); resp.StatusCode != 404 {
			t.Errorf("expired %s upload: HEAD %d", what, resp.StatusCode)
		}
	}
	if resp := tus(t, e.c, "HEAD", master, nil, nil); resp.StatusCode != 200 {
		t.Errorf("a job's master: HEAD %d", resp.StatusCode)
	}
	if n, err := parts(); err == nil {
		t.Errorf("the expired upload's multipart upload is still there, with %d parts", n)
	}
	keys, err := e.s3.List(ctx, e.s3.Bucket(), pipeline.UploadsPrefix)
	if err != nil || len(keys) != 2 { // the master and its record
		t.Errorf("left under %s: %v %v", pipeline.UploadsPrefix, keys, err)
	}
}
