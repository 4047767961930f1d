// Package events is the platform's event pipeline: the typed events
// players and services report (viewing, UI, errors, performance), their
// schemas, the log they are published to (NATS JetStream, behind a small
// interface a Kafka client could implement too), the collector's HTTP
// handler, durable consumers that resume where they stopped, and the
// bounded buffer through which a service reports without ever waiting.
package events

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one thing that happened, as a player or a service reports it.
// Which fields a type requires is its schema (Check).
type Event struct {
	// ID names the event; a client that sends an event again (after a
	// timeout) sends the same ID, and the log keeps one copy. The
	// collector gives one to an event without it.
	ID   string    `json:"id,omitempty"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	// User is the viewer's account; empty for a service's own events. A
	// viewer's session can only report its own account's events.
	User    string `json:"user,omitempty"`
	Profile string `json:"profile,omitempty"`
	// Session is one playback session (one title played once).
	Session  string  `json:"session,omitempty"`
	Title    string  `json:"title,omitempty"`
	Source   string  `json:"source,omitempty"` // player, web, worker, edge, gateway, api
	Edge     string  `json:"edge,omitempty"`
	Rung     string  `json:"rung,omitempty"`     // such as 720p or 1280x720@3000k
	Position float64 `json:"position,omitempty"` // seconds into the title
	Duration float64 `json:"duration,omitempty"` // the title's length
	Ms       float64 `json:"ms,omitempty"`       // a performance figure, milliseconds
	Code     string  `json:"code,omitempty"`     // an error's code
	Message  string  `json:"message,omitempty"`  // an error's message, or a note
	// Attrs are further facts as short strings (a search query, a URL
	// path, an HTTP status).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Received is when the collector took it; set by the collector.
	Received time.Time `json:"received"`
}

// MaxMessage is the longest Message an event may have, in characters.
const MaxMessage = 2000

// field is one of an event's fields a schema can require.
type field uint16

const (
	fProfile field = 1 << iota
	fSession
	fTitle
	fPosition
	fRung
	fMs
	fCode
	fMessage
)

var fieldNames = []struct {
	f    field
	name string
}{{fProfile, "profile"}, {fSession, "session"}, {fTitle, "title"}, {fPosition, "position"},
	{fRung, "rung"}, {fMs, "ms"}, {fCode, "code"}, {fMessage, "message"}}

// Schema is what one event type requires. A Type ending in ".*" covers
// every type of its family that has no schema of its own.
type Schema struct {
	Type    string
	Require field
	Doc     string
}

// Schemas are the event types the collector accepts, most specific first.
var Schemas = []Schema{
	{"view.start", fProfile | fSession | fTitle, "a title starts playing (position: where it starts)"},
	{"view.heartbeat", fProfile | fSession | fTitle | fPosition, "a playing title's position, every few seconds"},
	{"view.stop", fProfile | fSession | fTitle | fPosition, "playback ends or is left (position: where)"},
	{"perf.startup", fSession | fMs, "time from asking to play to the first frame"},
	{"perf.stall", fSession | fMs, "playback stalled for ms waiting for data"},
	{"perf.rung_switch", fSession | fRung, "the player switched to rung"},
	{"perf.*", fMs, "a performance figure (slow_response, cache_miss, ...)"},
	{"error.playback", fSession | fTitle | fCode | fMessage, "a player's playback error"},
	{"error.*", fCode | fMessage, "an error of a service or client (task, edge, gateway, ...)"},
	{"ui.*", 0, "a viewer's action in a client (page, search, click, ...)"},
	{"job.*", fTitle, "a job's lifecycle in the API (title: the job id)"},
	{"gateway.*", 0, "a gateway's decision (rejected, breaker_open, breaker_closed)"},
}

var (
	typeRE = regexp.MustCompile(`^[a-z]+\.[a-z][a-z0-9_]{0,39}$`)
	// IDs and users go into subjects: no dots, no wildcards, no spaces.
	idRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:@/-]{1,128}$`)
)

// ValidID reports whether s may be an event's id, user, profile or
// session (and so a subject token): 1 to 64 letters, digits, _ or -.
func ValidID(s string) bool { return idRE.MatchString(s) }

// SchemaOf returns the schema of an event type.
func SchemaOf(typ string) (Schema, bool) {
	family, _, _ := strings.Cut(typ, ".")
	for _, s := range Schemas {
		if s.Type == typ || s.Type == family+".*" {
			return s, true
		}
	}
	return Schema{}, false
}

// Error is what is wrong with one event.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: "invalid_event", Message: fmt.Sprintf(format, args...)}
}

// Check says what is wrong with an event, if anything: its type must
// have a schema, the fields that schema requires must be present, and
// every field must be in range.
func (e *Event) Check() error {
	if !typeRE.MatchString(e.Type) {
		return invalid("type %q: FAMILY.NAME in lower case, such as view.start, error.playback or perf.stall", e.Type)
	}
	s, ok := SchemaOf(e.Type)
	if !ok {
		fams := make([]string, 0, len(Schemas))
		for _, s := range Schemas {
			if strings.HasSuffix(s.Type, ".*") {
				fams = append(fams, strings.TrimSuffix(s.Type, ".*"))
			}
		}
		return invalid("type %q: unknown; the families are view, %s", e.Type, strings.Join(fams, ", "))
	}
	if e.ID != "" && !idRE.MatchString(e.ID) {
		return invalid("id %q: 1 to 64 letters, digits, _ or -", e.ID)
	}
	for _, f := range []struct{ name, v string }{{"user", e.User}, {"profile", e.Profile}, {"session", e.Session}} {
		if f.v != "" && !idRE.MatchString(f.v) {
			return invalid("%s %q: 1 to 64 letters, digits, _ or -", f.name, f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"title", e.Title}, {"source", e.Source}, {"edge", e.Edge}, {"rung", e.Rung}, {"code", e.Code}} {
		if f.v != "" && !nameRE.MatchString(f.v) {
			return invalid("%s %q: 1 to 128 letters, digits or _.:@/-", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"position", e.Position}, {"duration", e.Duration}, {"ms", e.Ms}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 7*24*3600*1000 {
			return invalid("%s %g: a number from 0 up", f.name, f.v)
		}
	}
	if utf8.RuneCountInString(e.Message) > MaxMessage || !utf8.ValidString(e.Message) {
		return invalid("message: at most %d characters of UTF-8", MaxMessage)
	}
	if len(e.Attrs) > 16 {
		return invalid("attrs: at most 16")
	}
	for k, v := range e.Attrs {
		if !typeRE.MatchString("a."+k) || utf8.RuneCountInString(v) > 512 || !utf8.ValidString(v) {
			return invalid("attrs %q: a lower-case name (letters, digits, _) and a value of at most 512 characters", k)
		}
	}
	if e.At.IsZero() {
		return invalid("at: the event's time is required (RFC 3339)")
	}
	var missing []string
	for _, f := range fieldNames {
		if s.Require&f.f != 0 && !e.has(f.f) {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return invalid("%s requires %s", e.Type, strings.Join(missing, ", "))
	}
	return nil
}

func (e *Event) has(f field) bool {
	switch f {
	case fProfile:
		return e.Profile != ""
	case fSession:
		return e.Session != ""
	case fTitle:
		return e.Title != ""
	case fPosition:
		return true // 0 is a position
	case fRung:
		return e.Rung != ""
	case fMs:
		return e.Ms > 0
	case fCode:
		return e.Code != ""
	case fMessage:
		return e.Message != ""
	}
	return false
}

// Subject is where an event goes in the log: events.TYPE.USER, "_" for
// a service's own events, so that a consumer can take one family
// (events.view.>) or one user (events.*.*.42).
func (e *Event) Subject() string {
	u := e.User
	if u == "" {
		u = "_"
	}
	return SubjectRoot + "." + e.Type + "." + u
}

// SubjectRoot is the first token of every event's subject.
const SubjectRoot = "events"

// NewID returns a random event id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Decode reads one event strictly: unknown fields are an error, so that
// a misspelt field is reported rather than dropped.
func Decode(line []byte) (Event, error) {
	var e Event
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return Event{}, invalid("not an event: %v", err)
	}
	if d.More() {
		return Event{}, invalid("one event per line")
	}
	return e, nil
}
