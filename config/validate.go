package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/evcache"
	"github.com/reel-video/reel/internal/relay"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/protect"
)

// Validate checks what one setting alone cannot: the settings command cmd
// needs, and values other packages parse. Every problem is named by its
// variable or flag.
func (c *Config) Validate(cmd string) error {
	var errs []string
	need := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, msg)
		}
	}
	switch cmd {
	case "api", "worker", "dev":
		need(c.HasRedis(), "REEL_REDIS_ADDR (--redis), REEL_REDIS_SENTINELS or REEL_REDIS_CLUSTER is required: where Redis is")
		need(c.S3Endpoint != "", "REEL_S3_ENDPOINT (--s3) is required: host:port of the S3 server")
		need(c.Bucket != "" && c.OriginBucket != "", "REEL_S3_BUCKET and REEL_ORIGIN_BUCKET must not be empty")
	case "edge":
		need(c.HasRedis(), "REEL_REDIS_ADDR (--redis), REEL_REDIS_SENTINELS or REEL_REDIS_CLUSTER is required: edges learn of published titles and register through Redis")
		need(c.EdgeDir != "", "REEL_EDGE_DIR (--dir) is required: the folder the edge caches into")
		need(c.EdgeOrigin != "" || c.S3Endpoint != "",
			"REEL_S3_ENDPOINT (with REEL_S3_ACCESS_KEY and REEL_S3_SECRET_KEY) or REEL_EDGE_ORIGIN (--origin) is required: where published titles are")
		if _, err := edge.ParseWindow(c.EdgeFillWindow); err != nil {
			errs = append(errs, "REEL_EDGE_FILL_WINDOW (--fill-window): "+err.Error())
		}
	case "gateway":
		need(strings.TrimSpace(c.GatewayUpstreams) != "", "REEL_GATEWAY_UPSTREAMS (--upstream) is required: ZONE=URL of each API instance")
		need(c.GatewayCanaryShare == 0 || c.GatewayCanary != "", "a canary share (REEL_GATEWAY_CANARY_SHARE) needs canary instances (REEL_GATEWAY_CANARY)")
	case "collect":
		need(c.NatsURL != "", "REEL_NATS_URL (--nats) is required: the NATS servers events are published to (reel nats runs one)")
		need(c.S3Endpoint != "", "REEL_S3_ENDPOINT (--s3) is required: the archive's S3 server")
	case "support":
		need(c.NatsURL != "", "REEL_NATS_URL (--nats) is required: the NATS servers the index is fed from")
		need(c.SupportIndex != "", "REEL_SUPPORT_INDEX (--index) must not be empty")
	case "recs":
		need(c.S3Endpoint != "", "REEL_S3_ENDPOINT (--s3) is required: where the archive and the models are")
	case "nats":
		need(c.NatsDir != "", "REEL_NATS_DIR (--dir) must not be empty")
		need(c.NatsRoutes == "" || c.NatsCluster != "", "REEL_NATS_ROUTES needs REEL_NATS_CLUSTER: the cluster's name")
	}
	switch cmd {
	case "api", "edge", "catalog", "dev":
		if _, err := playtoken.ParseKeys(c.PlaybackKeys); err != nil && (cmd != "dev" || c.PlaybackKeys != "") {
			errs = append(errs, "REEL_PLAYBACK_KEYS: "+err.Error()+"; the API, the catalog and every edge need the same keys")
		}
	}
	if c.KeyService != "" {
		if _, err := relay.ParseKeyService(c.KeyService); err != nil {
			errs = append(errs, "REEL_KEY_SERVICE (--key-service): "+err.Error())
		}
	}
	if c.KeyMaster != "" {
		if _, err := protect.ParseMaster(c.KeyMaster); err != nil {
			errs = append(errs, "REEL_KEY_MASTER: "+err.Error())
		}
	}
	for _, kv := range [][2]string{{"REEL_WEBHOOK_ALLOW", c.WebhookAllow}, {"REEL_INGEST_ALLOW", c.IngestAllow}} {
		if _, err := netguard.ParseAllow(kv[1]); err != nil {
			errs = append(errs, kv[0]+": "+err.Error())
		}
	}
	switch c.PlaybackBind {
	case "none", "zone", "addr":
	default:
		errs = append(errs, fmt.Sprintf("REEL_PLAYBACK_BIND=%q: want none, zone or addr", c.PlaybackBind))
	}
	if n := btoi(c.RedisAddr != "") + btoi(c.RedisSentinels != "") + btoi(c.RedisCluster != ""); n > 1 {
		errs = append(errs, "set one of REEL_REDIS_ADDR (one server), REEL_REDIS_SENTINELS (a Sentinel-watched primary) and REEL_REDIS_CLUSTER (a Redis Cluster), not several")
	}
	for _, kv := range [][2]string{{"REEL_REDIS_SENTINELS", c.RedisSentinels}, {"REEL_REDIS_CLUSTER", c.RedisCluster}} {
		if kv[1] == "" {
			continue
		}
		if _, err := HostPorts(kv[1]); err != nil {
			errs = append(errs, kv[0]+": "+err.Error())
		}
	}
	if c.RedisSentinels != "" && c.RedisMaster == "" {
		errs = append(errs, "REEL_REDIS_MASTER must name the master the Sentinels watch")
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
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}

// Markdown is the configuration table of the README: every setting with
// its variable, flag, default and meaning.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | commands | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range Settings() {
		env, fl := "", ""
		if s.Env != "" {
			env = "`" + s.Env + "`"
		}
		if s.Flag != "" {
			fl = "`--" + s.Flag + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", env, fl, s.defaultText(), strings.Join(s.For, ", "), s.Help)
	}
	return b.String()
}

// Text is `reel config`'s listing: each setting with its default, the
// commands it applies to and its meaning.
func Text() string {
	var b strings.Builder
	for _, s := range Settings() {
		name := s.Env
		if s.Flag != "" {
			if name != "" {
				name += "  "
			}
			name += "--" + s.Flag
		}
		d := strings.ReplaceAll(s.defaultText(), "`", "")
		if d == "" {
			d = "none"
		}
		fmt.Fprintf(&b, "%s\n    %s\n    default: %s; commands: %s\n", name, s.Help, d, strings.Join(s.For, ", "))
	}
	return b.String()
}

// defaultText says what the default is, per command where it differs.
func (s Setting) defaultText() string {
	d := s.Show
	if s.Default != "" {
		d = "`" + s.Default + "`"
		if s.Show != "" {
			d += " (" + s.Show + ")"
		}
	}
	for _, c := range Commands {
		if v, ok := s.Defaults[c]; ok {
			d += fmt.Sprintf(" (%s: `%s`)", c, v)
		}
	}
	return strings.TrimSpace(d)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// HasRedis says whether a Redis server, Sentinels or a Cluster is set.
func (c *Config) HasRedis() bool {
	return c.RedisAddr != "" || c.RedisSentinels != "" || c.RedisCluster != ""
}

// HostPorts splits a comma-separated list of host:port addresses.
func HostPorts(list string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not host:port", a)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("%q: port must be 1 to 65535", a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address in %q", list)
	}
	return out, nil
}

// RedisReplicas is how many replicas must hold a new job before the API
// acknowledges it: REEL_REDIS_WAIT, where 0 means one under Sentinel or
// Cluster and none with one server.
func (c *Config) RedisReplicas() int {
	switch {
	case c.RedisWait > 0:
		return c.RedisWait
	case c.RedisWait == 0 && (c.RedisSentinels != "" || c.RedisCluster != ""):
		return 1
	}
	return 0
}
