// Package client is a Go client of Reel's REST API: jobs, multipart and
// resumable (tus) uploads, cancel and retry, server-sent progress, play
// URLs, keys, workers and edges. The reel CLI, the benchmarks and the
// end-to-end tests use it; so can any Go program.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/webhooks"
)

// DefaultBase is the API a client talks to when none is given.
const DefaultBase = "http://127.0.0.1:8080"

// Client talks to one Reel API with one API key.
type Client struct {
	// Base is the API's base URL, such as http://127.0.0.1:8080.
	Base string
	// Key is the API key, sent as "Authorization: Bearer KEY".
	Key string
	// HTTP sends the requests; default http.DefaultClient.
	HTTP *http.Client
}

// New returns a client of the API at base (DefaultBase when empty) with
// key.
func New(base, key string) *Client {
	if base == "" {
		base = DefaultBase
	}
	return &Client{Base: strings.TrimRight(base, "/"), Key: strings.TrimSpace(key)}
}

// Error is an error answer of the API: its status and the body's code and
// message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// IsStatus reports whether err is an API answer with that status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) http() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

// url resolves a path (or an absolute URL the API handed out) against Base.
func (c *Client) url(p string) string {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return p
	}
	return c.Base + p
}

// Do sends a request to the API path (or absolute URL) with the client's
// key and returns the response of a 1xx-2xx answer; any other answer is
// an *Error. The caller closes the body.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if n, ok := body.(interface{ Len() int }); ok && body != nil {
		req.ContentLength = int64(n.Len())
	}
	return c.send(req)
}

func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Reel API at %s: %w (set --api or REEL_API)", c.Base, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var body struct{ Error pipeline.JobError }
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(data, &body) != nil || body.Error.Code == "" {
		body.Error = pipeline.JobError{Code: "http", Message: strings.TrimSpace(string(data))}
		if body.Error.Message == "" {
			body.Error.Message = resp.Status
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		body.Error.Message += " (set REEL_API_KEY or --key; `reel dev` prints an admin key and saves it in its data folder as admin.key)"
	}
	return nil, &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
}

// call sends a request and decodes a JSON answer into out (unless nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	var h http.Header
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, h = bytes.NewReader(data), http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.Do(ctx, method, path, body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the API's answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// Job returns the job with id.
func (c *Client) Job(ctx context.Context, id string) (*pipeline.View, error) {
	var v pipeline.View
	return &v, c.call(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &v)
}

// JobList is a page of jobs, newest first.
type JobList struct {
	Jobs   []pipeline.View `json:"jobs"`
	Total  int             `json:"total"`
	Offset int             `json:"offset"`
	Limit  int             `json:"limit"`
}

// Jobs lists limit jobs from offset, newest first; an admin key with
// tenant set sees that tenant's only.
func (c *Client) Jobs(ctx context.Context, limit, offset int, tenant string) (*JobList, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	var l JobList
	return &l, c.call(ctx, http.MethodGet, "/v1/jobs?"+q.Encode(), nil, &l)
}

// Cancel cancels a job and returns it.
func (c *Client) Cancel(ctx context.Context, id string) (*pipeline.View, error) {
	var v pipeline.View
	return &v, c.call(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), nil, &v)
}

// DeleteTitle deletes an ended job's title, master and work objects and
// returns the job.
func (c *Client) DeleteTitle(ctx context.Context, id string) (*pipeline.View, error) {
	var v pipeline.View
	return &v, c.call(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id)+"/title", nil, &v)
}

// Retry re-runs what a failed job did not finish and returns it.
func (c *Client) Retry(ctx context.Context, id string) (*pipeline.View, error) {
	var v pipeline.View
	return &v, c.call(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/retry", nil, &v)
}

// File is a file sent with a job: a subtitle file, by the name the
// ladder's "subtitles" lists it under.
type File struct {
	Name string
	Data []byte
}

// Submit creates a job from a master sent whole in one multipart request
// (name is its file name; ladder may be nil for the default ladder), with
// any subtitle files the ladder lists. Use Upload for large files: it
// resumes.

func (c *Client) Submit(ctx context.Context, master io.Reader, name string, ladder json.RawMessage, subtitles ...File) (*pipeline.View, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if len(ladder) > 0 {
				if err := mw.WriteField("ladder", string(ladder)); err != nil {
					return err
				}
			}
			for _, f := range subtitles {
				w, err := mw.CreateFormFile("subtitles", f.Name)
				if err != nil {
					return err
				}
				if _, err := w.Write(f.Data); err != nil {
					return err
				}
			}
			w, err := mw.CreateFormFile("file", name)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, master); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	resp, err := c.Do(ctx, http.MethodPost, "/v1/jobs", pr, http.Header{"Content-Type": {mw.FormDataContentType()}})
	_ = pr.Close()
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v pipeline.View
	return &v, json.NewDecoder(resp.Body).Decode(&v)
}

// SubmitUpload creates the job of a finished resumable upload; asking
// again for the same upload returns the same job.
func (c *Client) SubmitUpload(ctx context.Context, upload string, ladder json.RawMessage, subtitles map[string]string) (*pipeline.View, error) {
	var v pipeline.View
	body := map[string]any{"upload": upload, "ladder": ladder}
	if len(subtitles) > 0 {
		body["subtitle_files"] = subtitles
	}
	return &v, c.call(ctx, http.MethodPost, "/v1/jobs", body, &v)
}

// SubmitSource creates a job from a master an operator put in the masters
// bucket ("s3://BUCKET/KEY"; admin keys only).
func (c *Client) SubmitSource(ctx context.Context, source string, ladder json.RawMessage) (*pipeline.View, error) {
	var v pipeline.View
	return &v, c.call(ctx, http.MethodPost, "/v1/jobs", map[string]any{"source": source, "ladder": ladder}, &v)
}

// Events follows a job's server-sent events, calling fn with the job on
// connect and after every change, until the job ends (nil), fn returns an
// error (that error) or ctx ends.
func (c *Client) Events(ctx context.Context, id string, fn func(*pipeline.View) error) error {
	resp, err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/events", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v pipeline.View
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("job %s events: %w", id, err)
		}
		if err := fn(&v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("job %s events: %w", id, err)
	}
	return ctx.Err()
}

// Wait polls the job every interval until it ends and returns it. An API
// that cannot be reached (restarting, say) is asked again until ctx ends;
// an error answer of the API ends the wait.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration) (*pipeline.View, error) {
	for {
		v, err := c.Job(ctx, id)
		var ae *Error
		switch {
		case err == nil && v.Status.Terminal():
			return v, nil
		case errors.As(err, &ae):
			return nil, err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("job %s still %s: %w", id, v.Status, ctx.Err())
			}
			return v, err
		case <-time.After(every):
		}
	}
}

// Play asks where to play a complete title; zone, when set, is sent as
// X-Client-Zone.
func (c *Client) Play(ctx context.Context, id, zone string) (*pipeline.Play, error) {
	var h http.Header
	if zone != "" {
		h = http.Header{"X-Client-Zone": {zone}}
	}
	resp, err := c.Do(ctx, http.MethodGet, "/v1/play/"+url.PathEscape(id), nil, h)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p pipeline.Play
	return &p, json.NewDecoder(resp.Body).Decode(&p)
}

// Edges lists the edges (admin keys only).
func (c *Client) Edges(ctx context.Context) ([]edge.View, error) {
	var l struct{ Edges []edge.View }
	return l.Edges, c.call(ctx, http.MethodGet, "/v1/edges", nil, &l)
}

// Worker is a live worker process as GET /v1/workers lists it (the
// queue adapter's Worker, which the client does not link: it would bring
// asynq and Redis along).
type Worker struct {
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Concurrency int       `json:"concurrency"`
	ActiveTasks int       `json:"active_tasks"`
	Started     time.Time `json:"started"`
	Status      string    `json:"status"`
	CPUs        []int     `json:"cpus"`                // the CPUs it may run on; empty when unknown
	CPUQuota    float64   `json:"cpu_quota,omitempty"` // its cgroup's CPU quota in CPUs; 0 when none
	Machine     string    `json:"machine,omitempty"`   // its kernel's boot ID, shared by containers on one machine
}

// Workers lists the live workers (admin keys only).
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var l struct{ Workers []Worker }
	return l.Workers, c.call(ctx, http.MethodGet, "/v1/workers", nil, &l)
}

// CreateKey makes an API key for tenant (admin keys only) and returns the
// key, shown this once, and its record.
func (c *Client) CreateKey(ctx context.Context, tenant string, admin, support bool) (string, pipeline.Key, error) {
	var k struct {
		Secret string `json:"key"`
		pipeline.Key
	}
	err := c.call(ctx, http.MethodPost, "/v1/keys", map[string]any{"tenant": tenant, "admin": admin, "support": support}, &k)
	return k.Secret, k.Key, err
}

// Keys lists every key's record (admin keys only).
func (c *Client) Keys(ctx context.Context) ([]pipeline.Key, error) {
	var l struct{ Keys []pipeline.Key }
	return l.Keys, c.call(ctx, http.MethodGet, "/v1/keys", nil, &l)
}

// RevokeKey revokes the key with the given id (admin keys only).
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil)
}

// Healthy reports whether GET /healthz answers 200; the error says why
// not.
func (c *Client) Healthy(ctx context.Context) error {
	resp, err := c.Do(ctx, http.MethodGet, "/healthz", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// CreateWebhook makes a webhook endpoint for the key's tenant hearing of
// events (the lifecycle events when empty); the answer carries its
// secret, shown this once.
func (c *Client) CreateWebhook(ctx context.Context, target string, events []string) (webhooks.Endpoint, error) {
	return c.CreateJobWebhook(ctx, "", target, events)
}

// CreateJobWebhook is CreateWebhook for job's own endpoint, which hears
// of that job alone ("" : every job of the tenant).
func (c *Client) CreateJobWebhook(ctx context.Context, job, target string, events []string) (webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	body := map[string]any{"url": target}
	if len(events) > 0 {
		body["events"] = events
	}
	if job != "" {
		body["job"] = job
	}
	return e, c.call(ctx, http.MethodPost, "/v1/webhooks", body, &e)
}

// Webhooks lists the tenant's webhook endpoints.
func (c *Client) Webhooks(ctx context.Context) ([]webhooks.Endpoint, error) {
	var l struct{ Webhooks []webhooks.Endpoint }
	return l.Webhooks, c.call(ctx, http.MethodGet, "/v1/webhooks", nil, &l)
}

// JobWebhooks lists a job's own webhook endpoints.
func (c *Client) JobWebhooks(ctx context.Context, job string) ([]webhooks.Endpoint, error) {
	var l struct{ Webhooks []webhooks.Endpoint }
	return l.Webhooks, c.call(ctx, http.MethodGet, "/v1/webhooks?job="+url.QueryEscape(job), nil, &l)
}

// DeleteWebhook deletes a webhook endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(id), nil, nil)
}

// WebhookDeliveries lists an endpoint's latest deliveries, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string, limit int) ([]webhooks.Delivery, error) {
	var l struct{ Deliveries []webhooks.Delivery }
	return l.Deliveries, c.call(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(id)+"/deliveries?limit="+strconv.Itoa(limit), nil, &l)
}
