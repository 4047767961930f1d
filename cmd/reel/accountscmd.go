package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/sqlstore"
	"github.com/reel-video/reel/store"
)

// runAccounts runs the accounts service, or one of its maintenance
// commands: migrate (schema and plans, then exit) and audit (check the
// ledger; exit status 1 when it is inconsistent).
func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("accounts", args, "serve", "migrate", "audit")
	if err != nil {
		return err
	}
	c, err := loadServer("accounts", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("accounts", stderr)
	db, svc, err := openAccounts(ctx, c, sub == "migrate" || c.SQLMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "migrate":
		fmt.Fprintf(stdout, "accounts schema at version %d, plans seeded (%s)\n", accounts.Schema.Version(), db.Engine)
		return nil
	case "audit":
		a, err := svc.Audit(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a)
		if !a.OK() {
			return exitCode(1)
		}
		return nil
	}
	h := &accounts.Handler{Svc: svc, Log: log}
	var rdb redis.UniversalClient
	if rdb = redisFor(c); rdb != nil {
		defer rdb.Close()
		h.Admin = adminKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
	} else {
		log.Warn("no Redis configured: billing operations (charges, refunds, credits) are refused")
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("accounts listen %s: %w", c.Addr, err)
	}
	log.Info("accounts listening", "addr", ln.Addr().String(), "engine", db.Engine, "replicas", c.SQLReplicas != "")
	return serve(ctx, ln, serviceMux(h.Routes, db))
}

// subcommand splits a service's subcommand (the first of subs, serve,
// when none is given) from its flags.
func subcommand(cmd string, args []string, subs ...string) (string, []string, error) {
	sub := subs[0]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	if !slices.Contains(subs, sub) {
		return "", nil, fmt.Errorf("reel %s: unknown command %q; use %s or %s", cmd, sub,
			strings.Join(subs[:len(subs)-1], ", "), subs[len(subs)-1])
	}
	return sub, args, nil
}

// openSQL opens the viewer side's SQL store the configuration names;
// with migrate false, its services only check their schema.
func openSQL(ctx context.Context, c *config.Config, migrate bool) (*sqlstore.DB, error) {
	dsn := c.SQLDB
	if dsn == "" {
		dsn = "sqlite:reel.db"
	}
	var replicas []string
	for _, r := range strings.Split(c.SQLReplicas, ",") {
		if r = strings.TrimSpace(r); r != "" {
			replicas = append(replicas, r)
		}
	}
	return sqlstore.Open(ctx, sqlstore.Config{DSN: dsn, Replicas: replicas, CommitTimeout: c.SQLCommitTimeout, NoMigrate: !migrate})
}

// openAccounts opens the store the configuration names and the service
// on it; migrate migrates the schema and seeds the plans.
func openAccounts(ctx context.Context, c *config.Config, migrate bool) (*sqlstore.DB, *accounts.Service, error) {
	db, err := openSQL(ctx, c, migrate)
	if err != nil {
		return nil, nil, err
	}
	svc, err := accounts.New(ctx, db, accounts.Config{})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, svc, nil
}

// serviceMux serves a viewer-side service's routes with /healthz (200
// while the SQL primary answers) and /metrics (replica lag).
func serviceMux(routes func(*http.ServeMux), db *sqlstore.DB) http.Handler {
	m := metrics.New()
	m.Registry.MustRegister(sqlstore.Collector{DB: db})
	return healthMux(func(mux *http.ServeMux) {
		routes(mux)
		mux.Handle("GET /metrics", m.Handler())
	}, func(ctx context.Context) error {
		if err := db.Primary().PingContext(ctx); err != nil {
			return fmt.Errorf("the SQL store does not answer: %w", err)
		}
		return nil
	})
}

// adminKeys authorises operators' requests (billing, catalog edits,
// services' events) with an admin API key.
func adminKeys(keys *store.CachedKeys) func(*http.Request) bool {
	return apiKeys(keys, func(k pipeline.Key) bool { return k.Admin })
}

// apiKeys authorises requests that carry an API key from the key store
// the API uses (not a viewer's session) for which allow is true.
func apiKeys(keys *store.CachedKeys, allow func(pipeline.Key) bool) func(*http.Request) bool {
	return func(r *http.Request) bool {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.HasPrefix(key, accounts.SessionPrefix) {
			return false
		}
		rec, err := keys.Lookup(r.Context(), strings.TrimSpace(key))
		if err != nil && !errors.Is(err, pipeline.ErrNoKey) {
			slog.Default().Warn("cannot check an API key", "err", err)
		}
		return err == nil && allow(rec)
	}
}
