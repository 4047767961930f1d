package e2e

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reel-video/reel/internal/testenv"
)

// uiState is what the web page reports in window.reelUI.
type uiState struct {
	Jobs     int      `json:"jobs"`
	Selected string   `json:"selected"`
	Player   string   `json:"player"`
	Errors   []string `json:"errors"`
}

// TestWebUI signs in to the API's web page in headless Chromium, finds a
// finished job in the live list, clicks it, and checks its ladder table,
// timings chart and the preview player reaching "playing"; a screenshot
// is kept under REEL_UI_SCREENSHOT (or the test's temporary folder).
func TestWebUI(t *testing.T) {
	s := startStack(t)
	bctx, _ := browser(t)
	master := testenv.Generate(t, filepath.Join(t.TempDir(), "ui.mp4"),
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	id := s.submit(t, master, `{"rungs":[{"height":360,"bitrate":700000},{"height":144,"bitrate":120000}],"segment_seconds":2,"chunk_segments":2}`)
	if code, out := s.watch(t, id); code != 0 {
		t.Fatalf("reel watch exit %d:\n%s", code, out)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	row := `#jobs tbody tr[data-id="` + id + `"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.api+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), s.key),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS("#ladder")),
		chromedp.WaitVisible(chromedp.CSS("#timings")),
	)
	if err != nil {
		dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
		defer dcancel()
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText + "\n" + JSON.stringify(window.reelUI) + "\nkey=" + localStorage.getItem("reel.key")`))
		t.Fatalf("web page: %v\n%s", err, text)
	}
	var st uiState
	for {
		r, err := chromedp.Run(ctx, chromedp.Evaluate[*uiState](`window.reelUI`))
		if err != nil {
			t.Fatalf("preview never played: %v (last state %+v)", err, st)
		}
		if r != nil {
			st = *r
		}
		if st.Player == "playing" || len(st.Errors) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Player != "playing" || st.Selected != id || st.Jobs < 1 {
		t.Errorf("page state %+v", st)
	}
	rungs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#ladder tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	stages, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timings .track").length`))
	if err != nil {
		t.Fatal(err)
	}
	if rungs != 2 || stages < 6 {
		t.Errorf("ladder table has %d rows (want 2), timings chart %d stages (want the upload and every task kind)", rungs, stages)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 1000 {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("REEL_UI_SCREENSHOT")
	if dir == "" {
		dir = t.TempDir()
	}
	out := filepath.Join(dir, "reel-ui-"+strconv.FormatInt(time.Now().Unix(), 10)+".png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes), %d rungs, %d stages", out, len(shot), rungs, stages)
	checkMetrics(t, s)
}

// checkMetrics scrapes the API's /metrics and every worker's (their
// addresses are in the dev log) after a job ran.
func checkMetrics(t *testing.T, s *devStack) {
	t.Helper()
	resp, err := s.c.Get(s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	apiText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var workerText []byte
	addrs := regexp.MustCompile(`worker metrics listening".* addr=(\S+)`).FindAllStringSubmatch(s.logText(), -1)
	for _, m := range addrs {
		r, err := http.Get(m[1])
		if err != nil {
			continue // a worker restarted by another test
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		workerText = append(workerText, b...)
	}
	for _, want := range []string{`reel_queue_tasks{queue="reel",state="pending"}`, `reel_queue_latency_seconds{queue="reel"}`,
		`reel_api_requests_total{code="201",route="POST /v1/jobs"}`, `reel_s3_bytes_total{direction="out"}`} {
		if !bytes.Contains(apiText, []byte(want)) {
			t.Errorf("API /metrics lacks %s", want)
		}
	}
	for _, want := range []string{`reel_tasks_total{kind="encode",result="done"}`, `reel_encode_fps_count{codec="h264"}`,
		`reel_encode_speed_realtime_count{codec="h264"}`, `reel_job_stage_seconds_count{stage="encode"}`,
		`reel_job_duration_seconds_count{status="complete"}`, `reel_task_duration_seconds_count{kind="publish"}`,
		`reel_s3_bytes_total{direction="in"}`, `reel_s3_bytes_total{direction="out"}`} {
		if !bytes.Contains(workerText, []byte(want)) {
			t.Errorf("no worker's /metrics (of %d) has %s", len(addrs), want)
		}
	}
}
