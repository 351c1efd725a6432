package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxPrometheusBody bounds a query's response. An alarm query should return a handful of series;
// one that returns megabytes is a mistake the message should point at, not a reason to exhaust
// the server's memory.
const maxPrometheusBody = 4 << 20

// prometheusSource runs one instant query per poll through Prometheus' HTTP API
// (GET /api/v1/query?query=...&time=...).
type prometheusSource struct {
	fetcher
	spec     PrometheusQuery
	endpoint *url.URL
}

func newPrometheusSource(f fetcher, spec PrometheusQuery) *prometheusSource {
	u, _ := url.Parse(spec.URL) // Validate has parsed it already
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	u.RawPath = ""
	return &prometheusSource{fetcher: f, spec: spec, endpoint: u}
}

func (p *prometheusSource) state(ctx context.Context, now time.Time) State {
	samples, err := p.query(ctx, now)
	if err != nil {
		return failedState(p.name, err)
	}
	op, threshold := p.spec.Op, *p.spec.Threshold
	var crossing, quiet []sample
	for _, s := range samples {
		switch {
		case math.IsNaN(s.value):
			// A NaN is PromQL's "no value" (0/0 over a window without traffic): it crosses
			// nothing, and a result of only NaNs counts as no data.
		case op.holds(s.value, threshold):
			crossing = append(crossing, s)
		default:
			quiet = append(quiet, s)
		}
	}
	if len(crossing) > 0 {
		worst := worstSample(crossing, op)
		return firingState(p.name, "%s %s %s%s", formatFloat(worst.value), op, formatFloat(threshold), seriesNote(worst, len(crossing)))
	}
	if len(quiet) == 0 {
		what := "no data"
		if len(samples) > 0 {
			what = "only NaN values"
		}
		switch p.spec.OnNoData {
		case NoDataFiring:
			return firingState(p.name, "query returned %s (on_no_data: firing)", what)
		case NoDataPollFailure:
			return failedState(p.name, fmt.Errorf("query returned %s (on_no_data: poll_failure)", what))
		}
		return okState(p.name, "query returned %s; not firing (on_no_data: ok)", what)
	}
	closest := worstSample(quiet, op)
	return okState(p.name, "%s is not %s %s%s", formatFloat(closest.value), op, formatFloat(threshold), seriesNote(closest, len(quiet)))
}

// sample is one value of a query's result; labels are empty for a scalar.
type sample struct {
	labels map[string]string
	value  float64
}

// worstSample is the sample furthest past (or closest to) the threshold in the direction op
// looks: the largest for > and >=, the smallest for < and <=, the first otherwise.
func worstSample(ss []sample, op Comparison) sample {
	cmp := func(sample, sample) int { return 0 }
	switch op {
	case Greater, GreaterEqual:
		cmp = func(a, b sample) int { return compareFloat(a.value, b.value) }
	case Less, LessEqual:
		cmp = func(a, b sample) int { return compareFloat(b.value, a.value) }
	}
	best := ss[0]
	for _, s := range ss[1:] {
		if cmp(s, best) > 0 {
			best = s
		}
	}
	return best
}

func compareFloat(a, b float64) int {
	switch {
	case a > b:
		return 1
	case a < b:
		return -1
	}
	return 0
}

// seriesNote names the series a value came from and how many others are in the same state.
func seriesNote(s sample, n int) string {
	var b strings.Builder
	if len(s.labels) > 0 {
		b.WriteString(" for ")
		b.WriteString(formatLabels(s.labels))
	}
	if n > 1 {
		fmt.Fprintf(&b, " (and %d more series)", n-1)
	}
	return b.String()
}

// maxLabelsLength keeps a series name from swamping a deployment's error message.
const maxLabelsLength = 200

func formatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(labels[k])
	}
	return truncate(labels["__name__"]+"{"+strings.Join(parts, ", ")+"}", maxLabelsLength)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// promResponse is the envelope of every answer of Prometheus' HTTP API.
type promResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// promVectorSample is one element of an instant vector; native histogram samples carry
// "histogram" instead of "value".
type promVectorSample struct {
	Metric    map[string]string `json:"metric"`
	Value     json.RawMessage   `json:"value"`
	Histogram json.RawMessage   `json:"histogram"`
}

// query runs the instant query at now and returns its samples.
func (p *prometheusSource) query(ctx context.Context, now time.Time) ([]sample, error) {
	u := *p.endpoint
	q := u.Query()
	q.Set("query", p.spec.Query)
	q.Set("time", strconv.FormatFloat(float64(now.UnixMilli())/1000, 'f', 3, 64))
	u.RawQuery = q.Encode()
	where := "prometheus " + redactURL(p.endpoint)
	resp, err := p.get(ctx, &u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPrometheusBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", where, p.readable(err))
	}
	if len(body) > maxPrometheusBody {
		return nil, fmt.Errorf("%s: the answer is larger than %d MiB; aggregate the query (max, sum, topk) so it returns a few series", where, maxPrometheusBody>>20)
	}
	var r promResponse
	jsonErr := json.Unmarshal(body, &r)
	switch {
	case jsonErr == nil && r.Status == "error":
		// Prometheus explains a bad query (bad_data), a failed evaluation (execution) or its
		// own trouble (timeout, unavailable) this way, with a 4xx or 5xx status.
		return nil, fmt.Errorf("%s: %s: %s", where, r.ErrorType, r.Error)
	case resp.StatusCode/100 == 3:
		return nil, fmt.Errorf("%s answered %s, redirecting to %s; set prometheus.url to where it redirects", where, resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("%s answered %s; is prometheus.url the server's base URL (without /api/v1)?", where, resp.Status)
	case jsonErr != nil:
		return nil, fmt.Errorf("%s: the answer is not Prometheus API JSON: %w", where, jsonErr)
	case r.Status != "success":
		return nil, fmt.Errorf("%s: the answer has status %q; want success", where, r.Status)
	}
	return decodeResult(r.Data.ResultType, r.Data.Result)
}

// decodeResult reads the "result" member of a query's data by its resultType.
func decodeResult(resultType string, raw json.RawMessage) ([]sample, error) {
	switch resultType {
	case "scalar":
		v, err := decodePoint(raw)
		if err != nil {
			return nil, fmt.Errorf("prometheus scalar result: %w", err)
		}
		return []sample{{value: v}}, nil
	case "vector":
		var vec []promVectorSample
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, fmt.Errorf("prometheus vector result: %w", err)
		}
		out := make([]sample, 0, len(vec))
		for _, s := range vec {
			if len(s.Value) == 0 && len(s.Histogram) > 0 {
				return nil, errors.New("the query returns native histograms; compare a number instead, such as histogram_quantile(0.99, ...)")
			}
			v, err := decodePoint(s.Value)
			if err != nil {
				return nil, fmt.Errorf("prometheus vector result, series %s: %w", formatLabels(s.Metric), err)
			}
			out = append(out, sample{labels: s.Metric, value: v})
		}
		return out, nil
	case "matrix":
		return nil, errors.New("the query returns a range vector; an alarm needs one value per series, such as max_over_time(metric[5m]) instead of metric[5m]")
	case "string":
		return nil, errors.New("the query returns a string; an alarm needs a number")
	}
	return nil, fmt.Errorf("prometheus result type %q is not known; want vector or scalar", resultType)
}

// decodePoint reads a [timestamp, "value"] pair. Prometheus sends values as strings so that
// NaN and ±Inf survive JSON; strconv.ParseFloat reads all three spellings.
func decodePoint(raw json.RawMessage) (float64, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return 0, fmt.Errorf("value %s is not a [timestamp, \"value\"] pair", truncate(string(raw), 64))
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("value %s is not a string", truncate(string(pair[1]), 64))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", truncate(s, 64))
	}
	return v, nil
}

// truncate shortens s to about n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
