package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reel-video/reel/archive"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/recs"
	"github.com/reel-video/reel/support"
)

// eventsLoad posts n events through the collector (HTTP, batches of
// 500 lines from 8 clients) into an embedded NATS JetStream stream, with
// the archiver (to MinIO) and the support indexer (bleve, 8 shards)
// consuming as they do in their services, and samples both consumers'
// lag every 250 ms.
func eventsLoad(dir string, n int) error {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s3, stopS3, err := benchS3(ctx, filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer stopS3()
	ns, err := events.StartServer(events.ServerOptions{Name: "bench", Dir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	log, err := events.Connect(ns.URL(), "bench")
	if err != nil {
		return err
	}
	defer log.Close()
	if err := log.EnsureStream(ctx, events.StreamConfig{}); err != nil {
		return err
	}
	x, err := support.Open(filepath.Join(dir, "support"), 8)
	if err != nil {
		return err
	}
	defer x.Close()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	arch, err := log.Consumer(ctx, "archiver", []string{"events.>"})
	if err != nil {
		return err
	}
	idx, err := log.Consumer(ctx, "support-indexer", []string{"events.>"})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		(&archive.Archiver{Store: s3, Bucket: s3.Bucket(), Log: quiet}).Run(cctx, arch, 5000, 5*time.Second)
	}()
	go func() {
		defer wg.Done()
		events.Consume(cctx, idx, 1000, 200*time.Millisecond, (&support.Indexer{Index: x}).Handle, quiet)
	}()
	col := &events.Collector{Log: log, Auth: func(*http.Request) (events.Identity, error) { return events.Identity{Service: true}, nil }, Logger: quiet}
	mux := http.NewServeMux()
	col.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	types := []string{
		`{"type":"view.heartbeat","at":%q,"user":"%d","profile":"%d","session":"s%d","title":"t%d","position":%d,"duration":3600,"source":"web"}`,
		`{"type":"perf.rung_switch","at":%q,"user":"%d","profile":"%d","session":"s%d","title":"t%d","rung":"720p","ms":%d}`,
		`{"type":"error.playback","at":%q,"user":"%d","profile":"%d","session":"s%d","title":"t%d","code":"fragLoadError","message":"segment %d answered 503","edge":"edge-z1"}`,
	}
	type result struct {
		posted           int64
		took, drained    time.Duration
		maxArch, maxIdx  uint64
		meanArch, meanId float64
	}
	var next atomic.Int64
	// phase posts n events (numbered from next), as fast as the collector
	// takes them (rate 0) or at rate events a second, and waits until
	// both consumers are level with the stream.
	phase := func(n int, rate float64) (result, error) {
		const batch, clients = 500, 8
		var r result
		var maxArch, maxIdx atomic.Uint64
		var sumArch, sumIdx, samples atomic.Uint64
		sampling, stopSampling := context.WithCancel(ctx)
		defer stopSampling()
		var sw sync.WaitGroup
		sw.Add(1)
		go func() {
			defer sw.Done()
			for sampling.Err() == nil {
				la, e1 := arch.Lag(ctx)
				li, e2 := idx.Lag(ctx)
				if e1 == nil && e2 == nil {
					if la > maxArch.Load() {
						maxArch.Store(la)
					}
					if li > maxIdx.Load() {
						maxIdx.Store(li)
					}
					sumArch.Add(la)
					sumIdx.Add(li)
					samples.Add(1)
				}
				select {
				case <-sampling.Done():
				case <-time.After(250 * time.Millisecond):
				}
			}
		}()
		end := next.Load() + int64(n)
		var posted atomic.Int64
		var failed atomic.Value
		start := time.Now()
		var pw sync.WaitGroup
		for range clients {
			pw.Add(1)
			go func() {
				defer pw.Done()
				hc := &http.Client{Timeout: 30 * time.Second}
				var b strings.Builder
				for {
					first := next.Add(batch) - batch
					if first >= end {
						return
					}
					last := min(first+batch, end)
					if rate > 0 { // this batch's turn
						due := start.Add(time.Duration(float64(first-(end-int64(n))) / rate * float64(time.Second)))
						time.Sleep(time.Until(due))
					}
					b.Reset()
					at := time.Now().UTC().Format(time.RFC3339Nano)
					for i := first; i < last; i++ {
						u := i % 10000
						fmt.Fprintf(&b, types[i%int64(len(types))], at, u, u, i/50, i%500, i%3000+1)
						b.WriteByte('\n')
					}
					resp, err := hc.Post(srv.URL+"/v1/events", "application/x-ndjson", strings.NewReader(b.String()))
					if err != nil {
						failed.Store(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Store(fmt.Errorf("the collector answered %s", resp.Status))
						return
					}
					posted.Add(last - first)
				}
			}()
		}
		pw.Wait()
		r.took = time.Since(start)
		if err, ok := failed.Load().(error); ok {
			return r, err
		}
		deadline := time.Now().Add(10 * time.Minute)
		for {
			la, e1 := arch.Lag(ctx)
			li, e2 := idx.Lag(ctx)
			if e1 == nil && e2 == nil && la == 0 && li == 0 {
				break
			}
			if time.Now().After(deadline) {
				return r, fmt.Errorf("the consumers did not catch up in 10 minutes (lag %d, %d)", la, li)
			}
			time.Sleep(50 * time.Millisecond)
		}
		r.drained = time.Since(start) - r.took
		stopSampling()
		sw.Wait()
		r.posted, r.maxArch, r.maxIdx = posted.Load(), maxArch.Load(), maxIdx.Load()
		if n := samples.Load(); n > 0 {
			r.meanArch, r.meanId = float64(sumArch.Load())/float64(n), float64(sumIdx.Load())/float64(n)
		}
		return r, nil
	}
	burst, err := phase(n, 0)
	if err != nil {
		return err
	}
	// Then at a rate the consumers keep up with: 3/4 of what they did end
	// to end in the burst.
	rate := 0.75 * float64(burst.posted) / (burst.took + burst.drained).Seconds()
	paced, err := phase(n/2, rate)
	if err != nil {
		return err
	}
	stop()
	wg.Wait()
	archived, err := (&archive.Reader{Store: s3, Bucket: s3.Bucket()}).Count(ctx)
	if err != nil {
		return err
	}
	indexed, err := x.Count()
	if err != nil {
		return err
	}
	objects, _ := (&archive.Reader{Store: s3, Bucket: s3.Bucket()}).Objects(ctx, time.Time{}, time.Time{})
	fmt.Printf("\n## Events: collector to stream, archiver and support indexer\n\nEvents (heartbeats, rung switches, playback errors of 10,000 users) posted to the collector over HTTP in batches of 500 from 8 clients, each acknowledged once the stream (embedded NATS JetStream, file storage) stored it; the archiver (batches of up to 5,000 to gzip JSON lines on MinIO) and the support indexer (bleve, 8 shards by user, batches of up to 1,000) consume at the same time, as in `reel collect` and `reel support`. First a burst, as fast as the collector takes them; then half as many at three quarters of the burst's end-to-end rate. Lag: events in the stream a consumer has not acknowledged, sampled every 250 ms.\n\n")
	fmt.Println("| load | events | posted in | events/s into the stream | archiver lag mean / max | indexer lag mean / max | both level after the last post | events/s end to end |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range []struct {
		name string
		r    result
	}{{"burst", burst}, {fmt.Sprintf("paced, %.0f/s", rate), paced}} {
		fmt.Printf("| %s | %d | %s | %.0f | %.0f / %d | %.0f / %d | %s | %.0f |\n", r.name, r.r.posted, r.r.took.Round(time.Millisecond),
			float64(r.r.posted)/r.r.took.Seconds(), r.r.meanArch, r.r.maxArch, r.r.meanId, r.r.maxIdx, r.r.drained.Round(time.Millisecond),
			float64(r.r.posted)/(r.r.took+r.r.drained).Seconds())
	}
	fmt.Printf("\nAfterwards the archive holds %d events in %d objects and the index %d; the stream %d.\n", archived, len(objects), indexed, burst.posted+paced.posted)
	// Look-ups on that index, as support makes them over HTTP.
	h := &support.Handler{Index: x, Allowed: func(*http.Request) bool { return true }}
	smux := http.NewServeMux()
	h.Routes(smux)
	ssrv := httptest.NewServer(smux)
	defer ssrv.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	fmt.Printf("\nSupport look-ups on that index (%d events of 10,000 users, 8 shards), 500 of each kind, one at a time, over HTTP:\n\n", indexed)
	fmt.Println("| look-up | events answered (mean) | p50 | p99 |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, k := range []struct{ name, path string }{
		{"a user's events, newest 100", "/v1/support/users/%d/events"},
		{"a user's errors", "/v1/support/users/%d/events?type=error"},
		{"a user's events with words", "/v1/support/users/%d/events?q=segment+503"},
		{"a session's timeline (all shards)", "/v1/support/sessions/s%d"},
	} {
		var took []time.Duration
		answered := 0
		for range 500 {
			id := rng.IntN(10000)
			if strings.Contains(k.path, "sessions") {
				id = rng.IntN(int(burst.posted+paced.posted) / 50)
			}
			t0 := time.Now()
			resp, err := http.Get(ssrv.URL + fmt.Sprintf(k.path, id))
			if err != nil {
				return err
			}
			var v struct {
				Events []json.RawMessage `json:"events"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			took = append(took, time.Since(t0))
			answered += len(v.Events)
		}
		slices.Sort(took)
		fmt.Printf("| %s | %.1f | %s | %s |\n", k.name, float64(answered)/500, took[len(took)/2].Round(10*time.Microsecond), took[len(took)*99/100].Round(10*time.Microsecond))
	}
	return nil
}

// recsTraining times the recommender's training on synthetic viewing: n
// view events of 20,000 profiles over 2,000 titles in 20 genres (each
// profile favours two), aggregated into implicit feedback, then ALS,
// item-item similarity and TF-IDF content similarity.
func recsTraining(n int) error {
	rng := rand.New(rand.NewPCG(1, 2))
	const profiles, titles, genres = 20000, 2000, 20
	words := strings.Fields("frontier sheriff outlaw desert wedding office roommates prank heist detective murder island space station alien robot dragon castle knight ocean storm mountain war spy family school music dance kitchen chef")
	var ts []recs.Title
	for i := range titles {
		g := i % genres
		ts = append(ts, recs.Title{ID: fmt.Sprintf("t%04d", i), Name: fmt.Sprintf("Title %d", i), Genres: []string{fmt.Sprintf("genre%02d", g)},
			Cast:     []string{fmt.Sprintf("actor%03d", rng.IntN(300)), fmt.Sprintf("actor%03d", rng.IntN(300))},
			Synopsis: strings.Join([]string{words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[(g*3)%len(words)]}, " "),
			Maturity: "teen"})
	}
	fb := &recs.Feedback{}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for i := range n {
		p := rng.IntN(profiles)
		g := (p%genres + rng.IntN(2)*(1+p%3)) % genres
		t := rng.IntN(titles/genres)*genres + g
		fb.Add(events.Event{Type: "view.heartbeat", Profile: fmt.Sprint(p), Title: ts[t].ID, Session: fmt.Sprintf("s%d", i/4),
			Position: float64(rng.IntN(3600)), Duration: 3600, At: at.Add(time.Duration(i) * time.Second)})
	}
	agg := time.Since(start)
	m, err := recs.Train(context.Background(), fb, ts, recs.Options{Seed: 1})
	if err != nil {
		return err
	}
	total := agg + m.TrainTime
	perM := time.Duration(float64(total) * 1e6 / float64(n))
	fmt.Printf("\n## Recommender training\n\n%d view events of %d profiles over %d titles (20 genres), aggregated into implicit feedback (completion, rewatches), then implicit ALS (16 factors, 12 sweeps, gonum Cholesky per row, on all cores), item-item cosine over the factors and TF-IDF content similarity, as `reel recs train` does after reading the archive.\n\n", n, len(m.Profiles), len(m.Titles))
	fmt.Println("| events | profiles | titles | aggregate | train | total | per million events |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	fmt.Printf("| %d | %d | %d | %s | %s | %s | %s |\n", n, len(m.Profiles), len(m.Titles), agg.Round(time.Millisecond),
		m.TrainTime.Round(time.Millisecond), total.Round(time.Millisecond), perM.Round(time.Millisecond))
	return nil
}
