package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/sqlstore"
)

// TestPlayWhileTheStoreIsDown checks entitled playback's look-ups on a
// real MariaDB, then stops it: a viewer who played a moment ago is still
// entitled, and the title still comes from the catalog's index.
func TestPlayWhileTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	m := testenv.MariaDB(t, devstack.MariaDBOptions{})
	db, err := sqlstore.Open(ctx, sqlstore.Config{DSN: m.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accts, err := accounts.New(ctx, db, accounts.Config{Hash: accounts.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := accts.SignUp(ctx, "v@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := accts.SignIn(ctx, "v@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accts.Subscribe(ctx, a.ID, "basic", "k"); err != nil {
		t.Fatal(err)
	}
	ps, _ := accts.Profiles(ctx, a.ID)
	cat, err := catalog.Open(ctx, catalog.Config{DB: db, IndexDir: filepath.Join(t.TempDir(), "index"),
		Facts: func(context.Context, string) (catalog.Facts, error) {
			return catalog.Facts{MaxHeight: 1080, Manifests: &playback.Manifests{HLS: "vod/t/master.m3u8", DASH: "vod/t/manifest.mpd"}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.Put(ctx, "t", catalog.Metadata{Name: "Tears of Steel", Rating: "PG-13"}); err != nil {
		t.Fatal(err)
	}
	ent := &entitlements{svc: accts, ttl: time.Minute}
	title := playableTitle(cat)
	req, _ := http.NewRequest("GET", "/v1/play/t?profile=x", nil)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	profile := strconv.FormatInt(ps[0].ID, 10)
	check := func(when string) {
		t.Helper()
		v, err := ent.viewer(req, profile)
		if err != nil || !v.Active || v.MaxHeight != 720 || v.Streams != 1 || v.Maturity != "adult" {
			t.Fatalf("%s: entitlement %+v, %v", when, v, err)
		}
		tt, err := title(ctx, "t")
		if err != nil || tt.Maturity != "teen" || tt.Manifests.HLS != "vod/t/master.m3u8" {
			t.Fatalf("%s: title %+v, %v", when, tt, err)
		}
	}
	check("with the store up")
	if _, err := ent.viewer(req, "999999"); err == nil {
		t.Fatal("another account's profile was entitled")
	}
	m.Stop()
	check("with the store down")
}
