package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	timeouts   *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_gateway_requests_total",
			Help: "Requests answered, by route, upstream group and status code."}, []string{"route", "group", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reel_gateway_request_seconds",
			Help: "Time to the response headers, by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_gateway_rejections_total",
			Help: "Requests refused in the gateway, by route and reason (auth, rule, rate_limit, bulkhead, breaker_open, no_route)."}, []string{"route", "reason"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_gateway_timeouts_total",
			Help: "Upstream calls that ran past the route's timeout."}, []string{"route"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reel_gateway_fallbacks_total",
			Help: "Failed calls answered with the last good answer."}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.rejections, m.timeouts, m.fallbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register adds the series that read the gateway's state.
func (m *metrics) register(g *Gateway) {
	for _, r := range g.cfg.Routes {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reel_gateway_breaker_state",
			Help:        "Circuit breaker state by route: 0 closed, 1 half-open, 2 open.",
			ConstLabels: prometheus.Labels{"route": r.Name}}, func() float64 {
			switch {
			case r.breaker.IsOpen():
				return 2
			case r.breaker.IsHalfOpen():
				return 1
			}
			return 0
		}))
	}
	for name, p := range g.pools {
		for i, u := range p.all {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reel_gateway_upstream_healthy",
				Help:        "1 when the upstream instance passes its health checks.",
				ConstLabels: prometheus.Labels{"group": name, "zone": u.Zone, "instance": strconv.Itoa(i), "url": u.URL}}, func() float64 {
				if u.Healthy() {
					return 1
				}
				return 0
			}))
		}
	}
}

// routeMetrics is the outbound filter that counts each answered request
// and its time to the response headers.
type routeMetrics struct{ m *metrics }

func (*routeMetrics) Name() string { return "metrics" }
func (*routeMetrics) Phase() Phase { return Outbound }
func (f *routeMetrics) Apply(x *Exchange) error {
	f.m.requests.WithLabelValues(x.Route.Name, x.Group, strconv.Itoa(x.Resp.StatusCode)).Inc()
	f.m.latency.WithLabelValues(x.Route.Name).Observe(time.Since(x.Start).Seconds())
	return nil
}
