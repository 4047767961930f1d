package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
	"github.com/reel-video/reel/webhooks"
	"github.com/reel-video/reel/workers"
)

const usage = `reel: a self-hosted video transcoding pipeline

Servers:
  reel dev     [--addr HOST:PORT] [--data DIR] [--workers N] [--edges N] [--platform [--mariadb]]
                                                                           whole stack on one machine
  reel api     [--addr HOST:PORT] [--redis HOST:PORT] [--s3 HOST:PORT]
  reel worker  [--concurrency N] [--redis HOST:PORT] [--s3 HOST:PORT]
  reel edge    --dir DIR [--zone Z] [--addr HOST:PORT] [--redis HOST:PORT] [--s3 HOST:PORT]
  reel gateway --upstream ZONE=URL,... [--addr HOST:PORT] [--redis HOST:PORT]
  reel accounts [serve|migrate|audit] [--db DSN] [--replicas DSN,...] [--addr HOST:PORT] [--redis HOST:PORT]
  reel catalog  [serve|migrate] [--db DSN] [--index DIR] [--addr HOST:PORT] [--redis HOST:PORT]
  reel history  [--live pebble:DIR|redis-cluster:HOST:PORT,...] [--db DSN] [--addr HOST:PORT] [--redis HOST:PORT] [--s3 HOST:PORT]

  reel collect  [--nats URL] [--db DSN] [--addr HOST:PORT] [--s3 HOST:PORT] [--redis HOST:PORT]
                                                                           event collector (POST /v1/events) and archiver
  reel support  [--nats URL] [--index DIR] [--addr HOST:PORT] [--redis HOST:PORT]
                                                                           support look-up of viewers' events
  reel recs     [serve|train] --catalog URL [--db DSN] [--addr HOST:PORT] [--s3 HOST:PORT] [--redis HOST:PORT]
                                                                           recommendations: serve them, or train once
  reel nats     [--addr HOST:PORT] [--dir DIR] [--cluster NAME --routes nats-route://HOST:PORT,...]
                                                                           a NATS server with JetStream (the event log)

  reel config  [--markdown]                                                every setting: variable, flag, default, meaning

Client (--api URL or REEL_API, default http://127.0.0.1:8080; --key KEY or REEL_API_KEY):
  reel upload FILE [--ladder FILE.json] [--subtitles LANG=FILE,...] [--watch]   resumable: run again to resume
  reel watch ID
  reel status ID [--json]
  reel jobs [--limit N]
  reel cancel ID
  reel delete-title ID                              delete an ended job's title, master and work objects
  reel retry ID [--watch]                           re-run the stages a failed job did not finish
  reel keys create --tenant NAME [--admin|--support]  (admin key) prints a new API key
  reel keys list | reel keys revoke ID              (admin key)
  reel webhooks create URL [--events E,...] [--job ID]  prints the new endpoint's signing secret
  reel webhooks list | delete ID | deliveries ID [--limit N]
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stdout, stderr)
	case "api":
		return runAPI(ctx, rest, stderr)
	case "worker":
		return runWorker(ctx, rest, stderr)
	case "edge":
		return runEdge(ctx, rest, stderr)
	case "gateway":
		return runGateway(ctx, rest, stderr)
	case "accounts":
		return runAccounts(ctx, rest, stdout, stderr)
	case "catalog":
		return runCatalog(ctx, rest, stdout, stderr)
	case "history":
		return runHistory(ctx, rest, stderr)
	case "collect":
		return runCollect(ctx, rest, stderr)
	case "support":
		return runSupport(ctx, rest, stderr)
	case "recs":
		return runRecs(ctx, rest, stdout, stderr)
	case "nats":
		return runNats(ctx, rest, stderr)
	case "config":
		return runConfig(rest, stdout, stderr)
	case "upload", "watch", "status", "jobs", "cancel", "delete-title", "retry", "keys", "webhooks":
		return runClient(ctx, cmd, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "reel: unknown command %q\n\n%s", cmd, usage)
	return exitCode(2)
}

// runConfig prints every setting from its one definition, as text or as
// the README's Markdown table.
func runConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reel config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.Bool("markdown", false, "print the README's Markdown table")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *md {
		fmt.Fprint(stdout, config.Markdown())
		return nil
	}
	fmt.Fprint(stdout, config.Text())
	return nil
}

func logger(component string, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", component)
}

// stack holds the connections shared by the API and the workers, and
// the emitter they report events through (nil: none).
type stack struct {
	rdb    redis.UniversalClient
	q      *queue.Asynq
	svc    *pipeline.Service
	events *events.Emitter
	stopEv func()
}

// connect opens Redis and the queue; jobs are read through the shared
// cache when one is configured.
func connect(c *config.Config, source string, log *slog.Logger) (*stack, error) {
	cache, err := cacheFor(c, log)
	if err != nil {
		return nil, err
	}
	rdb := redisClient(c)
	q := queue.New(redisOpt(c))
	q.Redis = rdb
	var st pipeline.Store = &store.Redis{C: rdb}
	if cache != nil {
		st = &pipeline.CachedStore{Store: st, Cache: cache}
	}
	svc := &pipeline.Service{Store: st, Queue: q, Log: log}
	if c.TenantRunningJobs > 0 {
		svc.Admission = &store.Admission{C: rdb, Share: c.TenantRunningJobs}
	}
	hooks := &webhooks.Notifier{Store: &store.Webhooks{C: rdb}, Queue: &queue.Webhooks{Client: q.Client}, Log: log}
	em, stopEv := emitterFor(c, source, log)
	quotas, usage := &store.Quotas{C: rdb}, &store.Usage{C: rdb}
	svc.Notify = func(ctx context.Context, j *pipeline.Job, event string) {
		if event == pipeline.EventCompleted {
			// A finished title's bytes count against its tenant.
			if err := usage.Set(ctx, j.Tenant, j.ID, j.StoredBytes); err != nil {
				log.Warn("cannot count a finished title's bytes for its tenant", "job", j.ID, "err", err)
			}
		}
		if event != pipeline.EventCreated {
			// An ended job no longer counts against its tenant's limit.
			if err := quotas.Release(ctx, j.Tenant, j.ID); err != nil {
				log.Warn("cannot release an ended job from its tenant's count", "job", j.ID, "err", err)
			}
		}
		hooks.Notify(ctx, j, event)
		em.Emit(jobEvent(j, event))
	}
	if n := c.RedisReplicas(); n > 0 {
		d := &store.Durable{C: rdb, Replicas: n, Timeout: c.RedisWaitTimeout}
		svc.Commit = func(ctx context.Context, j *pipeline.Job, _ pipeline.Task) error {
			return d.Wait(ctx, append(store.JobKeys(j), queue.SlotKeyFor(j.Ladder.Priority))...)
		}
	}
	return &stack{rdb: rdb, q: q, svc: svc, events: em, stopEv: stopEv}, nil
}

func (s *stack) Close() { s.stopEv(); _ = s.q.Close(); _ = s.rdb.Close() }

// jobEvent is a job's lifecycle event for the event pipeline: title is
// the job's id.
func jobEvent(j *pipeline.Job, event string) events.Event {
	ev := events.Event{Type: event, Title: j.ID, Attrs: map[string]string{"tenant": j.Tenant, "status": string(j.Status)}}
	if j.Error != nil {
		ev.Code, ev.Message = j.Error.Code, j.Error.Message
	}
	return ev
}

func runAPI(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("api", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := c.Validate("api"); err != nil {
		return err
	}
	return serveAPI(ctx, c, nil, nil, logger("api", stderr))
}

// serveAPI runs the API until ctx ends. ready, if set, adds a readiness
// condition to /healthz.
func serveAPI(ctx context.Context, c *config.Config, ready func(context.Context) error, onAdminKey func(string), log *slog.Logger) error {
	st, err := connect(c, "api", log)
	if err != nil {
		return err
	}
	defer st.Close()
	m := metrics.New()
	m.Registry.MustRegister(queue.Collector{Inspector: st.q.Inspector})
	s3, err := s3For(c, m, log)
	if err != nil {
		return err
	}
	if err := retry(ctx, 30*time.Second, func() error { return s3.EnsureBuckets(ctx) }); err != nil {
		return fmt.Errorf("prepare buckets: %w", err)
	}
	var staleLogged atomic.Int64
	keys := &store.CachedKeys{Keys: &store.Keys{C: st.rdb}, OnStale: func(k pipeline.Key, err error) {
		if now := time.Now().Unix(); now-staleLogged.Swap(now) >= 10 { // once in 10 s at most
			log.Warn("key store unreachable; trusting keys found before", "key_id", k.ID, "err", err)
		}
	}}
	zones, err := edge.ParseZoneMap(c.ZoneMap)
	if err != nil {
		return err
	}
	// Steering keeps its own edge map, so it answers while Redis is down.
	steer := &edge.Steering{Registry: &store.Edges{C: st.rdb}, Zones: zones, Log: log}
	go steer.Run(ctx)
	if c.AdminKeyFile != "" {
		var key string
		err := retry(ctx, 30*time.Second, func() (err error) { key, err = ensureAdminKey(ctx, keys.Keys, c.AdminKeyFile); return err })
		if err != nil {
			return err
		}
		if onAdminKey != nil {
			onAdminKey(key)
		}
	}
	resumable, err := api.NewResumable(api.ResumableConfig{Store: s3.UploadStore(c.WorkDir), MaxSize: c.MaxUpload,
		Stall: c.StallTimeout, Locker: &store.UploadLocker{C: st.rdb}})
	if err != nil {
		return err
	}
	if c.UploadExpiry > 0 {
		stop, err := expireUploads(c, s3, resumable, st.svc.Store, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	monitoring := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: redisOpt(c)})
	defer monitoring.Close()
	// The backlog estimate job creation is admitted by, sampled every 2 s
	// until the API stops.
	drain := &queue.Drain{Inspector: st.q.Inspector}
	dctx, stopDrain := context.WithCancel(ctx)
	drained := make(chan struct{})
	go func() { defer close(drained); drain.Run(dctx, 2*time.Second) }()
	defer func() { stopDrain(); <-drained }()
	signer, tokens, err := playbackTokens(c, playtoken.OriginZone)
	if err != nil {
		return err
	}
	hookPolicy, err := policy("REEL_WEBHOOK_ALLOW", c.WebhookAllow)
	if err != nil {
		return err
	}
	ingestPolicy, err := policy("REEL_INGEST_ALLOW", c.IngestAllow)
	if err != nil {
		return err
	}
	hooks := &store.Webhooks{C: st.rdb}
	deliveries, err := queue.WebhookServer(redisOpt(c), c.WebhookConcurrency, &webhooks.Deliverer{Store: hooks, Client: hookPolicy.Client(webhooks.DeliveryTimeout)}, nil)
	if err != nil {
		return err
	}
	defer deliveries.Shutdown()
	master, err := keyMaster(c)
	if err != nil {
		return err
	}
	originHandler := originPath(s3, tokens)
	srv := &api.Server{
		Svc: st.svc, Uploads: s3, PublicURL: s3.PublicURL, MaxUploadBytes: c.MaxUpload, Log: log, KeyMaster: master,
		Signer: signer, Origin: originHandler, Webhooks: hooks, WebhookPolicy: hookPolicy, IngestPolicy: ingestPolicy,
		Quotas: &store.Quotas{C: st.rdb}, MaxJobsPerTenant: c.TenantMaxJobs, Usage: &store.Usage{C: st.rdb}, MaxBytesPerTenant: c.TenantMaxBytes,
		PresignForeign: func(ctx context.Context, f api.ForeignSource, bucket, key string, ttl time.Duration) (string, error) {
			return origin.PresignForeign(ctx, f.Endpoint, f.Region, f.AccessKey, f.SecretKey, !f.Insecure, bucket, key, ttl)
		},
		Keys: keys, RateLimit: c.RateLimit, StallTimeout: c.StallTimeout, Resumable: resumable, Steering: steer,
		Metrics: m, HLSJS: c.HLSJS, Backlog: drain.Last, MaxQueueWait: c.MaxQueueWait,
		Monitoring: monitoring,
		Workers:    func(ctx context.Context) (any, error) { return st.q.Workers(ctx) },
		Ready: func(ctx context.Context) error {
			if err := st.rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			if err := s3.Ping(ctx); err != nil {
				return fmt.Errorf("s3: %w", err)
			}
			if ready != nil {
				return ready(ctx)
			}
			return nil
		},
	}
	originHandler.Keys = srv.ServeKey
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", c.Addr, err)
	}
	log.Info("api listening", "addr", ln.Addr().String())
	return serve(ctx, ln, srv.Handler())
}

// serve answers HTTP on ln until ctx ends, then lets requests in flight
// finish for up to 10 s.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}

func retry(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("worker", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := c.Validate("worker"); err != nil {
		return err
	}
	log := logger("worker", stderr).With("pid", os.Getpid())
	st, err := connect(c, "worker", log)
	if err != nil {
		return err
	}
	defer st.Close()
	m := metrics.New()
	s3, err := s3For(c, m, log)
	if err != nil {
		return err
	}
	if c.MetricsAddr != "" {
		ln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("worker metrics listen %s: %w", c.MetricsAddr, err)
		}
		m.Registry.MustRegister(queue.Collector{Inspector: st.q.Inspector})
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		log.Info("worker metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
		go func() { _ = serve(ctx, ln, mux) }()
	}
	ingestPolicy, err := policy("REEL_INGEST_ALLOW", c.IngestAllow)
	if err != nil {
		return err
	}
	master, err := keyMaster(c)
	if err != nil {
		return err
	}
	lim := workers.Limits{Memory: c.MaxMemory, CPUPerFrame: c.CPUPerFrame}
	run := &media.Runner{FFmpeg: c.FFmpeg, FFprobe: c.FFprobe, ProbeLimits: lim.ProbeLimits()}
	w := &workers.Worker{Svc: st.svc, Objects: s3, Media: run, Limits: lim, WorkDir: c.WorkDir, Log: log,
		Announce: (&store.Edges{C: st.rdb}).Announce, MarkPublic: (&store.Edges{C: st.rdb}).MarkPublic, Metrics: m, Locks: &store.Locks{C: st.rdb},
		Slots:  func(ctx context.Context) (int, error) { return st.q.Parallel(ctx, c.EncodeCores) },
		Ingest: workers.Ingest{Client: ingestPolicy.Client(0), MaxBytes: c.MaxUpload, Stall: c.StallTimeout}, Keys: master}
	if st.events != nil {
		w.Failed = func(kind, job string, retried int, final bool, err error) {
			st.events.Emit(events.Event{Type: "error.task", Title: job, Code: kind, Message: err.Error(),
				Attrs: map[string]string{"retried": strconv.Itoa(retried), "final": strconv.FormatBool(final)}})
		}
	}
	srv := asynq.NewServer(redisOpt(c), asynq.Config{
		Concurrency: c.Concurrency, Queues: queue.ServerQueues(), StrictPriority: true, TaskCheckInterval: queue.CheckInterval,
		ErrorHandler: w.ErrorHandler(), ShutdownTimeout: c.ShutdownTimeout, LogLevel: asynq.WarnLevel,
		RetryDelayFunc: queue.RetryDelay(c.RetryDelay),
		IsFailure:      workers.IsFailure,
	})
	mux := asynq.NewServeMux()
	w.Register(mux)
	// The CPUs are announced before the worker is listed and renewed while
	// it runs (a taskset or cgroup may change them), for chunk sizing.
	host, err := os.Hostname() // asynq's name for the host
	if err != nil {
		host = "unknown-host"
	}
	announce := func() {
		if err := queue.AnnounceCPUs(ctx, st.rdb, host, os.Getpid(), queue.LocalCPUs(), cpusTTL); err != nil && ctx.Err() == nil {
			log.Warn("cannot announce the worker's CPUs", "err", err)
		}
	}
	announce()
	defer func() { _ = queue.WithdrawCPUs(context.Background(), st.rdb, host, os.Getpid()) }()
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	log.Info("worker started", "concurrency", c.Concurrency)
	go func() {
		t := time.NewTicker(cpusRenew)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				announce()
			}
		}
	}()
	<-ctx.Done()
	// Stop taking tasks, then wait up to ShutdownTimeout for running ones;
	// unfinished tasks go back to the queue.
	srv.Shutdown()
	log.Info("worker stopped")
	return nil
}

// A worker renews its CPUs every cpusRenew; a record not renewed for
// cpusTTL lapses.
const (
	cpusRenew = 2 * time.Second
	cpusTTL   = 30 * time.Second
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := loadServer("dev", args, stderr, nil)
	if err != nil {
		return err
	}
	nWorkers, nEdges := c.DevWorkers, c.DevEdges
	dataDir, err := filepath.Abs(c.DevData)
	if err != nil {
		return err
	}
	log := logger("dev", stderr)
	// Shutdown order: API, then edges and workers (SIGTERM, workers hand
	// back tasks), then memcached, MinIO and Redis, each by its deferred
	// Stop.
	switch {
	case c.HasRedis():
	case c.DevRedisHA:
		h, err := devstack.StartRedisHA(ctx, c.RedisServer, filepath.Join(dataDir, "redis-ha"), c.RedisMaster)
		if err != nil {
			return err
		}
		defer h.Stop()
		c.RedisSentinels = strings.Join(h.SentinelAddrs(), ",")
	default:
		p, err := devstack.StartRedis(ctx, c.RedisServer, filepath.Join(dataDir, "redis"))
		if err != nil {
			return err
		}
		defer p.Stop()
		c.RedisAddr = p.Addr
	}
	if c.S3Endpoint == "" && c.DevS3Nodes > 1 {
		if c.DevS3Nodes < 4 {
			return fmt.Errorf("%w: --s3-nodes: distributed MinIO needs 4 nodes or more (or 1 for a single server)", config.ErrConfig)
		}
		m, err := devstack.StartMinioCluster(ctx, c.MinioServer, filepath.Join(dataDir, "minio-cluster"), c.DevS3Nodes)
		if err != nil {
			return err
		}
		defer m.Stop()
		c.S3Endpoint, c.S3AccessKey, c.S3SecretKey = m.Addr, devstack.MinioUser, devstack.MinioPassword
	}
	if c.S3Endpoint == "" {
		p, err := devstack.StartMinio(ctx, c.MinioServer, filepath.Join(dataDir, "minio"))
		if err != nil {
			return err
		}
		defer p.Stop()
		c.S3Endpoint, c.S3AccessKey, c.S3SecretKey = p.Addr, devstack.MinioUser, devstack.MinioPassword
	}
	if c.Memcached == "" {
		// One cache replica per zone, as EVCache keeps one per zone.
		var reps []string
		for z := 1; z <= max(nEdges, 1); z++ {
			p, err := devstack.StartMemcached(ctx, c.MemcachedServer, filepath.Join(dataDir, "memcached", fmt.Sprintf("z%d", z)), 64)
			if err != nil {
				return err
			}
			defer p.Stop()
			reps = append(reps, fmt.Sprintf("z%d=%s", z, p.Addr))
		}
		c.Memcached = strings.Join(reps, ";")
	}
	c.WorkDir = filepath.Join(dataDir, "work")
	if err := os.MkdirAll(c.WorkDir, 0o755); err != nil {
		return err
	}
	if c.PlaybackKeys == "" {
		if c.PlaybackKeys, err = ensurePlaybackKeys(filepath.Join(dataDir, "playback.keys")); err != nil {
			return err
		}
	}
	if c.KeyMaster == "" {
		if c.KeyMaster, err = ensureKeyMaster(filepath.Join(dataDir, "key.master")); err != nil {
			return err
		}
	}
	if err := c.Validate("dev"); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c.AdminKeyFile = filepath.Join(dataDir, "admin.key")
	if c.DevPlatform && c.NatsURL == "" {
		// The event log: an embedded NATS server, stopped after every
		// process that reports to it.
		ns, err := events.StartServer(events.ServerOptions{Name: "reel-dev", Dir: filepath.Join(dataDir, "nats")})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		c.NatsURL = ns.URL()
	}
	env := append(os.Environ(), c.Env()...)
	ws := &procSet{self: self, kind: "worker", env: env, out: stderr, log: log,
		args: func(int) []string {
			return []string{"worker", "--concurrency", strconv.Itoa(c.Concurrency), "--metrics-addr", "127.0.0.1:0"}
		}}
	ws.start(nWorkers)
	defer ws.stop()
	if nEdges > 0 {
		es := &procSet{self: self, kind: "edge", env: env, out: stderr, log: log, args: func(i int) []string {
			zone := fmt.Sprintf("z%d", i+1)
			return []string{"edge", "--name", "edge-" + zone, "--zone", zone, "--addr", "127.0.0.1:0",
				"--dir", filepath.Join(dataDir, "edges", zone), "--key-service", localURL(c.Addr)}
		}}
		es.start(nEdges)
		defer es.stop()
	}
	platform := ""
	if c.DevPlatform {
		var stopPlatform func()
		if platform, stopPlatform, err = startPlatform(ctx, c, dataDir, self, env, stderr, log); err != nil {
			return err
		}
		defer stopPlatform()
	}
	// SIGHUP restarts the workers one at a time (after a new build, say).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				ws.rollingRestart(ctx)
			}
		}
	}()
	insp := asynq.NewInspector(redisOpt(c))
	defer insp.Close()
	ready := func(ctx context.Context) error {
		ws, err := (&queue.Asynq{Inspector: insp}).Workers(ctx)
		if err != nil {
			return err
		}
		if len(ws) < nWorkers {
			return fmt.Errorf("%d of %d workers up", len(ws), nWorkers)
		}
		return nil
	}
	redisAt := c.RedisAddr
	switch {
	case c.RedisSentinels != "":
		redisAt = "sentinels " + c.RedisSentinels + " master " + c.RedisMaster
	case c.RedisCluster != "":
		redisAt = "cluster " + c.RedisCluster
	}
	fmt.Fprintf(stdout, "reel dev: API http://%s  Redis %s  S3 http://%s  memcached %s  data %s  workers %d  edges %d\n",
		c.Addr, redisAt, c.S3Endpoint, c.Memcached, dataDir, nWorkers, nEdges)
	if platform != "" {
		fmt.Fprintf(stdout, "reel dev: %s\n", platform)
	}
	printKey := func(key string) {
		fmt.Fprintf(stdout, "reel dev: admin API key %s (saved in %s)\n  export REEL_API=http://%s REEL_API_KEY=%s\n", key, c.AdminKeyFile, c.Addr, key)
	}
	err = serveAPI(ctx, c, ready, printKey, log)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
