package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
)

// tusVersion is the tus protocol version the client speaks.
const tusVersion = "1.0.0"

// DefaultUploadRetries is how many times in a row an interrupted upload is
// resumed before Upload gives up.
const DefaultUploadRetries = 8

// UploadOptions are the settings of one Upload.
type UploadOptions struct {
	// Ladder is the job's ladder JSON; nil for the default ladder. It is
	// checked before anything is sent.
	Ladder json.RawMessage
	// Subtitles are subtitle files sent with the job (SubRip or WebVTT
	// text), by the name the ladder's "subtitles" lists each under.
	Subtitles map[string]string
	// Progress, if set, is told the bytes sent so far (and, after each
	// request, the bytes the server has) and the file's size, about twice
	// a second while sending.
	Progress func(done, total int64)
	// Interrupted, if set, is told of each interruption ridden out: the
	// offset reached, the error, and the pause before resuming.
	Interrupted func(offset, total int64, err error, wait time.Duration)
	// Resumed, if set, is told when an upload left by an earlier run goes
	// on from offset.
	Resumed func(offset, total int64)
	// StateDir keeps the location of unfinished uploads, so that a later
	// run resumes them; default the user's cache folder ("" with
	// NoState: none).
	StateDir string
	NoState  bool
	// Retries is how many interruptions in a row are ridden out; default
	// DefaultUploadRetries.
	Retries int
}

// Upload sends file with the tus resumable-upload protocol and creates the
// job from it. An upload cut off by the network or a restarting API
// resumes from the last byte the server kept (pauses growing from 1 s to
// 30 s), within this call or, through a state file, in the next call for
// the same API, file, size and modification time.
func (c *Client) Upload(ctx context.Context, file string, o UploadOptions) (*pipeline.View, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%s is empty", file)
	}
	if len(o.Ladder) > 0 {
		if _, err := ladder.Parse(o.Ladder); err != nil {
			return nil, fmt.Errorf("ladder: %w", err)
		}
	}
	retries := o.Retries
	if retries <= 0 {
		retries = DefaultUploadRetries
	}
	state := ""
	if !o.NoState {
		state = c.uploadState(o.StateDir, file, fi)
	}
	loc := ""
	if state != "" {
		if data, err := os.ReadFile(state); err == nil {
			loc = strings.TrimSpace(string(data))
		}
	}
	size, offset := fi.Size(), int64(-1)
	if loc != "" {
		if offset, err = c.tusOffset(ctx, loc); err != nil {
			if !IsStatus(err, http.StatusNotFound) {
				return nil, err
			}
			loc = "" // the server no longer has it: start over
		} else if o.Resumed != nil {
			o.Resumed(offset, size)
		}
	}
	if loc == "" {
		if loc, err = c.tusCreate(ctx, filepath.Base(file), size); err != nil {
			return nil, err
		}
		offset = 0
		if state != "" {
			if err := os.MkdirAll(filepath.Dir(state), 0o700); err == nil {
				_ = os.WriteFile(state, []byte(loc+"\n"), 0o600)
			}
		}
	}
	tries, backoff := 0, time.Second
	for offset < size {
		next, err := c.tusPatch(ctx, loc, f, offset, size, o.Progress)
		if err == nil {
			offset, tries, backoff = next, 0, time.Second
			continue
		}
		if ctx.Err() != nil {
			return nil, err
		}
		var ae *Error
		if IsStatus(err, http.StatusNotFound) {
			if state != "" {
				_ = os.Remove(state)
			}
			return nil, fmt.Errorf("the server no longer has this upload; run the command again to start over")
		}
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusConflict && ae.Status != http.StatusLocked && ae.Status != http.StatusRequestTimeout {
			return nil, err
		}
		if tries++; tries > retries {
			return nil, fmt.Errorf("the upload stopped at %d of %d bytes: %w; run the same command again to resume", offset, size, err)
		}
		if o.Interrupted != nil {
			o.Interrupted(offset, size, err, backoff)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		if off, err := c.tusOffset(ctx, loc); err == nil {
			offset = off
		}
	}
	id, err := url.PathUnescape(path.Base(loc))
	if err != nil {
		return nil, err
	}
	v, err := c.SubmitUpload(ctx, id, o.Ladder, o.Subtitles)
	if err != nil {
		return nil, err
	}
	if state != "" {
		_ = os.Remove(state)
	}
	return v, nil
}

// uploadState is the file that remembers an unfinished upload of file (by
// API, path, size and modification time) for the next run.
func (c *Client) uploadState(dir, file string, fi os.FileInfo) string {
	abs, _ := filepath.Abs(file)
	sum := sha256.Sum256([]byte(strings.Join([]string{c.Base, abs, strconv.FormatInt(fi.Size(), 10), fi.ModTime().UTC().Format(time.RFC3339Nano)}, "\n")))
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "reel", "uploads")
	}
	return filepath.Join(dir, hex.EncodeToString(sum[:16]))
}

func (c *Client) tusCreate(ctx context.Context, name string, size int64) (string, error) {
	resp, err := c.Do(ctx, http.MethodPost, "/v1/uploads/", nil, http.Header{
		"Tus-Resumable":   {tusVersion},
		"Upload-Length":   {strconv.FormatInt(size, 10)},
		"Upload-Metadata": {"filename " + base64.StdEncoding.EncodeToString([]byte(name))},
	})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("the API created an upload without saying where (no Location header)")
	}
	u, err := url.Parse(c.Base)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.ResolveReference(ref).String(), nil
}

// UploadOffset returns how many bytes of the upload at loc the server has.
func (c *Client) UploadOffset(ctx context.Context, loc string) (int64, error) {
	return c.tusOffset(ctx, loc)
}

func (c *Client) tusOffset(ctx context.Context, loc string) (int64, error) {
	resp, err := c.Do(ctx, http.MethodHead, loc, nil, http.Header{"Tus-Resumable": {tusVersion}})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// tusPatch sends the file from offset to the end in one PATCH and returns
// the offset the server reached.
func (c *Client) tusPatch(ctx context.Context, loc string, f *os.File, offset, size int64, progress func(done, total int64)) (int64, error) {
	body := &countingReader{r: io.NewSectionReader(f, offset, size-offset)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return offset, err
	}
	req.ContentLength = size - offset
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	done := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(offset+body.n.Load(), size)
				}
			}
		}()
	}
	resp, err := c.send(req)
	close(done)
	if err != nil {
		return offset, err
	}
	resp.Body.Close()
	reached, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return offset, fmt.Errorf("the API answered a PATCH without a usable Upload-Offset: %w", err)
	}
	if progress != nil {
		progress(reached, size)
	}
	return reached, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
