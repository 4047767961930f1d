package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/reel-video/reel/edge"
	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/store"
)

func runEdge(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := loadServer("edge", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := c.Validate("edge"); err != nil {
		return err
	}
	window, err := edge.ParseWindow(c.EdgeFillWindow)
	if err != nil {
		return err
	}
	_, tokens, err := playbackTokens(c, c.Zone)
	if err != nil {
		return err
	}
	// The origin bucket is private: the edge fetches with credentials,
	// through presigned URLs, unless it is given another origin.
	var originURL func(ctx context.Context, method, key string) (string, error)
	if c.EdgeOrigin == "" {
		s3, err := s3For(c, nil, nil)
		if err != nil {
			return err
		}
		c.EdgeOrigin = strings.TrimSuffix(s3.PublicURL(""), "/")
		originURL = func(ctx context.Context, method, key string) (string, error) {
			return s3.Presign(ctx, method, s3.OriginBucket(), key, presignTTL)
		}
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("edge listen %s: %w", c.Addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if c.EdgeName == "" {
		c.EdgeName = fmt.Sprintf("edge-%s-%d", c.Zone, port)
	}
	if c.EdgeURL == "" {
		c.EdgeURL = "http://" + ln.Addr().String()
	}
	log := logger("edge", stderr).With("edge", c.EdgeName, "zone", c.Zone)
	rdb := redisClient(c)
	defer rdb.Close()
	reg := &store.Edges{C: rdb}
	em, stopEvents := emitterFor(c, "edge", log)
	defer stopEvents()
	var report func(typ, key, code, message string, ms float64)
	if em != nil {
		report = func(typ, key, code, message string, ms float64) {
			em.Emit(events.Event{Type: typ, Edge: c.EdgeName, Title: publishedTitle(key), Code: code, Message: message, Ms: ms,
				Attrs: map[string]string{"key": key, "zone": c.Zone}})
		}
	}
	e, err := edge.New(edge.Config{Name: c.EdgeName, Zone: c.Zone, Origin: c.EdgeOrigin, OriginURL: originURL, Dir: c.EdgeDir, Budget: c.EdgeBudget,
		Tokens: tokens, Public: reg.Public, KeyService: c.KeyService, Report: report,
		Fill: edge.FillConfig{First: c.EdgeFillFirst, Window: window, Rate: c.EdgeFillRate}, Log: log})
	if err != nil {
		ln.Close()
		return err
	}
	// Shutdown order: stop serving, then the fill and the heartbeat
	// (which deregisters), then Redis.
	bg, stopBg := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { e.Fill(bg, reg); done <- struct{}{} }()
	go func() {
		edge.Heartbeat(bg, reg, edge.Info{Name: c.EdgeName, Zone: c.Zone, URL: c.EdgeURL, PID: os.Getpid()}, time.Second, log)
		done <- struct{}{}
	}()
	st := e.Status()
	log.Info("edge listening", "url", c.EdgeURL, "origin", c.EdgeOrigin, "budget", c.EdgeBudget, "held_bytes", st.BytesHeld,
		"held_titles", st.TitlesHeld, "fill_window", window.String(), "fill_rate", c.EdgeFillRate)
	err = serve(ctx, ln, e.Handler())
	stopBg()
	<-done
	<-done
	return err
}

// publishedTitle is the title of a published object's key, or "".
func publishedTitle(key string) string {
	id, _ := pipeline.PublishedTitle(key)
	return id
}
