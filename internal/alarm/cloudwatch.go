package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

// cloudWatchSource reads the CloudWatch alarms of one region and endpoint with DescribeAlarms,
// all in one call (CloudWatch takes up to 100 names; a group has at most 10 alarms).
type cloudWatchSource struct {
	region, endpoint string
	timeout          time.Duration
	names            []string // Spec names, in the order add was called
	alarmNames       []string // CloudWatch names, same order
	composite        bool     // some alarm is a composite alarm

	mu     sync.Mutex
	client *cloudwatch.Client // nil until the SDK's configuration has loaded
}

func newCloudWatchSource(region, endpoint string, timeout time.Duration) *cloudWatchSource {
	return &cloudWatchSource{region: region, endpoint: endpoint, timeout: timeout}
}

func (c *cloudWatchSource) add(name string, spec CloudWatchAlarm) {
	alarmName := spec.AlarmName
	if alarmName == "" {
		alarmName = name
	}
	c.names = append(c.names, name)
	c.alarmNames = append(c.alarmNames, alarmName)
	c.composite = c.composite || spec.Composite
}

// cloudWatchAlarmState is what a poll needs of a metric or composite alarm.
type cloudWatchAlarmState struct {
	value      types.StateValue
	reason     string
	reasonData string
	op         types.ComparisonOperator
}

func (c *cloudWatchSource) poll(ctx context.Context, _ time.Time) []State {
	found, err := c.describe(ctx)
	out := make([]State, len(c.names))
	for i, name := range c.names {
		if err != nil {
			out[i] = failedState(name, err)
			continue
		}
		a, ok := found[c.alarmNames[i]]
		if !ok {
			hint := "check cloudwatch.alarm_name and cloudwatch.region, and set cloudwatch.composite for a composite alarm"
			if c.composite {
				hint = "check cloudwatch.alarm_name and cloudwatch.region"
			}
			out[i] = failedState(name, fmt.Errorf("CloudWatch in %s has no alarm named %q; %s", c.region, c.alarmNames[i], hint))
			continue
		}
		out[i] = cloudWatchState(name, a)
	}
	return out
}

func cloudWatchState(name string, a cloudWatchAlarmState) State {
	switch a.value {
	case types.StateValueAlarm:
		return firingState(name, "%s", firingReason(a))
	case types.StateValueOk:
		return okState(name, "CloudWatch state OK")
	case types.StateValueInsufficientData:
		return okState(name, "CloudWatch state INSUFFICIENT_DATA; not firing")
	}
	return failedState(name, fmt.Errorf("CloudWatch state %q is not OK, ALARM or INSUFFICIENT_DATA", a.value))
}

// operatorSymbols are the metric alarm comparisons with a single threshold.
var operatorSymbols = map[types.ComparisonOperator]string{
	types.ComparisonOperatorGreaterThanThreshold:          ">",
	types.ComparisonOperatorGreaterThanOrEqualToThreshold: ">=",
	types.ComparisonOperatorLessThanThreshold:             "<",
	types.ComparisonOperatorLessThanOrEqualToThreshold:    "<=",
}

// firingReason says "v1, v2 > threshold" from the alarm's StateReasonData when it has the
// datapoints that crossed, and falls back to CloudWatch's own StateReason (composite alarms,
// anomaly detection bands, states set by SetAlarmState).
func firingReason(a cloudWatchAlarmState) string {
	var data struct {
		RecentDatapoints []float64 `json:"recentDatapoints"`
		Threshold        *float64  `json:"threshold"`
	}
	sym, ok := operatorSymbols[a.op]
	if ok && json.Unmarshal([]byte(a.reasonData), &data) == nil && len(data.RecentDatapoints) > 0 && data.Threshold != nil {
		values := make([]string, len(data.RecentDatapoints))
		for i, v := range data.RecentDatapoints {
			values[i] = formatFloat(v)
		}
		return fmt.Sprintf("%s %s %s", strings.Join(values, ", "), sym, formatFloat(*data.Threshold))
	}
	if a.reason != "" {
		return "CloudWatch state ALARM: " + truncate(a.reason, 200)
	}
	return "CloudWatch state ALARM"
}

// describe returns the state of every alarm CloudWatch knows among c.alarmNames, by name.
func (c *cloudWatchSource) describe(ctx context.Context) (map[string]cloudWatchAlarmState, error) {
	client, err := c.cloudWatch(ctx)
	if err != nil {
		return nil, err
	}
	alarmTypes := []types.AlarmType{types.AlarmTypeMetricAlarm}
	if c.composite {
		// Without AlarmTypes CloudWatch returns metric alarms only.
		alarmTypes = append(alarmTypes, types.AlarmTypeCompositeAlarm)
	}
	in := &cloudwatch.DescribeAlarmsInput{AlarmNames: slices.Compact(slices.Sorted(slices.Values(c.alarmNames))), AlarmTypes: alarmTypes}
	found := make(map[string]cloudWatchAlarmState, len(c.alarmNames))
	pages := cloudwatch.NewDescribeAlarmsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, c.explain(err)
		}
		for _, m := range page.MetricAlarms {
			found[aws.ToString(m.AlarmName)] = cloudWatchAlarmState{
				value: m.StateValue, reason: aws.ToString(m.StateReason),
				reasonData: aws.ToString(m.StateReasonData), op: m.ComparisonOperator,
			}
		}
		for _, m := range page.CompositeAlarms {
			found[aws.ToString(m.AlarmName)] = cloudWatchAlarmState{value: m.StateValue, reason: aws.ToString(m.StateReason)}
		}
	}
	return found, nil
}

// cloudWatch returns the client, loading the SDK's configuration (environment, shared files,
// web identity, instance role) on first use. A failure is retried on the next poll: it is a
// poll failure like any other, not a reason to stop watching.
func (c *cloudWatchSource) cloudWatch(ctx context.Context) (*cloudwatch.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	c.client = cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	return c.client, nil
}

// explain turns an SDK error into a sentence that says where it came from and, for the errors a
// user can fix, what to do.
func (c *cloudWatchSource) explain(err error) error {
	where := "CloudWatch DescribeAlarms in " + c.region
	if c.endpoint != "" {
		where += " at " + c.endpoint
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		msg := fmt.Sprintf("%s: %s: %s", where, apiErr.ErrorCode(), apiErr.ErrorMessage())
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			msg += "; allow cloudwatch:DescribeAlarms to the server's AWS identity"
		case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken":
			msg += "; check the server's AWS credentials"
		}
		return errors.New(msg)
	}
	// The SDK retries a refused or reset connection; its last network error says more than the
	// deadline that may have cut the retries short.
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return fmt.Errorf("%s: %w", where, netErr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %v", where, c.timeout)
	}
	return fmt.Errorf("%s: %w", where, err)
}
