package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	var none *Metrics // components built without metrics record nothing
	none.Task("encode", "done", false, time.Second)
	none.Encode("h264", 10, 25, time.Second)
	none.Job("complete", time.Minute, map[string]time.Duration{"encode": time.Second})
	none.S3("out", 1)
	none.Request("GET /v1/jobs", 200, time.Millisecond)

	m := New()
	m.Task("encode", "done", true, 2*time.Second)
	m.Encode("h264", 250, 25, 5*time.Second) // 50 fps, 2× real time
	m.Job("complete", time.Minute, map[string]time.Duration{"encode": 30 * time.Second})
	m.S3("in", 1000)
	m.S3("in", 0)
	m.Request("GET /v1/jobs", 404, time.Millisecond)
	m.Request("GET /v1/jobs", 42, time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`reel_tasks_total{kind="encode",result="done"} 1`,
		`reel_task_retries_total{kind="encode"} 1`,
		`reel_encode_fps_sum{codec="h264"} 50`,
		`reel_encode_speed_realtime_sum{codec="h264"} 2`,
		`reel_job_stage_seconds_sum{stage="encode"} 30`,
		`reel_job_duration_seconds_count{status="complete"} 1`,
		`reel_s3_bytes_total{direction="in"} 1000`,
		`reel_api_requests_total{code="404",route="GET /v1/jobs"} 1`,
		`reel_api_requests_total{code="other",route="GET /v1/jobs"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
