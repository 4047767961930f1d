package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reel-video/reel/devstack"
)

// loadResult is one bounded load run against one target.
type loadResult struct {
	target        string
	n, errors     int
	wall          time.Duration
	p50, p99, max time.Duration
}

// load sends n GETs of url from c clients at once (a fixed request count,
// stopped after a minute at most) and measures each request.
func load(target, url, key string, n, c int) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: c, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	deadline := time.Now().Add(time.Minute)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || time.Now().After(deadline) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[i] = time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{target: target, wall: time.Since(start), errors: int(errs.Load())}
	done := min(int(next.Load()), n)
	lat = lat[:done]
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	r.n = done
	if done > 0 {
		r.p50, r.p99, r.max = lat[done/2], lat[done*99/100], lat[done-1]
	}
	return r
}

// measureGateway starts `reel gateway` in front of the dev stack's API and
// loads the API directly and through the gateway, in turns.
func measureGateway(d *dev, id string, n, c int) error {
	port, err := devstack.FreePort()
	if err != nil {
		return err
	}
	gw := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("./bin/reel", "gateway", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--upstream", "z1="+d.api, "--redis", d.redis)
	// The gateway's per-key rate limit would measure itself.
	cmd.Env = append(os.Environ(), "REEL_GATEWAY_RATE_LIMIT=0")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for i := 0; ; i++ {
		resp, err := http.Get(gw + "/gateway/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			return fmt.Errorf("reel gateway did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	path := "/v1/jobs/" + id
	load("warm-up", d.api+path, d.key, 500, c)
	load("warm-up", gw+path, d.key, 500, c)
	var results []loadResult
	for round := 1; round <= 2; round++ {
		fmt.Fprintf(os.Stderr, "bench: load round %d: %d requests, %d clients, direct and through the gateway\n", round, n, c)
		results = append(results, load(fmt.Sprintf("API directly, round %d", round), d.api+path, d.key, n, c))
		results = append(results, load(fmt.Sprintf("through reel gateway, round %d", round), gw+path, d.key, n, c))
	}
	fmt.Printf("\n## Gateway overhead (GET /v1/jobs/{id}, %d requests a run, %d clients, loopback)\n\n", n, c)
	fmt.Println("| target | requests | errors | req/s | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- | --- |")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var direct, through [2]float64
	for i, r := range results {
		rps := float64(r.n) / r.wall.Seconds()
		if i%2 == 0 {
			direct[0] += rps / 2
			direct[1] += ms(r.p99) / 2
		} else {
			through[0] += rps / 2
			through[1] += ms(r.p99) / 2
		}
		fmt.Printf("| %s | %d | %d | %.0f | %.2f | %.2f | %.2f |\n", r.target, r.n, r.errors, rps, ms(r.p50), ms(r.p99), ms(r.max))
	}
	fmt.Printf("| ratio gateway / direct, mean of rounds | | | %.2f | | %.2f | |\n", through[0]/direct[0], through[1]/direct[1])
	return nil
}
