package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
)

// backlogLoad measures the API while 200 jobs wait for one worker: job
// status and listing under load, side by side with the same load on an
// empty queue, and the backlog estimate job admission reads
// (REEL_MAX_QUEUE_WAIT).
func backlogLoad(dir string, n, c int) error {
	d, err := startDev(filepath.Join(dir, "backlog"), 1)
	if err != nil {
		return err
	}
	defer d.stop()
	tiny := filepath.Join(dir, "backlog-tiny.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-t", "1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", tiny).CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	data, err := os.ReadFile(tiny)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ladder := []byte(`{"rungs":[{"height":90,"bitrate":100000,"preset":"ultrafast"}]}`)
	submit := func(i int) error {
		_, err := d.client().Submit(ctx, bytes.NewReader(data), fmt.Sprintf("tiny-%d.mp4", i), ladder)
		return err
	}
	// 20 jobs done first, so that a page of the list is as full on the
	// empty queue as with the jobs waiting.
	var first *pipeline.View
	for i := range 20 {
		if first, err = d.client().Submit(ctx, bytes.NewReader(data), fmt.Sprintf("done-%d.mp4", i), ladder); err != nil {
			return err
		}
		if _, err := d.client().Wait(ctx, first.ID, 100*time.Millisecond); err != nil {
			return err
		}
	}
	statusURL, listURL := d.api+"/v1/jobs/"+first.ID, d.api+"/v1/jobs?limit=20"
	fmt.Fprintf(os.Stderr, "bench: backlog: status load on an empty queue\n")
	idle := [2]loadResult{load("status", statusURL, d.key, n, c), load("list", listURL, d.key, n, c)}

	// 200 jobs from 8 clients at once; each waits behind the others.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		refused  = map[string]int{}
	)
	start := time.Now()
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := submit(i)
				mu.Lock()
				var ce *client.Error
				switch {
				case err == nil:
					accepted++
				case errors.As(err, &ce):
					refused[ce.Code]++
				default:
					refused["error"]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 200 {
		next <- i
	}
	close(next)
	wg.Wait()
	submitted := time.Since(start)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: d.redis})
	defer insp.Close()
	drain := &queue.Drain{Inspector: insp}
	est, err := drain.Sample(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: backlog: status load with %d jobs waiting\n", accepted)
	busy := [2]loadResult{load("status", statusURL, d.key, n, c), load("list", listURL, d.key, n, c)}
	after, err := drain.Sample(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("\n## The API while 200 jobs wait (one worker, %d clients, %d requests per row)\n\n", c, n)
	fmt.Printf("20 one-second jobs run first; then 200 more submitted by 8 clients in %.1f s: %d accepted, refused %v. Queue after: %d tasks, the oldest waiting %s; %d tasks queued after the load below (a job's probe becomes its split, then its encode). Each row runs on the empty queue first, then with the jobs waiting and the worker busy on them.\n\n",
		submitted.Seconds(), accepted, refused, est.Tasks, est.Oldest.Round(time.Second), after.Tasks)
	fmt.Println("| request | queue | req/s | errors | p50 ms | p99 ms | p99 waiting / empty |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for i, name := range []string{"GET /v1/jobs/{id}", "GET /v1/jobs?limit=20"} {
		for _, row := range []struct {
			state string
			r     loadResult
		}{{"empty", idle[i]}, {fmt.Sprintf("%d jobs waiting", accepted), busy[i]}} {
			ratio := ""
			if row.r.wall == busy[i].wall {
				ratio = fmt.Sprintf("%.2f", float64(busy[i].p99)/float64(max(idle[i].p99, 1)))
			}
			fmt.Printf("| %s | %s | %.0f | %d | %.1f | %.1f | %s |\n", name, row.state, float64(row.r.n)/row.r.wall.Seconds(), row.r.errors,
				ms(row.r.p50), ms(row.r.p99), ratio)
		}
	}
	return nil
}
