package recs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Scored is a title (by its index in the model) and a score.
type Scored struct {
	Index int     `json:"i"`
	Score float64 `json:"s"`
}

// Watched is one title a profile watched, with the confidence of that
// feedback, and when it was last watched.
type Watched struct {
	Title      int       `json:"t"`
	Confidence float64   `json:"c"`
	Last       time.Time `json:"l,omitzero"`
}

// TitleInfo is a title in the model: its metadata, how many profiles
// watched it and how much (popularity), and its similar titles by
// collaborative filtering, by content, and blended.
type TitleInfo struct {
	Title
	Views   int      `json:"views"`
	Score   float64  `json:"popularity"`
	CF      []Scored `json:"cf,omitempty"`
	Content []Scored `json:"content,omitempty"`
	Similar []Scored `json:"similar,omitempty"`
}

// Profile is a profile in the model: its row of factors and what it
// watched.
type Profile struct {
	Row     int       `json:"row"`
	Watched []Watched `json:"watched"`
}

// Model is a trained recommender, as stored in a snapshot.
type Model struct {
	Version   string              `json:"version"`
	Trained   time.Time           `json:"trained"`
	TrainTime time.Duration       `json:"train_time_ns"`
	Events    int                 `json:"events"`
	Factors   int                 `json:"factors"`
	Blend     float64             `json:"blend"`
	MinViews  int                 `json:"min_views"`
	Titles    []TitleInfo         `json:"titles"`
	Profiles  map[string]*Profile `json:"profiles"`
	X         [][]float64         `json:"x"` // profile factors, by Profile.Row
	Y         [][]float64         `json:"y"` // title factors, by title index
	Popular   []Scored            `json:"popular"`

	index map[string]int
	y     *mat.Dense
}

// prepare builds what answering needs from what is stored.
func (m *Model) prepare() {
	m.index = make(map[string]int, len(m.Titles))
	for i, t := range m.Titles {
		m.index[t.ID] = i
	}
	if len(m.Y) > 0 && m.Factors > 0 {
		m.y = mat.NewDense(len(m.Y), m.Factors, nil)
		for i, r := range m.Y {
			m.y.SetRow(i, r)
		}
	}
}

// blendSimilar blends a title's two similarity lists: both methods where
// both titles have enough viewers, content alone where either is new.
func (m *Model) blendSimilar(i int) []Scored {
	scores := map[int]float64{}
	warm := func(j int) bool { return m.Titles[j].Views >= m.MinViews }
	for _, s := range m.Titles[i].Content {
		if warm(i) && warm(s.Index) {
			scores[s.Index] += (1 - m.Blend) * s.Score
		} else {
			scores[s.Index] += s.Score
		}
	}
	if warm(i) {
		for _, s := range m.Titles[i].CF {
			if warm(s.Index) {
				scores[s.Index] += m.Blend * s.Score
			}
		}
	}
	out := make([]Scored, 0, len(scores))
	for j, s := range scores {
		out = append(out, Scored{Index: j, Score: s})
	}
	slices.SortFunc(out, func(a, b Scored) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return a.Index - b.Index
	})
	return out[:min(len(out), 20)]
}

// Rec is one recommended title.
type Rec struct {
	ID     string   `json:"id"`
	Name   string   `json:"title"`
	Genres []string `json:"genres,omitempty"`
	Score  float64  `json:"score"`
}

// Row is one row of a profile's home page.
type Row struct {
	Kind   string `json:"kind"`  // top_picks, new_for_you, because_you_watched, popular
	Title  string `json:"title"` // the row's heading
	Source string `json:"source,omitempty"`
	Titles []Rec  `json:"titles"`
}

var levels = map[string]int{"kids": 0, "teen": 1, "adult": 2}

// allowed reports whether a profile of maturity may watch title i.
func (m *Model) allowed(i int, maturity string) bool {
	pl, ok := levels[maturity]
	if !ok {
		pl = 2
	}
	tl, ok := levels[m.Titles[i].Maturity]
	if !ok {
		tl = 2
	}
	return tl <= pl
}

func (m *Model) recs(list []Scored, n int, keep func(int) bool) []Rec {
	out := []Rec{}
	for _, s := range list {
		if len(out) == n {
			break
		}
		if keep(s.Index) {
			t := m.Titles[s.Index]
			out = append(out, Rec{ID: t.ID, Name: t.Name, Genres: t.Genres, Score: s.Score})
		}
	}
	return out
}

// Scores are a profile's scores of every title: collaborative, content,
// and blended, with what it watched.
type Scores struct {
	CF, Content, Blend []float64
	Watched            map[int]bool
}

// Score scores every title for profile; nil for a profile the model does
// not know.
func (m *Model) Score(profile string) *Scores {
	p := m.Profiles[profile]
	if p == nil || m.y == nil {
		return nil
	}
	n := len(m.Titles)
	s := &Scores{CF: make([]float64, n), Content: make([]float64, n), Blend: make([]float64, n), Watched: map[int]bool{}}
	var cf mat.VecDense
	cf.MulVec(m.y, mat.NewVecDense(m.Factors, m.X[p.Row]))
	for _, w := range p.Watched {
		s.Watched[w.Title] = true
		for _, c := range m.Titles[w.Title].Content {
			s.Content[c.Index] += w.Confidence * c.Score
		}
	}
	maxCF, maxContent := 0.0, 0.0
	for j := range n {
		s.CF[j] = cf.AtVec(j)
		maxCF = max(maxCF, s.CF[j])
		maxContent = max(maxContent, s.Content[j])
	}
	for j := range n {
		c, t := 0.0, 0.0
		if maxCF > 0 {
			c = max(s.CF[j], 0) / maxCF
		}
		if maxContent > 0 {
			t = s.Content[j] / maxContent
		}
		s.CF[j], s.Content[j] = c, t
		if m.Titles[j].Views >= m.MinViews {
			s.Blend[j] = m.Blend*c + (1-m.Blend)*t
		} else {
			s.Blend[j] = (1 - m.Blend) * t
		}
	}
	return s
}

// Rows are a profile's home-page rows, n titles each, only of titles a
// profile of maturity may watch: top picks, new for you, because you
// watched (titles the profile has not watched), and popular.
func (m *Model) Rows(profile, maturity string, n int) []Row {
	rows := []Row{}
	s := m.Score(profile)
	unwatched := func(i int) bool { return m.allowed(i, maturity) && (s == nil || !s.Watched[i]) }
	if s != nil {
		rank := func(score []float64, ok func(int) bool) []Scored {
			return top(len(m.Titles), len(m.Titles), func(j int) (float64, bool) { return score[j], ok(j) && score[j] > 0 })
		}
		if picks := m.recs(rank(s.Blend, func(int) bool { return true }), n, unwatched); len(picks) > 0 {
			rows = append(rows, Row{Kind: "top_picks", Title: "Top picks for you", Titles: picks})
		}
		cold := func(j int) bool { return m.Titles[j].Views < m.MinViews }
		if fresh := m.recs(rank(s.Content, cold), n, unwatched); len(fresh) > 0 {
			rows = append(rows, Row{Kind: "new_for_you", Title: "New for you", Titles: fresh})
		}
		// The two titles watched last.
		watched := slices.Clone(m.Profiles[profile].Watched)
		slices.SortStableFunc(watched, func(a, b Watched) int { return b.Last.Compare(a.Last) })
		for _, w := range watched[:min(2, len(watched))] {
			t := m.Titles[w.Title]
			if sim := m.recs(t.Similar, n, unwatched); len(sim) > 0 {
				rows = append(rows, Row{Kind: "because_you_watched", Title: "Because you watched " + t.Name, Source: t.ID, Titles: sim})
			}
		}
	}
	// What everyone watches, watched or not.
	if pop := m.recs(m.Popular, n, func(i int) bool { return m.allowed(i, maturity) }); len(pop) > 0 {
		rows = append(rows, Row{Kind: "popular", Title: "Popular on Reel", Titles: pop})
	}
	return rows
}

// TopPicks is a profile's top n titles, by the blend, by collaborative
// filtering alone or by content alone (method blend, cf, content).
func (m *Model) TopPicks(profile, method string, n int) []string {
	s := m.Score(profile)
	if s == nil {
		return nil
	}
	score := map[string][]float64{"blend": s.Blend, "cf": s.CF, "content": s.Content}[method]
	var out []string
	for _, r := range top(len(m.Titles), len(m.Titles), func(j int) (float64, bool) { return score[j], !s.Watched[j] }) {
		if len(out) == n {
			break
		}
		out = append(out, m.Titles[r.Index].ID)
	}
	return out
}

// Similar is a title's similar titles a profile of maturity may watch; ok
// is false for a title the model does not know.
func (m *Model) Similar(id, maturity string, n int) ([]Rec, bool) {
	i, ok := m.index[id]
	if !ok {
		return nil, false
	}
	return m.recs(m.Titles[i].Similar, n, func(j int) bool { return m.allowed(j, maturity) }), true
}

// PopularTitles are the most watched titles, with their maturity, for
// the catalog to show while the recommender is away.
func (m *Model) PopularTitles(n int) []Title {
	var out []Title
	for _, s := range m.Popular[:min(n, len(m.Popular))] {
		out = append(out, m.Titles[s.Index].Title)
	}
	return out
}

// Objects is the object store snapshots are kept in.
type Objects interface {
	PutBytes(ctx context.Context, bucket, key string, data []byte, contentType string) error
	GetBytes(ctx context.Context, bucket, key string, max int64) ([]byte, error)
	List(ctx context.Context, bucket, prefix string) ([]string, error)
}

const (
	snapshotPrefix = "recs/models/"
	currentKey     = "recs/current"
	maxSnapshot    = 2 << 30
)

// Save stores m as a snapshot and makes it the current one.
func Save(ctx context.Context, store Objects, bucket string, m *Model) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(m); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	key := snapshotPrefix + m.Version + ".json.gz"
	if err := store.PutBytes(ctx, bucket, key, buf.Bytes(), "application/gzip"); err != nil {
		return fmt.Errorf("store the model snapshot: %w", err)
	}
	if err := store.PutBytes(ctx, bucket, currentKey, []byte(m.Version), "text/plain"); err != nil {
		return fmt.Errorf("make %s the current model: %w", m.Version, err)
	}
	return nil
}

// Current is the current snapshot's version; "" when none was stored.
func Current(ctx context.Context, store Objects, bucket string) (string, error) {
	found, err := store.List(ctx, bucket, currentKey)
	if err != nil || len(found) == 0 {
		return "", err
	}
	v, err := store.GetBytes(ctx, bucket, currentKey, 256)
	return string(bytes.TrimSpace(v)), err
}

// Load reads a snapshot.
func Load(ctx context.Context, store Objects, bucket, version string) (*Model, error) {
	data, err := store.GetBytes(ctx, bucket, snapshotPrefix+version+".json.gz", maxSnapshot)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", version, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", version, err)
	}
	var m Model
	if err := json.NewDecoder(io.LimitReader(zr, 8<<30)).Decode(&m); err != nil {
		return nil, fmt.Errorf("read model %s: %w", version, err)
	}
	m.prepare()
	return &m, nil
}
