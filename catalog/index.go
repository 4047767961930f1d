package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
)

// indexMapping says how titles are indexed: names, cast, genres and
// synopsis as English text; maturity as a keyword; the times as numbers
// for sorting; the whole title stored (not indexed) so that the index
// alone can answer.
func indexMapping() mapping.IndexMapping {
	text := bleve.NewTextFieldMapping()
	text.Analyzer = "en"
	text.Store = false
	keyword := bleve.NewKeywordFieldMapping()
	keyword.Store = false
	number := bleve.NewNumericFieldMapping()
	number.Store = true
	stored := bleve.NewTextFieldMapping()
	stored.Index = false
	stored.Store = true
	stored.IncludeInAll = false
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("name", text)
	doc.AddFieldMappingsAt("cast", text)
	doc.AddFieldMappingsAt("genres", text)
	doc.AddFieldMappingsAt("synopsis", text)
	doc.AddFieldMappingsAt("level", keyword)
	doc.AddFieldMappingsAt("genre", keyword)
	doc.AddFieldMappingsAt("added", number)
	doc.AddFieldMappingsAt("updated", number)
	doc.AddFieldMappingsAt("doc", stored)
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = "en"
	return m
}

// indexTitle writes (or replaces) a title in the index.
func (c *Catalog) indexTitle(t Title) error { return c.index.Index(t.ID, indexDoc(t)) }

// indexDoc is a title's document in the index.
func indexDoc(t Title) map[string]any {
	doc, _ := json.Marshal(t)
	return map[string]any{
		"name": t.Name, "cast": strings.Join(t.Cast, " . "), "genres": strings.Join(t.Genres, " "), "synopsis": t.Synopsis,
		"level": t.Maturity, "genre": t.Genres, "added": float64(t.Added.UnixMilli()), "updated": float64(t.Updated.UnixMilli()),
		"doc": string(doc),
	}
}

func hitTitle(fields map[string]any) (Title, error) {
	var t Title
	s, ok := fields["doc"].(string)
	if !ok {
		return t, fmt.Errorf("catalog index: a hit without its stored title")
	}
	err := json.Unmarshal([]byte(s), &t)
	return t, err
}

// levelQuery matches the titles of the given maturity levels.
func levelQuery(levels []string) query.Query {
	qs := make([]query.Query, len(levels))
	for i, l := range levels {
		tq := bleve.NewTermQuery(l)
		tq.SetField("level")
		qs[i] = tq
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// Hit is a search result.
type Hit struct {
	Title
	Score float64 `json:"score"`
}

// Search finds titles by name, cast, genre and synopsis, tolerating typos
// (one edit in words of 3 to 5 letters, two in longer ones), best first.
// It reads the index alone, so it answers while the store is down.
func (c *Catalog) Search(ctx context.Context, text, maturity string, limit int) ([]Hit, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 200 {
		return nil, invalid("q: 1 to 200 characters to search for")
	}
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		return nil, invalid("limit %d: at most 100", limit)
	}
	levels, err := Levels(maturity)
	if err != nil {
		return nil, err
	}
	field := func(name string, boost float64) query.Query {
		q := bleve.NewMatchQuery(text)
		q.SetField(name)
		q.SetAutoFuzziness(true)
		q.SetBoost(boost)
		return q
	}
	exact := bleve.NewMatchPhraseQuery(text)
	exact.SetField("name")
	exact.SetBoost(5)
	match := bleve.NewDisjunctionQuery(exact, field("name", 3), field("cast", 2), field("genres", 2), field("synopsis", 0.5))
	q := bleve.NewConjunctionQuery(match, levelQuery(levels))
	req := bleve.NewSearchRequestOptions(q, limit, 0, false)
	req.Fields = []string{"doc"}
	res, err := c.index.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("catalog search: %w", err)
	}
	out := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		t, err := hitTitle(h.Fields)
		if err != nil {
			return nil, err
		}
		out = append(out, Hit{Title: t, Score: math.Round(h.Score*1000) / 1000})
	}
	return out, nil
}

// listIndex is List from the index, for when the store does not answer.
func (c *Catalog) listIndex(q ListQuery, levels []string, cu cursor) (Page, error) {
	max := float64(cu.Added)
	incl := true
	older := bleve.NewNumericRangeInclusiveQuery(nil, &max, nil, &incl)
	older.SetField("added")
	must := []query.Query{older, levelQuery(levels)}
	if q.Genre != "" {
		g := bleve.NewTermQuery(q.Genre)
		g.SetField("genre")
		must = append(must, g)
	}
	// Titles added in the cursor's millisecond and not before it in the
	// order are skipped below; fetch enough to fill the page past them.
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(must...), q.Limit+1+64, 0, false)
	req.SortBy([]string{"-added", "-_id"})
	req.Fields = []string{"doc"}
	res, err := c.index.Search(req)
	if err != nil {
		return Page{}, err
	}
	page := Page{Titles: []Title{}}
	for _, h := range res.Hits {
		t, err := hitTitle(h.Fields)
		if err != nil {
			return Page{}, err
		}
		if t.Added.UnixMilli() == cu.Added && t.ID >= cu.ID {
			continue
		}
		if len(page.Titles) == q.Limit {
			last := page.Titles[len(page.Titles)-1]
			page.Next = cursor{last.Added.UnixMilli(), last.ID}.String()
			break
		}
		page.Titles = append(page.Titles, t)
	}
	return page, nil
}

// Reconcile brings the index in step with the store: titles missing or
// older in the index are indexed, titles no longer in the store removed.
// Writes by other catalog instances reach this one's index this way.
func (c *Catalog) Reconcile(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := map[string]int64{}
	rows, err := c.db.Reader().QueryContext(ctx, `SELECT id, updated_ms FROM catalog_titles`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var upd int64
		if err := rows.Scan(&id, &upd); err != nil {
			rows.Close()
			return err
		}
		want[id] = upd
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	have := map[string]int64{}
	n, err := c.index.DocCount()
	if err != nil {
		return err
	}
	if n > 0 {
		req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), int(n), 0, false)
		req.Fields = []string{"updated"}
		res, err := c.index.SearchInContext(ctx, req)
		if err != nil {
			return err
		}
		for _, h := range res.Hits {
			u, _ := h.Fields["updated"].(float64)
			have[h.ID] = int64(u)
		}
	}
	batch := c.index.NewBatch()
	for id := range have {
		if _, ok := want[id]; !ok {
			batch.Delete(id)
		}
	}
	for id, upd := range want {
		if have[id] == upd {
			continue
		}
		var doc string
		if err := c.db.Reader().QueryRowContext(ctx, `SELECT doc FROM catalog_titles WHERE id = ?`, id).Scan(&doc); err != nil {
			return err
		}
		var t Title
		if err := json.Unmarshal([]byte(doc), &t); err != nil {
			return fmt.Errorf("catalog title %s: %w", id, err)
		}
		if err := batch.Index(id, indexDoc(t)); err != nil {
			return err
		}
	}
	if batch.Size() > 0 {
		c.cfg.Log.Info("catalog index brought in step", "changes", batch.Size())
	}
	return c.index.Batch(batch)
}

// Run reconciles the index with the store every interval until ctx
// ends.
func (c *Catalog) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Log.Warn("catalog reconcile failed; serving the index as it is", "err", err)
			}
		}
	}
}
