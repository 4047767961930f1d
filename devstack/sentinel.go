package devstack

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisHA is a Redis primary and replica watched by three Sentinels,
// which promote the replica when the primary is lost.
type RedisHA struct {
	// Master is the name the Sentinels watch the primary by.
	Master string
	// Nodes are the data nodes; Nodes[0] started as the primary.
	Nodes []*Proc
	// Sentinels watch them.
	Sentinels []*Proc
	bin, cli  string
	dirs      []string
}

// SentinelAddrs are the Sentinels' host:port addresses.
func (h *RedisHA) SentinelAddrs() []string {
	out := make([]string, len(h.Sentinels))
	for i, s := range h.Sentinels {
		out[i] = s.Addr
	}
	return out
}

// Stop stops the Sentinels, then the data nodes.
func (h *RedisHA) Stop() {
	for _, s := range h.Sentinels {
		s.Stop()
	}
	for _, n := range h.Nodes {
		n.Stop()
	}
}

// HA timings of the Sentinels reel dev and tests start: a primary
// unreachable for SentinelDownAfter is failed over.
const SentinelDownAfter = 1000 * time.Millisecond

// StartRedisHA starts a primary and a replica (AOF on) and three Sentinels
// (quorum 2) watching them as master, with their data under dir, and
// waits until every Sentinel knows the replica and the other Sentinels.
func StartRedisHA(ctx context.Context, bin, dir, master string) (*RedisHA, error) {
	cli, err := LookBin("", "redis-cli")
	if err != nil {
		return nil, err
	}
	h := &RedisHA{Master: master, cli: cli}
	for i := range 2 {
		ndir := filepath.Join(dir, "node"+strconv.Itoa(i))
		b, port, err := prepare(bin, "redis-server", ndir, 0)
		if err != nil {
			h.Stop()
			return nil, err
		}
		h.bin = b
		var of string
		if i > 0 {
			of = h.Nodes[0].Addr
		}
		p, err := h.startNode(ctx, ndir, port, of)
		if err != nil {
			h.Stop()
			return nil, err
		}
		h.Nodes, h.dirs = append(h.Nodes, p), append(h.dirs, ndir)
	}
	for i := range 3 {
		sdir := filepath.Join(dir, "sentinel"+strconv.Itoa(i))
		_, port, err := prepare(bin, "redis-server", sdir, 0)
		if err != nil {
			h.Stop()
			return nil, err
		}
		host, pport, _ := net.SplitHostPort(h.Nodes[0].Addr)
		conf := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nprotected-mode no\n"+
			"sentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			port, sdir, master, host, pport, master, SentinelDownAfter.Milliseconds(), master, master)
		path := filepath.Join(sdir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			h.Stop()
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := launch(ctx, "redis-sentinel", exec.Command(h.bin, path, "--sentinel"), filepath.Join(sdir, "sentinel.log"), addr,
			func(p *Proc) error { return waitTCP(ctx, p, addr) })
		if err != nil {
			h.Stop()
			return nil, err
		}
		h.Sentinels = append(h.Sentinels, p)
	}
	if err := poll(ctx, h.Nodes[0], func() bool { return replicasOnline(ctx, cli, h.Nodes[0].Addr) == 1 }); err != nil {
		h.Stop()
		return nil, err
	}
	// A Sentinel learns of the replica from the primary and of the other
	// Sentinels from hello messages (every 2 s); until then it cannot
	// fail over.
	for _, s := range h.Sentinels {
		err := poll(ctx, s, func() bool {
			out := h.redisCLI(ctx, s.Addr, "sentinel", "master", master)
			return fieldOf(out, "num-slaves") == "1" && fieldOf(out, "num-other-sentinels") == "2"
		})
		if err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

func (h *RedisHA) startNode(ctx context.Context, dir string, port int, replicaOf string) (*Proc, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--repl-diskless-sync-delay", "0"}
	if replicaOf != "" {
		host, p, _ := net.SplitHostPort(replicaOf)
		args = append(args, "--replicaof", host, p)
	}
	return launch(ctx, "redis-server", exec.Command(h.bin, args...), filepath.Join(dir, "redis.log"), addr,
		func(p *Proc) error { return waitTCP(ctx, p, addr) })
}

// Primary is the address the Sentinels give for the master now.
func (h *RedisHA) Primary(ctx context.Context) (string, error) {
	for _, s := range h.Sentinels {
		select {
		case <-s.done:
			continue
		default:
		}
		out := strings.Fields(h.redisCLI(ctx, s.Addr, "sentinel", "get-master-addr-by-name", h.Master))
		if len(out) == 2 {
			return net.JoinHostPort(out[0], out[1]), nil
		}
	}
	return "", fmt.Errorf("no Sentinel names a primary for %s", h.Master)
}

// Node is the index of the data node at addr, or -1.
func (h *RedisHA) Node(addr string) int {
	for i, n := range h.Nodes {
		if n.Addr == addr {
			return i
		}
	}
	return -1
}

// Kill ends data node i with SIGKILL, as a lost machine would, and waits.
func (h *RedisHA) Kill(i int) { h.Nodes[i].Kill() }

// Restart starts data node i again on its port and data, as a replica of
// the current primary (the Sentinels would make it one anyway).
func (h *RedisHA) Restart(ctx context.Context, i int) error {
	primary, err := h.Primary(ctx)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(h.Nodes[i].Addr)
	pn, _ := strconv.Atoi(port)
	p, err := h.startNode(ctx, h.dirs[i], pn, primary)
	if err != nil {
		return err
	}
	h.Nodes[i] = p
	return nil
}

func (h *RedisHA) redisCLI(ctx context.Context, addr string, args ...string) string {
	return redisCLI(ctx, h.cli, addr, args...)
}

func redisCLI(ctx context.Context, cli, addr string, args ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, args...)...).Output()
	return string(out)
}

// replicasOnline counts the replicas of the server at addr that are in
// sync (state=online): only those acknowledge writes to WAIT.
func replicasOnline(ctx context.Context, cli, addr string) int {
	return strings.Count(redisCLI(ctx, cli, addr, "info", "replication"), ",state=online,")
}

// fieldOf reads a field of redis-cli's one-per-line name/value reply.
func fieldOf(out, name string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		if strings.TrimSpace(lines[i]) == name {
			return strings.TrimSpace(lines[i+1])
		}
	}
	return ""
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
