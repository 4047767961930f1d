// Package config defines every setting of Reel's processes once, in the
// Config struct: its environment variable, flag, default (per command
// where they differ), the commands it applies to and its meaning. Load
// reads defaults, then REEL_* variables, then flags; the flag help, `reel
// config` and the README's configuration table are generated from the
// same definition.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration of every Reel command. Each field's tags:
//
//	env      the environment variable ("" for flag-only settings)
//	flag     the flag name, on the commands in for
//	default  the default; a tag named after a command (dev, api, worker,
//	         edge, gateway, client) overrides it for that command
//	show     how the default reads in help, when it is computed elsewhere
//	for      the commands the setting applies to
//	min, max bounds of a number or duration
//	help     its meaning
type Config struct {
	Addr string `env:"REEL_ADDR" flag:"addr" default:"127.0.0.1:8080" edge:"127.0.0.1:8090" gateway:"127.0.0.1:8000" accounts:"127.0.0.1:8070" catalog:"127.0.0.1:8071" history:"127.0.0.1:8072" collect:"127.0.0.1:8073" support:"127.0.0.1:8074" recs:"127.0.0.1:8075" nats:"127.0.0.1:4222" for:"dev,api,edge,gateway,accounts,catalog,history,collect,support,recs,nats" help:"listen address (the API's; an edge's, a gateway's, or a viewer-side service's own)"`

	RedisAddr     string `env:"REEL_REDIS_ADDR" flag:"redis" show:"(required; reel dev starts one)" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"Redis host:port (the viewer-side services: where admin API keys are checked, the catalog looks titles up and history compactions are scheduled; without it, operator requests are refused)"`
	RedisPassword string `env:"REEL_REDIS_PASSWORD" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"Redis password"`
	// A Sentinel-watched primary or a Redis Cluster instead of one server.
	RedisSentinels        string        `env:"REEL_REDIS_SENTINELS" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"Redis Sentinels host:port,host:port: Reel asks them for the current primary of REEL_REDIS_MASTER and follows its failovers (instead of REEL_REDIS_ADDR)"`
	RedisMaster           string        `env:"REEL_REDIS_MASTER" default:"reel" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"the master name the Sentinels watch"`
	RedisSentinelPassword string        `env:"REEL_REDIS_SENTINEL_PASSWORD" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"password of the Sentinels (REEL_REDIS_PASSWORD is the data nodes')"`
	RedisCluster          string        `env:"REEL_REDIS_CLUSTER" for:"dev,api,worker,edge,gateway,accounts,catalog,history,collect,support,recs" help:"Redis Cluster nodes host:port,host:port (some or all; the rest are discovered), instead of REEL_REDIS_ADDR"`
	RedisWait             int           `env:"REEL_REDIS_WAIT" default:"0" show:"0: 1 under Sentinel or Cluster, none with one server" min:"-1" max:"16" for:"dev,api" help:"replicas that must hold a new job (its record and its first task) before the API acknowledges it, so that a failover cannot lose it (Redis WAIT); -1: none"`
	RedisWaitTimeout      time.Duration `env:"REEL_REDIS_WAIT_TIMEOUT" default:"2s" min:"1ms" max:"2.5s" for:"dev,api" help:"how long the API waits for those replicas before it refuses the job with 503 unreplicated (the job is marked failed with that code); under the Redis client's 3 s read timeout"`

	S3Endpoint   string `env:"REEL_S3_ENDPOINT" flag:"s3" show:"(required; reel dev starts MinIO)" for:"dev,api,worker,edge,history,catalog,collect,recs" help:"S3 host:port"`
	S3AccessKey  string `env:"REEL_S3_ACCESS_KEY" for:"dev,api,worker,edge,history,catalog,collect,recs" help:"S3 access key"`
	S3SecretKey  string `env:"REEL_S3_SECRET_KEY" for:"dev,api,worker,edge,history,catalog,collect,recs" help:"S3 secret key"`
	S3Secure     bool   `env:"REEL_S3_SECURE" default:"false" for:"dev,api,worker,edge,history,catalog,collect,recs" help:"use HTTPS to S3"`
	S3Region     string `env:"REEL_S3_REGION" default:"us-east-1" for:"dev,api,worker,edge,history,catalog,collect,recs" help:"S3 region"`
	Bucket       string `env:"REEL_S3_BUCKET" default:"reel-masters" for:"dev,api,worker,history,collect,recs" help:"private bucket: masters (masters/{job}/source, uploads/), intermediates (work/{job}/), compressed viewing history (history/), the event archive (events/) and recommendation models (recs/)"`
	OriginBucket string `env:"REEL_ORIGIN_BUCKET" default:"reel-origin" for:"dev,api,worker,edge,catalog" help:"bucket of published titles (vod/{job}/): private, read by edges with the S3 credentials; the objects of titles published with \"public\": true are tagged readable by anyone"`
	PublicURL    string `env:"REEL_PUBLIC_URL" show:"http://{S3 endpoint}/{origin bucket}" for:"dev,api,worker,edge,catalog" help:"base URL players use for the origin bucket"`

	Concurrency int     `env:"REEL_CONCURRENCY" flag:"concurrency" default:"2" dev:"1" min:"1" max:"256" for:"dev,worker" help:"tasks one worker process runs at once (reel dev: per worker)"`
	EncodeCores float64 `env:"REEL_ENCODE_CORES" default:"4" min:"1" max:"1024" for:"dev,worker" help:"cores one chunk's ffmpeg is counted to keep busy when chunks are sized to the workers: workers that share CPUs get one chunk per this many of them"`
	WorkDir     string  `env:"REEL_WORK_DIR" flag:"work-dir" show:"system temp dir (reel dev: DIR/work)" for:"api,worker" help:"scratch space of worker tasks and of buffered upload parts"`
	MetricsAddr string  `env:"REEL_METRICS_ADDR" flag:"metrics-addr" show:"off (reel dev: 127.0.0.1:0, logged)" for:"worker" help:"where a worker serves Prometheus /metrics; the API serves them on its own address"`

	MaxUpload         int64         `env:"REEL_MAX_UPLOAD_BYTES" default:"53687091200" min:"1" for:"dev,api,worker" help:"largest accepted master in bytes (multipart body, tus upload, or a master fetched from a URL)"`
	StallTimeout      time.Duration `env:"REEL_UPLOAD_STALL_TIMEOUT" default:"60s" min:"1ns" for:"dev,api,worker" help:"an upload that sends nothing this long is dropped (408; a tus upload keeps what arrived); a master fetched from a URL that sends nothing this long is fetched again"`
	UploadExpiry      time.Duration `env:"REEL_UPLOAD_EXPIRY" default:"24h" min:"0s" for:"dev,api" help:"a resumable upload that received nothing for this long, and is not a job's master, is removed with its S3 multipart upload (checked every hour, or every quarter of this when shorter; 0: never)"`
	AdminKeyFile      string        `env:"REEL_ADMIN_KEY_FILE" show:"(reel dev: DIR/admin.key)" for:"api" help:"file holding the admin API key, created with a new key when missing"`
	MaxQueueWait      time.Duration `env:"REEL_MAX_QUEUE_WAIT" default:"1h" min:"0s" for:"dev,api" help:"new jobs are refused (503 busy, with Retry-After) while the workers need longer than this to get through the tasks already queued: the queue's depth over the rate tasks finished at in the last 2 minutes, and at least the wait of the oldest queued task (0: never)"`
	TenantMaxJobs     int           `env:"REEL_TENANT_MAX_JOBS" default:"100" min:"0" for:"dev,api" help:"unfinished jobs one tenant may have at once (admin keys aside): a new job or a retry past it gets 429 quota_exceeded, (0: no limit)"`
	TenantRunningJobs int           `env:"REEL_TENANT_RUNNING_JOBS" default:"8" min:"0" for:"dev,api,worker" help:"jobs of one tenant whose tasks are in the queue at once; its later jobs are held (status queued) and queued one by one as these end, so one tenant's batch cannot fill the queue ahead of another tenant's job (0: every job is queued at once). The API and every worker need the same value"`
	TenantMaxBytes    int64         `env:"REEL_TENANT_MAX_BYTES" default:"0" min:"0" for:"dev,api" help:"bytes of finished titles and their masters one tenant may store (admin keys aside): a new job past it gets 429 quota_exceeded until the tenant deletes titles (DELETE /v1/jobs/{id}/title); 0: no limit"`
	RateLimit         int           `env:"REEL_RATE_LIMIT" default:"60" min:"0" for:"dev,api" help:"jobs one non-admin key may create a minute, across all API instances (0: off)"`
	HLSJS             string        `env:"REEL_UI_HLSJS" default:"https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js" for:"dev,api" help:"where the web page loads hls.js from: a URL, or a local file the API serves at /ui/hls.min.js (for machines without Internet access)"`

	ShutdownTimeout time.Duration `env:"REEL_SHUTDOWN_TIMEOUT" default:"30s" min:"1ns" for:"dev,worker" help:"how long a stopping worker lets running tasks finish before handing them back"`
	RetryDelay      time.Duration `env:"REEL_RETRY_DELAY" default:"0s" min:"0s" show:"asynq's (15 s to 45 s, growing)" for:"dev,worker" help:"first pause before a failed task's retry, doubled each time; a task whose worker died is retried after 1 s"`
	MaxMemory       int64         `env:"REEL_FFMPEG_MAX_MEMORY" default:"8589934592" min:"268435456" for:"dev,worker" help:"address space of one ffmpeg run, in bytes"`
	CPUPerFrame     time.Duration `env:"REEL_FFMPEG_CPU_PER_FRAME" default:"1s" min:"1ns" for:"dev,worker" help:"CPU time per output frame of a 1080p rung an encode may use (smaller rungs by their pixels)"`
	FFmpeg          string        `env:"REEL_FFMPEG" default:"ffmpeg" for:"dev,worker" help:"ffmpeg binary to run"`
	FFprobe         string        `env:"REEL_FFPROBE" default:"ffprobe" for:"dev,worker" help:"ffprobe binary to run"`

	WebhookAllow       string `env:"REEL_WEBHOOK_ALLOW" for:"dev,api,worker" help:"networks (CIDR) or addresses webhook endpoints may be at besides public ones, such as 10.1.0.0/16 or 127.0.0.1; by default loopback, private, link-local (cloud metadata) and other non-public addresses are refused, checked after DNS resolution on every connection and redirect"`
	IngestAllow        string `env:"REEL_INGEST_ALLOW" for:"dev,api,worker" help:"networks (CIDR) or addresses a job's source URL may be at besides public ones (the same rules as REEL_WEBHOOK_ALLOW)"`
	WebhookConcurrency int    `env:"REEL_WEBHOOK_CONCURRENCY" default:"8" min:"1" max:"256" for:"dev,api" help:"webhook deliveries one API instance makes at once"`

	PlaybackKeys     string        `env:"REEL_PLAYBACK_KEYS" show:"(required; reel dev keeps its own in DIR/playback.keys)" for:"dev,api,edge,catalog" help:"keys that sign playback tokens, ID:HEXSECRET[,ID:HEXSECRET] (each secret 32 bytes or more: openssl rand -hex 32); the first signs, every one is accepted, so a rotation puts the new key first and keeps the previous one until its tokens have expired. The API, the catalog and every edge need the same list"`
	PlaybackTokenTTL time.Duration `env:"REEL_PLAYBACK_TOKEN_TTL" default:"6h" min:"1m" max:"720h" for:"dev,api,catalog" help:"how long the edge URLs GET /v1/play returns (and a job's output URLs) play; a player asks again for a longer session"`
	KeyMaster        string        `env:"REEL_KEY_MASTER" show:"(reel dev keeps its own in DIR/key.master)" for:"dev,api,worker" help:"the master key (32 bytes in hex: openssl rand -hex 32) that seals encrypted titles' content keys, which are stored in their jobs; the API and every worker need the same one. Unset, jobs cannot ask for encryption. Losing it loses every encrypted title's key"`
	KeyService       string        `env:"REEL_KEY_SERVICE" flag:"key-service" for:"edge,catalog" help:"the API's base URL, which an edge or the catalog passes players' requests for encrypted titles' ClearKey licences and AES-128 keys on to (after checking their tokens; neither holds keys); unset, they answer those requests 404"`
	PlaybackBind     string        `env:"REEL_PLAYBACK_BIND" default:"none" for:"dev,api,catalog" help:"what a playback token is bound to besides its title: none; zone (it plays only from edges in the zone steering chose); addr (only for the client address that asked; players behind changing addresses, such as mobile networks, then need a new URL)"`

	Zone      string `env:"REEL_ZONE" flag:"zone" default:"z1" for:"dev,api,worker,edge,gateway,catalog,recs" help:"zone of this process: an edge's zone; the cache replica the API, workers and gateway read first"`
	Memcached string `env:"REEL_MEMCACHED" show:"(reel dev: its own)" for:"dev,api,worker,gateway,catalog,recs" help:"cache replicas, one per zone: z1=host:port[,host:port];z2=host:port. Empty: no shared cache"`
	ZoneMap   string `env:"REEL_ZONE_MAP" for:"dev,api,catalog" help:"client networks to zones for steering: 10.1.0.0/16=z1,10.2.0.0/16=z2"`

	RedisServer     string `env:"REEL_REDIS_SERVER" show:"on PATH" for:"dev" help:"the redis-server reel dev starts"`
	MinioServer     string `env:"REEL_MINIO" show:"on PATH or in the Go bin dir" for:"dev" help:"the MinIO server reel dev starts"`
	MemcachedServer string `env:"REEL_MEMCACHED_SERVER" show:"on PATH" for:"dev" help:"the memcached reel dev starts"`
	DevData         string `flag:"data" default:"reel-data" for:"dev" help:"folder of reel dev's Redis and MinIO data, admin key and worker scratch space"`
	DevWorkers      int    `flag:"workers" default:"2" min:"1" max:"64" for:"dev" help:"worker processes reel dev runs"`
	DevEdges        int    `flag:"edges" default:"0" min:"0" max:"16" for:"dev" help:"edge processes reel dev runs, in zones z1..zN"`

	EdgeDir        string `env:"REEL_EDGE_DIR" flag:"dir" show:"(required)" for:"edge" help:"an edge's cache folder, kept across restarts"`
	EdgeName       string `env:"REEL_EDGE_NAME" flag:"name" show:"edge-ZONE-PORT" for:"edge" help:"an edge's unique name"`
	EdgeBudget     int64  `env:"REEL_EDGE_BUDGET" flag:"budget" default:"10737418240" min:"1" for:"edge" help:"bytes an edge holds on disk; least recently used objects go first"`
	EdgeOrigin     string `env:"REEL_EDGE_ORIGIN" flag:"origin" show:"the origin bucket, read with the S3 credentials" for:"edge" help:"a base URL an edge fetches published objects from without credentials instead (an origin shield, or an origin that is public itself); unset, the edge reads the private origin bucket through presigned URLs"`
	EdgeURL        string `env:"REEL_EDGE_URL" flag:"url" show:"http://ADDR" for:"edge" help:"the edge's base URL for players"`
	EdgeFillWindow string `env:"REEL_EDGE_FILL_WINDOW" flag:"fill-window" default:"always" for:"edge" help:"UTC hours of the deferred fill, such as 02:00-06:00"`
	EdgeFillRate   int64  `env:"REEL_EDGE_FILL_RATE" flag:"fill-rate" default:"0" min:"0" for:"edge" help:"bytes a second of the deferred fill (0: unbounded)"`
	EdgeFillFirst  int    `env:"REEL_EDGE_FILL_FIRST" default:"3" min:"1" for:"edge" help:"media segments of every rendition pre-positioned at once"`

	GatewayUpstreams   string  `env:"REEL_GATEWAY_UPSTREAMS" flag:"upstream" show:"(required)" for:"gateway" help:"API instances: z1=http://10.1.0.5:8080,z2=http://10.2.0.5:8080"`
	GatewayAccounts    string  `env:"REEL_GATEWAY_ACCOUNTS" flag:"accounts" for:"gateway" help:"accounts service instances, ZONE=URL,...: /v1/accounts goes to them (they authenticate viewers and operators themselves)"`
	GatewayCatalog     string  `env:"REEL_GATEWAY_CATALOG" flag:"catalog" for:"gateway" help:"catalog service instances, ZONE=URL,...: /v1/catalog goes to them"`
	GatewayHistory     string  `env:"REEL_GATEWAY_HISTORY" flag:"history" for:"gateway" help:"history service instances, ZONE=URL,...: /v1/history goes to them"`
	GatewayEvents      string  `env:"REEL_GATEWAY_EVENTS" flag:"events" for:"gateway" help:"collector instances, ZONE=URL,...: POST /v1/events goes to them"`
	GatewaySupport     string  `env:"REEL_GATEWAY_SUPPORT" flag:"support" for:"gateway" help:"support look-up instances, ZONE=URL,...: /v1/support goes to them"`
	GatewayRecs        string  `env:"REEL_GATEWAY_RECS" flag:"recs" for:"gateway" help:"recommender instances, ZONE=URL,...: /v1/recs and /v1/titles go to them"`
	GatewayCanary      string  `env:"REEL_GATEWAY_CANARY" flag:"canary" for:"gateway" help:"canary API instances, ZONE=URL,..."`
	GatewayCanaryShare float64 `env:"REEL_GATEWAY_CANARY_SHARE" flag:"canary-share" default:"0" min:"0" max:"1" for:"gateway" help:"share of requests (0..1) the canary instances get"`
	GatewayRateLimit   float64 `env:"REEL_GATEWAY_RATE_LIMIT" flag:"rate-limit" default:"50" min:"0" for:"gateway" help:"requests a second per API key through one gateway (bursts of twice that; 0: off)"`
	GatewayRejectUA    string  `env:"REEL_GATEWAY_REJECT_UA" for:"gateway" help:"refuse requests whose User-Agent matches this regular expression (403)"`
	GatewayConfig      string  `env:"REEL_GATEWAY_CONFIG" flag:"config" for:"gateway" help:"JSON file: routes, more upstream groups, a shard rule, reject rules, add_headers, remove_headers"`

	SQLDB               string        `env:"REEL_SQL_DB" flag:"db" show:"sqlite:reel.db (reel dev: sqlite:DATA/platform.db, or the MariaDB pair of --mariadb)" for:"dev,accounts,catalog,history,collect,recs" help:"the viewer side's SQL store: sqlite:/path/file.db (one machine) or mysql://user:password@host:3306/reel (a MariaDB master)"`
	SQLReplicas         string        `env:"REEL_SQL_REPLICAS" flag:"replicas" for:"dev,accounts,catalog,history,collect,recs" help:"read replicas of the SQL master, comma-separated mysql:// DSNs, for reads that need not see a viewer's own writes"`
	SQLCommitTimeout    time.Duration `env:"REEL_SQL_COMMIT_TIMEOUT" default:"10s" min:"100ms" for:"dev,accounts,catalog,history,collect,recs" help:"a MariaDB commit the peer master has not acknowledged this long fails (503, unreplicated) instead of being confirmed"`
	SQLMigrate          bool          `env:"REEL_SQL_MIGRATE" flag:"migrate" default:"true" for:"dev,accounts,catalog" help:"migrate the schema (and seed the plans) at start; false on the second master of a pair, which receives them by replication"`
	CatalogIndex        string        `env:"REEL_CATALOG_INDEX" flag:"index" default:"reel-catalog.bleve" show:"reel-catalog.bleve (reel dev: DATA/catalog.bleve)" for:"catalog" help:"the catalog's search index folder (bleve), rebuilt from the SQL store when missing"`
	CatalogReconcile    time.Duration `env:"REEL_CATALOG_RECONCILE" default:"30s" min:"1s" for:"dev,catalog" help:"how often the catalog brings its index in step with the SQL store (writes through other instances)"`
	HistoryLive         string        `env:"REEL_HISTORY_LIVE" flag:"live" default:"pebble:reel-history" show:"pebble:reel-history (reel dev: pebble:DATA/history)" for:"dev,history" help:"the viewing history's live section: pebble:DIR (embedded, one machine) or redis-cluster:HOST:PORT,HOST:PORT (a Redis Cluster's nodes)"`
	HistoryCompactAfter time.Duration `env:"REEL_HISTORY_COMPACT_AFTER" default:"720h" min:"1s" for:"dev,history" help:"heartbeats older than this move from the live section to zstd blocks on S3"`
	HistoryCompactEvery time.Duration `env:"REEL_HISTORY_COMPACT_EVERY" default:"1h" min:"1s" for:"dev,history" help:"how often the compaction runs (an asynq periodic task)"`
	DevS3Nodes          int           `flag:"s3-nodes" default:"1" min:"1" max:"16" for:"dev" help:"MinIO nodes reel dev starts: 1, or 4 and more for distributed MinIO (erasure-coded across the nodes, which survives losing up to half of them for reads and fewer than half for writes) behind a load balancer"`
	DevRedisHA          bool          `flag:"redis-ha" default:"false" for:"dev" help:"run Redis as a primary, a replica and three Sentinels (Reel follows a failover) instead of one server"`
	DevPlatform         bool          `flag:"platform" default:"false" for:"dev" help:"also run the viewer side's services (accounts, catalog, history, the event collector on an embedded NATS server, support look-up and recommendations)"`
	DevMariaDB          bool          `flag:"mariadb" default:"false" for:"dev" help:"with --platform: keep the SQL store on a MariaDB master pair (semi-synchronous, GTID) with a read replica that reel dev starts, instead of SQLite"`
	MariaDBServer       string        `env:"REEL_MARIADB_SERVER" show:"on PATH or in /usr/sbin" for:"dev" help:"the mariadbd reel dev starts"`

	NatsURL        string        `env:"REEL_NATS_URL" flag:"nats" show:"(reel dev --platform: its own embedded server)" for:"dev,api,worker,edge,gateway,history,collect,support" help:"NATS servers of the event log, nats://host:4222[,nats://host2:4222]: the collector publishes to them and the consumers (archiver, support indexer, history writer) read from them; the API, workers, edges and gateway report their own events to them, and keep up to REEL_EVENTS_BUFFER while they are away (unset: they report none)"`
	EventsReplicas int           `env:"REEL_EVENTS_REPLICAS" default:"1" min:"1" max:"5" for:"collect" help:"servers holding each event (the stream's replicas): 3 on a cluster of three, which then keeps every acknowledged event through the loss of one"`
	EventsMaxAge   time.Duration `env:"REEL_EVENTS_MAX_AGE" default:"168h" min:"1m" for:"collect" help:"how long the stream keeps events (for consumers that were away); the archive on S3 keeps them after that"`
	CollectArchive bool          `env:"REEL_COLLECT_ARCHIVE" flag:"archive" default:"true" for:"collect" help:"run the archiver in this collector; it is one durable consumer with one state object, so exactly one collector of a deployment runs it (the others: false)"`
	EventsBuffer   int           `env:"REEL_EVENTS_BUFFER" default:"10000" min:"1" for:"api,worker,edge,gateway" help:"events a process keeps while NATS is unreachable; past it the oldest are dropped (the count is logged)"`
	SupportIndex   string        `env:"REEL_SUPPORT_INDEX" flag:"index" default:"reel-support" show:"reel-support (reel dev: DATA/support)" for:"support" help:"the support index folder (bleve shards); a new one is filled from what the stream still holds"`
	SupportShards  int           `env:"REEL_SUPPORT_SHARDS" default:"8" min:"1" max:"256" for:"support" help:"shards of a new support index; each user's events are all in one"`
	RecsCatalog    string        `env:"REEL_RECS_CATALOG" flag:"catalog" show:"(required)" for:"recs" help:"the catalog service's base URL, whose titles training reads"`
	RecsTrainEvery time.Duration `env:"REEL_RECS_TRAIN_EVERY" default:"6h" min:"1s" for:"recs" help:"how often the model is trained again (an asynq periodic task; reel recs train runs it once)"`
	RecsWindow     time.Duration `env:"REEL_RECS_WINDOW" default:"2160h" min:"1h" for:"recs" help:"how far back the archive's viewing counts in training"`
	NatsDir        string        `env:"REEL_NATS_DIR" flag:"dir" default:"reel-nats" for:"nats" help:"the NATS server's JetStream storage folder"`
	NatsName       string        `env:"REEL_NATS_NAME" flag:"name" show:"nats-PORT" for:"nats" help:"the server's name, unique in its cluster"`
	NatsCluster    string        `env:"REEL_NATS_CLUSTER" flag:"cluster" for:"nats" help:"the cluster's name, for one of several servers (unset: a server alone)"`
	NatsRouteAddr  string        `env:"REEL_NATS_ROUTE_ADDR" flag:"route-addr" default:"0.0.0.0:6222" for:"nats" help:"where the server takes its cluster peers' routes"`
	NatsRoutes     string        `env:"REEL_NATS_ROUTES" flag:"routes" for:"nats" help:"the other servers' routes, nats-route://host:6222,..."`

	API    string `env:"REEL_API" flag:"api" default:"http://127.0.0.1:8080" for:"client" help:"API the CLI talks to"`
	APIKey string `env:"REEL_API_KEY" flag:"key" for:"client" help:"API key the CLI sends"`
}

// Commands are the commands settings apply to; "client" stands for the
// CLI's commands (upload, watch, status, jobs, cancel, retry, keys).
var Commands = []string{"dev", "api", "worker", "edge", "gateway", "accounts", "catalog", "history", "collect", "support", "recs", "nats", "client"}

// Setting is one field of Config as the definition gives it.
type Setting struct {
	Field   string
	Env     string
	Flag    string
	Default string // the default for no command in particular
	// Defaults holds the defaults that differ by command.
	Defaults map[string]string
	Show     string
	For      []string
	Min, Max string
	Help     string
	index    int
	kind     reflect.Type
}

// Settings lists every setting in the order Config declares them.
func Settings() []Setting {
	t := reflect.TypeFor[Config]()
	out := make([]Setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		s := Setting{Field: f.Name, Env: f.Tag.Get("env"), Flag: f.Tag.Get("flag"), Default: f.Tag.Get("default"),
			Show: f.Tag.Get("show"), Min: f.Tag.Get("min"), Max: f.Tag.Get("max"), Help: f.Tag.Get("help"),
			For: strings.Split(f.Tag.Get("for"), ","), index: i, kind: f.Type}
		for _, c := range Commands {
			if v, ok := f.Tag.Lookup(c); ok {
				if s.Defaults == nil {
					s.Defaults = map[string]string{}
				}
				s.Defaults[c] = v
			}
		}
		out = append(out, s)
	}
	return out
}

// DefaultFor is the setting's default for command cmd.
func (s Setting) DefaultFor(cmd string) string {
	if v, ok := s.Defaults[cmd]; ok {
		return v
	}
	return s.Default
}

// set parses v into the field of c, within the setting's bounds.
func (s Setting) set(c *Config, v string) error {
	f := reflect.ValueOf(c).Elem().Field(s.index)
	switch f.Interface().(type) {
	case string:
		f.SetString(v)
	case bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		f.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("want a duration such as 30s or 500ms")
		}
		lo, hi := s.durationBounds()
		if d < lo || (hi > 0 && d > hi) {
			return fmt.Errorf("want a duration %s", s.bounds())
		}
		f.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number %s", s.bounds())
		}
		if s.Min != "" && n < mustInt(s.Min) || s.Max != "" && n > mustInt(s.Max) {
			return fmt.Errorf("want a whole number %s", s.bounds())
		}
		f.SetInt(n)
	case float64:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || s.Min != "" && x < mustFloat(s.Min) || s.Max != "" && x > mustFloat(s.Max) {
			return fmt.Errorf("want a number %s", s.bounds())
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("config: field %s has an unsupported type %s", s.Field, s.kind)
	}
	return nil
}

// value prints the field of c as set would read it.
func (s Setting) value(c *Config) string {
	switch v := reflect.ValueOf(c).Elem().Field(s.index).Interface().(type) {
	case time.Duration:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func (s Setting) durationBounds() (lo, hi time.Duration) {
	if s.Min != "" {
		lo, _ = time.ParseDuration(s.Min)
	}
	if s.Max != "" {
		hi, _ = time.ParseDuration(s.Max)
	}
	return lo, hi
}

// bounds says in words what the bounds are.
func (s Setting) bounds() string {
	switch {
	case s.Min == "1ns":
		return "above 0"
	case s.Min != "" && s.Max != "":
		return "from " + s.Min + " to " + s.Max
	case s.Min != "":
		return "of at least " + s.Min
	case s.Max != "":
		return "of at most " + s.Max
	}
	return ""
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("config: bad bound " + s)
	}
	return n
}

func mustFloat(s string) float64 {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic("config: bad bound " + s)
	}
	return x
}

func (s Setting) applies(cmd string) bool { return slices.Contains(s.For, cmd) }

// Defaults returns the configuration of command cmd before the
// environment and flags are read.
func Defaults(cmd string) (*Config, error) {
	c := &Config{}
	for _, s := range Settings() {
		if d := s.DefaultFor(cmd); d != "" {
			if err := s.set(c, d); err != nil {
				return nil, fmt.Errorf("config: default of %s: %w", s.Field, err)
			}
		}
	}
	return c, nil
}

// ErrHelp is returned by Load when the flags asked for help, which was
// printed.
var ErrHelp = flag.ErrHelp

// ErrConfig marks an error in the environment's settings or in Validate;
// any other error of Load is the flag package's, already printed with the
// usage.
var ErrConfig = errors.New("configuration")

// Load reads the configuration of command cmd (one of Commands): its
// defaults, then the REEL_* variables getenv returns, then the flags in
// args, which may come before, between or after the positional
// arguments. extra, if set, adds the command's own flags. It returns the
// positional arguments. Errors name the variable or flag and say what it
// wants; help goes to out.
func Load(cmd string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (*Config, []string, error) {
	c, err := Defaults(cmd)
	if err != nil {
		return nil, nil, err
	}
	var errs []string
	for _, s := range Settings() {
		if s.Env == "" {
			continue
		}
		if v := getenv(s.Env); v != "" {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", s.Env, v, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	fs := flag.NewFlagSet("reel "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	for _, s := range Settings() {
		if s.Flag == "" || !s.applies(cmd) {
			continue
		}
		fs.Var(flagValue{s: s, c: c}, s.Flag, s.usage(cmd))
	}
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() { printUsage(fs) }
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	return c, pos, nil
}

// usage is a flag's help line.
func (s Setting) usage(cmd string) string {
	u := s.Help
	if s.Env != "" {
		u += " (" + s.Env + ")"
	}
	if d := s.DefaultFor(cmd); d == "" && s.Show != "" {
		u += "; default " + s.Show
	}
	return u
}

// printUsage lists a command's flags, each with the kind of value it
// takes, its meaning, variable and default.
func printUsage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		kind := ""
		switch v := f.Value.(type) {
		case flagValue:
			if v.s.kind.Kind() != reflect.Bool {
				kind = " " + v.s.kind.Name()
				if v.s.kind == reflect.TypeFor[time.Duration]() {
					kind = " duration"
				}
			}
		default:
			if name, _ := flag.UnquoteUsage(f); name != "" {
				kind = " " + name
			}
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(fs.Output(), "  --%s%s\n    \t%s%s\n", f.Name, kind, f.Usage, def)
	})
}

// flagValue sets a setting from a flag.
type flagValue struct {
	s Setting
	c *Config
}

func (v flagValue) String() string {
	if v.c == nil {
		return ""
	}
	return v.s.value(v.c)
}

func (v flagValue) Set(x string) error { return v.s.set(v.c, x) }

func (v flagValue) IsBoolFlag() bool { return v.s.kind.Kind() == reflect.Bool }

// Env returns every setting with a variable as NAME=VALUE, for the child
// processes reel dev starts.
func (c *Config) Env() []string {
	var out []string
	for _, s := range Settings() {
		if s.Env != "" {
			out = append(out, s.Env+"="+s.value(c))
		}
	}
	return out
}
