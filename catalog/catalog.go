// Package catalog is the catalog viewers browse and search: metadata of
// published titles in the SQL store, and a bleve index on local disk kept
// in step with it, which answers search with typos tolerated, and
// browsing and look-ups while the store is down.
package catalog

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"

	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/sqlstore"
)

// Title is a published title as viewers see it: the metadata an operator
// wrote, and what the pipeline knew of the title when it was written.
type Title struct {
	ID       string   `json:"id"`
	Name     string   `json:"title"`
	Synopsis string   `json:"synopsis,omitempty"`
	Genres   []string `json:"genres,omitempty"`
	Cast     []string `json:"cast,omitempty"`
	Year     int      `json:"year,omitempty"`
	Rating   string   `json:"maturity_rating"`
	// Maturity is the profile maturity that may watch it (kids, teen,
	// adult), from Rating.
	Maturity  string    `json:"maturity"`
	Duration  float64   `json:"duration,omitempty"`
	MaxHeight int       `json:"max_height,omitempty"`
	Audio     []string  `json:"audio_languages,omitempty"`
	Subtitles []string  `json:"subtitle_languages,omitempty"`
	Poster    string    `json:"poster,omitempty"`
	Added     time.Time `json:"added"`
	Updated   time.Time `json:"updated"`
	// Manifests are the title's manifests for entitled playback, kept
	// beside its metadata (in the store and the index) so that a title
	// plays while the pipeline's store is away; not in the API's answers.
	Manifests *playback.Manifests `json:"manifests,omitempty"`
}

// Metadata is what an operator writes of a title.
type Metadata struct {
	Name     string   `json:"title"`
	Synopsis string   `json:"synopsis"`
	Genres   []string `json:"genres"`
	Cast     []string `json:"cast"`
	Year     int      `json:"year"`
	Rating   string   `json:"maturity_rating"`
}

// Facts are what the pipeline knows of a published title.
type Facts struct {
	Duration  float64
	MaxHeight int
	Audio     []string
	Subtitles []string
	Poster    string
	Manifests *playback.Manifests
}

// ErrNotPublished is what Facts returns for a title that is not (yet)
// published.
var ErrNotPublished = errors.New("not a published title")

// Maturity levels, as the accounts service's profiles have them.
const (
	Kids  = "kids"
	Teen  = "teen"
	Adult = "adult"
)

// ratings maps each maturity rating (MPA and US TV) to the youngest
// profile maturity that may watch it.
var ratings = map[string]string{
	"G": Kids, "TV-Y": Kids, "TV-Y7": Kids, "TV-G": Kids,
	"PG": Teen, "PG-13": Teen, "TV-PG": Teen, "TV-14": Teen,
	"R": Adult, "NC-17": Adult, "TV-MA": Adult, "NR": Adult,
}

// Levels lists the maturity levels a profile of maturity m may watch.
func Levels(m string) ([]string, error) {
	switch m {
	case Kids:
		return []string{Kids}, nil
	case Teen:
		return []string{Kids, Teen}, nil
	case Adult, "":
		return []string{Kids, Teen, Adult}, nil
	}
	return nil, invalid("maturity %q: use kids, teen or adult", m)
}

// Allowed reports whether a profile of maturity m may watch t.
func (t Title) Allowed(m string) bool {
	ls, err := Levels(m)
	return err == nil && slices.Contains(ls, t.Maturity)
}

// Error is a domain error: Code is invalid_input, not_found or
// not_published.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: "invalid_input", Message: fmt.Sprintf(format, args...)}
}

func notFound(id string) error {
	return &Error{Code: "not_found", Message: fmt.Sprintf("no title %q in the catalog", id)}
}

// IDPattern is what a title id (a job id) looks like.
var IDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

//go:embed migrations/*.sql
var migrations embed.FS

// Schema is the catalog tables' migrations.
var Schema = sqlstore.Migrations("catalog", migrations, "migrations")

// Config is a catalog's configuration.
type Config struct {
	DB *sqlstore.DB
	// IndexDir is the search index's folder, created when missing.
	IndexDir string
	// Facts looks a title up in the pipeline; a title that is not
	// published is refused. Nil takes every title as it is given.
	Facts func(ctx context.Context, id string) (Facts, error)
	Now   func() time.Time
	Log   *slog.Logger
}

// Catalog is the catalog service's core.
type Catalog struct {
	cfg   Config
	db    *sqlstore.DB
	index bleve.Index
	mu    sync.Mutex // one reconcile at a time
}

// Open prepares the catalog tables, opens (or creates) the index and
// brings it in step with the store; a store that does not answer leaves
// the index as it was, to be brought in step later.
func Open(ctx context.Context, c Config) (*Catalog, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.Log = c.Log.With("component", "catalog")
	if err := c.DB.Prepare(ctx, Schema); err != nil {
		return nil, err
	}
	idx, err := bleve.Open(c.IndexDir)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		idx, err = bleve.New(c.IndexDir, indexMapping())
	}
	if err != nil {
		return nil, fmt.Errorf("catalog index %s: %w", c.IndexDir, err)
	}
	cat := &Catalog{cfg: c, db: c.DB, index: idx}
	if err := cat.Reconcile(ctx); err != nil {
		c.Log.Warn("catalog index not brought in step with the store; serving what it holds", "err", err)
	}
	return cat, nil
}

// Close closes the index.
func (c *Catalog) Close() error { return c.index.Close() }

func cleanList(what string, in []string, max int) ([]string, error) {
	out := []string{}
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if utf8.RuneCountInString(s) > 64 {
			return nil, invalid("%s %q: at most 64 characters", what, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > max {
		return nil, invalid("at most %d %s", max, what)
	}
	return out, nil
}

func (m Metadata) check(now time.Time) (Metadata, error) {
	m.Name = strings.TrimSpace(m.Name)
	if m.Name == "" || utf8.RuneCountInString(m.Name) > 200 {
		return m, invalid("title: 1 to 200 characters")
	}
	if utf8.RuneCountInString(m.Synopsis) > 4000 {
		return m, invalid("synopsis: at most 4000 characters")
	}
	var err error
	if m.Genres, err = cleanList("genres", m.Genres, 10); err != nil {
		return m, err
	}
	for i, g := range m.Genres {
		m.Genres[i] = strings.ToLower(g)
	}
	if m.Cast, err = cleanList("cast", m.Cast, 50); err != nil {
		return m, err
	}
	if m.Year != 0 && (m.Year < 1878 || m.Year > now.Year()+5) {
		return m, invalid("year %d: between 1878 and %d, or left out", m.Year, now.Year()+5)
	}
	m.Rating = strings.ToUpper(strings.TrimSpace(m.Rating))
	if _, ok := ratings[m.Rating]; !ok {
		return m, invalid("maturity_rating %q: one of G, PG, PG-13, R, NC-17, TV-Y, TV-Y7, TV-G, TV-PG, TV-14, TV-MA, NR", m.Rating)
	}
	return m, nil
}

// Put writes a published title's metadata (adding it to the catalog) and
// indexes it.
func (c *Catalog) Put(ctx context.Context, id string, m Metadata) (Title, error) {
	if !IDPattern.MatchString(id) {
		return Title{}, notFound(id)
	}
	now := c.cfg.Now()
	m, err := m.check(now)
	if err != nil {
		return Title{}, err
	}
	var f Facts
	if c.cfg.Facts != nil {
		if f, err = c.cfg.Facts(ctx, id); errors.Is(err, ErrNotPublished) {
			return Title{}, &Error{Code: "not_published", Message: fmt.Sprintf("title %q is not published: metadata goes on published titles", id)}
		} else if err != nil {
			return Title{}, fmt.Errorf("look title %s up: %w", id, err)
		}
	}
	t := Title{ID: id, Name: m.Name, Synopsis: m.Synopsis, Genres: m.Genres, Cast: m.Cast, Year: m.Year, Rating: m.Rating,
		Maturity: ratings[m.Rating], Duration: f.Duration, MaxHeight: f.MaxHeight, Audio: f.Audio, Subtitles: f.Subtitles,
		Poster: f.Poster, Manifests: f.Manifests, Added: now.UTC().Truncate(time.Millisecond), Updated: now.UTC().Truncate(time.Millisecond)}
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		var added int64
		switch err := tx.QueryRowContext(ctx, `SELECT added_ms FROM catalog_titles WHERE id = ?`, id).Scan(&added); {
		case err == nil:
			t.Added = time.UnixMilli(added).UTC()
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		doc, err := json.Marshal(t)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE catalog_titles SET doc = ?, level = ?, updated_ms = ? WHERE id = ?`, string(doc), t.Maturity, t.Updated.UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err := tx.ExecContext(ctx, `INSERT INTO catalog_titles (id, doc, level, added_ms, updated_ms) VALUES (?, ?, ?, ?, ?)`,
				id, string(doc), t.Maturity, t.Added.UnixMilli(), t.Updated.UnixMilli())
			if sqlstore.IsDuplicate(err) {
				return fmt.Errorf("title %s: %w", id, sqlstore.ErrRace)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_genres WHERE title_id = ?`, id); err != nil {
			return err
		}
		for _, g := range t.Genres {
			if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_genres (title_id, genre, added_ms) VALUES (?, ?, ?)`, id, g, t.Added.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Title{}, err
	}
	// The store has it; an index that fails here is brought in step by
	// the next reconcile.
	if err := c.indexTitle(t); err != nil {
		c.cfg.Log.Warn("catalog index write failed; the next reconcile repairs it", "id", id, "err", err)
	}
	return t, nil
}

// Delete removes a title from the catalog.
func (c *Catalog) Delete(ctx context.Context, id string) error {
	err := c.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM catalog_titles WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(id)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM catalog_genres WHERE title_id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	if err := c.index.Delete(id); err != nil {
		c.cfg.Log.Warn("catalog index delete failed; the next reconcile repairs it", "id", id, "err", err)
	}
	return nil
}

// Get returns a title. When the store does not answer it comes from the
// index, and stale is true.
func (c *Catalog) Get(ctx context.Context, id string) (t Title, stale bool, err error) {
	if !IDPattern.MatchString(id) {
		return t, false, notFound(id)
	}
	var doc string
	err = c.db.Reader().QueryRowContext(ctx, `SELECT doc FROM catalog_titles WHERE id = ?`, id).Scan(&doc)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return t, false, notFound(id)
	case err != nil:
		c.cfg.Log.Warn("catalog store unreachable; answering from the index", "err", err)
		return c.fromIndex(id)
	}
	err = json.Unmarshal([]byte(doc), &t)
	return t, false, err
}

func (c *Catalog) fromIndex(id string) (Title, bool, error) {
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery([]string{id}), 1, 0, false)
	req.Fields = []string{"doc"}
	res, err := c.index.Search(req)
	if err != nil {
		return Title{}, true, err
	}
	if len(res.Hits) == 0 {
		return Title{}, true, notFound(id)
	}
	t, err := hitTitle(res.Hits[0].Fields)
	return t, true, err
}

// ListQuery asks for a page of the catalog, newest first.
type ListQuery struct {
	Genre    string
	Maturity string // only titles a profile of this maturity may watch
	Cursor   string // Next of the page before
	Limit    int    // 1..100 (20)
}

// Page is a page of the catalog.
type Page struct {
	Titles []Title `json:"titles"`
	Next   string  `json:"next,omitempty"` // the cursor of the next page
}

type cursor struct {
	Added int64
	ID    string
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{Added: 1<<63 - 1}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	added, id, ok := strings.Cut(string(b), ":")
	n, perr := strconv.ParseInt(added, 10, 64)
	if err != nil || !ok || perr != nil {
		return cursor{}, invalid("cursor %q is not one this catalog gave; start again without it", s)
	}
	return cursor{Added: n, ID: id}, nil
}

func (cu cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(cu.Added, 10) + ":" + cu.ID))
}

// List returns a page of the catalog, newest first. When the store does
// not answer, the page comes from the index and stale is true.
func (c *Catalog) List(ctx context.Context, q ListQuery) (Page, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	if q.Limit > 100 {
		return Page{}, false, invalid("limit %d: at most 100", q.Limit)
	}
	levels, err := Levels(q.Maturity)
	if err != nil {
		return Page{}, false, err
	}
	cu, err := parseCursor(q.Cursor)
	if err != nil {
		return Page{}, false, err
	}
	q.Genre = strings.ToLower(strings.TrimSpace(q.Genre))
	in := strings.TrimSuffix(strings.Repeat("?, ", len(levels)), ", ")
	args := []any{}
	query := `SELECT t.doc, t.added_ms, t.id FROM catalog_titles t`
	if q.Genre != "" {
		query += ` JOIN catalog_genres g ON g.title_id = t.id AND g.genre = ?`
		args = append(args, q.Genre)
	}
	query += ` WHERE t.level IN (` + in + `) AND (t.added_ms < ? OR (t.added_ms = ? AND t.id < ?)) ORDER BY t.added_ms DESC, t.id DESC LIMIT ?`
	for _, l := range levels {
		args = append(args, l)
	}
	args = append(args, cu.Added, cu.Added, cu.ID, q.Limit+1)
	rows, err := c.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		c.cfg.Log.Warn("catalog store unreachable; answering from the index", "err", err)
		p, err := c.listIndex(q, levels, cu)
		return p, true, err
	}
	defer rows.Close()
	page := Page{Titles: []Title{}}
	for rows.Next() {
		var doc string
		var next cursor
		if err := rows.Scan(&doc, &next.Added, &next.ID); err != nil {
			return Page{}, false, err
		}
		if len(page.Titles) == q.Limit {
			last := page.Titles[len(page.Titles)-1]
			page.Next = cursor{last.Added.UnixMilli(), last.ID}.String()
			break
		}
		var t Title
		if err := json.Unmarshal([]byte(doc), &t); err != nil {
			return Page{}, false, err
		}
		page.Titles = append(page.Titles, t)
	}
	return page, false, rows.Err()
}
