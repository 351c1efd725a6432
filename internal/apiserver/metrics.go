package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.HistogramVec
	// bundleBytes counts bundle bytes the server sent agents itself; bundleURLs the download
	// locations it handed out, by kind (server, presigned): with an S3 store the first stays 0.
	bundleBytes prometheus.Counter
	bundleURLs  *prometheus.CounterVec
}

// Kinds of bundle location handed to agents.
const (
	urlServer    = "server"
	urlPresigned = "presigned"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_http_request_duration_seconds",
			Help:    "HTTP requests by route template and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		bundleBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_bundle_bytes_served_total",
			Help: "Bundle bytes the server sent to agents itself (not through presigned URLs).",
		}),
		bundleURLs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_bundle_urls_total",
			Help: "Bundle download locations handed to agents, by kind: server (a path on this server) or presigned (a URL of the object store).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.bundleBytes, m.bundleURLs)
	}
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument records each request under its route template, never the raw path (which holds ids).
func (m *metrics) instrument(next *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		var match mux.RouteMatch
		if next.Match(r, &match) && match.Route != nil {
			if tpl, err := match.Route.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	})
}
