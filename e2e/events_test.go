package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reel-video/reel/devstack"
	"github.com/reel-video/reel/events"
)

// TestEventsClusterLeaderKilled runs the event log on three `reel nats`
// servers in a cluster with a stream of three replicas, publishes events
// while it kills the stream's leader with SIGKILL, and restarts a
// durable consumer part way: every event the log acknowledged is kept,
// once, and the consumer sees each of them.
func TestEventsClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := buildReel(t)
	dir := t.TempDir()
	type node struct {
		name       string
		port, rprt int
		cmd        *exec.Cmd
	}
	nodes := make([]*node, 3)
	for i := range nodes {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), port: p, rprt: r}
	}
	start := func(n *node) {
		var routes []string
		for _, o := range nodes {
			if o != n {
				routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(o.rprt))
			}
		}
		n.cmd = exec.Command(bin, "nats", "--addr", "127.0.0.1:"+strconv.Itoa(n.port), "--dir", filepath.Join(dir, n.name),
			"--name", n.name, "--cluster", "reel", "--route-addr", "127.0.0.1:"+strconv.Itoa(n.rprt), "--routes", strings.Join(routes, ","))
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		start(n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if n.cmd.ProcessState == nil {
				_ = n.cmd.Process.Signal(syscall.SIGTERM)
				_ = n.cmd.Wait()
			}
		}
	})
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(n.port))
	}
	log, err := events.Connect(strings.Join(urls, ","), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// Three processes starting on a loaded machine take a while to
	// elect the cluster's meta leader; EnsureStream tries until then.
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer scancel()
	if err := log.EnsureStream(sctx, events.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	// The stream's leader, as the cluster says.
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	leader := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, "EVENTS")
		if err != nil {
			return ""
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}

	const total = 3000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The consumer counts what it sees, in a first run and, after a
	// stop, a second.
	var mu sync.Mutex
	seen := map[string]int{}
	consume := func(ctx context.Context) {
		c, err := log.Consumer(ctx, "checker", []string{"events.>"})
		if err != nil {
			return
		}
		events.Consume(ctx, c, 200, 100*time.Millisecond, func(_ context.Context, ds []events.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range ds {
				var e events.Event
				_ = json.Unmarshal(d.Data, &e)
				seen[e.ID]++
			}
			return nil
		}, quiet)
	}
	c1, stop1 := context.WithCancel(context.Background())
	defer stop1()
	done1 := make(chan struct{})
	go func() { consume(c1); close(done1) }()

	// Publish in batches of 50, each batch until the log takes all of it
	// (again with the same ids after a failure).
	acked := 0
	var killedAt, resumedAt time.Time
	var killed string
	for b := 0; b < total/50; b++ {
		var msgs []events.Message
		for i := b * 50; i < (b+1)*50; i++ {
			e := events.Event{ID: fmt.Sprintf("ev%05d", i), Type: "perf.cache_miss", At: time.Now().UTC(), Ms: 1, User: strconv.Itoa(i % 13)}
			data, _ := json.Marshal(e)
			msgs = append(msgs, events.Message{Subject: e.Subject(), ID: e.ID, Data: data})
		}
		for try := 0; ; try++ {
			pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
			errs := log.Publish(pctx, msgs)
			pcancel()
			var failed []events.Message
			for i, err := range errs {
				if err != nil {
					failed = append(failed, msgs[i])
				}
			}
			acked += len(msgs) - len(failed)
			if len(failed) == 0 {
				break
			}
			if !killedAt.IsZero() && try > 200 {
				t.Fatalf("the log took nothing for %s after its leader was killed", time.Since(killedAt))
			}
			msgs = failed
			time.Sleep(50 * time.Millisecond)
		}
		if !killedAt.IsZero() && resumedAt.IsZero() {
			resumedAt = time.Now()
		}
		if b == 20 { // 1000 acknowledged: kill the stream's leader
			for wait := time.Now().Add(30 * time.Second); killed == "" && time.Now().Before(wait); {
				if killed = leader(); killed == "" {
					time.Sleep(100 * time.Millisecond)
				}
			}
			for _, n := range nodes {
				if n.name == killed {
					if err := n.cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					_ = n.cmd.Wait()
				}
			}
			if killed == "" {
				t.Fatal("no stream leader to kill")
			}
			killedAt = time.Now()
		}
		if b == 40 { // the consumer stops and starts again
			stop1()
			<-done1
			c2, stop2 := context.WithCancel(context.Background())
			done2 := make(chan struct{})
			go func() { consume(c2); close(done2) }()
			defer func() { stop2(); <-done2 }()
		}
	}
	if acked != total {
		t.Fatalf("%d of %d acknowledged", acked, total)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	n, err := log.Count(cctx)
	if err != nil || n != total {
		t.Fatalf("the stream holds %d events (%v), want the %d acknowledged, once each", n, err, total)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got, twice := len(seen), 0
		for _, c := range seen {
			if c > 1 {
				twice++
			}
		}
		mu.Unlock()
		if got == total {
			t.Logf("leader %s killed (SIGKILL) after 1000 acknowledged events; publishing resumed %s later (new leader %s); "+
				"the stream holds all %d acknowledged events once; the consumer, restarted once, saw all of them (%d delivered twice, across the restart)",
				killed, resumedAt.Sub(killedAt).Round(time.Millisecond), leader(), total, twice)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer saw %d of %d events", got, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
