package alarm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/encoding/cbor"
)

// No AWS endpoint is reachable from here, so the CloudWatch tests run against fakeCloudWatch, a
// stand-in for the part of CloudWatch the poller uses. aws-sdk-go-v2's cloudwatch v1.75.5 speaks
// the Smithy RPC v2 CBOR protocol (not the older query protocol): POST
// /service/GraniteServiceVersion20100801/operation/<Operation> with "Smithy-Protocol: rpc-v2-cbor",
// a CBOR map body, and errors as a CBOR map with "__type" and "message" (plus
// X-Amzn-Query-Error, since CloudWatch is query-compatible). The stand-in follows those shapes and
// DescribeAlarms' documented behaviour: AlarmNames filter, metric alarms only unless AlarmTypes
// asks for composites, pages linked by NextToken. It keeps alarm state per region, and the tests
// change it with SetAlarmState through the SDK, as one would test a real alarm. The CBOR codec is
// smithy-go's, which the SDK already depends on.

const (
	testAccessKey  = "AKIDSLIPWAYTEST"
	cloudWatchPath = "/service/GraniteServiceVersion20100801/operation/"
)

type fakeAlarm struct {
	composite              bool
	state                  string
	reason, reasonData, op string
}

type fakeCloudWatch struct {
	t        *testing.T
	pageSize int // alarms per DescribeAlarms page

	mu       sync.Mutex
	alarms   map[string]map[string]*fakeAlarm // region → name → alarm
	denied   map[string]bool                  // regions where DescribeAlarms is not allowed
	describe map[string]int                   // region → DescribeAlarms calls
}

func newFakeCloudWatch(t *testing.T) (*fakeCloudWatch, string) {
	f := &fakeCloudWatch{t: t, pageSize: 100, alarms: map[string]map[string]*fakeAlarm{}, denied: map[string]bool{}, describe: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeCloudWatch) put(region, name string, a fakeAlarm) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alarms[region] == nil {
		f.alarms[region] = map[string]*fakeAlarm{}
	}
	f.alarms[region][name] = &a
}

func (f *fakeCloudWatch) calls(region string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.describe[region]
}

// credentialScope reads the region and service out of a SigV4 Authorization header.
var credentialScope = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`)

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, cloudWatchPath)
	if r.Method != http.MethodPost || !ok {
		f.fail(w, http.StatusNotFound, "UnknownOperationException", "not an RPC v2 operation path: "+r.Method+" "+r.URL.Path)
		return
	}
	if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		f.fail(w, http.StatusBadRequest, "ValidationException", "missing Smithy-Protocol: rpc-v2-cbor")
		return
	}
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || m[1] != testAccessKey || m[3] != "monitoring" {
		f.fail(w, http.StatusForbidden, "InvalidClientTokenId", fmt.Sprintf("bad SigV4 authorization %q", r.Header.Get("Authorization")))
		return
	}
	region := m[2]
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		f.fail(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	in := cbor.Map{}
	if len(body) > 0 {
		if r.Header.Get("Content-Type") != "application/cbor" {
			f.fail(w, http.StatusBadRequest, "ValidationException", "body without Content-Type: application/cbor")
			return
		}
		v, err := cbor.Decode(body)
		if in, ok = v.(cbor.Map); err != nil || !ok {
			f.fail(w, http.StatusBadRequest, "SerializationException", fmt.Sprintf("body is not a CBOR map: %v", err))
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "DescribeAlarms":
		f.describe[region]++
		if f.denied[region] {
			f.fail(w, http.StatusForbidden, "AccessDenied", "User: arn:aws:iam::123456789012:user/slipway is not authorized to perform: cloudwatch:DescribeAlarms")
			return
		}
		f.describeAlarms(w, region, in)
	case "SetAlarmState":
		a := f.alarms[region][str(in["AlarmName"])]
		if a == nil {
			f.fail(w, http.StatusNotFound, "ResourceNotFound", "alarm does not exist")
			return
		}
		a.state, a.reason, a.reasonData = str(in["StateValue"]), str(in["StateReason"]), str(in["StateReasonData"])
		f.reply(w, cbor.Map{})
	default:
		f.fail(w, http.StatusBadRequest, "UnknownOperationException", "operation "+op+" is not in this stand-in")
	}
}

func (f *fakeCloudWatch) describeAlarms(w http.ResponseWriter, region string, in cbor.Map) {
	names := strs(in["AlarmNames"])
	if len(names) > 100 {
		f.fail(w, http.StatusBadRequest, "InvalidParameterValue", "AlarmNames has more than 100 members")
		return
	}
	alarmTypes := strs(in["AlarmTypes"])
	if len(alarmTypes) == 0 {
		alarmTypes = []string{"MetricAlarm"} // CloudWatch's documented default
	}
	var matched []string
	for name, a := range f.alarms[region] {
		kind := "MetricAlarm"
		if a.composite {
			kind = "CompositeAlarm"
		}
		if slices.Contains(alarmTypes, kind) && (len(names) == 0 || slices.Contains(names, name)) {
			matched = append(matched, name)
		}
	}
	slices.Sort(matched)
	start := 0
	if tok, ok := in["NextToken"]; ok {
		n, err := strconv.Atoi(str(tok))
		if err != nil || n > len(matched) {
			f.fail(w, http.StatusBadRequest, "InvalidNextToken", "the token is not valid")
			return
		}
		start = n
	}
	end := min(start+f.pageSize, len(matched))
	metric, composite := cbor.List{}, cbor.List{}
	updated := &cbor.Tag{ID: 1, Value: cbor.Float64(float64(time.Now().UnixMilli()) / 1000)}
	for _, name := range matched[start:end] {
		a := f.alarms[region][name]
		m := cbor.Map{
			"AlarmName":             cbor.String(name),
			"AlarmArn":              cbor.String("arn:aws:cloudwatch:" + region + ":123456789012:alarm:" + name),
			"StateValue":            cbor.String(a.state),
			"StateReason":           cbor.String(a.reason),
			"StateUpdatedTimestamp": updated,
		}
		if a.reasonData != "" {
			m["StateReasonData"] = cbor.String(a.reasonData)
		}
		if a.composite {
			m["AlarmRule"] = cbor.String(`ALARM("child")`)
			composite = append(composite, m)
			continue
		}
		m["ComparisonOperator"] = cbor.String(a.op)
		m["Threshold"] = cbor.Float64(10)
		m["MetricName"] = cbor.String("Errors")
		m["Namespace"] = cbor.String("Slipway/Test")
		metric = append(metric, m)
	}
	out := cbor.Map{"MetricAlarms": metric, "CompositeAlarms": composite}
	if end < len(matched) {
		out["NextToken"] = cbor.String(strconv.Itoa(end))
	}
	f.reply(w, out)
}

func (f *fakeCloudWatch) reply(w http.ResponseWriter, v cbor.Map) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(cbor.Encode(v))
}

func (f *fakeCloudWatch) fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + code), "message": cbor.String(message)}))
}

func str(v cbor.Value) string {
	s, _ := v.(cbor.String)
	return string(s)
}

func strs(v cbor.Value) []string {
	l, _ := v.(cbor.List)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, str(e))
	}
	return out
}

// awsTestEnv gives the SDK's standard credential chain static test keys and nothing else to find.
func awsTestEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           testAccessKey,
		"AWS_SECRET_ACCESS_KEY":       "slipway-test-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// setAlarmState changes an alarm the way `aws cloudwatch set-alarm-state` would.
func setAlarmState(t *testing.T, endpoint, region, name string, state types.StateValue, reason, data string) {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	client := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(endpoint) })
	in := &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String(reason)}
	if data != "" {
		in.StateReasonData = aws.String(data)
	}
	if _, err := client.SetAlarmState(context.Background(), in); err != nil {
		t.Fatalf("SetAlarmState %s: %v", name, err)
	}
}

func cloudWatchSpec(name, region, endpoint string) Spec {
	return Spec{Name: name, CloudWatch: &CloudWatchAlarm{Region: region, Endpoint: endpoint}}
}

func TestCloudWatch_StateFollowsTheAlarm(t *testing.T) {
	awsTestEnv(t)
	f, endpoint := newFakeCloudWatch(t)
	f.put("eu-west-1", "HighErrors", fakeAlarm{state: "OK", reason: "Threshold Crossed: 1 datapoint [2.0] was not greater than the threshold (10.0).", op: "GreaterThanThreshold"})
	p, err := NewPoller(Config{Alarms: []Spec{cloudWatchSpec("HighErrors", "eu-west-1", endpoint)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	poll := func() State { return p.Poll(context.Background()).States[0] }

	checkState(t, poll(), OK, "alarm HighErrors: CloudWatch state OK")
	setAlarmState(t, endpoint, "eu-west-1", "HighErrors", types.StateValueAlarm,
		"Threshold Crossed: 2 datapoints [12.5 (01/01/26 10:01:00), 11.0 (01/01/26 10:00:00)] were greater than the threshold (10.0).",
		`{"version":"1.0","queryDate":"2026-01-01T10:02:10.000+0000","startDate":"2026-01-01T10:00:00.000+0000","statistic":"Average","period":60,"recentDatapoints":[12.5,11.0],"threshold":10.0}`)
	checkState(t, poll(), Firing, "alarm HighErrors fired: 12.5, 11 > 10")
	setAlarmState(t, endpoint, "eu-west-1", "HighErrors", types.StateValueInsufficientData, "Insufficient Data: 1 datapoint was unknown.", "")
	checkState(t, poll(), OK, "INSUFFICIENT_DATA; not firing")
	setAlarmState(t, endpoint, "eu-west-1", "HighErrors", types.StateValueAlarm, "testing the deployment's alarm rollback", "")
	checkState(t, poll(), Firing, "alarm HighErrors fired: CloudWatch state ALARM: testing the deployment's alarm rollback")
}

func TestCloudWatch_OneCallPerRegionFollowingPages(t *testing.T) {
	awsTestEnv(t)
	f, endpoint := newFakeCloudWatch(t)
	f.pageSize = 2
	for _, name := range []string{"a", "b", "c", "prod-latency"} {
		f.put("us-east-1", name, fakeAlarm{state: "OK", op: "GreaterThanThreshold"})
	}
	f.put("us-east-1", "c", fakeAlarm{state: "ALARM", op: "LessThanThreshold", reasonData: `{"recentDatapoints":[3],"threshold":4}`})
	f.put("us-west-2", "a", fakeAlarm{state: "ALARM", reason: "in the other region"})
	latency := cloudWatchSpec("latency", "us-east-1", endpoint)
	latency.CloudWatch.AlarmName = "prod-latency"
	cfg := Config{Alarms: []Spec{
		cloudWatchSpec("a", "us-east-1", endpoint),
		cloudWatchSpec("b", "us-east-1", endpoint),
		cloudWatchSpec("c", "us-east-1", endpoint),
		latency,
		{Name: "a-west", CloudWatch: &CloudWatchAlarm{AlarmName: "a", Region: "us-west-2", Endpoint: endpoint}},
	}}
	p, err := NewPoller(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap := p.Poll(context.Background())
	want := []struct {
		name   string
		status Status
		reason string
	}{
		{"a", OK, "alarm a: CloudWatch state OK"},
		{"b", OK, "alarm b: CloudWatch state OK"},
		{"c", Firing, "alarm c fired: 3 < 4"},
		{"latency", OK, "alarm latency: CloudWatch state OK"},
		{"a-west", Firing, "alarm a-west fired: CloudWatch state ALARM: in the other region"},
	}
	if len(snap.States) != len(want) {
		t.Fatalf("got %d states, want %d", len(snap.States), len(want))
	}
	for i, w := range want {
		if got := snap.States[i]; got.Name != w.name {
			t.Errorf("states[%d].Name = %q, want %q", i, got.Name, w.name)
		} else {
			checkState(t, got, w.status, w.reason)
		}
	}
	// Four alarms in us-east-1 at two per page: one DescribeAlarms call, two pages.
	if got := f.calls("us-east-1"); got != 2 {
		t.Errorf("us-east-1 DescribeAlarms requests = %d, want 2 (one call of two pages)", got)
	}
	if got := f.calls("us-west-2"); got != 1 {
		t.Errorf("us-west-2 DescribeAlarms requests = %d, want 1", got)
	}
}

func TestCloudWatch_PollFailures(t *testing.T) {
	awsTestEnv(t)
	f, endpoint := newFakeCloudWatch(t)
	f.put("eu-west-1", "Composite", fakeAlarm{composite: true, state: "ALARM", reason: "child alarm fired"})
	f.put("eu-west-1", "Known", fakeAlarm{state: "OK"})
	f.put("ap-south-1", "Denied", fakeAlarm{state: "OK"})
	f.denied["ap-south-1"] = true
	down := refusedURL()

	composite := cloudWatchSpec("Composite", "eu-west-1", endpoint)
	composite.CloudWatch.Composite = true
	tests := []struct {
		name      string
		spec      Spec
		status    Status
		fragments []string
	}{
		{"missing alarm", cloudWatchSpec("Nope", "eu-west-1", endpoint), PollFailed,
			[]string{`CloudWatch in eu-west-1 has no alarm named "Nope"`, "cloudwatch.alarm_name"}},
		{"composite not asked for", cloudWatchSpec("Composite", "eu-west-1", endpoint), PollFailed,
			[]string{`has no alarm named "Composite"`, "set cloudwatch.composite"}},
		{"composite", composite, Firing, []string{"alarm Composite fired: CloudWatch state ALARM: child alarm fired"}},
		{"access denied", cloudWatchSpec("Denied", "ap-south-1", endpoint), PollFailed,
			[]string{"AccessDenied", "allow cloudwatch:DescribeAlarms"}},
		// The SDK retries a refused connection with backoff until the poll's timeout; whether
		// the deadline or the third attempt ends it, the message names the call and endpoint.
		{"endpoint down", cloudWatchSpec("Known", "eu-west-1", down), PollFailed,
			[]string{"CloudWatch DescribeAlarms in eu-west-1 at " + down}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkState(t, pollOne(t, tt.spec, time.Second), tt.status, tt.fragments...)
		})
	}
}
