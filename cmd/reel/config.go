package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/evcache"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/origin"
	"github.com/reel-video/reel/playtoken"
)

// exitCode ends the program with a status without printing more.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// load reads a command's configuration (config.Load over the process's
// environment) and its positional arguments; a flag error has been
// printed and becomes exit status 2, help exit status 0.
func load(cmd string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, []string, error) {
	c, pos, err := config.Load(cmd, args, os.Getenv, stderr, extra)
	switch {
	case errors.Is(err, config.ErrHelp):
		return nil, nil, exitCode(0)
	case err != nil && !errors.Is(err, config.ErrConfig):
		return nil, nil, exitCode(2) // the flag package printed it with the usage
	}
	return c, pos, err
}

// loadServer is load for a server command, which takes no positional
// arguments.
func loadServer(cmd string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, error) {
	c, pos, err := load(cmd, args, stderr, extra)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("reel %s: unexpected argument %q", cmd, pos[0])
	}
	return c, nil
}

// cacheFor returns the shared cache client, or nil when none is
// configured.
func cacheFor(c *config.Config, log *slog.Logger) (*evcache.Client, error) {
	if c.Memcached == "" {
		return nil, nil
	}
	reps, err := evcache.ParseReplicas(c.Memcached)
	if err != nil {
		return nil, fmt.Errorf("REEL_MEMCACHED: %w", err)
	}
	return evcache.New(evcache.Config{Zone: c.Zone, Replicas: reps, Log: log})
}

// redisOpt is the queue's connection to the configured Redis: one server,
// the primary the Sentinels name (followed across failovers), or a
// Cluster. Validate has checked the address lists.
func redisOpt(c *config.Config) asynq.RedisConnOpt {
	if c.RedisSentinels != "" {
		addrs, _ := config.HostPorts(c.RedisSentinels)
		return asynq.RedisFailoverClientOpt{MasterName: c.RedisMaster, SentinelAddrs: addrs,
			SentinelPassword: c.RedisSentinelPassword, Password: c.RedisPassword}
	}
	if c.RedisCluster != "" {
		addrs, _ := config.HostPorts(c.RedisCluster)
		return asynq.RedisClusterClientOpt{Addrs: addrs, Password: c.RedisPassword}
	}
	return asynq.RedisClientOpt{Addr: c.RedisAddr, Password: c.RedisPassword}
}

// redisClient connects Reel's own Redis users (jobs, keys, locks, rate
// limits, the edge registry, announcements, stream leases) to the same
// Redis as redisOpt.
func redisClient(c *config.Config) redis.UniversalClient {
	return redisOpt(c).MakeRedisClient().(redis.UniversalClient)
}

// redisFor connects to the configured Redis, or returns nil when none is.
func redisFor(c *config.Config) redis.UniversalClient {
	if !c.HasRedis() {
		return nil
	}
	return redisClient(c)
}

// s3For connects to the object store; m, if set, counts the bytes moved,
// and log, if set, hears of outages.
func s3For(c *config.Config, m *metrics.Metrics, log *slog.Logger) (*origin.S3, error) {
	cfg := origin.Config{
		Endpoint: c.S3Endpoint, AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, Secure: c.S3Secure,
		Region: c.S3Region, Bucket: c.Bucket, OriginBucket: c.OriginBucket, PublicURL: c.PublicURL, Log: log,
	}
	if m != nil {
		cfg.OnBytes = m.S3
	}
	return origin.New(cfg)
}

// playbackTokens returns the signer of playback URLs and the checker of their
// tokens for a server in zone, from the validated settings.
func playbackTokens(c *config.Config, zone string) (*playtoken.Signer, *playtoken.Checker, error) {
	keys, err := playtoken.ParseKeys(c.PlaybackKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("REEL_PLAYBACK_KEYS: %w", err)
	}
	return &playtoken.Signer{Keys: keys, TTL: c.PlaybackTokenTTL, Bind: c.PlaybackBind}, &playtoken.Checker{Keys: keys, Zone: zone}, nil
}

// originPath serves a title's objects from the origin bucket under a
// playback token, for players when no edge is healthy.
func originPath(s3 *origin.S3, tokens *playtoken.Checker) *playtoken.Origin {
	return &playtoken.Origin{Tokens: tokens, Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, ResponseHeaderTimeout: 30 * time.Second}},
		Presign: func(ctx context.Context, method, key string) (string, error) {
			return s3.Presign(ctx, method, s3.OriginBucket(), key, presignTTL)
		}}
}

// presignTTL is how long the presigned URLs an edge or the origin path
// fetch with stay good: a fetch starts at once.
const presignTTL = 15 * time.Minute

// policy is where outgoing requests to user-given URLs may go: public
// addresses and the networks the setting env (holding allow) names.
func policy(env, allow string) (*netguard.Policy, error) {
	nets, err := netguard.ParseAllow(allow)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return &netguard.Policy{Allow: nets}, nil
}
