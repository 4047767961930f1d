package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
)

type jobsFunc func(ctx context.Context, id string) (*pipeline.Job, error)

func (f jobsFunc) Get(ctx context.Context, id string) (*pipeline.Job, error) { return f(ctx, id) }

func TestCatalogCommand(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	out, stderr, err := runArgs("catalog", "migrate", "--db", dsn)
	if err != nil || !strings.Contains(out, "catalog schema at version 1") {
		t.Fatalf("reel catalog migrate: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := runArgs("catalog", "bogus"); err == nil || !strings.Contains(err.Error(), "serve or migrate") {
		t.Fatalf("reel catalog bogus: %v", err)
	}
}

func TestTitleFacts(t *testing.T) {
	jobs := map[string]*pipeline.Job{
		"done": {ID: "done", Status: pipeline.StatusComplete, Source: &pipeline.SourceInfo{Duration: 61.5},
			Renditions:  []pipeline.Rendition{{Rung: ladder.Rung{Height: 720}}, {Rung: ladder.Rung{Height: 1080}}},
			AudioTracks: []pipeline.AudioTrack{{Language: "en"}, {Language: "fr"}},
			TextTracks:  []pipeline.TextTrack{{Language: "de"}},
			Published:   &pipeline.Published{HLS: "vod/done/master.m3u8", Poster: "vod/done/poster.jpg"}},
		"running": {ID: "running", Status: pipeline.StatusEncoding},
	}
	facts := titleFacts(jobsFunc(func(_ context.Context, id string) (*pipeline.Job, error) {
		if j, ok := jobs[id]; ok {
			return j, nil
		}
		return nil, pipeline.ErrNotFound
	}))
	f, err := facts(context.Background(), "done")
	if err != nil || f.Duration != 61.5 || f.MaxHeight != 1080 || strings.Join(f.Audio, ",") != "en,fr" || f.Subtitles[0] != "de" || f.Poster != "vod/done/poster.jpg" {
		t.Fatalf("facts of a complete job: %+v, %v", f, err)
	}
	for _, id := range []string{"running", "missing"} {
		if _, err := facts(context.Background(), id); !errors.Is(err, catalog.ErrNotPublished) {
			t.Errorf("facts of %s: %v, want ErrNotPublished", id, err)
		}
	}
}
