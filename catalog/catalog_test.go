package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/sqlstore"
)

// library is a small catalog with cast and genres to search.
var library = []struct {
	id string
	m  catalog.Metadata
}{
	{"bbb", catalog.Metadata{Name: "Big Buck Bunny", Synopsis: "A giant rabbit takes revenge on three rodents.", Genres: []string{"Comedy", "Animation"}, Cast: []string{"Sacha Goedegebure"}, Year: 2008, Rating: "G"}},
	{"sintel", catalog.Metadata{Name: "Sintel", Synopsis: "A girl searches for her lost baby dragon.", Genres: []string{"Fantasy", "Animation"}, Cast: []string{"Halina Reijn", "Thom Hoffman"}, Year: 2010, Rating: "PG-13"}},
	{"tos", catalog.Metadata{Name: "Tears of Steel", Synopsis: "Warriors and scientists gather in Amsterdam to save the world from robots.", Genres: []string{"Science Fiction"}, Cast: []string{"Derek de Lint", "Sergio Hasselbaink"}, Year: 2012, Rating: "TV-MA"}},
	{"ed", catalog.Metadata{Name: "Elephants Dream", Synopsis: "Two men explore a surreal machine.", Genres: []string{"Science Fiction", "Animation"}, Cast: []string{"Tygo Gernandt", "Cas Jansen"}, Year: 2006, Rating: "PG"}},
	{"cosmos", catalog.Metadata{Name: "Cosmos Laundromat", Synopsis: "A suicidal sheep meets a salesman who offers him a new life.", Genres: []string{"Drama", "Animation"}, Cast: []string{"Pierce Pakkie"}, Year: 2015, Rating: "R"}},
}

func open(t *testing.T, db *sqlstore.DB, facts func(context.Context, string) (catalog.Facts, error)) *catalog.Catalog {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	c, err := catalog.Open(context.Background(), catalog.Config{DB: db, IndexDir: filepath.Join(t.TempDir(), "index"), Facts: facts,
		Now: func() time.Time { return time.UnixMilli(clock.Add(1000)) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fill(t *testing.T, c *catalog.Catalog) {
	t.Helper()
	for _, l := range library {
		if _, err := c.Put(context.Background(), l.id, l.m); err != nil {
			t.Fatalf("put %s: %v", l.id, err)
		}
	}
}

func ids(ts []catalog.Title) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func code(err error) string {
	var e *catalog.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestCatalog(t *testing.T) {
	testenv.EachSQL(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		facts := func(_ context.Context, id string) (catalog.Facts, error) {
			if id == "unpublished" {
				return catalog.Facts{}, catalog.ErrNotPublished
			}
			return catalog.Facts{Duration: 60, MaxHeight: 1080, Audio: []string{"en", "fr"}, Subtitles: []string{"de"}}, nil
		}
		c := open(t, db, facts)
		fill(t, c)
		if _, err := c.Put(ctx, "unpublished", library[0].m); code(err) != "not_published" {
			t.Fatalf("metadata on an unpublished title: %v", err)
		}
		for _, bad := range []catalog.Metadata{{Name: "", Rating: "G"}, {Name: "x", Rating: "XXX"}, {Name: "x", Rating: "G", Year: 1500}} {
			if _, err := c.Put(ctx, "x", bad); code(err) != "invalid_input" {
				t.Errorf("bad metadata %+v: %v", bad, err)
			}
		}
		if _, err := c.Put(ctx, "../etc", library[0].m); code(err) != "not_found" {
			t.Errorf("a path as id: %v", err)
		}
		// Pages of two, newest first, each title once.
		var seen []string
		cur := ""
		for {
			p, stale, err := c.List(ctx, catalog.ListQuery{Limit: 2, Cursor: cur})
			if err != nil || stale {
				t.Fatalf("list: %v, stale %v", err, stale)
			}
			seen = append(seen, ids(p.Titles)...)
			if cur = p.Next; cur == "" {
				break
			}
		}
		if fmt.Sprint(seen) != "[cosmos ed tos sintel bbb]" {
			t.Fatalf("pages: %v", seen)
		}
		p, _, err := c.List(ctx, catalog.ListQuery{Genre: "Animation", Maturity: catalog.Teen})
		if err != nil || fmt.Sprint(ids(p.Titles)) != "[ed sintel bbb]" {
			t.Fatalf("animation for a teen profile: %v %v", ids(p.Titles), err)
		}
		p, _, _ = c.List(ctx, catalog.ListQuery{Maturity: catalog.Kids})
		if fmt.Sprint(ids(p.Titles)) != "[bbb]" {
			t.Fatalf("for a kids profile: %v", ids(p.Titles))
		}
		if _, _, err := c.List(ctx, catalog.ListQuery{Cursor: "garbage!"}); code(err) != "invalid_input" {
			t.Fatalf("a bad cursor: %v", err)
		}
		got, stale, err := c.Get(ctx, "sintel")
		if err != nil || stale || got.Name != "Sintel" || got.Maturity != catalog.Teen || got.MaxHeight != 1080 || len(got.Audio) != 2 || got.Genres[0] != "fantasy" {
			t.Fatalf("get: %+v, %v, %v", got, stale, err)
		}
		// A change keeps the title's place (its added time).
		m := library[1].m
		m.Synopsis = "A young woman searches for her dragon."
		upd, err := c.Put(ctx, "sintel", m)
		if err != nil || !upd.Added.Equal(got.Added) || !upd.Updated.After(got.Updated) {
			t.Fatalf("update: %+v, %v", upd, err)
		}
		if err := c.Delete(ctx, "cosmos"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Get(ctx, "cosmos"); code(err) != "not_found" {
			t.Fatalf("get after delete: %v", err)
		}
		if err := c.Delete(ctx, "cosmos"); code(err) != "not_found" {
			t.Fatalf("delete twice: %v", err)
		}
		if hits, _ := c.Search(ctx, "laundromat", "", 10); len(hits) != 0 {
			t.Fatalf("a deleted title is found: %v", hits)
		}
	})
}

func TestSearchToleratesTypos(t *testing.T) {
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{DSN: "sqlite:" + filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := open(t, db, nil)
	fill(t, c)
	for _, q := range []struct{ text, maturity, want string }{
		{"big buck bunny", "", "bbb"},
		{"big buk buny", "", "bbb"},      // title, typos
		{"tears of stel", "", "tos"},     // title, a letter missing
		{"halina rejin", "", "sintel"},   // cast, letters swapped
		{"Derek de Lnit", "", "tos"},     // cast
		{"sience fiction", "", "tos"},    // genre, a letter missing: both match, the one with it alone first
		{"laundromat", "", "cosmos"},     // title, one word
		{"dragon", "", "sintel"},         // synopsis
		{"sience fiction", "teen", "ed"}, // a teen profile does not see TV-MA
	} {
		hits, err := c.Search(context.Background(), q.text, q.maturity, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID != q.want {
			var got []string
			for _, h := range hits {
				got = append(got, fmt.Sprintf("%s(%.2f)", h.ID, h.Score))
			}
			t.Errorf("search %q (%s): %v, want %s first", q.text, q.maturity, got, q.want)
		}
	}
	if _, err := c.Search(context.Background(), "  ", "", 5); code(err) != "invalid_input" {
		t.Errorf("an empty search: %v", err)
	}
}

// TestCatalogAnswersWhileTheStoreIsDown stops MariaDB: search answers
// from the index as before, look-ups and pages come from the index marked
// stale, writes fail with 503; when the store returns, answers are fresh
// again.
func TestCatalogAnswersWhileTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	m := testenv.MariaDB(t, devstack.MariaDBOptions{})
	db, err := sqlstore.Open(ctx, sqlstore.Config{DSN: m.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := open(t, db, nil)
	fill(t, c)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux := http.NewServeMux()
		(&catalog.Handler{Cat: c, Admin: func(*http.Request) bool { return true }}).Routes(mux)
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Reel-Fallback")
	}
	m.Stop()
	for _, path := range []string{"/v1/catalog/search?q=halina+rejin", "/v1/catalog/search?q=big+buk+buny&maturity=kids"} {
		if st, fb := get(path); st != 200 || fb != "" {
			t.Errorf("%s with the store down: %d %q", path, st, fb)
		}
	}
	for _, path := range []string{"/v1/catalog/tos", "/v1/catalog?genre=animation&limit=2"} {
		if st, fb := get(path); st != 200 || fb != "stale" {
			t.Errorf("%s with the store down: %d, fallback %q; want 200 stale", path, st, fb)
		}
	}
	p, stale, err := c.List(ctx, catalog.ListQuery{Limit: 2})
	if err != nil || !stale || fmt.Sprint(ids(p.Titles)) != "[cosmos ed]" {
		t.Fatalf("first page from the index: %v %v %v", ids(p.Titles), stale, err)
	}
	p, _, _ = c.List(ctx, catalog.ListQuery{Limit: 5, Cursor: p.Next})
	if fmt.Sprint(ids(p.Titles)) != "[tos sintel bbb]" {
		t.Fatalf("next page from the index: %v", ids(p.Titles))
	}
	if _, err := c.Put(ctx, "new", library[0].m); err == nil {
		t.Fatal("a write with the store down succeeded")
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, fb := get("/v1/catalog/tos")
		if st == 200 && fb == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the store returned: %d %q", st, fb)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReconcile keeps a second instance's index in step with writes made
// through the first.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Config{DSN: "sqlite:" + filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := open(t, db, nil), open(t, db, nil)
	fill(t, a)
	if hits, _ := b.Search(ctx, "sintel", "", 5); len(hits) != 0 {
		t.Fatalf("b found %v before reconciling", hits)
	}
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if hits, _ := b.Search(ctx, "sintel", "", 5); len(hits) != 1 {
		t.Fatalf("b after reconciling: %v", hits)
	}
	if err := a.Delete(ctx, "sintel"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if hits, _ := b.Search(ctx, "sintel", "", 5); len(hits) != 0 {
		t.Fatalf("b still finds a deleted title: %v", hits)
	}
}
