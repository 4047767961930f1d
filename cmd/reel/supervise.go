package main

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procSet keeps n child `reel` processes running for `reel dev` (workers,
// edges): one that exits is started again, and a rolling restart replaces
// them one at a time, each stopped with SIGTERM so it hands back what it
// holds.
type procSet struct {
	self string
	kind string             // "worker", "edge": for logs
	args func(int) []string // the arguments of process i
	env  []string
	out  io.Writer
	log  *slog.Logger

	mu       sync.Mutex
	procs    []*exec.Cmd
	stopping bool
	wg       sync.WaitGroup
}

func (ws *procSet) start(n int) {
	ws.procs = make([]*exec.Cmd, n)
	for i := range n {
		ws.wg.Add(1)
		go ws.slot(i)
	}
}

// slot runs process i until the set stops, starting it again when it exits.
func (ws *procSet) slot(i int) {
	defer ws.wg.Done()
	backoff := time.Second
	for {
		cmd := exec.Command(ws.self, ws.args(i)...)
		cmd.Env = ws.env
		cmd.Stdout, cmd.Stderr = ws.out, ws.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		ws.mu.Lock()
		if ws.stopping {
			ws.mu.Unlock()
			return
		}
		err := cmd.Start()
		if err == nil {
			ws.procs[i] = cmd
		}
		ws.mu.Unlock()
		started := time.Now()
		if err == nil {
			err = cmd.Wait()
		}
		ws.mu.Lock()
		stopping := ws.stopping
		ws.mu.Unlock()
		if stopping {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		ws.log.Warn(ws.kind+" exited; starting another", "slot", i, "err", err, "after", backoff)
		time.Sleep(backoff)
		backoff = min(2*backoff, 30*time.Second)
	}
}

// pid returns the process id of process i, or 0.
func (ws *procSet) pid(i int) int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if p := ws.procs[i]; p != nil && p.Process != nil {
		return p.Process.Pid
	}
	return 0
}

// rollingRestart stops each process in turn with SIGTERM and waits for its
// replacement before moving to the next, so some process always serves.
func (ws *procSet) rollingRestart(ctx context.Context) {
	for i := range ws.procs {
		old := ws.pid(i)
		if old == 0 {
			continue
		}
		ws.log.Info("rolling restart: stopping "+ws.kind, "slot", i, "pid", old)
		_ = syscall.Kill(old, syscall.SIGTERM)
		for ws.pid(i) == old || ws.pid(i) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		// Let the new process register before the next one stops.
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	ws.log.Info("rolling restart done")
}

// stop sends every process SIGTERM and waits for them to exit.
func (ws *procSet) stop() {
	ws.mu.Lock()
	ws.stopping = true
	for _, p := range ws.procs {
		if p != nil && p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	ws.mu.Unlock()
	ws.wg.Wait()
}
