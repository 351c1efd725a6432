package alarm

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Limits and defaults, named so docs and error messages can quote them.
const (
	// MaxAlarms is CodeDeploy's limit of alarms per deployment group.
	MaxAlarms = 10
	// DefaultInterval is the time between two polls when a Config names none.
	DefaultInterval = 10 * time.Second
	// MinInterval keeps a group from hammering Prometheus or CloudWatch (whose DescribeAlarms is
	// rate limited per account).
	MinInterval = time.Second
	// DefaultTimeout bounds one poll of every alarm when a Config names none.
	DefaultTimeout = 5 * time.Second
	// MaxTimeout is the longest poll timeout a Config may ask for.
	MaxTimeout = time.Minute
	// maxNameLength is CloudWatch's limit on alarm names, applied to every source alike.
	maxNameLength = 255
)

// Config is a deployment group's alarm configuration: CodeDeploy's AlarmConfiguration with a
// source for each alarm.
type Config struct {
	// Alarms are polled while a deployment runs; any one firing stops it.
	Alarms []Spec `json:"alarms" yaml:"alarms"`
	// IgnorePollAlarmFailure lets a deployment continue when an alarm's state cannot be read.
	// By default (false) an unreadable alarm stops the deployment, as in CodeDeploy.
	IgnorePollAlarmFailure bool `json:"ignore_poll_alarm_failure,omitempty" yaml:"ignore_poll_alarm_failure"`
	// Interval is the time between polls; DefaultInterval when zero.
	Interval Duration `json:"interval,omitempty" yaml:"interval"`
	// Timeout bounds one poll of all alarms; DefaultTimeout when zero. An HTTP check that gets
	// no answer within it fires; a Prometheus or CloudWatch source that does not answer in time
	// is a poll failure.
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout"`
}

// Spec is one alarm: a name and exactly one source.
type Spec struct {
	// Name identifies the alarm in messages ("alarm NAME fired: ..."); unique within a group.
	// For a CloudWatch alarm it is also the CloudWatch alarm name unless AlarmName is set.
	Name       string           `json:"name" yaml:"name"`
	Prometheus *PrometheusQuery `json:"prometheus,omitempty" yaml:"prometheus"`
	CloudWatch *CloudWatchAlarm `json:"cloudwatch,omitempty" yaml:"cloudwatch"`
	HTTP       *HTTPCheck       `json:"http,omitempty" yaml:"http"`
}

// PrometheusQuery fires when the result of an instant query compared with Threshold holds for
// any series.
type PrometheusQuery struct {
	// URL is the Prometheus server's base URL (http://prometheus:9090, or with a path prefix when
	// it sits behind a proxy); /api/v1/query is appended.
	URL string `json:"url" yaml:"url"`
	// Query is a PromQL expression that yields an instant vector or a scalar.
	Query     string     `json:"query" yaml:"query"`
	Op        Comparison `json:"op" yaml:"op"`
	Threshold *float64   `json:"threshold" yaml:"threshold"`
	// OnNoData is the state when the query returns no series, or only NaN values (for example
	// an error ratio over a window without traffic); NoDataOK when empty.
	OnNoData NoData `json:"on_no_data,omitempty" yaml:"on_no_data"`
}

// CloudWatchAlarm mirrors an existing CloudWatch alarm: state ALARM fires, OK and
// INSUFFICIENT_DATA do not, and an alarm CloudWatch does not know is a poll failure.
// Credentials come from the AWS SDK's standard chain (environment, shared files, web identity,
// instance role); the caller needs cloudwatch:DescribeAlarms.
type CloudWatchAlarm struct {
	// AlarmName is the CloudWatch alarm's name; the Spec's Name when empty.
	AlarmName string `json:"alarm_name,omitempty" yaml:"alarm_name"`
	Region    string `json:"region" yaml:"region"`
	// Endpoint overrides the regional endpoint (a VPC endpoint, or a local stand-in in tests).
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint"`
	// Composite says the alarm is a composite alarm. CloudWatch returns composite alarms only
	// when asked, and only to identities allowed cloudwatch:DescribeAlarms on all alarms ("*").
	Composite bool `json:"composite,omitempty" yaml:"composite"`
}

// HTTPCheck fires when a GET of URL does not answer in time, answers with a status other than
// Status (any 2xx when empty), or has a body that lacks BodyContains or holds BodyNotContains.
// Redirects are not followed: a 3xx is an answer like any other. Not getting an answer is the
// signal an HTTP check exists for, so it fires rather than failing the poll.
type HTTPCheck struct {
	URL             string `json:"url" yaml:"url"`
	Status          []int  `json:"status,omitempty" yaml:"status"`
	BodyContains    string `json:"body_contains,omitempty" yaml:"body_contains"`
	BodyNotContains string `json:"body_not_contains,omitempty" yaml:"body_not_contains"`
}

// Duration is a time.Duration written as a Go duration string ("10s", "1m30s") in JSON and YAML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like 10s or 1m30s", b)
	}
	*d = Duration(v)
	return nil
}

// PollInterval is Interval, or DefaultInterval when unset.
func (c Config) PollInterval() time.Duration {
	if c.Interval == 0 {
		return DefaultInterval
	}
	return time.Duration(c.Interval)
}

// PollTimeout is Timeout, or DefaultTimeout when unset.
func (c Config) PollTimeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

// Validate reports every problem in c, each wrapped in ErrInvalidConfig and naming the field to
// change.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if len(c.Alarms) > MaxAlarms {
		bad("alarms: %d alarms; a group may have at most %d", len(c.Alarms), MaxAlarms)
	}
	if d := time.Duration(c.Interval); d != 0 && d < MinInterval {
		bad("interval: %v is too short; use %v or more", d, MinInterval)
	}
	if d := time.Duration(c.Timeout); d < 0 || d > MaxTimeout {
		bad("timeout: %v is out of range; use more than 0 and at most %v", d, MaxTimeout)
	}
	seen := make(map[string]int, len(c.Alarms))
	for i, s := range c.Alarms {
		field := fmt.Sprintf("alarms[%d]", i)
		switch {
		case s.Name == "":
		case printable(s.Name):
			field = fmt.Sprintf("alarms[%d] (%s)", i, s.Name)
		default:
			field = fmt.Sprintf("alarms[%d] (%q)", i, s.Name)
		}
		if j, dup := seen[s.Name]; dup && s.Name != "" {
			bad("%s: name is also used by alarms[%d]; give each alarm its own name", field, j)
		}
		seen[s.Name] = i
		for _, msg := range s.problems() {
			bad("%s: %s", field, msg)
		}
	}
	return errors.Join(errs...)
}

// problems lists what is wrong with one alarm, each message naming the field.
func (s Spec) problems() []string {
	var out []string
	switch {
	case s.Name == "":
		out = append(out, "name is required")
	case len(s.Name) > maxNameLength:
		out = append(out, fmt.Sprintf("name is %d bytes long; use at most %d", len(s.Name), maxNameLength))
	case !printable(s.Name):
		out = append(out, "name has control or non-printable characters; remove them")
	}
	n := 0
	if s.Prometheus != nil {
		n++
		out = append(out, s.Prometheus.problems()...)
	}
	if s.CloudWatch != nil {
		n++
		out = append(out, s.CloudWatch.problems()...)
	}
	if s.HTTP != nil {
		n++
		out = append(out, s.HTTP.problems()...)
	}
	if n != 1 {
		out = append(out, fmt.Sprintf("has %d sources; set exactly one of prometheus, cloudwatch or http", n))
	}
	return out
}

func (p *PrometheusQuery) problems() []string {
	var out []string
	if msg := urlProblem(p.URL); msg != "" {
		out = append(out, "prometheus.url "+msg)
	}
	if strings.TrimSpace(p.Query) == "" {
		out = append(out, "prometheus.query is required: a PromQL expression such as sum(rate(http_requests_total{code=~\"5..\"}[1m]))")
	}
	if !p.Op.valid() {
		out = append(out, fmt.Sprintf("prometheus.op %q is not a comparison; use one of %s", string(p.Op), strings.Join(comparisons, ", ")))
	}
	if p.Threshold == nil {
		out = append(out, "prometheus.threshold is required: the number the query's value is compared with")
	}
	if !p.OnNoData.valid() {
		out = append(out, fmt.Sprintf("prometheus.on_no_data %q is not known; use ok, firing or poll_failure", string(p.OnNoData)))
	}
	return out
}

// regionPattern is the shape of AWS region names (us-east-1, eu-central-2, us-gov-west-1).
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (c *CloudWatchAlarm) problems() []string {
	var out []string
	if len(c.AlarmName) > maxNameLength {
		out = append(out, fmt.Sprintf("cloudwatch.alarm_name is %d bytes long; CloudWatch allows at most %d", len(c.AlarmName), maxNameLength))
	}
	if c.Region == "" {
		out = append(out, "cloudwatch.region is required: the region the alarm lives in, such as us-east-1")
	} else if !regionPattern.MatchString(c.Region) {
		out = append(out, fmt.Sprintf("cloudwatch.region %q does not look like an AWS region; use a name such as us-east-1", c.Region))
	}
	if c.Endpoint != "" {
		if msg := urlProblem(c.Endpoint); msg != "" {
			out = append(out, "cloudwatch.endpoint "+msg)
		}
	}
	return out
}

func (h *HTTPCheck) problems() []string {
	var out []string
	if msg := urlProblem(h.URL); msg != "" {
		out = append(out, "http.url "+msg)
	}
	for _, code := range h.Status {
		if code < 100 || code > 599 {
			out = append(out, fmt.Sprintf("http.status %d is not an HTTP status; use codes from 100 to 599", code))
		}
	}
	if h.BodyContains != "" && h.BodyContains == h.BodyNotContains {
		out = append(out, "http.body_contains and http.body_not_contains are the same string; the check could never pass")
	}
	return out
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// urlProblem says what is wrong with an http(s) URL, or "" when nothing is.
func urlProblem(raw string) string {
	if raw == "" {
		return "is required: an http:// or https:// URL"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The raw text is left out of the message: it may hold a password.
		return fmt.Sprintf("does not parse (%v); write a URL such as http://host:9090", errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q must start with http:// or https://", redactURL(u))
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", redactURL(u))
	}
	return ""
}

// redactURL keeps what identifies an endpoint in a message (scheme, host, path) and drops what
// may carry a secret (user info, query, fragment).
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
