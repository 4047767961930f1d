// Package support is customer support's look-up of what happened to one
// viewer: a durable consumer of the event log that indexes every event
// in bleve, sharded by user so that one user's look-up reads one shard,
// and the HTTP API that searches a user's events and shows one playback
// session's timeline.
package support

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/reel-video/reel/events"
)

// Index is the support index: Shards bleve indexes, each holding all the
// events of the users that hash to it.
type Index struct {
	shards []bleve.Index
	all    bleve.IndexAlias
}

type layout struct {
	Shards int `json:"shards"`
}

// Open opens the index in dir, creating it with shards shards (8) if it
// is new; an existing index keeps the number it was created with.
func Open(dir string, shards int) (*Index, error) {
	if shards <= 0 {
		shards = 8
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("support index %s: %w", dir, err)
	}
	meta := filepath.Join(dir, "layout.json")
	if data, err := os.ReadFile(meta); err == nil {
		var l layout
		if err := json.Unmarshal(data, &l); err != nil || l.Shards < 1 {
			return nil, fmt.Errorf("support index %s: unreadable %s; remove the folder to index again from the log", dir, meta)
		}
		shards = l.Shards
	} else {
		data, _ := json.Marshal(layout{Shards: shards})
		if err := os.WriteFile(meta, data, 0o644); err != nil {
			return nil, fmt.Errorf("support index %s: %w", dir, err)
		}
	}
	x := &Index{all: bleve.NewIndexAlias()}
	for i := range shards {
		p := filepath.Join(dir, fmt.Sprintf("shard-%02d.bleve", i))
		idx, err := bleve.Open(p)
		if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
			idx, err = bleve.New(p, indexMapping())
		}
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("support index shard %s: %w", p, err)
		}
		x.shards = append(x.shards, idx)
		x.all.Add(idx)
	}
	return x, nil
}

// Close closes every shard.
func (x *Index) Close() {
	for _, s := range x.shards {
		s.Close()
	}
}

// Shards is the number of shards.
func (x *Index) Shards() int { return len(x.shards) }

// ShardOf is the shard a user's events are in; a service's own events
// (no user) are the user "_"'s.
func (x *Index) ShardOf(user string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	return int(h.Sum32() % uint32(len(x.shards)))
}

func indexMapping() mapping.IndexMapping {
	keyword := bleve.NewKeywordFieldMapping()
	keyword.Store = false
	keyword.IncludeInAll = false
	text := bleve.NewTextFieldMapping()
	text.Analyzer = "standard"
	text.Store = false
	number := bleve.NewNumericFieldMapping()
	number.Store = false
	number.IncludeInAll = false
	stored := bleve.NewTextFieldMapping()
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	doc := bleve.NewDocumentStaticMapping()
	for _, f := range []string{"user", "type", "family", "session", "title", "edge", "code", "profile"} {
		doc.AddFieldMappingsAt(f, keyword)
	}
	doc.AddFieldMappingsAt("text", text)
	doc.AddFieldMappingsAt("at", number)
	doc.AddFieldMappingsAt("doc", stored)
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = "standard"
	return m
}

// Add indexes events, each under its id, so that indexing one again
// replaces it: a batch delivered twice is indexed once. It returns once
// the shards have the events on disk.
func (x *Index) Add(evs []events.Event) error {
	batches := make([]*bleve.Batch, len(x.shards))
	for _, e := range evs {
		doc, err := json.Marshal(e)
		if err != nil {
			return err
		}
		family, _, _ := strings.Cut(e.Type, ".")
		words := []string{e.Type, e.Code, e.Message, e.Title, e.Edge, e.Rung, e.Source}
		for k, v := range e.Attrs {
			words = append(words, k, v)
		}
		user := e.User
		if user == "" {
			user = "_" // a service's own events, as in their subject
		}
		i := x.ShardOf(user)
		if batches[i] == nil {
			batches[i] = x.shards[i].NewBatch()
		}
		if err := batches[i].Index(e.ID, map[string]any{
			"user": user, "type": e.Type, "family": family, "session": e.Session, "title": e.Title,
			"edge": e.Edge, "code": e.Code, "profile": e.Profile, "text": strings.Join(words, " "),
			"at": float64(e.At.UnixMilli()), "doc": string(doc),
		}); err != nil {
			return err
		}
	}
	for i, b := range batches {
		if b == nil {
			continue
		}
		if err := x.shards[i].Batch(b); err != nil {
			return fmt.Errorf("support index shard %d: %w", i, err)
		}
	}
	return nil
}

// Query selects a user's events.
type Query struct {
	Text     string    // words anywhere: code, message, title, edge, rung, attributes
	Type     string    // a type (error.playback) or a family (error)
	From, To time.Time // zero: open
	Limit    int       // 100
}

// Result is a page of events, newest first, and how many matched.
type Result struct {
	Events []events.Event `json:"events"`
	Total  uint64         `json:"total"`
}

// UserEvents searches one user's events, in that user's shard only.
func (x *Index) UserEvents(ctx context.Context, user string, q Query) (Result, error) {
	must := []query.Query{term("user", user)}
	if q.Type != "" {
		if strings.Contains(q.Type, ".") {
			must = append(must, term("type", q.Type))
		} else {
			must = append(must, term("family", q.Type))
		}
	}
	if t := strings.TrimSpace(q.Text); t != "" {
		m := bleve.NewMatchQuery(t)
		m.SetField("text")
		m.SetOperator(query.MatchQueryOperatorAnd)
		must = append(must, m)
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		var lo, hi *float64
		if !q.From.IsZero() {
			v := float64(q.From.UnixMilli())
			lo = &v
		}
		if !q.To.IsZero() {
			v := float64(q.To.UnixMilli())
			hi = &v
		}
		incl := true
		r := bleve.NewNumericRangeInclusiveQuery(lo, hi, &incl, &incl)
		r.SetField("at")
		must = append(must, r)
	}
	return search(ctx, x.shards[x.ShardOf(user)], bleve.NewConjunctionQuery(must...), q.Limit)
}

// Session is one playback session's events, newest first. A session id
// does not say whose it is, so this reads every shard.
func (x *Index) Session(ctx context.Context, id string) (Result, error) {
	return search(ctx, x.all, term("session", id), 1000)
}

func term(field, v string) query.Query {
	t := bleve.NewTermQuery(v)
	t.SetField(field)
	return t
}

func search(ctx context.Context, idx bleve.Index, q query.Query, limit int) (Result, error) {
	if limit <= 0 {
		limit = 100
	}
	req := bleve.NewSearchRequestOptions(q, limit, 0, false)
	req.Fields = []string{"doc"}
	req.SortBy([]string{"-at", "-_id"})
	res, err := idx.SearchInContext(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("support search: %w", err)
	}
	out := Result{Events: []events.Event{}, Total: res.Total}
	for _, h := range res.Hits {
		s, ok := h.Fields["doc"].(string)
		if !ok {
			return Result{}, fmt.Errorf("support index: hit %s without its stored event", h.ID)
		}
		var e events.Event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return Result{}, err
		}
		out.Events = append(out.Events, e)
	}
	return out, nil
}

// Count is the number of events indexed.
func (x *Index) Count() (uint64, error) { return x.all.DocCount() }

// Indexer is the durable consumer that feeds the index.
type Indexer struct {
	Index *Index
	Log   *slog.Logger
}

// Handle indexes a batch of deliveries.
func (ix *Indexer) Handle(_ context.Context, ds []events.Delivery) error {
	evs := make([]events.Event, 0, len(ds))
	for _, d := range ds {
		var e events.Event
		if err := json.Unmarshal(d.Data, &e); err != nil || e.ID == "" {
			// Not an event the collector wrote: index it under its
			// sequence so that it is findable, once.
			e = events.Event{ID: "seq-" + strconv.FormatUint(d.Seq, 10), Type: "error.unreadable_event", Message: string(d.Data), At: time.Now()}
		}
		evs = append(evs, e)
	}
	return ix.Index.Add(evs)
}
