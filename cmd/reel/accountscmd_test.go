package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/store"
)

func TestAccountsCommands(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "accounts.db")
	out, stderr, err := runArgs("accounts", "migrate", "--db", dsn)
	if err != nil || !strings.Contains(out, "schema at version") {
		t.Fatalf("reel accounts migrate: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = runArgs("accounts", "audit", "--db", dsn)
	var a accounts.Audit
	if err != nil || json.Unmarshal([]byte(out), &a) != nil || !a.OK() || a.Books != 2 {
		t.Fatalf("reel accounts audit: %v\n%s%s", err, out, stderr)
	}
	if _, _, err := runArgs("accounts", "bogus"); err == nil || !strings.Contains(err.Error(), "serve, migrate or audit") {
		t.Fatalf("reel accounts bogus: %v", err)
	}
	if _, _, err := runArgs("accounts", "audit", "--db", "postgres://x"); err == nil || !strings.Contains(err.Error(), "sqlite:") {
		t.Fatalf("a DSN of another engine: %v", err)
	}
	if _, _, err := runArgs("accounts", "audit", "--db", "mysql://reel:pw@127.0.0.1:1/reel", "--migrate=false"); err == nil {
		t.Fatal("an unreachable MariaDB opened")
	}
}

// TestAccountsOperatorKeys lets an admin API key (from the API's key
// store in Redis) bill, and refuses tenants' keys and viewer sessions.
func TestAccountsOperatorKeys(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	defer rdb.Close()
	keys := &store.Keys{C: rdb}
	admin, _, err := keys.Create(ctx, "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	tenant, _, err := keys.Create(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Defaults("accounts")
	if err != nil {
		t.Fatal(err)
	}
	c.SQLDB = "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	db, svc, err := openAccounts(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(serviceMux((&accounts.Handler{Svc: svc, Admin: adminKeys(&store.CachedKeys{Keys: keys})}).Routes, db))
	defer srv.Close()
	get := func(path, key string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for key, want := range map[string]int{admin: 200, tenant: 403, "rvs_viewer": 403, "nonsense": 403} {
		if got := get("/v1/accounts/audit", key); got != want {
			t.Errorf("audit with key %.8s…: %d, want %d", key, got, want)
		}
	}
	if got := get("/healthz", ""); got != 200 {
		t.Errorf("/healthz: %d", got)
	}
	if got := get("/metrics", ""); got != 200 {
		t.Errorf("/metrics: %d", got)
	}
	if got := get("/v1/nothing", ""); got != 404 {
		t.Errorf("unknown route: %d", got)
	}
}
