// Package recs is the recommender: a batch job that turns the event
// archive's viewing into implicit feedback and the catalog's metadata
// into TF-IDF vectors, trains collaborative filtering (implicit-feedback
// ALS, item-item cosine over its factors) and content-based similarity
// with gonum, and stores the blended model as a snapshot on S3; and the
// service that answers a profile's rows and a title's similar titles
// from a cache in front of that snapshot.
package recs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/reel-video/reel/events"
)

// Title is what the recommender knows of a catalog title.
type Title struct {
	ID       string    `json:"id"`
	Name     string    `json:"title"`
	Genres   []string  `json:"genres,omitempty"`
	Cast     []string  `json:"cast,omitempty"`
	Synopsis string    `json:"-"`
	Maturity string    `json:"maturity"` // kids, teen or adult: who may watch it
	Added    time.Time `json:"added"`
}

// Feedback gathers implicit feedback from viewing events: per profile
// and title, how much of it was watched (the furthest position over the
// duration) and in how many sessions (rewatches).
type Feedback struct {
	m      map[[2]string]*watch
	Events int // view events counted
}

type watch struct {
	completion float64
	sessions   []string // at most maxSessions
	last       time.Time
}

const maxSessions = 32

// Add counts one event; events of other families are ignored.
func (f *Feedback) Add(e events.Event) {
	if !strings.HasPrefix(e.Type, "view.") || e.Profile == "" || e.Title == "" {
		return
	}
	if f.m == nil {
		f.m = map[[2]string]*watch{}
	}
	f.Events++
	k := [2]string{e.Profile, e.Title}
	w := f.m[k]
	if w == nil {
		w = &watch{}
		f.m[k] = w
	}
	if e.Session != "" && len(w.sessions) < maxSessions && !slices.Contains(w.sessions, e.Session) {
		w.sessions = append(w.sessions, e.Session)
	}
	if e.Duration > 0 {
		w.completion = max(w.completion, min(e.Position/e.Duration, 1))
	}
	if e.At.After(w.last) {
		w.last = e.At
	}
}

// Options are the training's settings; zero values are the defaults.
type Options struct {
	Factors    int     // latent factors (16)
	Iterations int     // ALS sweeps (12)
	Lambda     float64 // regularisation, per feedback of a row (0.5)
	Alpha      float64 // confidence per unit of feedback (20)
	// Blend is the weight of collaborative filtering against content
	// (0.7); titles seen by fewer than MinViews profiles (3) are scored
	// by content alone.
	Blend    float64
	MinViews int
	Seed     uint64
	// Vocabulary caps the TF-IDF terms, the most common first (4096).
	Vocabulary int
}

func (o *Options) defaults() {
	if o.Factors == 0 {
		o.Factors = 16
	}
	if o.Iterations == 0 {
		o.Iterations = 12
	}
	if o.Lambda == 0 {
		o.Lambda = 0.5
	}
	if o.Alpha == 0 {
		o.Alpha = 20
	}
	if o.Blend == 0 {
		o.Blend = 0.7
	}
	if o.MinViews == 0 {
		o.MinViews = 3
	}
	if o.Vocabulary == 0 {
		o.Vocabulary = 4096
	}
}

// similarKept is how many similar titles the model keeps per title and
// method.
const similarKept = 50

// Train builds a model from feedback and the catalog's titles. Viewing of
// titles no longer in the catalog is left out.
func Train(ctx context.Context, fb *Feedback, titles []Title, o Options) (*Model, error) {
	o.defaults()
	if len(titles) == 0 {
		return nil, errors.New("train: the catalog has no titles")
	}
	start := time.Now()
	m := &Model{Version: start.UTC().Format("20060102T150405.000Z"), Trained: start.UTC(), Events: fb.Events,
		Factors: o.Factors, Blend: o.Blend, MinViews: o.MinViews, Profiles: map[string]*Profile{}}
	index := map[string]int{}
	for _, t := range titles {
		if _, dup := index[t.ID]; dup {
			continue
		}
		index[t.ID] = len(m.Titles)
		m.Titles = append(m.Titles, TitleInfo{Title: t})
	}
	n := len(m.Titles)
	// Implicit feedback: confidence 1 + alpha * (completion + rewatches/2).
	var users [][]Watched
	keys := make([][2]string, 0, len(fb.m))
	for k := range fb.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	var profiles []string
	for _, k := range keys {
		ti, ok := index[k[1]]
		if !ok {
			continue
		}
		w := fb.m[k]
		p := m.Profiles[k[0]]
		if p == nil {
			p = &Profile{Row: len(profiles)}
			m.Profiles[k[0]] = p
			profiles = append(profiles, k[0])
			users = append(users, nil)
		}
		rewatches := float64(max(len(w.sessions)-1, 0))
		c := 1 + o.Alpha*(w.completion+rewatches/2)
		users[p.Row] = append(users[p.Row], Watched{Title: ti, Confidence: c, Last: w.last})
		m.Titles[ti].Views++
		m.Titles[ti].Score += w.completion + rewatches
	}
	items := make([][]Watched, n)
	for u, row := range users {
		for _, w := range row {
			items[w.Title] = append(items[w.Title], Watched{Title: u, Confidence: w.Confidence})
		}
	}
	for _, p := range m.Profiles {
		p.Watched = users[p.Row]
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Collaborative filtering: implicit-feedback ALS.
	k := o.Factors
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	Y := mat.NewDense(n, k, nil)
	for i := range n {
		for j := range k {
			Y.Set(i, j, 0.1*rng.NormFloat64())
		}
	}
	X := mat.NewDense(max(len(profiles), 1), k, nil)
	for it := 0; it < o.Iterations; it++ {
		if err := solve(ctx, X, Y, users, o.Lambda); err != nil {
			return nil, err
		}
		if err := solve(ctx, Y, X, items, o.Lambda); err != nil {
			return nil, err
		}
	}
	m.X, m.Y = denseRows(X), denseRows(Y)
	// Item-item similarity: cosine of the item factors.
	cf := make([][]Scored, n)
	eachSimilarity(normalizedRows(Y), func(i int, cos []float64) {
		if m.Titles[i].Views == 0 {
			return
		}
		cf[i] = top(n, similarKept, func(j int) (float64, bool) {
			return cos[j], j != i && m.Titles[j].Views > 0 && cos[j] > 0
		})
	})
	// Content: TF-IDF over genres, cast and synopsis, cosine.
	content := make([][]Scored, n)
	eachSimilarity(tfidf(m.Titles, o.Vocabulary), func(i int, cos []float64) {
		content[i] = top(n, similarKept, func(j int) (float64, bool) { return cos[j], j != i && cos[j] > 0.01 })
	})
	for i := range n {
		m.Titles[i].CF, m.Titles[i].Content = cf[i], content[i]
		m.Titles[i].Similar = m.blendSimilar(i)
	}
	m.Popular = top(n, 100, func(j int) (float64, bool) { return m.Titles[j].Score, m.Titles[j].Views > 0 })
	m.prepare()
	m.TrainTime = time.Since(start)
	return m, nil
}

// solve sets each row of dst to the least-squares factors against other
// (fixed) for that row's feedback (Hu, Koren and Volinsky, 2008):
//
//	(OᵀO + Oᵀ(Cᵤ−I)O + λI) xᵤ = OᵀCᵤp(u)
//
// rows are solved in parallel, each by a Cholesky factorisation.
func solve(ctx context.Context, dst, other *mat.Dense, rows [][]Watched, lambda float64) error {
	_, k := other.Dims()
	var gram mat.SymDense
	gram.SymOuterK(1, other.T())
	workers := runtime.GOMAXPROCS(0)
	next := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			A := mat.NewSymDense(k, nil)
			b := mat.NewVecDense(k, nil)
			for u := range next {
				if len(rows[u]) == 0 {
					dst.SetRow(u, make([]float64, k))
					continue
				}
				A.CopySym(&gram)
				b.Zero()
				for _, w := range rows[u] {
					y := other.RowView(w.Title)
					A.SymRankOne(A, w.Confidence-1, y)
					b.AddScaledVec(b, w.Confidence, y)
				}
				// Weighted-λ regularisation (Zhou et al., 2008): a row
				// with more feedback may fit it more closely.
				reg := lambda * float64(len(rows[u]))
				for d := range k {
					A.SetSym(d, d, A.At(d, d)+reg)
				}
				// Cholesky (LAPACK's potrf and potrs, without the
				// condition estimate mat.Cholesky adds): A is positive
				// definite for lambda > 0.
				t, ok := lapack64.Potrf(A.RawSymmetric())
				if !ok {
					mu.Lock()
					failed = fmt.Errorf("als: the system of row %d is not positive definite; raise lambda", u)
					mu.Unlock()
					continue
				}
				x := b.RawVector().Data
				lapack64.Potrs(t, blas64.General{Rows: k, Cols: 1, Stride: 1, Data: x})
				dst.SetRow(u, x)
			}
		}()
	}
	for u := range rows {
		if ctx.Err() != nil {
			break
		}
		next <- u
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return failed
}

// eachSimilarity calls f with each row i of A and the dot products of
// that row with every row (the cosines, for L2-normalised rows): A·Aᵀ
// computed a block of rows at a time (one matrix product each), so that
// memory stays a block's, not n².
func eachSimilarity(A *mat.Dense, f func(i int, dots []float64)) {
	n, _ := A.Dims()
	const block = 256
	var S mat.Dense
	for b0 := 0; b0 < n; b0 += block {
		b1 := min(b0+block, n)
		S.Reset()
		S.Mul(A.Slice(b0, b1, 0, A.RawMatrix().Cols), A.T())
		for i := b0; i < b1; i++ {
			f(i, S.RawRowView(i-b0))
		}
	}
}

func normalizedRows(a *mat.Dense) *mat.Dense {
	r, c := a.Dims()
	out := mat.NewDense(r, c, nil)
	for i := range r {
		row := a.RowView(i)
		if norm := mat.Norm(row, 2); norm > 0 {
			v := out.RowView(i).(*mat.VecDense)
			v.ScaleVec(1/norm, row)
		}
	}
	return out
}

func denseRows(a *mat.Dense) [][]float64 {
	r, _ := a.Dims()
	out := make([][]float64, r)
	for i := range r {
		out[i] = mat.Row(nil, i, a)
	}
	return out
}

// stopwords are English words too common to tell titles apart.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`the and for are but not you all any can had her was one our out day get has him his how man new now old see two way who boy did its let put say she too use that with have this will your from they know want been good much some time very when come here just like long make many over such take than them well were what into their about would there which after where could these those while other being because between through`) {
		m[w] = true
	}
	return m
}()

// terms are a title's weighted terms: genres (3), cast (2), synopsis
// words (1).
func terms(t Title) map[string]float64 {
	out := map[string]float64{}
	for _, g := range t.Genres {
		out["genre:"+strings.ToLower(strings.TrimSpace(g))] += 3
	}
	for _, c := range t.Cast {
		out["cast:"+strings.ToLower(strings.TrimSpace(c))] += 2
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(t.Synopsis), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) > 2 && !stopwords[w] {
			out[w]++
		}
	}
	return out
}

// tfidf is the titles' TF-IDF matrix, one L2-normalised row a title.
func tfidf(titles []TitleInfo, vocabulary int) *mat.Dense {
	n := len(titles)
	df := map[string]int{}
	tf := make([]map[string]float64, n)
	for i, t := range titles {
		tf[i] = terms(t.Title)
		for w := range tf[i] {
			df[w]++
		}
	}
	vocab := make([]string, 0, len(df))
	for w := range df {
		vocab = append(vocab, w)
	}
	sort.Slice(vocab, func(i, j int) bool {
		return df[vocab[i]] > df[vocab[j]] || df[vocab[i]] == df[vocab[j]] && vocab[i] < vocab[j]
	})
	vocab = vocab[:min(len(vocab), vocabulary)]
	col := make(map[string]int, len(vocab))
	for i, w := range vocab {
		col[w] = i
	}
	T := mat.NewDense(n, max(len(vocab), 1), nil)
	for i := range n {
		for w, f := range tf[i] {
			if j, ok := col[w]; ok {
				T.Set(i, j, f*(math.Log(float64(1+n)/float64(1+df[w]))+1))
			}
		}
	}
	return normalizedRows(T)
}

// top returns the k best-scoring of n candidates score admits, best
// first (ties by index).
func top(n, k int, score func(int) (float64, bool)) []Scored {
	var out []Scored
	for j := range n {
		s, ok := score(j)
		if !ok {
			continue
		}
		out = append(out, Scored{Index: j, Score: s})
	}
	slices.SortFunc(out, func(a, b Scored) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return a.Index - b.Index
	})
	return out[:min(len(out), k)]
}
