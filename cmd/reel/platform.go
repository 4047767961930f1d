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

// startPlatform starts the viewer side's services for reel dev, the
// accounts, catalog and history services, on SQLite under dataDir, or (--mariadb)
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
	for _, svc := range []struct {
		name  string
		extra []string
	}{
		{"accounts", []string{"serve"}},
		{"catalog", []string{"serve", "--index", filepath.Join(dataDir, "catalog.bleve")}},
		{"history", []string{"--live", "pebble:" + filepath.Join(dataDir, "history")}},
	} {
		port, err := devstack.FreePort()
		if err != nil {
			stop()
			return "", stop, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := append(append([]string{svc.name}, svc.extra...), "--addr", addr, "--db", dsn, "--replicas", replicas)
		ps := &procSet{self: self, kind: svc.name, env: env, out: out, log: log, args: func(int) []string { return args }}
		ps.start(1)
		stops = append(stops, ps.stop)
		// One at a time: the first migrates the store before the next
		// opens it.
		if err := waitHealthy(ctx, "http://"+addr+"/healthz", 60*time.Second); err != nil {
			stop()
			return "", stop, fmt.Errorf("the %s service did not come up: %w", svc.name, err)
		}
		banner += fmt.Sprintf("%s http://%s  ", svc.name, addr)
	}
	return banner + "(" + store + ")", stop, nil
}

// waitHealthy polls url until it answers 200 or d passes.
func waitHealthy(ctx context.Context, url string, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
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
