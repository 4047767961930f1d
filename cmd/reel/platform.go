package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/devstack"
)

// startPlatform starts the viewer side's services for reel dev: the
// accounts, catalog and history services, the event collector, support
// look-up and the recommender (the event log is the embedded NATS server
// runDev started), on SQLite under dataDir, or (--mariadb)
// on a MariaDB master pair with a read replica that it starts too. It
// returns a line for the banner and a stop function, which stops the
// services first and the databases after them.
func startPlatform(ctx context.Context, c *config.Config, dataDir, self string, env []string, out io.Writer, log *slog.Logger) (string, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	dsn, replicas, store := c.SQLDB, c.SQLReplicas, ""
	switch {
	case c.DevMariaDB:
		dir := filepath.Join(dataDir, "mariadb")
		ms, err := devstack.StartMariaDBPair(ctx, c.MariaDBServer, dir)
		if err != nil {
			return "", stop, err
		}
		stops = append(stops, ms[0].Stop, ms[1].Stop)
		rep, err := devstack.StartMariaDB(ctx, c.MariaDBServer, filepath.Join(dir, "replica"), devstack.MariaDBOptions{ServerID: 3, ReadOnly: true})
		if err != nil {
			stop()
			return "", stop, err
		}
		stops = append(stops, rep.Stop)
		if err := rep.ReplicateFrom(ctx, ms[0]); err != nil {
			stop()
			return "", stop, err
		}
		dsn, replicas = ms[0].DSN(), rep.DSN()
		store = fmt.Sprintf("MariaDB masters 127.0.0.1:%d and 127.0.0.1:%d (semi-synchronous), replica 127.0.0.1:%d", ms[0].Port, ms[1].Port, rep.Port)
	case dsn == "":
		dsn = "sqlite:" + filepath.Join(dataDir, "platform.db")
		store = dsn
	default:
		store = "SQL store from REEL_SQL_DB"
	}
	banner := ""
	var urls []string // the gateway's --accounts, --catalog, ...
	catalogURL := ""
	for _, svc := range []struct {
		name, gatewayFlag string
		extra             []string
	}{
		{"accounts", "accounts", []string{"serve"}},
		{"catalog", "catalog", []string{"serve", "--index", filepath.Join(dataDir, "catalog.bleve"), "--key-service", localURL(c.Addr)}},
		{"history", "history", []string{"--live", "pebble:" + filepath.Join(dataDir, "history")}},
		{"collect", "events", nil},
		{"support", "support", []string{"--index", filepath.Join(dataDir, "support")}},
		{"recs", "recs", []string{"serve"}},
	} {
		port, err := devstack.FreePort()
		if err != nil {
			stop()
			return "", stop, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := append(append([]string{svc.name}, svc.extra...), "--addr", addr)
		switch svc.name {
		case "support":
		case "recs":
			args = append(args, "--catalog", catalogURL, "--db", dsn, "--replicas", replicas)
		default:
			args = append(args, "--db", dsn, "--replicas", replicas)
		}
		ps := &procSet{self: self, kind: svc.name, env: env, out: out, log: log, args: func(int) []string { return args }}
		ps.start(1)
		stops = append(stops, ps.stop)
		// One at a time: the first migrates the store before the next
		// opens it.
		if err := waitHealthy(ctx, "http://"+addr+"/healthz", 60*time.Second); err != nil {
			stop()
			return "", stop, fmt.Errorf("the %s service did not come up: %w", svc.name, err)
		}
		if svc.name == "catalog" {
			catalogURL = "http://" + addr
		}
		banner += fmt.Sprintf("%s http://%s  ", svc.name, addr)
		urls = append(urls, "--"+svc.gatewayFlag, "z1=http://"+addr)
	}
	// A gateway in front of the API and the services: the viewers' page
	// calls them all by relative URL through it.
	port, err := devstack.FreePort()
	if err != nil {
		stop()
		return "", stop, err
	}
	gw := "127.0.0.1:" + strconv.Itoa(port)
	gargs := append([]string{"gateway", "--addr", gw, "--upstream", "z1=http://" + c.Addr}, urls...)
	gs := &procSet{self: self, kind: "gateway", env: env, out: out, log: log, args: func(int) []string { return gargs }}
	gs.start(1)
	stops = append(stops, gs.stop)
	// It answers once it listens; it is healthy once the API, which
	// starts after it, is.
	if err := waitAnswer(ctx, "http://"+gw+"/gateway/healthz", 60*time.Second); err != nil {
		stop()
		return "", stop, fmt.Errorf("the gateway did not come up: %w", err)
	}
	return banner + "(" + store + ")\nreel dev: gateway http://" + gw + "  viewers' page http://" + gw + "/ui/watch.html  support page http://" + gw + "/ui/support.html", stop, nil
}

// waitAnswer polls url until it answers at all, or d passes.
func waitAnswer(ctx context.Context, url string, d time.Duration) error {
	return waitFor(ctx, url, d, func(int) bool { return true })
}

// waitHealthy polls url until it answers 200 or d passes.
func waitHealthy(ctx context.Context, url string, d time.Duration) error {
	return waitFor(ctx, url, d, func(status int) bool { return status == http.StatusOK })
}

func waitFor(ctx context.Context, url string, d time.Duration, ok func(int) bool) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
