// Package devstack starts local redis-server (alone, watched by Sentinels
// or as a cluster), MinIO (one server, or distributed behind a load
// balancer), memcached and MariaDB processes on free ports for `reel dev`
// and for tests, and stops them.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a child server process.
type Proc struct {
	Name string
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	done chan struct{}
}

// Stop terminates the process (SIGTERM, then SIGKILL after 5 s) and waits.
func (p *Proc) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(name string, cmd *exec.Cmd, addr string, logf *os.File) (*Proc, error) {
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the parent: a crashed `reel dev` leaves no servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// LookBin finds a binary: the explicit path if set, else on PATH, else in
// the Go bin directory (where `go install` puts MinIO), else in the
// system's sbin folders (where Debian puts mariadbd).
func LookBin(explicit, name string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(os.Getenv("HOME"), "go", "bin"), "/usr/sbin", "/usr/local/sbin"} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in the Go bin directory; run `make deps` to install it", name)
}

// prepare finds the server binary, creates its data folder and picks a
// free port unless port is set.
func prepare(bin, name, dir string, port int) (string, int, error) {
	bin, err := LookBin(bin, name)
	if err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	if port > 0 {
		return bin, port, nil
	}
	port, err = FreePort()
	return bin, port, err
}

// StartRedis starts redis-server with its data under dir, with AOF
// persistence, and waits until it answers.
func StartRedis(ctx context.Context, bin, dir string) (*Proc, error) {
	return StartRedisOn(ctx, bin, dir, 0)
}

// StartRedisOn is StartRedis on a given port (0: a free one), to restart a
// server where its clients expect it.
func StartRedisOn(ctx context.Context, bin, dir string, port int) (*Proc, error) {
	bin, port, err := prepare(bin, "redis-server", dir, port)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--save", "", "--protected-mode", "yes")
	return launch(ctx, "redis-server", cmd, filepath.Join(dir, "redis.log"), addr, func(p *Proc) error { return waitTCP(ctx, p, addr) })
}

// launch starts a server logging to logPath and waits until ready says it
// serves; a server that does not become ready is stopped.
func launch(ctx context.Context, name string, cmd *exec.Cmd, logPath, addr string, ready func(*Proc) error) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	p, err := start(name, cmd, addr, logf)
	if err != nil {
		return nil, err
	}
	if err := ready(p); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// MinIO credentials of a local dev server.
const (
	MinioUser     = "reeldev"
	MinioPassword = "reeldev-secret-key"
)

// StartMinio starts a MinIO server with its data under dir and waits until
// it is ready.
func StartMinio(ctx context.Context, bin, dir string) (*Proc, error) {
	return StartMinioOn(ctx, bin, dir, 0)
}

// StartMinioOn is StartMinio on a given port (0: a free one).
func StartMinioOn(ctx context.Context, bin, dir string, port int) (*Proc, error) {
	bin, port, err := prepare(bin, "minio", dir, port)
	if err != nil {
		return nil, err
	}
	cport, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:"+strconv.Itoa(cport), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+MinioUser, "MINIO_ROOT_PASSWORD="+MinioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	return launch(ctx, "minio", cmd, filepath.Join(dir, "minio.log"), addr, func(p *Proc) error {
		return waitHTTP(ctx, p, "http://"+addr+"/minio/health/ready")
	})
}

// StartMemcached starts a memcached server (Debian's `memcached`) with
// memMB megabytes of cache on a free port and waits until it answers.
func StartMemcached(ctx context.Context, bin, dir string, memMB int) (*Proc, error) {
	return StartMemcachedOn(ctx, bin, dir, memMB, 0)
}

// StartMemcachedOn is StartMemcached on a given port (0: a free one).
func StartMemcachedOn(ctx context.Context, bin, dir string, memMB, port int) (*Proc, error) {
	bin, port, err := prepare(bin, "memcached", dir, port)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", strconv.Itoa(max(memMB, 8))}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root unless told to
	}
	return launch(ctx, "memcached", exec.Command(bin, args...), filepath.Join(dir, "memcached.log"), addr, func(p *Proc) error {
		return waitTCP(ctx, p, addr)
	})
}

func waitTCP(ctx context.Context, p *Proc, addr string) error {
	return poll(ctx, p, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func waitHTTP(ctx context.Context, p *Proc, url string) error {
	client := &http.Client{Timeout: time.Second}
	return poll(ctx, p, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func poll(ctx context.Context, p *Proc, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if ok() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up; see its log", p.Name)
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s did not become ready", p.Name), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RedisCluster is a Redis Cluster of local redis-server processes.
type RedisCluster struct {
	Nodes []*Proc
	Addrs []string
}

// Stop stops every node.
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartRedisCluster starts masters*(1+replicas) redis-server nodes in
// cluster mode (AOF on) with their data under dir, joins them with
// redis-cli --cluster create and waits until every node reports the
// cluster ok.
func StartRedisCluster(ctx context.Context, bin, dir string, masters, replicas int) (*RedisCluster, error) {
	cli, err := LookBin("", "redis-cli")
	if err != nil {
		return nil, err
	}
	c := &RedisCluster{}
	for i := range masters * (1 + replicas) {
		ndir := filepath.Join(dir, "node"+strconv.Itoa(i))
		b, port, err := prepare(bin, "redis-server", ndir, 0)
		if err != nil {
			c.Stop()
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(b, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", ndir,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
			"--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--repl-diskless-sync-delay", "0")
		p, err := launch(ctx, "redis-server", cmd, filepath.Join(ndir, "redis.log"), addr, func(p *Proc) error { return waitTCP(ctx, p, addr) })
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes, c.Addrs = append(c.Nodes, p), append(c.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, tail(out))
	}
	for i, addr := range c.Addrs {
		err := poll(ctx, c.Nodes[i], func() bool {
			out, err := exec.CommandContext(ctx, cli, "-h", "127.0.0.1", "-p", addr[len("127.0.0.1:"):], "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				return false
			}
			// A master's replicas acknowledge writes once in sync.
			info := redisCLI(ctx, cli, addr, "info", "replication")
			return !strings.Contains(info, "role:master") || strings.Count(info, ",state=online,") >= replicas
		})
		if err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}
