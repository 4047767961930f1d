package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/archive"
	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/internal/jsonhttp"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playback"
	"github.com/reel-video/reel/store"
	"github.com/reel-video/reel/support"
)

// runNats runs a NATS server with JetStream: alone, or one of a cluster
// (--cluster NAME --routes ...), for deployments without the nats-server
// binary.
func runNats(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("nats", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("nats", stderr)
	name := c.NatsName
	if name == "" {
		_, port, _ := net.SplitHostPort(c.Addr)
		name = "nats-" + port
	}
	o := events.ServerOptions{Name: name, Dir: c.NatsDir, Addr: c.Addr}
	if c.NatsCluster != "" {
		o.Cluster, o.ClusterAddr = c.NatsCluster, c.NatsRouteAddr
		for _, r := range strings.Split(c.NatsRoutes, ",") {
			if r = strings.TrimSpace(r); r != "" {
				o.Routes = append(o.Routes, r)
			}
		}
	}
	s, err := events.StartServer(o)
	if err != nil {
		return err
	}
	log.Info("NATS listening", "url", s.URL(), "dir", c.NatsDir, "cluster", c.NatsCluster)
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-ctx.Done():
		s.Shutdown()
	case <-done:
	}
	return nil
}

// eventLog connects to the configured NATS servers; ensure also creates
// the stream (the collector's job).
func eventLog(ctx context.Context, c *config.Config, client string, ensure bool) (*events.JetStream, error) {
	j, err := events.Connect(c.NatsURL, client)
	if err != nil {
		return nil, err
	}
	if ensure {
		if err := j.EnsureStream(ctx, events.StreamConfig{Replicas: c.EventsReplicas, MaxAge: c.EventsMaxAge}); err != nil {
			j.Close()
			return nil, err
		}
	}
	return j, nil
}

// startConsumer runs the durable consumer name of subject in the
// background until ctx ends; the function it returns waits for it.
func startConsumer(ctx context.Context, j *events.JetStream, name, subject string, log *slog.Logger, run func(events.Consumer)) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons, err := j.Consumer(ctx, name, []string{subject})
		if err != nil {
			log.Error("a consumer cannot start", "consumer", name, "err", err)
			return
		}
		run(cons)
	}()
	return func() { <-done }
}

// emitterFor starts the emitter a process reports its own events
// through, or returns nil (reporting off) when no NATS is configured.
// stop publishes what is left, for a second at most, and disconnects.
func emitterFor(c *config.Config, source string, log *slog.Logger) (*events.Emitter, func()) {
	if c.NatsURL == "" {
		return nil, func() {}
	}
	j, err := events.Connect(c.NatsURL, "reel-"+source)
	if err != nil {
		log.Warn("cannot report events", "err", err)
		return nil, func() {}
	}
	e := &events.Emitter{Log: j, Source: source, Max: c.EventsBuffer, Logger: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	return e, func() {
		cancel()
		<-done
		if st := e.Stats(); st.Dropped > 0 {
			log.Warn("events dropped while NATS was unreachable", "dropped", st.Dropped)
		}
		j.Close()
	}
}

// runCollect runs the event collector (POST /v1/events) and the
// archiver, which writes the stream to hourly objects on S3.
func runCollect(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("collect", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("collect", stderr)
	db, svc, err := openAccounts(ctx, c, false)
	if err != nil {
		return err
	}
	defer db.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	j, err := eventLog(sctx, c, "reel-collect", true)
	cancel()
	if err != nil {
		return err
	}
	defer j.Close()
	s3, err := s3For(c, nil, log)
	if err != nil {
		return err
	}
	if err := retry(ctx, 30*time.Second, func() error { return s3.EnsureBuckets(ctx) }); err != nil {
		return fmt.Errorf("prepare buckets: %w", err)
	}
	var admin func(*http.Request) bool
	if rdb := redisFor(c); rdb != nil {
		defer rdb.Close()
		admin = adminKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
	}
	col := &events.Collector{Log: j, Auth: (&reporters{ents: &entitlements{svc: svc, ttl: time.Minute}, admin: admin}).identity, Logger: log}
	arch := &archive.Archiver{Store: s3, Bucket: c.Bucket, Log: log.With("consumer", "archiver")}
	if c.CollectArchive {
		defer startConsumer(ctx, j, "archiver", events.SubjectRoot+".>", log, func(cons events.Consumer) {
			// Big batches make few objects; 5 s bounds how long an event
			// waits for its object.
			arch.Run(ctx, cons, 5000, 5*time.Second)
		})()
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("collect listen %s: %w", c.Addr, err)
	}
	log.Info("collector listening", "addr", ln.Addr().String(), "nats", c.NatsURL, "archiver", c.CollectArchive, "archive", "s3://"+c.Bucket+"/"+archive.Prefix)
	return serve(ctx, ln, serviceMux(col.Routes, db))
}

// reporters says who posts events: a viewer's session (their own events,
// through the same remembered answers as entitlements) or an admin key
// (a service's, anyone's).
type reporters struct {
	ents  *entitlements
	admin func(*http.Request) bool
}

func (rp *reporters) identity(r *http.Request) (events.Identity, error) {
	token := bearer(r)
	if token == "" {
		return events.Identity{}, &jsonhttp.Denied{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "events need a viewer's session (Authorization: Bearer) or an admin API key"}
	}
	if !strings.HasPrefix(token, accounts.SessionPrefix) {
		if rp.admin != nil && rp.admin(r) {
			return events.Identity{Service: true}, nil
		}
		return events.Identity{}, &jsonhttp.Denied{Status: http.StatusForbidden, Code: "forbidden", Message: "only admin API keys report services' events"}
	}
	account, err := rp.ents.account(r)
	if err != nil {
		return events.Identity{}, asJSONDenied(err)
	}
	return events.Identity{User: strconv.FormatInt(account, 10), Profile: func(id string) bool {
		v, err := rp.ents.viewer(r, id)
		return err == nil && v.Account == account
	}}, nil
}

// asJSONDenied turns entitlements' refusal into the viewer-side services'
// one; other errors pass.
func asJSONDenied(err error) error {
	var d *playback.Denied
	if errors.As(err, &d) {
		return &jsonhttp.Denied{Status: d.Status, Code: d.Code, Message: d.Message}
	}
	return err
}

// runSupport runs the support look-up: the indexer, a durable consumer
// of every event, and its HTTP API for support and admin keys.
func runSupport(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("support", args, stderr, nil)
	if err != nil {
		return err
	}
	log := logger("support", stderr)
	dir, err := filepath.Abs(c.SupportIndex)
	if err != nil {
		return err
	}
	x, err := support.Open(dir, c.SupportShards)
	if err != nil {
		return err
	}
	defer x.Close()
	j, err := eventLog(ctx, c, "reel-support", false)
	if err != nil {
		return err
	}
	defer j.Close()
	h := &support.Handler{Index: x, Log: log}
	if rdb := redisFor(c); rdb != nil {
		defer rdb.Close()
		h.Allowed = supportKeys(&store.CachedKeys{Keys: &store.Keys{C: rdb}})
	} else {
		log.Warn("no Redis configured: every look-up is refused")
	}
	defer startConsumer(ctx, j, "support-indexer", events.SubjectRoot+".>", log, func(cons events.Consumer) {
		// Small waits: a reported error is searchable within a second.
		events.Consume(ctx, cons, 1000, 200*time.Millisecond, (&support.Indexer{Index: x}).Handle, log.With("consumer", "support-indexer"))
	})()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("support listen %s: %w", c.Addr, err)
	}
	log.Info("support look-up listening", "addr", ln.Addr().String(), "index", dir, "shards", x.Shards())
	return serve(ctx, ln, healthMux(h.Routes, func(context.Context) error {
		_, err := x.Count()
		return err
	}))
}

// healthMux serves a service's routes with /healthz (200 while health
// returns nil) and a JSON 404 for the rest.
func healthMux(routes func(*http.ServeMux), health func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := health(r.Context()); err != nil {
			jsonhttp.Error(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		jsonhttp.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route for %s %s; see the README's viewer-side section", r.Method, r.URL.Path))
	})
	return mux
}

// supportKeys lets support and admin API keys look viewers up.
func supportKeys(keys *store.CachedKeys) func(*http.Request) bool {
	return apiKeys(keys, func(k pipeline.Key) bool { return k.Admin || k.Support })
}
