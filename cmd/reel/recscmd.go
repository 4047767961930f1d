package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/reel-video/reel/archive"
	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/recs"
)

// TrainTask is the asynq task of a recommendations training.
const TrainTask = "recs:train"

// runRecs runs the recommender (reel recs serve) or trains it once (reel
// recs train).
func runRecs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("recs", args, "serve", "train")
	if err != nil {
		return err
	}
	c, err := loadServer("recs", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("recs", stderr)
	s3, err := s3For(c, nil, log)
	if err != nil {
		return err
	}
	if err := retry(ctx, 30*time.Second, func() error { return s3.EnsureBuckets(ctx) }); err != nil {
		return fmt.Errorf("prepare buckets: %w", err)
	}
	var job *recs.Job
	if c.RecsCatalog != "" {
		base, err := url.Parse(c.RecsCatalog)
		if err != nil || base.Scheme == "" || base.Host == "" {
			return fmt.Errorf("REEL_RECS_CATALOG %q: the catalog service's base URL, such as http://127.0.0.1:8071", c.RecsCatalog)
		}
		job = &recs.Job{Archive: &archive.Reader{Store: s3, Bucket: c.Bucket}, Titles: catalogTitles(base),
			Store: s3, Bucket: c.Bucket, Window: c.RecsWindow}
	}
	if sub == "train" {
		if job == nil {
			return errors.New("reel recs train: REEL_RECS_CATALOG (--catalog) is required: the catalog service's base URL")
		}
		m, err := job.Run(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "model %s: %d view events, %d profiles, %d titles, trained in %s\n",
			m.Version, m.Events, len(m.Profiles), len(m.Titles), m.TrainTime.Round(time.Millisecond))
		return nil
	}
	cache, err := cacheFor(c, log)
	if err != nil {
		return err
	}
	db, accts, err := openAccounts(ctx, c, false)
	if err != nil {
		return err
	}
	defer db.Close()
	ents := &entitlements{svc: accts, ttl: time.Minute}
	svc := &recs.Service{Store: s3, Bucket: c.Bucket, Log: log,
		Viewer: func(r *http.Request, profile string) (string, error) {
			v, err := ents.viewer(r, profile)
			return v.Maturity, asJSONDenied(err)
		}}
	if cache != nil {
		svc.Cache = cache
	}
	go svc.Run(ctx, 5*time.Second)
	if job != nil && c.HasRedis() {
		stop, err := runPeriodic(redisOpt(c), "recs", TrainTask, c.RecsTrainEvery, func(ctx context.Context) error {
			m, err := job.Run(ctx)
			if err != nil {
				return fmt.Errorf("recommendations training: %w", err)
			}
			log.Info("model trained", "version", m.Version, "events", m.Events, "profiles", len(m.Profiles),
				"titles", len(m.Titles), "took", m.TrainTime.Round(time.Millisecond))
			svc.Use(m)
			return nil
		})
		if err != nil {
			return err
		}
		defer stop()
	} else {
		log.Warn("no scheduled training: it needs REEL_RECS_CATALOG and Redis; run reel recs train")
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("recs listen %s: %w", c.Addr, err)
	}
	log.Info("recommender listening", "addr", ln.Addr().String())
	return serve(ctx, ln, serviceMux(svc.Routes, db))
}

// catalogTitles reads every title of the catalog service at base, page
// by page.
func catalogTitles(base *url.URL) func(ctx context.Context) ([]recs.Title, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	return func(ctx context.Context) ([]recs.Title, error) {
		var out []recs.Title
		cursor := ""
		for range 100000 {
			u := base.JoinPath("/v1/catalog")
			q := url.Values{"maturity": {"adult"}, "limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			u.RawQuery = q.Encode()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			var page catalog.Page
			err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("the catalog answered %s", resp.Status)
			}
			if err != nil {
				return nil, fmt.Errorf("the catalog's page: %w", err)
			}
			for _, t := range page.Titles {
				out = append(out, recs.Title{ID: t.ID, Name: t.Name, Genres: t.Genres, Cast: t.Cast, Synopsis: t.Synopsis,
					Maturity: t.Maturity, Added: t.Added})
			}
			if page.Next == "" {
				return out, nil
			}
			cursor = page.Next
		}
		return nil, errors.New("the catalog kept answering pages")
	}
}

// cachedPopular reads the popular titles the recommender left in the
// cache, for the catalog to show while the recommender is away.
func cachedPopular(get func(string) ([]byte, bool)) func() ([]catalog.Title, bool) {
	return func() ([]catalog.Title, bool) {
		data, ok := get(recs.PopularKey)
		if !ok {
			return nil, false
		}
		var v struct {
			Titles []recs.Title `json:"titles"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, false
		}
		out := make([]catalog.Title, 0, len(v.Titles))
		for _, t := range v.Titles {
			out = append(out, catalog.Title{ID: t.ID, Name: t.Name, Genres: t.Genres, Maturity: t.Maturity, Added: t.Added})
		}
		return out, true
	}
}
