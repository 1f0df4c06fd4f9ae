package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dgfip/apex-partenaires/directory"
)

// metrics are the server's Prometheus collectors, in a registry of its own
// so that several servers live in one process (tests).
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	signIns  *prometheus.CounterVec
	limited  *prometheus.CounterVec
	oidc     *prometheus.CounterVec
}

func newMetrics(health Health, mailStats func() (sent, failed float64), more ...prometheus.Collector) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apex_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apex_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apex_signins_total", Help: "Sign-in steps by step (password, code) and outcome.",
		}, []string{"step", "outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apex_rate_limited_total", Help: "Requests refused by an abuse limit (429, or 423 for a sign-in's lockout), by limit.",
		}, []string{"limit"}),
		oidc: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apex_oidc_authorizations_total", Help: "Sign-ins to DGFiP applications (OpenID Connect) by application and outcome (success, access_denied, login_required).",
		}, []string{"application", "outcome"}),
	}
	pool := func(state string, pick func(inUse, idle int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "apex_ldap_pool_connections", Help: "LDAP connections bound as the service, by state.",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return float64(pick(health.PoolStats())) })
	}
	m.registry.MustRegister(m.requests, m.latency, m.signIns, m.limited, m.oidc,
		pool("in_use", func(inUse, _ int) int { return inUse }),
		pool("idle", func(_, idle int) int { return idle }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if mailStats != nil {
		m.registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "apex_mails_sent_total", Help: "Mails handed to the SMTP relay or the outbox."},
				func() float64 { sent, _ := mailStats(); return sent }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "apex_mails_failed_total", Help: "Mails given up after their retries (kept in the failed folder)."},
				func() float64 { _, failed := mailStats(); return failed }))
	}
	m.registry.MustRegister(more...)
	// The outcomes exist from the start, so that a rate can be computed at once.
	for _, step := range []string{"password", "code"} {
		m.signIns.WithLabelValues(step, "success")
	}
	for _, name := range directory.LimitNames {
		m.limited.WithLabelValues(name)
	}
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

func (m *metrics) signIn(step string, err error) {
	m.signIns.WithLabelValues(step, directory.Outcome(err)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
