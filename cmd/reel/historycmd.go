package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/history"
	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/store"
)

// CompactTask is the asynq task of a history compaction.
const CompactTask = "history:compact"

// runHistory runs the viewing history service: its HTTP API and its
// compaction, an asynq periodic task.
func runHistory(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("history", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("history", stderr)
	live, queue, closeLive, err := openLive(c.HistoryLive)
	if err != nil {
		return err
	}
	defer closeLive()
	s3, err := s3For(c, nil, log)
	if err != nil {
		return err
	}
	if err := retry(ctx, 30*time.Second, func() error { return s3.EnsureBuckets(ctx) }); err != nil {
		return fmt.Errorf("prepare buckets: %w", err)
	}
	st := &history.Store{Live: live, Blocks: s3, Bucket: c.Bucket}
	db, err := openSQL(ctx, c, false)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := accounts.New(ctx, db, accounts.Config{})
	if err != nil {
		return err
	}
	h := &history.Handler{Store: st, Viewers: historyViewers(&entitlements{svc: svc, ttl: time.Minute}), CompactAfter: c.HistoryCompactAfter, Log: log}
	if rdb := redisFor(c); rdb != nil {
		defer rdb.Close()
		h.Admin = adminKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
		stop, err := scheduleCompaction(c.HistoryCompactEvery, c.HistoryCompactAfter, queue, st, redisOpt(c), log)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		log.Warn("no Redis configured: no scheduled compaction, and operator requests are refused")
	}
	// Players' view events feed the live section, when there is an
	// event log.
	if c.NatsURL != "" {
		j, err := eventLog(ctx, c, "reel-history", false)
		if err != nil {
			return err
		}
		defer j.Close()
		defer startConsumer(ctx, j, "history-writer", events.SubjectRoot+".view.>", log, func(cons events.Consumer) {
			events.Consume(ctx, cons, 1000, 500*time.Millisecond, (&history.Writer{Store: st, Log: log}).Handle, log.With("consumer", "history-writer"))
		})()
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("history listen %s: %w", c.Addr, err)
	}
	log.Info("history listening", "addr", ln.Addr().String(), "live", c.HistoryLive, "compact_after", c.HistoryCompactAfter)
	return serve(ctx, ln, serviceMux(h.Routes, db))
}

// openLive opens the live section REEL_HISTORY_LIVE names, with the asynq
// queue of its compactions: one per pebble folder (only its process can
// compact it), one for a Redis Cluster (any instance can).
func openLive(spec string) (history.Live, string, func(), error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "pebble":
		dir, err := filepath.Abs(arg)
		if err != nil || arg == "" {
			return nil, "", nil, fmt.Errorf("REEL_HISTORY_LIVE %q: pebble:DIR", spec)
		}
		p, err := history.OpenPebble(dir)
		if err != nil {
			return nil, "", nil, err
		}
		host, _ := os.Hostname()
		sum := sha256.Sum256([]byte(host + ":" + dir))
		return p, "history-" + hex.EncodeToString(sum[:6]), func() { p.Close() }, nil
	case "redis-cluster":
		addrs := strings.Split(arg, ",")
		if arg == "" {
			return nil, "", nil, fmt.Errorf("REEL_HISTORY_LIVE %q: redis-cluster:HOST:PORT,HOST:PORT", spec)
		}
		rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		return &history.Redis{C: rc}, "history", func() { rc.Close() }, nil
	}
	return nil, "", nil, fmt.Errorf("REEL_HISTORY_LIVE %q: use pebble:DIR or redis-cluster:HOST:PORT,HOST:PORT", spec)
}

// scheduleCompaction registers the compaction as an asynq periodic task
// every interval on queue, and runs it (one at a time) in this process.
func scheduleCompaction(every, after time.Duration, queue string, st *history.Store, opt asynq.RedisConnOpt, log *slog.Logger) (stop func(), err error) {
	return runPeriodic(opt, queue, CompactTask, every, func(ctx context.Context) error {
		rep, err := st.Compact(ctx, time.Now().Add(-after))
		if err != nil {
			return fmt.Errorf("history compaction: %w", err)
		}
		log.Info("history compacted", "profiles", rep.Profiles, "rows", rep.Rows, "blocks", rep.Blocks,
			"compressed_bytes_per_row", strconv.FormatFloat(rep.BytesPerRow, 'f', 1, 64), "recovered", rep.Recovered)
		return nil
	})
}

// historyViewers lets a viewer's session read and write its own
// profiles' history.
func historyViewers(e *entitlements) func(*http.Request, string) error {
	return func(r *http.Request, profile string) error {
		_, err := e.viewer(r, profile)
		var d *playback.Denied
		if errors.As(err, &d) {
			return &history.Denied{Status: d.Status, Code: d.Code, Message: d.Message}
		}
		return err
	}
}
