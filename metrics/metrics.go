// Package metrics holds the Prometheus series the API and the workers
// export at /metrics: tasks, encode speed, per-stage job durations, bytes
// to and from S3, API requests, and the queue's depth and latency.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's registry and series. A nil *Metrics records
// nothing, so components can be built without one in tests.
type Metrics struct {
	Registry *prometheus.Registry

	tasks       *prometheus.CounterVec
	retries     *prometheus.CounterVec
	taskSeconds *prometheus.HistogramVec
	encodeFPS   *prometheus.HistogramVec
	encodeSpeed *prometheus.HistogramVec
	stage       *prometheus.HistogramVec
	jobs        *prometheus.HistogramVec
	s3Bytes     *prometheus.CounterVec
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	handler     http.Handler
}

// New makes a registry with Reel's series and the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_tasks_total",
			Help: "Pipeline tasks run by this worker, by kind and result (done, failed, skipped)."}, []string{"kind", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_task_retries_total",
			Help: "Task runs that were retries of an earlier failed run, by kind."}, []string{"kind"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_task_duration_seconds",
			Help: "Time one task took, by kind.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)}, []string{"kind"}),
		encodeFPS: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_encode_fps",
			Help:    "Source frames encoded a second by one encode task (every rung of the codec at once), by codec.",
			Buckets: prometheus.ExponentialBuckets(1, 1.6, 16)}, []string{"codec"}),
		encodeSpeed: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_encode_speed_realtime",
			Help:    "Encode speed as a multiple of real time (1 = as fast as the video plays), by codec.",
			Buckets: prometheus.ExponentialBuckets(0.05, 1.6, 16)}, []string{"codec"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_job_stage_seconds",
			Help:    "Wall time of each stage of a completed job, from its first task's start to its last task's end.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 18)}, []string{"stage"}),
		jobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_job_duration_seconds",
			Help:    "Time from a job's creation to its end, by final status.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16)}, []string{"status"}),
		s3Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_s3_bytes_total",
			Help: "Bytes written to (out) and read from (in) S3 by this process."}, []string{"direction"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_api_requests_total",
			Help: "API requests answered, by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_api_request_seconds",
			Help: "Time to answer an API request, by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"route"}),
	}
	m.Registry.MustRegister(m.tasks, m.retries, m.taskSeconds, m.encodeFPS, m.encodeSpeed, m.stage, m.jobs, m.s3Bytes,
		m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Task records one task run: result is done, failed or skipped; retry
// says it was a retry.
func (m *Metrics) Task(kind, result string, retry bool, d time.Duration) {
	if m == nil {
		return
	}
	m.tasks.WithLabelValues(kind, result).Inc()
	if retry {
		m.retries.WithLabelValues(kind).Inc()
	}
	m.taskSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// Encode records an encode task's speed for one codec: frames of source
// video at fps frames a second of playback, encoded in d.
func (m *Metrics) Encode(codec string, frames int64, fps float64, d time.Duration) {
	if m == nil || d <= 0 || frames <= 0 {
		return
	}
	m.encodeFPS.WithLabelValues(codec).Observe(float64(frames) / d.Seconds())
	if fps > 0 {
		m.encodeSpeed.WithLabelValues(codec).Observe(float64(frames) / fps / d.Seconds())
	}
}

// Job records a finished job: its duration and each stage's wall time.
func (m *Metrics) Job(status string, total time.Duration, stages map[string]time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(status).Observe(total.Seconds())
	for s, d := range stages {
		m.stage.WithLabelValues(s).Observe(d.Seconds())
	}
}

// S3 counts bytes moved to (out) or from (in) S3.
func (m *Metrics) S3(direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.s3Bytes.WithLabelValues(direction).Add(float64(n))
}

// Request records one API request.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, codeLabel(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func codeLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}
