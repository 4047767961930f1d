package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
)

// Ingest says how masters given by URL are fetched.
type Ingest struct {
	// Client fetches: a guarded client that reaches only the addresses
	// allowed (netguard), on every connection and redirect.
	Client *http.Client
	// MaxBytes bounds a master; default 50 GiB.
	MaxBytes int64
	// Stall ends a fetch that receives nothing this long; default 60 s.
	Stall time.Duration
}

// ingest fetches the job's master from its URL into the masters bucket,
// streaming it (one part in memory), and records where it is. A master
// the URL does not give (4xx, too large, not allowed) fails the job at
// once; a transfer that breaks is retried.
func (w *Worker) ingest(ctx context.Context, r *run) error {
	j := r.job
	if w.Ingest.Client == nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable, errors.New("this worker fetches no URLs (no ingest client)"))
	}
	max := w.Ingest.MaxBytes
	if max <= 0 {
		max = 50 << 30
	}
	stall := w.Ingest.Stall
	if stall <= 0 {
		stall = 60 * time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.Input.URL, nil)
	if err != nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable, fmt.Errorf("source %s: %w", j.Input.URL, err))
	}
	req.Header.Set("User-Agent", "Reel-Ingest/1")
	resp, err := w.Ingest.Client.Do(req)
	if err != nil {
		if errors.Is(err, netguard.ErrForbidden) {
			return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable, fmt.Errorf("source %s: %w", redactURL(j.Input.URL), err))
		}
		return fmt.Errorf("fetch the source: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("fetch the source: the server answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable,
			fmt.Errorf("source %s answered %s; give a URL that serves the master with a GET (a presigned URL for a private object)", redactURL(j.Input.URL), resp.Status))
	case resp.ContentLength > max:
		return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable,
			fmt.Errorf("source is %d bytes, over the limit of %d (REEL_MAX_UPLOAD_BYTES)", resp.ContentLength, max))
	}
	// The stall timer runs only while a read waits on the source, not
	// while a part goes to the store.
	body := &ingestReader{r: resp.Body, max: max, every: stall, stall: time.AfterFunc(stall, func() {
		cancel(fmt.Errorf("the source sent nothing for %v", stall))
	})}
	body.stall.Stop()
	defer body.stall.Stop()
	key := pipeline.MasterKey(j.ID)
	n, err := w.Objects.PutStream(ctx, w.Objects.Bucket(), key, body, "application/octet-stream")
	switch {
	case body.n > max || errors.Is(err, errTooLarge):
		return w.failPermanently(ctx, j.ID, pipeline.CodeSourceUnavailable, fmt.Errorf("source is over the limit of %d bytes (REEL_MAX_UPLOAD_BYTES)", max))
	case err != nil:
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		return fmt.Errorf("fetch the source: %w", err)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return fmt.Errorf("fetch the source: %d of %d bytes arrived", n, resp.ContentLength)
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.Input.Bucket, j.Input.Key, j.Input.Size = w.Objects.Bucket(), key, n
		if j.Input.Name == "" {
			j.Input.Name = path.Base(resp.Request.URL.Path)
		}
		return nil
	})
	return err
}

var errTooLarge = errors.New("over the size limit")

// ingestReader counts what arrives, refuses more than max and runs the
// stall timer while each read waits on the source.
type ingestReader struct {
	r      io.Reader
	n, max int64
	stall  *time.Timer
	every  time.Duration
}

func (i *ingestReader) Read(p []byte) (int, error) {
	i.stall.Reset(i.every)
	n, err := i.r.Read(p)
	i.stall.Stop()
	i.n += int64(n)
	if i.n > i.max {
		return n, errTooLarge
	}
	return n, err
}

// redactURL drops a URL's query (a presigned URL's signature) from
// messages.
func redactURL(raw string) string {
	for i, c := range raw {
		if c == '?' {
			return raw[:i] + "?…"
		}
	}
	return raw
}
