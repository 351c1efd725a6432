package alarm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The Prometheus tests run against the real server from Debian's prometheus package (2.42 on
// bookworm), scraping a metric the test controls; see startPrometheus. Only the failures a
// Prometheus server cannot be made to produce on demand (a refused connection, a hang, an
// oversized or non-Prometheus answer) use plain httptest servers.

// promFixture is one real Prometheus scraping a gauge the test sets.
type promFixture struct {
	url   string
	gauge prometheus.Gauge
}

func newPromFixture(t *testing.T) promFixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "slipway_test_error_ratio", Help: "set by the test"})
	reg.MustRegister(gauge)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)
	url := startPrometheus(t, strings.TrimPrefix(target.URL, "http://"))
	return promFixture{url: url, gauge: gauge}
}

func TestPrometheus_AlarmFlipsWithTheScrapedMetric(t *testing.T) {
	f := newPromFixture(t)
	f.gauge.Set(0.01)
	p, err := NewPoller(Config{Alarms: []Spec{{
		Name:       "error-rate",
		Prometheus: &PrometheusQuery{URL: f.url, Query: "slipway_test_error_ratio", Op: Greater, Threshold: float(0.05)},
	}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	snaps := make(chan Snapshot, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	notify := func(s Snapshot) {
		select {
		case snaps <- s:
		case <-ctx.Done():
		}
	}
	go func() { done <- NewWatcher(p.Poll, 50*time.Millisecond, notify).Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// Until the first scrape the query has no data, which is OK too; wait for the value itself.
	waitFor := func(status Status, fragment string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		var last State
		for {
			select {
			case s := <-snaps:
				last = s.States[0]
				if last.Status == status && strings.Contains(last.Reason, fragment) {
					return
				}
			case <-deadline:
				t.Fatalf("no %v state with %q; last: %v %q", status, fragment, last.Status, last.Reason)
			}
		}
	}
	eventually(t, 30*time.Second, func() string {
		st := p.Poll(context.Background()).States[0]
		if !strings.Contains(st.Reason, "0.01 is not > 0.05") {
			return "waiting for the first scrape: " + st.Reason
		}
		return ""
	})
	f.gauge.Set(0.2)
	waitFor(Firing, "alarm error-rate fired: 0.2 > 0.05 for slipway_test_error_ratio{")
	f.gauge.Set(0)
	waitFor(OK, "0 is not > 0.05")
}

func TestPrometheus_Queries(t *testing.T) {
	f := newPromFixture(t)
	twoSeries := `label_replace(vector(1), "instance", "a", "", "") or label_replace(vector(9), "instance", "b", "", "") or label_replace(vector(7), "instance", "c", "", "")`
	tests := []struct {
		name      string
		query     string
		op        Comparison
		threshold float64
		onNoData  NoData
		status    Status
		fragments []string
	}{
		{"vector above", "vector(3)", Greater, 2, "", Firing, []string{"alarm q fired: 3 > 2"}},
		{"vector below", "vector(1)", Greater, 2, "", OK, []string{"alarm q: 1 is not > 2"}},
		{"scalar equal", "scalar(vector(7))", GreaterEqual, 7, "", Firing, []string{"7 >= 7"}},
		{"number literal", "4", NotEqual, 4, "", OK, []string{"4 is not != 4"}},
		{"infinity crosses", "vector(+Inf)", Greater, 1e9, "", Firing, []string{"+Inf > 1e+09"}},
		{"any series crosses, worst named", twoSeries, Greater, 5, "", Firing, []string{`9 > 5 for {instance="b"} (and 1 more series)`}},
		{"less-than names the smallest", twoSeries, Less, 5, "", Firing, []string{`1 < 5 for {instance="a"}`}},
		{"no series crosses", twoSeries, Greater, 10, "", OK, []string{`9 is not > 10 for {instance="b"} (and 2 more series)`}},
		{"empty is ok by default", "slipway_no_such_metric", Greater, 1, "", OK, []string{"no data; not firing"}},
		{"empty can fire", "slipway_no_such_metric", Greater, 1, NoDataFiring, Firing, []string{"no data (on_no_data: firing)"}},
		{"empty can fail the poll", "slipway_no_such_metric", Greater, 1, NoDataPollFailure, PollFailed, []string{"no data (on_no_data: poll_failure)"}},
		{"NaN scalar is no data", "0/0", Greater, 1, "", OK, []string{"only NaN values"}},
		{"NaN vector is no data", "vector(0)/0", Less, 1, NoDataFiring, Firing, []string{"only NaN values (on_no_data: firing)"}},
		{"NaN series are skipped", `vector(0)/0 or label_replace(vector(3), "x", "y", "", "")`, Greater, 2, "", Firing, []string{`3 > 2 for {x="y"}`}},
		{"range vector", "slipway_test_error_ratio[1m]", Greater, 1, "", PollFailed, []string{"range vector", "max_over_time"}},
		{"string", `"text"`, Greater, 1, "", PollFailed, []string{"returns a string"}},
		{"syntax error", "sum(", Greater, 1, "", PollFailed, []string{"bad_data", "unclosed left parenthesis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pollOne(t, Spec{Name: "q", Prometheus: &PrometheusQuery{
				URL: f.url, Query: tt.query, Op: tt.op, Threshold: float(tt.threshold), OnNoData: tt.onNoData,
			}}, 10*time.Second)
			checkState(t, got, tt.status, tt.fragments...)
		})
	}

	t.Run("wrong path", func(t *testing.T) {
		got := pollOne(t, Spec{Name: "q", Prometheus: &PrometheusQuery{
			URL: f.url + "/prefix", Query: "vector(1)", Op: Greater, Threshold: float(0),
		}}, 10*time.Second)
		checkState(t, got, PollFailed, "answered 404", "base URL")
		if !errors.Is(got.Err, ErrPoll) {
			t.Errorf("Err = %v, want it to wrap ErrPoll", got.Err)
		}
	})
}

func TestPrometheus_TransportFailures(t *testing.T) {
	hanging := httptest.NewServer(http.HandlerFunc(hang))
	defer hanging.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		_, _ = w.Write([]byte(strings.Repeat(" ", maxPrometheusBody)))
	}))
	defer huge.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	defer html.Close()
	redirect := httptest.NewServer(http.RedirectHandler("https://prometheus.example/api/v1/query", http.StatusFound))
	defer redirect.Close()
	refused := refusedURL()

	tests := []struct {
		name      string
		url       string
		timeout   time.Duration
		fragments []string
	}{
		{"timeout", hanging.URL, 300 * time.Millisecond, []string{"no answer within 300ms"}},
		{"refused", refused, 10 * time.Second, []string{"connection refused"}},
		{"too large", huge.URL, 10 * time.Second, []string{"larger than 4 MiB"}},
		{"not the API", html.URL, 10 * time.Second, []string{"not Prometheus API JSON"}},
		{"redirect", redirect.URL, 10 * time.Second, []string{"answered 302", "https://prometheus.example"}},
		{"password kept out", strings.Replace(refused, "http://", "http://user:s3cret@", 1), 10 * time.Second, []string{"connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pollOne(t, Spec{Name: "q", Prometheus: &PrometheusQuery{
				URL: tt.url, Query: "up", Op: Greater, Threshold: float(0),
			}}, tt.timeout)
			checkState(t, got, PollFailed, tt.fragments...)
			if strings.Contains(got.Reason, "s3cret") || strings.Contains(got.Reason, "query=") {
				t.Errorf("reason %q leaks the URL's password or query", got.Reason)
			}
		})
	}
}
