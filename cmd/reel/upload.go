package main

import (
	"bytes"
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

// uploadRetries is how many times in a row an interrupted upload is resumed
// before the command gives up (it can be run again to go on).
const uploadRetries = 8

// upload sends file with the tus resumable-upload protocol and creates the
// job from it. An upload cut off by the network or a restarting API resumes
// from the last byte the server kept, within this run or, through a state
// file in the user's cache folder, in the next run of the same command.
func (c *client) upload(ctx context.Context, file, ladderFile string, log io.Writer) (*pipeline.View, error) {
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
	var ladderJSON json.RawMessage
	if ladderFile != "" {
		if ladderJSON, err = os.ReadFile(ladderFile); err != nil {
			return nil, err
		}
		if _, err := ladder.Parse(ladderJSON); err != nil {
			return nil, fmt.Errorf("%s: %w", ladderFile, err)
		}
	}
	state := c.uploadState(file, fi)
	loc := ""
	if data, err := os.ReadFile(state); err == nil {
		loc = strings.TrimSpace(string(data))
	}
	size, offset := fi.Size(), int64(-1)
	if loc != "" {
		if offset, err = c.tusOffset(ctx, loc); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
				return nil, err
			}
			loc = "" // the server no longer has it: start over
		} else {
			fmt.Fprintf(log, "resuming the upload of %s at %d of %d bytes\n", filepath.Base(file), offset, size)
		}
	}
	if loc == "" {
		if loc, err = c.tusCreate(ctx, filepath.Base(file), size); err != nil {
			return nil, err
		}
		offset = 0
		if err := os.MkdirAll(filepath.Dir(state), 0o700); err == nil {
			_ = os.WriteFile(state, []byte(loc+"\n"), 0o600)
		}
	}
	tries, backoff := 0, time.Second
	for offset < size {
		next, err := c.tusPatch(ctx, loc, f, offset, size)
		if err == nil {
			offset, tries, backoff = next, 0, time.Second
			continue
		}
		if ctx.Err() != nil {
			return nil, err
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			_ = os.Remove(state)
			return nil, fmt.Errorf("the server no longer has this upload; run the command again to start over")
		}
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusConflict && ae.Status != http.StatusLocked && ae.Status != http.StatusRequestTimeout {
			return nil, err
		}
		if tries++; tries > uploadRetries {
			return nil, fmt.Errorf("the upload stopped at %d of %d bytes: %w; run the same command again to resume", offset, size, err)
		}
		fmt.Fprintf(log, "upload interrupted at %d of %d bytes (%v); resuming in %s\n", offset, size, err, backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		if o, err := c.tusOffset(ctx, loc); err == nil {
			offset = o
		}
	}
	id, err := url.PathUnescape(path.Base(loc))
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"upload": id, "ladder": ladderJSON})
	req, err := c.request(ctx, http.MethodPost, "/v1/jobs", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var v pipeline.View
	if err := c.do(req, &v); err != nil {
		return nil, err
	}
	_ = os.Remove(state)
	return &v, nil
}

// uploadState is the file that remembers an unfinished upload of file (by
// API, path, size and modification time) for the next run.
func (c *client) uploadState(file string, fi os.FileInfo) string {
	abs, _ := filepath.Abs(file)
	sum := sha256.Sum256([]byte(strings.Join([]string{c.base, abs, strconv.FormatInt(fi.Size(), 10), fi.ModTime().UTC().Format(time.RFC3339Nano)}, "\n")))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "reel", "uploads", hex.EncodeToString(sum[:16]))
}

func (c *client) tusCreate(ctx context.Context, name string, size int64) (string, error) {
	req, err := c.request(ctx, http.MethodPost, "/v1/uploads/", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name)))
	resp, err := c.send(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("the API created an upload without saying where (no Location header)")
	}
	u, err := url.Parse(c.base)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.ResolveReference(ref).String(), nil
}

func (c *client) tusOffset(ctx context.Context, loc string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, loc, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	resp, err := c.send(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// tusPatch sends the file from offset to the end in one PATCH and returns
// the offset the server reached.
func (c *client) tusPatch(ctx context.Context, loc string, f *os.File, offset, size int64) (int64, error) {
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
	if c.progress != nil {
		go func() {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					c.progress(offset+body.n.Load(), size)
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
	if c.progress != nil {
		c.progress(reached, size)
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
