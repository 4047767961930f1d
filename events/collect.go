package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/reel-video/reel/internal/jsonhttp"
)

// Identity is who posts events: a viewer, whose events are all of their
// own account and profiles, or a service (an operator's key), whose
// events may be anyone's.
type Identity struct {
	Service bool
	User    string
	// Profile says whether a profile is the viewer's.
	Profile func(id string) bool
}

// Collector serves POST /v1/events: batches of events, one JSON object a
// line, each checked against its type's schema and published to the log,
// acknowledged only once the log has stored it.
type Collector struct {
	Log Log
	// Auth says who posts; a *jsonhttp.Denied refuses the request.
	Auth func(*http.Request) (Identity, error)
	// MaxEvents is the most lines one batch may hold (500); MaxBytes the
	// largest body (1 MiB).
	MaxEvents int
	MaxBytes  int64
	Now       func() time.Time
	Logger    *slog.Logger
}

// Routes registers the collector's route.
func (c *Collector) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/events", c.post)
}

// Result is what became of one line of a batch.
type Result struct {
	Line   int    `json:"line"`
	ID     string `json:"id,omitempty"`
	Status string `json:"status"` // accepted, rejected (fix it), unavailable (send it again)
	Error  *Error `json:"error,omitempty"`
}

// Answer is the collector's answer to a batch.
type Answer struct {
	Accepted    int      `json:"accepted"`
	Rejected    int      `json:"rejected"`
	Unavailable int      `json:"unavailable"`
	Results     []Result `json:"results"`
}

func (c *Collector) post(w http.ResponseWriter, r *http.Request) {
	id, err := c.Auth(r)
	if jsonhttp.Refused(w, err) {
		return
	}
	if err != nil {
		c.logger().Error("cannot authenticate an events request", "err", err)
		jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", "cannot check the request's credentials now; send the events again")
		return
	}
	maxEvents, maxBytes := c.MaxEvents, c.MaxBytes
	if maxEvents == 0 {
		maxEvents = 500
	}
	if maxBytes == 0 {
		maxBytes = 1 << 20
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	received := now().UTC()
	sc := bufio.NewScanner(http.MaxBytesReader(w, r.Body, maxBytes))
	sc.Buffer(make([]byte, 64<<10), int(maxBytes))
	var ans Answer
	var msgs []Message
	var at []int // msgs[i] is line at[i]'s
	line, n := 0, 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		if n++; n > maxEvents {
			jsonhttp.Error(w, http.StatusRequestEntityTooLarge, "too_many_events", fmt.Sprintf("a batch holds at most %d events; send the rest in another", maxEvents))
			return
		}
		res := Result{Line: line, Status: "accepted"}
		e, err := Decode(raw)
		if err == nil {
			err = c.admit(&e, id, received)
		}
		if err == nil {
			err = e.Check()
		}
		var data []byte
		if err == nil {
			data, err = json.Marshal(e)
		}
		res.ID = e.ID
		if err != nil {
			ee, ok := err.(*Error)
			if !ok {
				ee = &Error{Code: "invalid_event", Message: err.Error()}
			}
			res.Status, res.Error = "rejected", ee
			ans.Rejected++
		} else {
			msgs = append(msgs, Message{Subject: e.Subject(), ID: e.ID, Data: data})
			at = append(at, len(ans.Results))
		}
		ans.Results = append(ans.Results, res)
	}
	if err := sc.Err(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, bufio.ErrTooLong) {
			jsonhttp.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a batch is at most %d bytes; send smaller batches", maxBytes))
			return
		}
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", "cannot read the batch: "+err.Error())
		return
	}
	if line == 0 || len(ans.Results) == 0 {
		jsonhttp.Error(w, http.StatusBadRequest, "invalid_input", `the body holds no events: send one JSON event a line (application/x-ndjson), such as {"type":"view.start","at":"2026-01-02T15:04:05Z",...}`)
		return
	}
	if len(msgs) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		errs := c.Log.Publish(ctx, msgs)
		cancel()
		for i, err := range errs {
			res := &ans.Results[at[i]]
			if err != nil {
				res.Status = "unavailable"
				res.Error = &Error{Code: "unavailable", Message: "the event log did not store it; send it again (same id)"}
				ans.Unavailable++
				continue
			}
			ans.Accepted++
		}
		if ans.Unavailable > 0 {
			c.logger().Warn("events not stored", "unavailable", ans.Unavailable, "err", firstErr(errs))
		}
	}
	status := http.StatusOK
	if ans.Unavailable > 0 {
		w.Header().Set("Retry-After", "1")
		status = http.StatusServiceUnavailable
	}
	jsonhttp.Write(w, status, ans)
}

// admit fills what the collector sets (id, receipt time) and holds a
// viewer to their own account and profiles.
func (c *Collector) admit(e *Event, id Identity, received time.Time) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.Received = received
	// A client's clock ahead of ours by more than a few minutes is wrong;
	// the event happened when it arrived.
	if e.At.After(received.Add(5 * time.Minute)) {
		e.At = received
	}
	e.At = e.At.UTC()
	if id.Service {
		return nil
	}
	if e.User != "" && e.User != id.User {
		return invalid("user %q: a viewer's session reports events of its own account (%s) only; leave user out", e.User, id.User)
	}
	e.User = id.User
	if e.Profile != "" && (id.Profile == nil || !id.Profile(e.Profile)) {
		return invalid("profile %q: not a profile of this account", e.Profile)
	}
	return nil
}

func (c *Collector) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
