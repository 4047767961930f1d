package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/store"
)

// edgeConfig is `reel edge`'s configuration beyond the shared one.
type edgeConfig struct {
	Name       string // REEL_EDGE_NAME, --name
	Dir        string // REEL_EDGE_DIR, --dir: cache folder
	Budget     int64  // REEL_EDGE_BUDGET (bytes), --budget
	Origin     string // REEL_EDGE_ORIGIN: base URL of the origin bucket
	URL        string // REEL_EDGE_URL: base URL players use; default http://ADDR
	FillWindow string // REEL_EDGE_FILL_WINDOW: HH:MM-HH:MM UTC, or always
	FillRate   int64  // REEL_EDGE_FILL_RATE: bytes a second for the deferred fill (0: unbounded)
	FillFirst  int    // REEL_EDGE_FILL_FIRST: segments of every rung fetched at once
}

func (e *edgeConfig) fromEnv(getenv func(string) string) error {
	for k, dst := range map[string]*string{"REEL_EDGE_NAME": &e.Name, "REEL_EDGE_DIR": &e.Dir, "REEL_EDGE_ORIGIN": &e.Origin,
		"REEL_EDGE_URL": &e.URL, "REEL_EDGE_FILL_WINDOW": &e.FillWindow} {
		if v := getenv(k); v != "" {
			*dst = v
		}
	}
	for k, dst := range map[string]*int64{"REEL_EDGE_BUDGET": &e.Budget, "REEL_EDGE_FILL_RATE": &e.FillRate} {
		if v := getenv(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%s=%q: want a number of bytes", k, v)
			}
			*dst = n
		}
	}
	if v := getenv("REEL_EDGE_FILL_FIRST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("REEL_EDGE_FILL_FIRST=%q: want a number of segments, 1 or more", v)
		}
		e.FillFirst = n
	}
	return nil
}

func runEdge(ctx context.Context, args []string, stderr io.Writer) error {
	ec := edgeConfig{Budget: 10 << 30, FillFirst: 3}
	if err := ec.fromEnv(os.Getenv); err != nil {
		return err
	}
	c, err := loadConfig("edge", args, stderr, func(fs *flag.FlagSet, c *config) {
		c.Addr = "127.0.0.1:8090"
		fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (REEL_ADDR)")
		fs.StringVar(&c.Zone, "zone", c.Zone, "zone this edge serves (REEL_ZONE)")
		fs.StringVar(&ec.Name, "name", ec.Name, "unique edge name (REEL_EDGE_NAME); default edge-ZONE-PORT")
		fs.StringVar(&ec.Dir, "dir", ec.Dir, "cache folder, kept across restarts (REEL_EDGE_DIR)")
		fs.Int64Var(&ec.Budget, "budget", ec.Budget, "most bytes held on disk (REEL_EDGE_BUDGET)")
		fs.StringVar(&ec.Origin, "origin", ec.Origin, "base URL of the origin bucket (REEL_EDGE_ORIGIN); default from the S3 settings")
		fs.StringVar(&ec.URL, "url", ec.URL, "base URL players use for this edge (REEL_EDGE_URL); default http://ADDR")
		fs.StringVar(&ec.FillWindow, "fill-window", ec.FillWindow, "UTC hours of the deferred fill, e.g. 02:00-06:00, or always (REEL_EDGE_FILL_WINDOW)")
		fs.Int64Var(&ec.FillRate, "fill-rate", ec.FillRate, "deferred fill bandwidth in bytes a second, 0 unbounded (REEL_EDGE_FILL_RATE)")
	})
	if err != nil {
		return err
	}
	var errs []string
	if c.RedisAddr == "" {
		errs = append(errs, "REEL_REDIS_ADDR (--redis) is required: edges learn of published titles and register through Redis")
	}
	if ec.Dir == "" {
		errs = append(errs, "REEL_EDGE_DIR (--dir) is required: the folder the edge caches into")
	}
	if ec.Origin == "" && c.S3Endpoint == "" && c.PublicURL == "" {
		errs = append(errs, "REEL_EDGE_ORIGIN (--origin) or REEL_S3_ENDPOINT is required: where published titles are")
	}
	window, err := edge.ParseWindow(ec.FillWindow)
	if err != nil {
		errs = append(errs, "REEL_EDGE_FILL_WINDOW: "+err.Error())
	}
	if len(errs) > 0 {
		return errors.New("configuration: " + strings.Join(errs, "; "))
	}
	if ec.Origin == "" {
		s3, err := c.s3(nil)
		if err != nil {
			return err
		}
		ec.Origin = strings.TrimSuffix(s3.PublicURL(""), "/")
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("edge listen %s: %w", c.Addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if ec.Name == "" {
		ec.Name = fmt.Sprintf("edge-%s-%d", c.Zone, port)
	}
	if ec.URL == "" {
		ec.URL = "http://" + ln.Addr().String()
	}
	log := logger("edge", stderr).With("edge", ec.Name, "zone", c.Zone)
	e, err := edge.New(edge.Config{Name: ec.Name, Zone: c.Zone, Origin: ec.Origin, Dir: ec.Dir, Budget: ec.Budget,
		Fill: edge.FillConfig{First: ec.FillFirst, Window: window, Rate: ec.FillRate}, Log: log})
	if err != nil {
		ln.Close()
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.RedisAddr, Password: c.RedisPassword})
	defer rdb.Close()
	reg := &store.Edges{C: rdb}
	// Shutdown order: stop serving, then the fill and the heartbeat
	// (which deregisters), then Redis.
	bg, stopBg := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { e.Fill(bg, reg); done <- struct{}{} }()
	go func() {
		edge.Heartbeat(bg, reg, edge.Info{Name: ec.Name, Zone: c.Zone, URL: ec.URL, PID: os.Getpid()}, time.Second, log)
		done <- struct{}{}
	}()
	st := e.Status()
	log.Info("edge listening", "url", ec.URL, "origin", ec.Origin, "budget", ec.Budget, "held_bytes", st.BytesHeld,
		"held_titles", st.TitlesHeld, "fill_window", window.String(), "fill_rate", ec.FillRate)
	err = serve(ctx, ln, e.Handler())
	stopBg()
	<-done
	<-done
	return err
}
