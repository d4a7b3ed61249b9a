package lweb

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clustervision/luna-go/internal/luna"
)

// metrics are lweb's Prometheus series, all named luna_*.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	announces   prometheus.Counter
	bytesServed *prometheus.CounterVec
}

func newMetrics(svc *luna.Service) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luna_http_requests_total", Help: "HTTP requests served by lweb, by route and status code.",
		}, []string{"route", "code"}),
		announces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "luna_tracker_announces_total", Help: "BitTorrent announces received.",
		}),
		bytesServed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "luna_http_bytes_served_total", Help: "Bytes of /boot/ and /torrents/ files served.",
		}, []string{"dir"}),
	}
	m.reg.MustRegister(m.requests, m.announces, m.bytesServed, &nodeCollector{svc: svc})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// instrument counts every request by route and status code.
func (m *metrics) instrument(log *slog.Logger, clientIP func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info("request", "method", r.Method, "uri", loggedURI(r), "status", rec.code, "client", clientIP(r))
		route := r.URL.Path
		switch {
		case route == "/luna":
			route = "/luna?step=" + query(r).Get("step")
			if len(route) > 40 {
				route = "/luna?step=other"
			}
		case len(route) > 6 && route[:6] == "/boot/":
			route = "/boot/"
		case len(route) > 10 && route[:10] == "/torrents/":
			route = "/torrents/"
		case route != "/announce" && route != "/scrape" && route != "/healthz" && route != "/metrics":
			route = "other"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
	})
}

// nodeCollector reports luna_nodes{status} from the database at scrape time.
type nodeCollector struct{ svc *luna.Service }

var nodesDesc = prometheus.NewDesc("luna_nodes", "Nodes by the last status they reported.", []string{"status"}, nil)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nodesDesc }

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.svc.NodeStatusCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(nodesDesc, err)
		return
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(n), st)
	}
}

// loggedURI is the request URI with the value of a boot token hidden: the
// log must not hand out what lets a request act for a node.
func loggedURI(r *http.Request) string {
	u := r.URL.RequestURI()
	if !strings.Contains(r.URL.RawQuery, "token=") {
		return u
	}
	q := r.URL.Query()
	for k := range q {
		if k == "token" {
			q[k] = []string{"(hidden)"}
		}
	}
	return r.URL.Path + "?" + q.Encode()
}
