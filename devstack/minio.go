package devstack

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MinioCluster is MinIO in distributed mode on loopback: one drive per
// node, objects erasure-coded across them (with 4 nodes, 2 data and 2
// parity shards: reads go on with 2 nodes, writes with 3), behind a TCP
// load balancer whose address is the cluster's S3 endpoint, as a load
// balancer fronts a MinIO cluster across machines.
type MinioCluster struct {
	// Addr is the load balancer's host:port.
	Addr string
	// Nodes are the MinIO servers, Nodes[i] on Ports[i].
	Nodes []*Proc
	lb    *balancer
	bin   string
	dir   string
	ports []int
}

// StartMinioCluster starts n MinIO nodes (n of 4 or more) with their
// drives under dir and a load balancer in front of them, and waits until
// the cluster has write quorum.
func StartMinioCluster(ctx context.Context, bin, dir string, n int) (*MinioCluster, error) {
	if n < 4 {
		return nil, errors.New("a distributed MinIO needs at least 4 nodes")
	}
	bin, _, err := prepare(bin, "minio", dir, 0)
	if err != nil {
		return nil, err
	}
	c := &MinioCluster{bin: bin, dir: dir}
	for range n {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		c.ports = append(c.ports, port)
	}
	c.Nodes = make([]*Proc, n)
	for i := range n {
		if c.Nodes[i], err = c.startNode(ctx, i, false); err != nil {
			c.Stop()
			return nil, err
		}
	}
	backends := make([]string, n)
	for i, p := range c.ports {
		backends[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	if c.lb, err = startBalancer(backends); err != nil {
		c.Stop()
		return nil, err
	}
	c.Addr = c.lb.addr
	if err := c.WaitQuorum(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startNode starts node i; with wait, it returns once the node answers
// (the cluster's nodes only answer together, so the first start does
// not wait).
func (c *MinioCluster) startNode(ctx context.Context, i int, wait bool) (*Proc, error) {
	drive := filepath.Join(c.dir, "node"+strconv.Itoa(i))
	if err := os.MkdirAll(drive, 0o755); err != nil {
		return nil, err
	}
	cport, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(c.ports[i])
	args := []string{"server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:" + strconv.Itoa(cport)}
	for j, p := range c.ports {
		args = append(args, "http://127.0.0.1:"+strconv.Itoa(p)+filepath.Join(c.dir, "node"+strconv.Itoa(j)))
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+MinioUser, "MINIO_ROOT_PASSWORD="+MinioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1",
		// In a container MinIO will not take a loopback address as a
		// node's own unless told which endpoint is this node.
		"_MINIO_SERVER_LOCAL="+addr)
	return launch(ctx, "minio", cmd, filepath.Join(c.dir, "minio"+strconv.Itoa(i)+".log"), addr, func(p *Proc) error {
		if !wait {
			return nil
		}
		return waitHTTP(ctx, p, "http://"+addr+"/minio/health/live")
	})
}

// WaitQuorum waits until the cluster, asked through the load balancer,
// can take writes.
func (c *MinioCluster) WaitQuorum(ctx context.Context) error {
	return poll(ctx, c.Nodes[0], func() bool { return c.Healthy(ctx) })
}

// Healthy says whether the cluster has write quorum.
func (c *MinioCluster) Healthy(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+"/minio/health/cluster", nil)
	resp, err := (&http.Client{Timeout: time.Second}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Drive is node i's drive folder, where its shards of each object are.
func (c *MinioCluster) Drive(i int) string { return filepath.Join(c.dir, "node"+strconv.Itoa(i)) }

// Signal sends sig to node i (SIGSTOP and SIGCONT stall and resume it).
func (c *MinioCluster) Signal(i int, sig syscall.Signal) error {
	return c.Nodes[i].cmd.Process.Signal(sig)
}

// Kill ends node i with SIGKILL, as a lost machine would.
func (c *MinioCluster) Kill(i int) { c.Nodes[i].Kill() }

// Restart starts node i again on its port and drive and waits until it
// answers; MinIO heals onto it what it missed.
func (c *MinioCluster) Restart(ctx context.Context, i int) error {
	p, err := c.startNode(ctx, i, true)
	if err != nil {
		return err
	}
	c.Nodes[i] = p
	return nil
}

// Stop stops the load balancer and every node.
func (c *MinioCluster) Stop() {
	if c.lb != nil {
		c.lb.close()
	}
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
}

// balancer is a TCP load balancer: each connection goes to the next
// backend in turn that accepts it and that its health check did not
// find stalled (a stopped process still accepts connections, and only
// an answer tells it is alive).
type balancer struct {
	addr     string
	ln       net.Listener
	backends []string
	down     []atomic.Bool
	next     atomic.Uint64
	stop     chan struct{}
	wg       sync.WaitGroup // serve and check
	mu       sync.Mutex
	conns    map[net.Conn]bool // clients' open connections
}

func startBalancer(backends []string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{addr: ln.Addr().String(), ln: ln, backends: backends, down: make([]atomic.Bool, len(backends)),
		stop: make(chan struct{}), conns: map[net.Conn]bool{}}
	b.wg.Add(2)
	go b.serve()
	go b.check()
	return b, nil
}

func (b *balancer) serve() {
	defer b.wg.Done()
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[conn] = true
		b.mu.Unlock()
		go func() {
			b.relay(conn)
			b.mu.Lock()
			delete(b.conns, conn)
			b.mu.Unlock()
		}()
	}
}

// relay copies between the client and the first backend that takes the
// connection, trying each once.
func (b *balancer) relay(conn net.Conn) {
	defer conn.Close()
	start := int(b.next.Add(1))
	for k := range len(b.backends) {
		i := (start + k) % len(b.backends)
		if b.down[i].Load() {
			continue
		}
		up, err := net.DialTimeout("tcp", b.backends[i], time.Second)
		if err != nil {
			b.down[i].Store(true)
			continue
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(up, conn)
			if tc, ok := up.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			close(done)
		}()
		_, _ = io.Copy(conn, up)
		_ = conn.Close()
		<-done
		return
	}
}

// check asks each backend for its liveness every 500 ms.
func (b *balancer) check() {
	defer b.wg.Done()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		var wg sync.WaitGroup
		for i, be := range b.backends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get("http://" + be + "/minio/health/live")
				if err == nil {
					resp.Body.Close()
				}
				b.down[i].Store(err != nil || resp.StatusCode != http.StatusOK)
			}()
		}
		wg.Wait()
	}
}

// close stops accepting and checking and closes the clients' open
// connections, which ends their relays.
func (b *balancer) close() {
	close(b.stop)
	_ = b.ln.Close()
	b.wg.Wait()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
}
