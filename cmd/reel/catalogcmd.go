package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

// runCatalog runs the catalog service, or migrates its tables (reel
// catalog migrate).
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	if sub != "serve" && sub != "migrate" {
		return fmt.Errorf("reel catalog: unknown command %q; use serve or migrate", sub)
	}
	c, err := loadServer("catalog", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("catalog", stderr)
	db, err := openSQL(ctx, c, sub == "migrate" || c.SQLMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "migrate" {
		if err := db.Prepare(ctx, catalog.Schema); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "catalog schema at version %d (%s)\n", catalog.Schema.Version(), db.Engine)
		return nil
	}
	cfg := catalog.Config{DB: db, IndexDir: c.CatalogIndex, Log: log}
	h := &catalog.Handler{Log: log}
	if rdb := redisFor(c); rdb != nil {
		defer rdb.Close()
		h.Admin = adminKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
		cfg.Facts = titleFacts(&store.Redis{C: rdb})
	} else {
		log.Warn("no Redis configured: writing the catalog is refused")
	}
	cat, err := catalog.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer cat.Close()
	h.Cat = cat
	go cat.Run(ctx, c.CatalogReconcile)
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("catalog listen %s: %w", c.Addr, err)
	}
	log.Info("catalog listening", "addr", ln.Addr().String(), "engine", db.Engine, "index", c.CatalogIndex)
	return serve(ctx, ln, serviceMux(h.Routes, db))
}

// titleFacts looks a title up in the pipeline's job store: only a
// complete job is a published title.
func titleFacts(jobs interface {
	Get(ctx context.Context, id string) (*pipeline.Job, error)
}) func(context.Context, string) (catalog.Facts, error) {
	return func(ctx context.Context, id string) (catalog.Facts, error) {
		j, err := jobs.Get(ctx, id)
		if errors.Is(err, pipeline.ErrNotFound) {
			return catalog.Facts{}, catalog.ErrNotPublished
		}
		if err != nil {
			return catalog.Facts{}, err
		}
		if j.Status != pipeline.StatusComplete || j.Published == nil {
			return catalog.Facts{}, fmt.Errorf("%w: job %s is %s", catalog.ErrNotPublished, id, j.Status)
		}
		f := catalog.Facts{Poster: j.Published.Poster}
		if j.Source != nil {
			f.Duration = j.Source.Duration
		}
		for _, r := range j.Renditions {
			f.MaxHeight = max(f.MaxHeight, r.Height)
		}
		for _, a := range j.AudioTracks {
			if a.Language != "" {
				f.Audio = append(f.Audio, a.Language)
			}
		}
		for _, t := range j.TextTracks {
			if t.Language != "" {
				f.Subtitles = append(f.Subtitles, t.Language)
			}
		}
		return f, nil
	}
}
