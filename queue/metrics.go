package queue

import (
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports the queue's depth by task state, its latency (how long
// the oldest pending task has waited) and its processed and failed totals,
// read from Redis at each scrape.
type Collector struct {
	Inspector *asynq.Inspector
}

var (
	descDepth = prometheus.NewDesc("reel_queue_tasks", "Tasks in the queue, by state (pending, active, scheduled, retry, archived, completed).",
		[]string{"queue", "state"}, nil)
	descLatency = prometheus.NewDesc("reel_queue_latency_seconds", "How long the oldest pending task has waited.",
		[]string{"queue"}, nil)
	descProcessed = prometheus.NewDesc("reel_queue_processed_total", "Tasks processed (succeeded or failed) today, UTC.",
		[]string{"queue"}, nil)
	descFailed = prometheus.NewDesc("reel_queue_failed_total", "Task runs that failed today, UTC.",
		[]string{"queue"}, nil)
	descUp = prometheus.NewDesc("reel_queue_up", "1 when the queue could be read from Redis at this scrape.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepth, descLatency, descProcessed, descFailed, descUp} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: a series per pipeline queue
// (one per job priority).
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	queues, err := c.Inspector.Queues()
	infos := make([]*asynq.QueueInfo, 0, 3)
	for _, name := range Names() {
		info := &asynq.QueueInfo{Queue: name} // no task was ever queued: empty
		if err == nil && slices.Contains(queues, name) {
			info, err = c.Inspector.GetQueueInfo(name)
		}
		infos = append(infos, info)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for _, info := range infos {
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(n), info.Queue, state)
		}
		ch <- prometheus.MustNewConstMetric(descLatency, prometheus.GaugeValue, info.Latency.Seconds(), info.Queue)
		ch <- prometheus.MustNewConstMetric(descProcessed, prometheus.CounterValue, float64(info.Processed), info.Queue)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(info.Failed), info.Queue)
	}
}
