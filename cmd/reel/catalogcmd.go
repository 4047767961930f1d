package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/catalog"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/store"
)

// runCatalog runs the catalog service, or migrates its tables (reel
// catalog migrate).
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("catalog", args, "serve", "migrate")
	if err != nil {
		return err
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
	rdb := redisFor(c)
	if rdb == nil {
		return errors.New("reel catalog needs Redis (REEL_REDIS_ADDR): published titles, admin API keys, edges and stream leases are there")
	}
	defer rdb.Close()
	h.Admin = adminKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
	cache, err := cacheFor(c, log)
	if err != nil {
		return err
	}
	if cache != nil {
		h.Popular = cachedPopular(cache.Get)
	}
	cfg.Facts = titleFacts(&store.Redis{C: rdb})
	cat, err := catalog.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer cat.Close()
	h.Cat = cat
	go cat.Run(ctx, c.CatalogReconcile)
	accts, err := accounts.New(ctx, db, accounts.Config{})
	if err != nil {
		return err
	}
	s3, err := s3For(c, nil, log)
	if err != nil {
		return err
	}
	zones, err := edge.ParseZoneMap(c.ZoneMap)
	if err != nil {
		return err
	}
	steer := &edge.Steering{Registry: &store.Edges{C: rdb}, Zones: zones, Log: log}
	go steer.Run(ctx)
	signer, tokens, err := playbackTokens(c, playtoken.OriginZone)
	if err != nil {
		return err
	}
	play := &playback.Service{
		Signer: signer,
		Viewer: (&entitlements{svc: accts, ttl: time.Minute}).viewer,
		Title:  playableTitle(cat),
		Leases: &store.Streams{C: rdb},
		Route: func(r *http.Request, title string) (string, string, string, bool) {
			return steer.Route(steer.ClientZone(r), title)
		},
		Origin: s3.PublicURL, Log: log,
	}
	// Licence and key requests go on to the API: the catalog holds no
	// keys.
	var keys func(w http.ResponseWriter, r *http.Request, id, name string)
	if c.KeyService != "" {
		u, err := relay.ParseKeyService(c.KeyService)
		if err != nil {
			return fmt.Errorf("REEL_KEY_SERVICE: %w", err)
		}
		proxy := relay.KeyProxy(u, playtoken.ClientAddr)
		keys = func(w http.ResponseWriter, r *http.Request, _, _ string) { proxy.ServeHTTP(w, r) }
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("catalog listen %s: %w", c.Addr, err)
	}
	log.Info("catalog listening", "addr", ln.Addr().String(), "engine", db.Engine, "index", c.CatalogIndex)
	originPath := originPath(s3, tokens)
	originPath.Keys = keys
	return serve(ctx, ln, serviceMux(func(mux *http.ServeMux) {
		h.Routes(mux)
		play.Routes(mux)
		mux.Handle("/"+playtoken.Root+"/", originPath)
	}, db))
}

// playableTitle looks a title up in the catalog (its index when the store
// is down) for playback.
func playableTitle(cat *catalog.Catalog) func(context.Context, string) (playback.Title, error) {
	return func(ctx context.Context, id string) (playback.Title, error) {
		t, _, err := cat.Get(ctx, id)
		var ce *catalog.Error
		if errors.As(err, &ce) && ce.Code == "not_found" {
			return playback.Title{}, playback.ErrNoTitle
		}
		if err != nil {
			return playback.Title{}, err
		}
		if t.Manifests == nil {
			return playback.Title{}, &playback.Denied{Status: http.StatusConflict, Code: "not_published",
				Message: fmt.Sprintf("title %s has no manifests in the catalog; write its metadata again", id)}
		}
		return playback.Title{ID: t.ID, Maturity: t.Maturity, MaxHeight: t.MaxHeight, Manifests: *t.Manifests}, nil
	}
}

// entitlements says what a viewer's session may play on a profile, from
// the accounts store; answers are kept for ttl, so that playback goes on
// through a short outage of the store.
type entitlements struct {
	svc *accounts.Service
	ttl time.Duration
	mu  sync.Mutex
	got map[string]cachedViewer
}

type cachedViewer struct {
	v     playback.Viewer
	until time.Time
}

func (e *entitlements) viewer(r *http.Request, profile string) (playback.Viewer, error) {
	token := bearer(r)
	return e.remembered(tokenKey(token)+"/"+profile, func() (playback.Viewer, error) {
		ctx := r.Context()
		account, err := e.authenticate(ctx, token)
		if err != nil {
			return playback.Viewer{}, err
		}
		id, perr := strconv.ParseInt(profile, 10, 64)
		var p accounts.Profile
		if perr == nil {
			p, err = e.svc.Profile(ctx, account, id)
		}
		if perr != nil || accounts.CodeOf(err) == accounts.CodeNotFound {
			return playback.Viewer{}, &playback.Denied{Status: http.StatusNotFound, Code: "not_found",
				Message: fmt.Sprintf("profile %q: give ?profile= with one of your account's profiles", profile)}
		}
		if err != nil {
			return playback.Viewer{}, err
		}
		sub, err := e.svc.Subscription(ctx, account)
		if err != nil {
			return playback.Viewer{}, err
		}
		return playback.Viewer{Account: account, Maturity: p.Maturity, Active: sub.Entitled(time.Now()),
			MaxHeight: sub.Plan.MaxHeight, Streams: sub.Plan.Streams}, nil
	})
}

// account is the account of a request's session, remembered as viewer's
// answers are.
func (e *entitlements) account(r *http.Request) (int64, error) {
	token := bearer(r)
	v, err := e.remembered(tokenKey(token), func() (playback.Viewer, error) {
		account, err := e.authenticate(r.Context(), token)
		return playback.Viewer{Account: account}, err
	})
	return v.Account, err
}

func (e *entitlements) authenticate(ctx context.Context, token string) (int64, error) {
	account, err := e.svc.Authenticate(ctx, token)
	if accounts.CodeOf(err) == accounts.CodeUnauthorized {
		return 0, &playback.Denied{Status: http.StatusUnauthorized, Code: "unauthorized", Message: err.Error()}
	}
	return account, err
}

// remembered answers what look found under key within ttl, or asks it
// and keeps a good answer.
func (e *entitlements) remembered(key string, look func() (playback.Viewer, error)) (playback.Viewer, error) {
	e.mu.Lock()
	c, hit := e.got[key]
	e.mu.Unlock()
	if hit && time.Now().Before(c.until) {
		return c.v, nil
	}
	v, err := look()
	if err != nil {
		return v, err
	}
	e.mu.Lock()
	if e.got == nil || len(e.got) > 100000 {
		e.got = map[string]cachedViewer{}
	}
	e.got[key] = cachedViewer{v, time.Now().Add(e.ttl)}
	e.mu.Unlock()
	return v, nil
}

func bearer(r *http.Request) string {
	return strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
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
		f := catalog.Facts{Poster: j.Published.Poster,
			Manifests: &playback.Manifests{HLS: j.Published.HLS, DASH: j.Published.DASH, Encryption: pipeline.EncryptionFor(j, nil)}}
		for h, m := range j.Published.Caps {
			if f.Manifests.Caps == nil {
				f.Manifests.Caps = map[string]playback.Manifests{}
			}
			f.Manifests.Caps[h] = playback.Manifests{HLS: m.HLS, DASH: m.DASH}
		}
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
