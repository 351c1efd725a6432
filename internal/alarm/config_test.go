package alarm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfig_Defaults(t *testing.T) {
	var c Config
	if c.PollInterval() != DefaultInterval || c.PollTimeout() != DefaultTimeout {
		t.Errorf("zero Config: interval %v, timeout %v; want %v, %v", c.PollInterval(), c.PollTimeout(), DefaultInterval, DefaultTimeout)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("a group without alarms is valid; got %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	prom := func(mod func(*PrometheusQuery)) Spec {
		p := PrometheusQuery{URL: "http://prom:9090", Query: "up", Op: Greater, Threshold: float(1)}
		mod(&p)
		return Spec{Name: "p", Prometheus: &p}
	}
	elevenAlarms := make([]Spec, 11)
	for i := range elevenAlarms {
		elevenAlarms[i] = Spec{Name: strings.Repeat("x", i+1), HTTP: &HTTPCheck{URL: "http://app/health"}}
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // one fragment per expected error, in order
	}{
		{"too many alarms", Config{Alarms: elevenAlarms}, []string{"alarms: 11 alarms; a group may have at most 10"}},
		{"interval too short", Config{Interval: Duration(time.Millisecond)}, []string{"interval: 1ms is too short; use 1s or more"}},
		{"timeout too long", Config{Timeout: Duration(2 * time.Minute)}, []string{"timeout: 2m0s is out of range"}},
		{"no name", Config{Alarms: []Spec{{HTTP: &HTTPCheck{URL: "http://a"}}}}, []string{"alarms[0]: name is required"}},
		{"control character in name", Config{Alarms: []Spec{{Name: "a\nb", HTTP: &HTTPCheck{URL: "http://a"}}}}, []string{"non-printable"}},
		{"duplicate name", Config{Alarms: []Spec{{Name: "a", HTTP: &HTTPCheck{URL: "http://a"}}, {Name: "a", HTTP: &HTTPCheck{URL: "http://b"}}}},
			[]string{"alarms[1] (a): name is also used by alarms[0]"}},
		{"no source", Config{Alarms: []Spec{{Name: "a"}}}, []string{"alarms[0] (a): has 0 sources; set exactly one of prometheus, cloudwatch or http"}},
		{"two sources", Config{Alarms: []Spec{{Name: "a", HTTP: &HTTPCheck{URL: "http://a"}, CloudWatch: &CloudWatchAlarm{Region: "us-east-1"}}}},
			[]string{"has 2 sources"}},
		{"prometheus empty", Config{Alarms: []Spec{{Name: "p", Prometheus: &PrometheusQuery{}}}}, []string{
			"prometheus.url is required", "prometheus.query is required", `prometheus.op "" is not a comparison; use one of >, >=, <, <=, ==, !=`,
			"prometheus.threshold is required"}},
		{"prometheus scheme", Config{Alarms: []Spec{prom(func(p *PrometheusQuery) { p.URL = "prom:9090" })}}, []string{`prometheus.url "prom:" must start with http:// or https://`}},
		{"prometheus url secret kept out", Config{Alarms: []Spec{prom(func(p *PrometheusQuery) { p.URL = "ftp://u:s3cret@prom/?token=s3cret" })}},
			[]string{`prometheus.url "ftp://prom/" must start with http://`}},
		{"prometheus unparsable url", Config{Alarms: []Spec{prom(func(p *PrometheusQuery) { p.URL = "http://u:s3cret@[::1" })}}, []string{"prometheus.url does not parse"}},
		{"prometheus no host", Config{Alarms: []Spec{prom(func(p *PrometheusQuery) { p.URL = "http:///api" })}}, []string{"has no host"}},
		{"prometheus on_no_data", Config{Alarms: []Spec{prom(func(p *PrometheusQuery) { p.OnNoData = "breaching" })}},
			[]string{`prometheus.on_no_data "breaching" is not known; use ok, firing or poll_failure`}},
		{"cloudwatch region", Config{Alarms: []Spec{{Name: "c", CloudWatch: &CloudWatchAlarm{Region: "Ireland"}}}},
			[]string{`cloudwatch.region "Ireland" does not look like an AWS region`}},
		{"cloudwatch endpoint", Config{Alarms: []Spec{{Name: "c", CloudWatch: &CloudWatchAlarm{Region: "us-gov-west-1", Endpoint: "monitoring.local"}}}},
			[]string{"cloudwatch.endpoint"}},
		{"cloudwatch alarm name", Config{Alarms: []Spec{{Name: "c", CloudWatch: &CloudWatchAlarm{Region: "eu-west-1", AlarmName: strings.Repeat("n", 256)}}}},
			[]string{"cloudwatch.alarm_name is 256 bytes long"}},
		{"http status", Config{Alarms: []Spec{{Name: "h", HTTP: &HTTPCheck{URL: "http://a", Status: []int{200, 42}}}}},
			[]string{"http.status 42 is not an HTTP status"}},
		{"http contradiction", Config{Alarms: []Spec{{Name: "h", HTTP: &HTTPCheck{URL: "http://a", BodyContains: "ok", BodyNotContains: "ok"}}}},
			[]string{"could never pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks a secret of the URL: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
			if _, perr := NewPoller(tt.cfg, Options{}); !errors.Is(perr, ErrInvalidConfig) {
				t.Errorf("NewPoller accepted an invalid config: %v", perr)
			}
		})
	}
}

func TestDuration_Text(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte("interval: ten seconds\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "write it like 10s or 1m30s") {
		t.Errorf("YAML interval %q: got %v, want a message showing the format", "ten seconds", err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":"1m30s"}`), &c); err != nil || c.PollTimeout() != 90*time.Second {
		t.Errorf("JSON timeout 1m30s: got %v, %v", c.PollTimeout(), err)
	}
}
