package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/evcache"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/workers"
)

// exitCode ends the program with a status without printing more.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// config is the server side configuration. Defaults come first, then REEL_*
// environment variables, then flags.
type config struct {
	Addr          string // REEL_ADDR, --addr: API listen address
	RedisAddr     string // REEL_REDIS_ADDR
	RedisPassword string // REEL_REDIS_PASSWORD
	S3Endpoint    string // REEL_S3_ENDPOINT (host:port)
	S3AccessKey   string // REEL_S3_ACCESS_KEY
	S3SecretKey   string // REEL_S3_SECRET_KEY
	S3Secure      bool   // REEL_S3_SECURE
	S3Region      string // REEL_S3_REGION
	Bucket        string // REEL_S3_BUCKET: masters and intermediates (private)
	OriginBucket  string // REEL_ORIGIN_BUCKET: published titles (public read)
	PublicURL     string // REEL_PUBLIC_URL: base URL of the origin bucket for players
	Concurrency   int    // REEL_CONCURRENCY, --concurrency: tasks per worker
	WorkDir       string // REEL_WORK_DIR: worker scratch space
	MaxUpload     int64  // REEL_MAX_UPLOAD_BYTES
	FFmpeg        string // REEL_FFMPEG
	FFprobe       string // REEL_FFPROBE
	// MaxMemory and CPUPerFrame bound each ffmpeg run.
	MaxMemory   int64         // REEL_FFMPEG_MAX_MEMORY (bytes)
	CPUPerFrame time.Duration // REEL_FFMPEG_CPU_PER_FRAME (a duration, e.g. 1s)
	// ShutdownTimeout is how long a stopping worker lets running tasks
	// finish before it hands them back to the queue.
	ShutdownTimeout time.Duration // REEL_SHUTDOWN_TIMEOUT
	// RetryDelay is the first pause before a failed task is retried,
	// doubled each time; 0 is asynq's own (15 s to 45 s, growing).
	RetryDelay time.Duration // REEL_RETRY_DELAY
	// API keys, rate limit and uploads.
	AdminKeyFile string        // REEL_ADMIN_KEY_FILE: created with an admin key if missing
	RateLimit    int           // REEL_RATE_LIMIT: jobs a key may create a minute (0: off)
	StallTimeout time.Duration // REEL_UPLOAD_STALL_TIMEOUT
	// Zone is this process's zone: its cache replica is read first.
	Zone string // REEL_ZONE
	// Memcached lists the cache replicas, one per zone:
	// "z1=host:port[,host:port];z2=host:port". Empty: no shared cache.
	Memcached string // REEL_MEMCACHED
	// ZoneMap maps client networks to zones for steering:
	// "10.1.0.0/16=z1,10.2.0.0/16=z2".
	ZoneMap string // REEL_ZONE_MAP
	// MetricsAddr is where a worker serves /metrics; empty: not served.
	// The API serves them on its own address.
	MetricsAddr string // REEL_METRICS_ADDR, --metrics-addr
	// HLSJS is where the API's web page loads hls.js from: a URL or a
	// local file path.
	HLSJS string // REEL_UI_HLSJS
}

func defaultConfig() config {
	return config{
		Addr: "127.0.0.1:8080", Bucket: "reel-masters", OriginBucket: "reel-origin",
		Concurrency: 2, MaxUpload: 50 << 30, MaxMemory: workers.DefaultMemory, CPUPerFrame: workers.DefaultCPUPerFrame,
		ShutdownTimeout: 30 * time.Second, Zone: "z1", RateLimit: 60, StallTimeout: 60 * time.Second, FFmpeg: "ffmpeg", FFprobe: "ffprobe", WorkDir: os.TempDir(),
	}
}

func (c *config) fromEnv(getenv func(string) string) error {
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str("REEL_ADDR", &c.Addr)
	str("REEL_REDIS_ADDR", &c.RedisAddr)
	str("REEL_REDIS_PASSWORD", &c.RedisPassword)
	str("REEL_S3_ENDPOINT", &c.S3Endpoint)
	str("REEL_S3_ACCESS_KEY", &c.S3AccessKey)
	str("REEL_S3_SECRET_KEY", &c.S3SecretKey)
	str("REEL_S3_REGION", &c.S3Region)
	str("REEL_S3_BUCKET", &c.Bucket)
	str("REEL_ORIGIN_BUCKET", &c.OriginBucket)
	str("REEL_PUBLIC_URL", &c.PublicURL)
	str("REEL_WORK_DIR", &c.WorkDir)
	str("REEL_FFMPEG", &c.FFmpeg)
	str("REEL_FFPROBE", &c.FFprobe)
	if v := getenv("REEL_S3_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("REEL_S3_SECURE=%q: want true or false", v)
		}
		c.S3Secure = b
	}
	if v := getenv("REEL_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("REEL_CONCURRENCY=%q: want a number", v)
		}
		c.Concurrency = n
	}
	if v := getenv("REEL_FFMPEG_MAX_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 256<<20 {
			return fmt.Errorf("REEL_FFMPEG_MAX_MEMORY=%q: want a number of bytes, at least 268435456", v)
		}
		c.MaxMemory = n
	}
	if v := getenv("REEL_FFMPEG_CPU_PER_FRAME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("REEL_FFMPEG_CPU_PER_FRAME=%q: want a duration such as 1s or 500ms", v)
		}
		c.CPUPerFrame = d
	}
	str("REEL_ADMIN_KEY_FILE", &c.AdminKeyFile)
	str("REEL_ZONE", &c.Zone)
	str("REEL_MEMCACHED", &c.Memcached)
	str("REEL_ZONE_MAP", &c.ZoneMap)
	str("REEL_METRICS_ADDR", &c.MetricsAddr)
	str("REEL_UI_HLSJS", &c.HLSJS)
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"REEL_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout}, {"REEL_UPLOAD_STALL_TIMEOUT", &c.StallTimeout}, {"REEL_RETRY_DELAY", &c.RetryDelay}} {
		if v := getenv(d.key); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 || (x == 0 && d.key != "REEL_RETRY_DELAY") {
				return fmt.Errorf("%s=%q: want a duration such as 30s", d.key, v)
			}
			*d.dst = x
		}
	}
	if v := getenv("REEL_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("REEL_RATE_LIMIT=%q: want a number of jobs a minute (0 turns it off)", v)
		}
		c.RateLimit = n
	}
	if v := getenv("REEL_MAX_UPLOAD_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("REEL_MAX_UPLOAD_BYTES=%q: want a number of bytes", v)
		}
		c.MaxUpload = n
	}
	return nil
}

func (c *config) env() []string {
	return []string{
		"REEL_REDIS_ADDR=" + c.RedisAddr, "REEL_REDIS_PASSWORD=" + c.RedisPassword,
		"REEL_S3_ENDPOINT=" + c.S3Endpoint, "REEL_S3_ACCESS_KEY=" + c.S3AccessKey, "REEL_S3_SECRET_KEY=" + c.S3SecretKey,
		"REEL_S3_SECURE=" + strconv.FormatBool(c.S3Secure), "REEL_S3_REGION=" + c.S3Region,
		"REEL_S3_BUCKET=" + c.Bucket, "REEL_ORIGIN_BUCKET=" + c.OriginBucket, "REEL_PUBLIC_URL=" + c.PublicURL,
		"REEL_WORK_DIR=" + c.WorkDir, "REEL_FFMPEG=" + c.FFmpeg, "REEL_FFPROBE=" + c.FFprobe,
		"REEL_FFMPEG_MAX_MEMORY=" + strconv.FormatInt(c.MaxMemory, 10), "REEL_FFMPEG_CPU_PER_FRAME=" + c.CPUPerFrame.String(), "REEL_SHUTDOWN_TIMEOUT=" + c.ShutdownTimeout.String(),
		"REEL_RETRY_DELAY=" + c.RetryDelay.String(), "REEL_UPLOAD_STALL_TIMEOUT=" + c.StallTimeout.String(),
		"REEL_RATE_LIMIT=" + strconv.Itoa(c.RateLimit), "REEL_MAX_UPLOAD_BYTES=" + strconv.FormatInt(c.MaxUpload, 10),
		"REEL_ZONE=" + c.Zone, "REEL_MEMCACHED=" + c.Memcached, "REEL_ZONE_MAP=" + c.ZoneMap,
		"REEL_UI_HLSJS=" + c.HLSJS,
	}
}

// Validate names the first missing or bad setting.
func (c *config) Validate() error {
	var errs []string
	if c.RedisAddr == "" {
		errs = append(errs, "REEL_REDIS_ADDR (--redis) is required: host:port of Redis")
	}
	if c.S3Endpoint == "" {
		errs = append(errs, "REEL_S3_ENDPOINT (--s3) is required: host:port of the S3 server")
	}
	if c.Bucket == "" || c.OriginBucket == "" {
		errs = append(errs, "REEL_S3_BUCKET and REEL_ORIGIN_BUCKET must not be empty")
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, fmt.Sprintf("REEL_CONCURRENCY (--concurrency) must be 1..256, got %d", c.Concurrency))
	}
	if c.MaxUpload < 1 {
		errs = append(errs, "REEL_MAX_UPLOAD_BYTES must be positive")
	}
	if c.Memcached != "" {
		if _, err := evcache.ParseReplicas(c.Memcached); err != nil {
			errs = append(errs, "REEL_MEMCACHED: "+err.Error())
		}
	}
	if _, err := edge.ParseZoneMap(c.ZoneMap); err != nil {
		errs = append(errs, "REEL_ZONE_MAP: "+err.Error())
	}
	if len(errs) > 0 {
		return errors.New("configuration: " + strings.Join(errs, "; "))
	}
	return nil
}

func (c *config) serverFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisAddr, "redis", c.RedisAddr, "Redis host:port (REEL_REDIS_ADDR)")
	fs.StringVar(&c.S3Endpoint, "s3", c.S3Endpoint, "S3 endpoint host:port (REEL_S3_ENDPOINT)")
	fs.StringVar(&c.WorkDir, "work-dir", c.WorkDir, "scratch directory for worker tasks (REEL_WORK_DIR)")
}

// cache returns the shared cache client, or nil when none is configured.
func (c *config) cache(log *slog.Logger) (*evcache.Client, error) {
	if c.Memcached == "" {
		return nil, nil
	}
	reps, err := evcache.ParseReplicas(c.Memcached)
	if err != nil {
		return nil, fmt.Errorf("REEL_MEMCACHED: %w", err)
	}
	return evcache.New(evcache.Config{Zone: c.Zone, Replicas: reps, Log: log})
}

func (c *config) redisOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: c.RedisAddr, Password: c.RedisPassword}
}

// s3 connects to the object store; m, if set, counts the bytes moved.
func (c *config) s3(m *metrics.Metrics) (*origin.S3, error) {
	cfg := origin.Config{
		Endpoint: c.S3Endpoint, AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, Secure: c.S3Secure,
		Region: c.S3Region, Bucket: c.Bucket, OriginBucket: c.OriginBucket, PublicURL: c.PublicURL,
	}
	if m != nil {
		cfg.OnBytes = m.S3
	}
	return origin.New(cfg)
}
