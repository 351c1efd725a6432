package rollout_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// harness is a runner on a manual clock, with a Lambda stand-in for hook functions (and
// aliases) and a status endpoint hooks report to, recording what the runner tells.
type harness struct {
	t      *testing.T
	clock  *awsfake.Clock
	lambda *awsfake.Lambda
	runner *rollout.Runner
	cfg    awsconfig.Config

	mu      sync.Mutex
	records []rollout.Record
	// on runs in the runner's goroutine for each record, before the runner goes on.
	on func(rollout.Record)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	awsfake.Credentials(t)
	h := &harness{t: t, clock: awsfake.NewClock()}
	h.lambda = awsfake.NewLambda(t, h.clock.Now)
	h.lambda.SyncEvents()
	h.cfg = awsconfig.Config{Region: "eu-west-1", Endpoint: h.lambda.URL}
	fn := lambda.New(lambda.Options{Region: "eu-west-1", BaseEndpoint: aws.String(h.lambda.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: awsfake.AccessKey, SecretAccessKey: awsfake.SecretKey}, nil
		})})
	board := hook.NewBoard()
	status := awsfake.StatusEndpoint(t, board)
	h.runner = rollout.NewRunner(h.clock, hook.NewCaller(board, status.URL, fn, nil))
	h.runner.Observe = func(r rollout.Record) {
		h.mu.Lock()
		h.records = append(h.records, r)
		on := h.on
		h.mu.Unlock()
		if on != nil {
			on(r)
		}
	}
	return h
}

// hookFunction adds a Lambda hook function that reports verdict.
func (h *harness) hookFunction(name, verdict string) {
	h.lambda.AddFunction(name, 1)
	h.lambda.OnInvoke(name, awsfake.Reporter(verdict, nil))
}

// run carries out plan on a goroutine and moves the clock whenever the runner waits on it,
// until the run ends.
func (h *harness) run(plan rollout.Plan, shape traffic.Shape) rollout.Result {
	h.t.Helper()
	done := make(chan rollout.Result, 1)
	go func() { done <- h.runner.Run(context.Background(), plan, shape) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case res := <-done:
			return res
		default:
		}
		if !h.clock.Fire() {
			if time.Now().After(deadline) {
				h.t.Fatalf("the run did not end within 30s; records so far:\n%s", h.timeline())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// timeline renders the records as "+offset Kind Event weight message" lines.
func (h *harness) timeline() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.records {
		fmt.Fprintf(&b, "+%v %v %s", r.At.Sub(awsfake.Epoch), r.Kind, r.Event)
		if r.Kind == rollout.WeightSet {
			fmt.Fprintf(&b, " %d%%", r.Weight)
		}
		if r.Message != "" {
			fmt.Fprintf(&b, " (%s)", r.Message)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// events lists "Kind Event" of the records of the given kinds.
func (h *harness) events(kinds ...rollout.Kind) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		for _, k := range kinds {
			if r.Kind == k {
				out = append(out, fmt.Sprintf("%v %s", r.Kind, r.Event))
			}
		}
	}
	return out
}

func shape(t *testing.T, c traffic.Config) traffic.Shape {
	t.Helper()
	s, err := c.Shape()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lambdaSpec(hooks map[string]string) *appspec.Spec {
	return &appspec.Spec{
		Platform: appspec.PlatformLambda, Version: "0.0", FunctionHooks: hooks,
		Lambda: &appspec.LambdaTarget{Name: "api", Alias: "live", CurrentVersion: "1", TargetVersion: "2"},
	}
}

func at(d time.Duration) time.Time { return awsfake.Epoch.Add(d) }
