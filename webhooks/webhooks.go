// Package webhooks tells a tenant's endpoints, and a job's own, what
// happened to its jobs: job.created, job.completed, job.failed and
// job.canceled, and, for endpoints that ask, job.progress as a job moves
// from stage to stage. Each event is written once, when it happens, and
// delivered to every endpoint that asked for it as a signed POST (Reel-Signature: t=TIMESTAMP,v1=HMAC, as
// Stripe and Mux sign theirs), queued and retried with growing pauses for
// more than a day, every attempt recorded. Endpoints are reached only at
// public addresses (netguard) unless an operator allows more.
package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/pipeline"
)

// The events an endpoint can ask for.
const (
	JobCreated   = pipeline.EventCreated
	JobCompleted = pipeline.EventCompleted
	JobFailed    = pipeline.EventFailed
	JobCanceled  = pipeline.EventCanceled
	JobProgress  = pipeline.EventProgress
)

// Events lists every event type.
var Events = []string{JobCreated, JobCompleted, JobFailed, JobCanceled, JobProgress}

// Lifecycle are the events an endpoint that names none gets: all but
// job.progress, which an endpoint asks for by name.
var Lifecycle = []string{JobCreated, JobCompleted, JobFailed, JobCanceled}

// Endpoint is where a tenant's events go.
type Endpoint struct {
	ID     string   `json:"id"`
	Tenant string   `json:"tenant"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Job, if set, is the one job whose events the endpoint gets (a job's
	// own endpoint); else it gets every job's of its tenant.
	Job string `json:"job,omitempty"`
	// Secret signs the deliveries; shown once, when the endpoint is made.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Wants reports whether the endpoint asked for event type typ.
func (e Endpoint) Wants(typ string) bool { return slices.Contains(e.Events, typ) }

// Job is what an event says of its job.
type Job struct {
	ID         string             `json:"id"`
	Tenant     string             `json:"tenant"`
	Name       string             `json:"name,omitempty"`
	Status     pipeline.Status    `json:"status"`
	Error      *pipeline.JobError `json:"error,omitempty"`
	Retries    int                `json:"retries,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	FinishedAt *time.Time         `json:"finished_at,omitempty"`
}

// Event is the body of a delivery.
type Event struct {
	ID      string    `json:"id"` // the same on every attempt: receivers drop repeats by it
	Type    string    `json:"type"`
	Created time.Time `json:"created"`
	Data    struct {
		Job Job `json:"job"`
	} `json:"data"`
}

// Attempt is one try at delivering an event.
type Attempt struct {
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"` // the endpoint's HTTP status; 0 when none came
	Error    string    `json:"error,omitempty"`
	Duration float64   `json:"duration_ms"`
}

// Delivery states.
const (
	Pending   = "pending"
	Succeeded = "succeeded"
	Failed    = "failed" // every attempt failed, or the endpoint was deleted
)

// Delivery is an event on its way to one endpoint.
type Delivery struct {
	Endpoint string    `json:"endpoint"`
	EventID  string    `json:"event_id"`
	Type     string    `json:"type"`
	Job      string    `json:"job"`
	Created  time.Time `json:"created"`
	State    string    `json:"state"`
	Attempts []Attempt `json:"attempts"`
}

// Store keeps endpoints and deliveries.
type Store interface {
	Create(ctx context.Context, e Endpoint) error
	Get(ctx context.Context, id string) (Endpoint, error)
	// List returns a tenant's endpoints; ListJob a job's own.
	List(ctx context.Context, tenant string) ([]Endpoint, error)
	ListJob(ctx context.Context, job string) ([]Endpoint, error)
	Delete(ctx context.Context, id string) error
	// Save writes a delivery (the latest of each endpoint's are kept).
	Save(ctx context.Context, d Delivery) error
	Delivery(ctx context.Context, endpoint, eventID string) (Delivery, error)
	Deliveries(ctx context.Context, endpoint string, limit int) ([]Delivery, error)
}

// ErrNotFound is what a Store returns for an endpoint or a delivery it
// does not have.
var ErrNotFound = errors.New("not found")

// Task is a delivery to make: the endpoint and the event, whole, so that
// every attempt sends the same bytes.
type Task struct {
	Endpoint string          `json:"endpoint"`
	EventID  string          `json:"event_id"`
	Body     json.RawMessage `json:"body"`
}

// Queue runs deliveries, retrying them; a task with the same endpoint and
// event id as one already queued is dropped.
type Queue interface {
	Enqueue(ctx context.Context, t Task) error
}

// NewSecret returns a new endpoint secret.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + hex.EncodeToString(b[:])
}

// NewID returns a new endpoint id.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "wh_" + hex.EncodeToString(b[:])
}

// Sign returns the Reel-Signature header of body sent at t:
// t=UNIXSECONDS,v1=hex(HMAC-SHA256(secret, "UNIXSECONDS." + body)).
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts + "."))
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a Reel-Signature header against body, refusing a
// signature older than tolerance (a replay), as a receiver does.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("no t= and v1= in the signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signed %v from now, outside the tolerance of %v", d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("the signature does not match")
}

// Notifier writes a job's events for its tenant's endpoints.
type Notifier struct {
	Store Store
	Queue Queue
	Log   *slog.Logger
}

// eventID is the same for the same event of a job however often it is
// noticed (a task retried after it moved the job), and differs between a
// job's failures before and after a retry.
// A job.progress event is one per stage the job enters.
func eventID(j *pipeline.Job, typ string) string {
	key := j.ID + "\x00" + typ + "\x00" + strconv.Itoa(j.Retries)
	if typ == JobProgress {
		key += "\x00" + string(j.Status)
	}
	sum := sha256.Sum256([]byte(key))
	return "evt_" + hex.EncodeToString(sum[:12])
}

// Notify queues event typ of job j to every endpoint of its tenant that
// asked for it. Failing to queue is logged: the job's change stands.
func (n *Notifier) Notify(ctx context.Context, j *pipeline.Job, typ string) {
	if err := n.notify(ctx, j, typ); err != nil {
		log := n.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("cannot queue the job's webhook deliveries", "job", j.ID, "event", typ, "err", err)
	}
}

func (n *Notifier) notify(ctx context.Context, j *pipeline.Job, typ string) error {
	eps, err := n.Store.List(ctx, j.Tenant)
	if err != nil {
		return err
	}
	own, err := n.Store.ListJob(ctx, j.ID)
	if err != nil {
		return err
	}
	if eps = append(eps, own...); len(eps) == 0 {
		return nil
	}
	ev := Event{ID: eventID(j, typ), Type: typ, Created: time.Now().UTC()}
	ev.Data.Job = Job{ID: j.ID, Tenant: j.Tenant, Name: j.Input.Name, Status: j.Status, Error: j.Error, Retries: j.Retries,
		CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range eps {
		if !e.Wants(typ) {
			continue
		}
		if _, err := n.Store.Delivery(ctx, e.ID, ev.ID); err == nil {
			continue // noticed before
		}
		d := Delivery{Endpoint: e.ID, EventID: ev.ID, Type: typ, Job: j.ID, Created: ev.Created, State: Pending, Attempts: []Attempt{}}
		if err := n.Store.Save(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.Queue.Enqueue(ctx, Task{Endpoint: e.ID, EventID: ev.ID, Body: body}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Deliverer sends queued deliveries.
type Deliverer struct {
	Store  Store
	Client *http.Client // a guarded client (netguard.Policy.Client)
	Now    func() time.Time
}

// ErrGone is returned for a delivery whose endpoint was deleted: it is not
// retried.
var ErrGone = errors.New("the endpoint was deleted")

// Deliver makes one attempt at t and records it; last says no retry
// follows a failure. A failure returns an error (retried by the queue).
func (d *Deliverer) Deliver(ctx context.Context, t Task, last bool) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	e, err := d.Store.Get(ctx, t.Endpoint)
	rec, rerr := d.Store.Delivery(ctx, t.Endpoint, t.EventID)
	if errors.Is(rerr, ErrNotFound) {
		var ev Event
		_ = json.Unmarshal(t.Body, &ev)
		rec = Delivery{Endpoint: t.Endpoint, EventID: t.EventID, Type: ev.Type, Job: ev.Data.Job.ID, Created: ev.Created, State: Pending}
	} else if rerr != nil {
		return rerr
	}
	if errors.Is(err, ErrNotFound) {
		rec.State = Failed
		rec.Attempts = append(rec.Attempts, Attempt{At: now().UTC(), Error: ErrGone.Error()})
		_ = d.Store.Save(ctx, rec)
		return ErrGone
	}
	if err != nil {
		return err
	}
	start := now()
	status, derr := d.post(ctx, e, t, start)
	a := Attempt{At: start.UTC(), Status: status, Duration: float64(now().Sub(start).Microseconds()) / 1000}
	if derr != nil {
		a.Error = derr.Error()
	}
	rec.Attempts = append(rec.Attempts, a)
	switch {
	case derr == nil:
		rec.State = Succeeded
	case last:
		rec.State = Failed
	}
	if err := d.Store.Save(ctx, rec); err != nil {
		return err
	}
	return derr
}

// post sends the event and returns the endpoint's status; any status but
// 2xx is an error.
func (d *Deliverer) post(ctx context.Context, e Endpoint, t Task, at time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, strings.NewReader(string(t.Body)))
	if err != nil {
		return 0, err
	}
	var ev struct{ Type string }
	_ = json.Unmarshal(t.Body, &ev)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Reel-Webhooks/1")
	req.Header.Set("Reel-Event-Id", t.EventID)
	req.Header.Set("Reel-Event-Type", ev.Type)
	req.Header.Set("Reel-Signature", Sign(e.Secret, at, t.Body))
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// DeliveryTimeout bounds one attempt.
const DeliveryTimeout = 10 * time.Second

// RetryDelay is the pause before retry n (0 is the first retry): 30 s,
// doubling up to 4 h. With MaxRetries the last attempt comes more than
// 24 h after the first.
func RetryDelay(n int) time.Duration {
	return min(30*time.Second<<min(n, 20), 4*time.Hour)
}

// MaxRetries is how often a failed delivery is retried.
const MaxRetries = 14
