package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
)

// ExpireUploadsTask is the asynq periodic task that removes abandoned
// resumable uploads, on MaintenanceQueue.
const (
	ExpireUploadsTask = "uploads:expire"
	MaintenanceQueue  = "reel-maintenance"
)

// expireUploads runs the expiry of abandoned resumable uploads as a
// periodic task: every hour, or every quarter of REEL_UPLOAD_EXPIRY when
// that is shorter (at least every second).
func expireUploads(c *config.Config, s3 *origin.S3, res *api.Resumable, jobs pipeline.Store, log *slog.Logger) (stop func(), err error) {
	every := max(min(c.UploadExpiry/4, time.Hour), time.Second)
	return runPeriodic(redisOpt(c), MaintenanceQueue, ExpireUploadsTask, every, func(ctx context.Context) error {
		list, err := s3.TusUploads(ctx)
		if err != nil {
			return err
		}
		activity := make([]api.UploadActivity, len(list))
		for i, u := range list {
			activity[i] = api.UploadActivity{ID: u.ID, LastActive: u.LastActive}
		}
		rep, err := res.Expire(ctx, activity, time.Now().Add(-c.UploadExpiry), func(ctx context.Context, id string) (bool, error) {
			_, err := jobs.Get(ctx, id)
			if errors.Is(err, pipeline.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		})
		if rep.Uploads > 0 {
			log.Info("abandoned uploads removed", "uploads", rep.Uploads, "bytes", rep.Bytes, "kept", rep.Kept, "idle_for", c.UploadExpiry)
		}
		return err
	})
}
