package recs

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/evcache"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/jsonhttp"
	"github.com/reel-video/reel/internal/testenv"
)

// planted is a catalog of two genres with distinct casts and words, and
// two groups of viewers, each watching 9 of one genre's 12 titles (and
// now and then a few minutes of the other's). Each viewer's last title is
// held out of training. Each genre also has a brand-new title no one has
// watched.
type planted struct {
	titles  []Title
	fb      *Feedback
	heldOut map[string]string // profile: title
	group   map[string]string // profile: genre
}

func plant(viewers, perGenre int, seed uint64) planted {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := planted{fb: &Feedback{}, heldOut: map[string]string{}, group: map[string]string{}}
	genres := []struct{ name, cast, words string }{
		{"western", "Ada Stone,Bill Ford,Cal Reyes,Dot Marsh", "frontier sheriff outlaw desert ranch gunfight cattle town"},
		{"comedy", "Eve Park,Finn Lowe,Gus Bell,Hal Moon", "wedding office roommates prank party sitcom awkward family"},
	}
	for _, g := range genres {
		cast := strings.Split(g.cast, ",")
		words := strings.Fields(g.words)
		for i := range perGenre + 1 { // the last one is new
			p.titles = append(p.titles, Title{
				ID: fmt.Sprintf("%s-%02d", g.name[:1], i), Name: fmt.Sprintf("%s %d", g.name, i), Genres: []string{g.name},
				Cast:     []string{cast[i%len(cast)], cast[(i+1)%len(cast)]},
				Synopsis: fmt.Sprintf("A story of %s and %s, and a %s.", words[i%len(words)], words[(i+3)%len(words)], words[(i+5)%len(words)]),
				Maturity: "teen", Added: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC),
			})
		}
	}
	at := time.Date(2026, 11, 1, 20, 0, 0, 0, time.UTC)
	session := 0
	view := func(profile, title string, completion float64, plays int) {
		for range plays {
			session++
			s := fmt.Sprintf("s%d", session)
			at = at.Add(time.Minute)
			p.fb.Add(events.Event{Type: "view.start", Profile: profile, Title: title, Session: s, At: at})
			p.fb.Add(events.Event{Type: "view.heartbeat", Profile: profile, Title: title, Session: s, Position: completion * 3000, Duration: 3000, At: at})
		}
	}
	for gi, g := range genres {
		for v := range viewers {
			profile := fmt.Sprintf("%s-fan-%d", g.name, v)
			p.group[profile] = g.name
			own := rng.Perm(perGenre)[:9]
			for _, i := range own[:8] {
				view(profile, fmt.Sprintf("%s-%02d", g.name[:1], i), 0.6+0.4*rng.Float64(), 1+rng.IntN(2))
			}
			p.heldOut[profile] = fmt.Sprintf("%s-%02d", g.name[:1], own[8])
			if rng.IntN(3) == 0 { // a few minutes of the other genre
				other := genres[1-gi].name
				view(profile, fmt.Sprintf("%s-%02d", other[:1], rng.IntN(perGenre)), 0.05, 1)
			}
		}
	}
	return p
}

func TestRecallAt5(t *testing.T) {
	p := plant(60, 12, 7)
	m, err := Train(context.Background(), p.fb, p.titles, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trained on %d events, %d profiles, %d titles in %s", m.Events, len(m.Profiles), len(m.Titles), m.TrainTime)
	t.Log("| method | recall@5 |")
	t.Log("| --- | --- |")
	for _, method := range []string{"blend", "cf", "content"} {
		hits := 0
		for profile, held := range p.heldOut {
			if slices.Contains(m.TopPicks(profile, method, 5), held) {
				hits++
			}
		}
		recall := float64(hits) / float64(len(p.heldOut))
		t.Logf("| %s | %.3f |", method, recall)
		if method == "blend" && recall < 0.8 {
			t.Errorf("recall@5 of the blend %.3f, want at least 0.8", recall)
		}
	}
	// The brand-new title of each genre reaches that genre's fans through
	// the content path: first in their "New for you" row.
	for profile, genre := range p.group {
		rows := m.Rows(profile, "adult", 5)
		var fresh *Row
		for i := range rows {
			if rows[i].Kind == "new_for_you" {
				fresh = &rows[i]
			}
		}
		want := genre[:1] + "-12"
		if fresh == nil || len(fresh.Titles) == 0 || fresh.Titles[0].ID != want {
			t.Errorf("%s: new for you %+v, want %s first", profile, fresh, want)
			break
		}
	}
	// Its similar titles are of its genre, by content alone.
	sim, ok := m.Similar("w-12", "adult", 5)
	if !ok || len(sim) != 5 {
		t.Fatalf("similar to w-12: %v %v", sim, ok)
	}
	for _, s := range sim {
		if !strings.HasPrefix(s.ID, "w-") {
			t.Errorf("similar to the new western: %+v", sim)
		}
	}
	// Maturity: a kids profile sees none of these teen titles.
	for _, r := range m.Rows("western-fan-1", "kids", 5) {
		t.Errorf("a kids profile got row %+v", r)
	}
	if got := m.Rows("nobody", "adult", 3); len(got) != 1 || got[0].Kind != "popular" || len(got[0].Titles) != 3 {
		t.Errorf("an unknown profile's rows: %+v", got)
	}
}

// TestService trains on an archive on S3 (MinIO), stores the snapshot,
// and answers a profile's rows and a title's similar titles through a
// memcached cache.
func TestService(t *testing.T) {
	ctx := context.Background()
	s3 := testenv.S3(t)
	p := plant(20, 12, 3)
	var evs []events.Event
	for k, w := range p.fb.m {
		for i, s := range w.sessions {
			evs = append(evs, events.Event{Type: "view.heartbeat", Profile: k[0], Title: k[1], Session: s, Position: w.completion * 100, Duration: 100,
				At: time.Date(2026, 11, 2, i, 0, 0, 0, time.UTC)})
		}
	}
	job := &Job{Archive: eventList(evs), Titles: func(context.Context) ([]Title, error) { return p.titles, nil },
		Store: s3, Bucket: s3.Bucket(), Options: Options{Seed: 1}}
	m, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mc := testenv.Memcached(t)
	cache, err := evcache.New(evcache.Config{Zone: "z1", Replicas: map[string][]string{"z1": {mc.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Store: s3, Bucket: s3.Bucket(), Cache: cache, Viewer: func(r *http.Request, profile string) (string, error) {
		if r.Header.Get("Authorization") != "Bearer "+profile {
			return "", &jsonhttp.Denied{Status: 403, Code: "forbidden", Message: "not your profile"}
		}
		return "adult", nil
	}}
	mux := http.NewServeMux()
	svc.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, auth string) (int, string, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, resp.Header.Get("X-Reel-Cache"), v
	}
	if s, _, _ := get("/v1/recs/western-fan-1", "western-fan-1"); s != 503 {
		t.Errorf("before a model is loaded: %d", s)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if svc.Model().Version != m.Version {
		t.Fatalf("loaded %s, trained %s", svc.Model().Version, m.Version)
	}
	s, c, v := get("/v1/recs/western-fan-1", "western-fan-1")
	rows, _ := v["rows"].([]any)
	if s != 200 || c != "miss" || len(rows) < 3 {
		t.Fatalf("rows: %d %s %v", s, c, v)
	}
	if first := rows[0].(map[string]any); first["kind"] != "top_picks" || !strings.HasPrefix(first["titles"].([]any)[0].(map[string]any)["id"].(string), "w-") {
		t.Errorf("a western fan's top picks: %v", first)
	}
	if _, c, _ = get("/v1/recs/western-fan-1", "western-fan-1"); c != "hit" {
		t.Errorf("second answer: cache %s", c)
	}
	if s, _, _ = get("/v1/recs/western-fan-1", "comedy-fan-1"); s != 403 {
		t.Errorf("another viewer's profile: %d", s)
	}
	if s, _, v = get("/v1/titles/c-12/similar?limit=3&maturity=teen", ""); s != 200 || len(v["similar"].([]any)) != 3 {
		t.Errorf("similar: %d %v", s, v)
	}
	if s, _, _ = get("/v1/titles/c-12/similar?maturity=kids", ""); s != 200 {
		t.Errorf("similar for kids: %d", s)
	}
	for _, path := range []string{"/v1/titles/nope/similar", "/v1/titles/c-12/similar?limit=99", "/v1/titles/c-12/similar?maturity=x"} {
		if s, _, _ = get(path, ""); s != 404 && s != 400 {
			t.Errorf("%s: %d", path, s)
		}
	}
	// The popular titles are in the cache for the catalog.
	data, ok := cache.Get(PopularKey)
	if !ok || !strings.Contains(string(data), `"titles"`) {
		t.Errorf("popular titles in the cache: %s %v", data, ok)
	}
}

type eventList []events.Event

func (l eventList) Each(_ context.Context, _, _ time.Time, f func(events.Event) error) error {
	for _, e := range l {
		if err := f(e); err != nil {
			return err
		}
	}
	return nil
}
