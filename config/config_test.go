package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reel-video/reel/api"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsByCommand(t *testing.T) {
	for cmd, want := range map[string]string{"api": "127.0.0.1:8080", "edge": "127.0.0.1:8090", "gateway": "127.0.0.1:8000"} {
		c, err := Defaults(cmd)
		if err != nil || c.Addr != want {
			t.Errorf("%s: addr %q, %v; want %s", cmd, c.Addr, err, want)
		}
	}
	dev, _ := Defaults("dev")
	worker, _ := Defaults("worker")
	if dev.Concurrency != 1 || worker.Concurrency != 2 || worker.MaxMemory != 8<<30 || worker.CPUPerFrame != time.Second ||
		worker.ShutdownTimeout != 30*time.Second || worker.RetryDelay != 0 || worker.EdgeFillFirst != 3 || worker.MaxUpload != 50<<30 {
		t.Errorf("defaults: dev %+v worker %+v", dev, worker)
	}
	if worker.HLSJS != api.DefaultHLSJS {
		t.Errorf("REEL_UI_HLSJS default %q, the API's %q", worker.HLSJS, api.DefaultHLSJS)
	}
}

func TestLoadOrder(t *testing.T) {
	// Defaults, then the environment, then flags, which may follow the
	// positional arguments.
	var watch bool
	c, pos, err := Load("client", []string{"upload", "a.mp4", "--key", "k2", "--watch"},
		env(map[string]string{"REEL_API": "http://api:1", "REEL_API_KEY": "k1"}), io.Discard,
		func(fs *flag.FlagSet) { fs.BoolVar(&watch, "watch", false, "") })
	if err != nil || c.API != "http://api:1" || c.APIKey != "k2" || !watch || !slices.Equal(pos, []string{"upload", "a.mp4"}) {
		t.Fatalf("client: %+v %v %v %v", c, pos, watch, err)
	}
	c, _, err = Load("worker", []string{"--concurrency", "7"}, env(map[string]string{"REEL_CONCURRENCY": "4", "REEL_RETRY_DELAY": "2s",
		"REEL_S3_SECURE": "true", "REEL_GATEWAY_CANARY_SHARE": "0.25"}), io.Discard, nil)
	if err != nil || c.Concurrency != 7 || c.RetryDelay != 2*time.Second || !c.S3Secure || c.GatewayCanaryShare != 0.25 {
		t.Fatalf("worker: %+v %v", c, err)
	}
	// A flag of another command is not taken.
	if _, _, err := Load("worker", []string{"--upstream", "z1=http://a"}, env(nil), io.Discard, nil); err == nil || errors.Is(err, ErrConfig) {
		t.Errorf("worker took --upstream: %v", err)
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	for name, v := range map[string]string{
		"REEL_CONCURRENCY": "0", "REEL_FFMPEG_MAX_MEMORY": "1000", "REEL_FFMPEG_CPU_PER_FRAME": "0s", "REEL_S3_SECURE": "yes",
		"REEL_RATE_LIMIT": "-1", "REEL_UPLOAD_STALL_TIMEOUT": "soon", "REEL_GATEWAY_CANARY_SHARE": "2", "REEL_EDGE_FILL_FIRST": "0",
		"REEL_MAX_UPLOAD_BYTES": "many", "REEL_RETRY_DELAY": "-1s",
	} {
		_, _, err := Load("worker", nil, env(map[string]string{name: v}), io.Discard, nil)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "want") {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
	var out strings.Builder
	if _, _, err := Load("dev", []string{"--workers", "65"}, env(nil), &out, nil); err == nil || !strings.Contains(out.String(), "from 1 to 64") {
		t.Errorf("--workers 65: %v %s", err, out.String())
	}
}

func TestEnvRoundTrip(t *testing.T) {
	c, _, err := Load("dev", []string{"--redis", "r:1", "--s3", "s:2", "--zone", "z3"}, env(map[string]string{"REEL_MEMCACHED": "z1=m:1;z2=m:2",
		"REEL_FFMPEG_CPU_PER_FRAME": "1500ms", "REEL_GATEWAY_RATE_LIMIT": "12.5"}), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	back, _, err := Load("dev", nil, env(m), io.Discard, nil)
	if err != nil || *back != *c {
		t.Errorf("through the environment:\n%+v\n%+v\n%v", back, c, err)
	}
}

func TestValidate(t *testing.T) {
	c, _ := Defaults("api")
	if err := c.Validate("api"); err == nil || !strings.Contains(err.Error(), "REEL_REDIS_ADDR") || !strings.Contains(err.Error(), "REEL_S3_ENDPOINT") {
		t.Errorf("api without Redis and S3: %v", err)
	}
	c.RedisAddr, c.S3Endpoint = "r:1", "s:1"
	if err := c.Validate("api"); err == nil || !strings.Contains(err.Error(), "REEL_PLAYBACK_KEYS") {
		t.Errorf("api without playback keys: %v", err)
	}
	c.PlaybackKeys = "k1:" + strings.Repeat("0a", 31)
	if err := c.Validate("api"); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") || strings.Contains(err.Error(), "0a0a") {
		t.Errorf("api with a short playback key: %v", err)
	}
	c.PlaybackKeys = "k2:" + strings.Repeat("0a", 32) + ",k1:" + strings.Repeat("0b", 32)
	if err := c.Validate("api"); err != nil {
		t.Errorf("api: %v", err)
	}
	c.PlaybackBind = "ip"
	if err := c.Validate("api"); err == nil || !strings.Contains(err.Error(), "REEL_PLAYBACK_BIND") {
		t.Errorf("a bad binding: %v", err)
	}
	c.PlaybackBind = "addr"
	if c.RedisReplicas() != 0 {
		t.Errorf("one server: %d replicas to wait for", c.RedisReplicas())
	}
	h := *c
	h.RedisSentinels = "127.0.0.1:26379,s2"
	if err := h.Validate("api"); err == nil || !strings.Contains(err.Error(), "set one of REEL_REDIS_ADDR") || !strings.Contains(err.Error(), `REEL_REDIS_SENTINELS: "s2" is not host:port`) {
		t.Errorf("a server and Sentinels: %v", err)
	}
	h.RedisAddr, h.RedisSentinels = "", "s1:26379, s2:26379"
	if err := h.Validate("api"); err != nil || h.RedisReplicas() != 1 {
		t.Errorf("Sentinels: %v, %d replicas to wait for", err, h.RedisReplicas())
	}
	h.RedisSentinels, h.RedisCluster, h.RedisWait = "", "r1:7000", -1
	if err := h.Validate("api"); err != nil || h.RedisReplicas() != 0 {
		t.Errorf("Cluster without waiting: %v, %d replicas to wait for", err, h.RedisReplicas())
	}
	c.Memcached, c.ZoneMap = "nonsense", "10.0.0.0/8"
	if err := c.Validate("api"); err == nil || !strings.Contains(err.Error(), "REEL_MEMCACHED") || !strings.Contains(err.Error(), "REEL_ZONE_MAP") {
		t.Errorf("bad cache and zone map: %v", err)
	}
	e, _ := Defaults("edge")
	e.EdgeFillWindow = "25:00-26:00"
	if err := e.Validate("edge"); err == nil || !strings.Contains(err.Error(), "REEL_EDGE_DIR") || !strings.Contains(err.Error(), "REEL_EDGE_FILL_WINDOW") {
		t.Errorf("edge: %v", err)
	}
	g, _ := Defaults("gateway")
	g.GatewayCanaryShare = 0.1
	if err := g.Validate("gateway"); err == nil || !strings.Contains(err.Error(), "REEL_GATEWAY_UPSTREAMS") || !strings.Contains(err.Error(), "REEL_GATEWAY_CANARY") {
		t.Errorf("gateway: %v", err)
	}
}

func TestDefinitionIsWhole(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]map[string]bool{}
	for _, s := range Settings() {
		if s.Help == "" || len(s.For) == 0 || (s.Env == "" && s.Flag == "") {
			t.Errorf("%s: help %q, for %v, env %q, flag %q", s.Field, s.Help, s.For, s.Env, s.Flag)
		}
		for _, c := range s.For {
			if !slices.Contains(Commands, c) {
				t.Errorf("%s: unknown command %q", s.Field, c)
			}
			if s.Flag != "" {
				if flags[c] == nil {
					flags[c] = map[string]bool{}
				}
				if flags[c][s.Flag] {
					t.Errorf("%s: --%s twice on %s", s.Field, s.Flag, c)
				}
				flags[c][s.Flag] = true
			}
		}
		if s.Env != "" {
			if !strings.HasPrefix(s.Env, "REEL_") || envs[s.Env] {
				t.Errorf("%s: variable %s", s.Field, s.Env)
			}
			envs[s.Env] = true
		}
	}
	for _, cmd := range Commands {
		if _, err := Defaults(cmd); err != nil {
			t.Errorf("%s: %v", cmd, err)
		}
	}
}

// TestREADMETable keeps the README's configuration table the one `reel
// config --markdown` prints.
func TestREADMETable(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), Markdown()) {
		t.Errorf("README.md's configuration table differs from the definition; replace it with the output of `go run ./cmd/reel config --markdown`:\n%s", Markdown())
	}
}
