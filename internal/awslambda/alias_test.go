package awslambda_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/awslambda"
)

// setup starts a Lambda stand-in with function fn (versions 1-3) and alias live on version 1,
// and returns a Shift of live from 1 to 2 through the real SDK client.
func setup(t *testing.T) (*awsfake.Lambda, *awslambda.Shift) {
	t.Helper()
	awsfake.Credentials(t)
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("fn", 3)
	fake.AddAlias("fn", "live", "1")
	client, err := awslambda.NewClient(context.Background(), awsconfig.Config{Region: "eu-west-1", Endpoint: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	s, err := awslambda.New(client, appspec.LambdaTarget{Name: "fn", Alias: "live", CurrentVersion: "1", TargetVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, s
}

func TestShift_WeightsThenTarget(t *testing.T) {
	fake, s := setup(t)
	ctx := context.Background()
	got, err := s.Check(ctx)
	if err != nil || got != 0 {
		t.Fatalf("Check = %d, %v; want 0, nil", got, err)
	}
	for _, p := range []int{10, 55, 100} {
		if err := s.SetWeight(ctx, p); err != nil {
			t.Fatalf("SetWeight(%d): %v", p, err)
		}
		a := fake.Alias("fn", "live")
		if a.Percent("2") != p {
			t.Errorf("after SetWeight(%d): version 2 gets %d%% (%+v)", p, a.Percent("2"), a)
		}
	}
	final := fake.Alias("fn", "live")
	if final.Version != "2" || len(final.Weights) != 0 {
		t.Errorf("final alias %+v; want version 2 with no routing configuration", final)
	}
	state, err := s.State(ctx)
	if err != nil || state.Version != "2" || len(state.Weights) != 0 {
		t.Errorf("State = %+v, %v", state, err)
	}
	for _, c := range fake.Calls() {
		if c.Region != "eu-west-1" || c.Service != "lambda" || c.AccessKey != awsfake.AccessKey {
			t.Errorf("call %s signed for %s/%s by %s; want eu-west-1/lambda by %s", c.Action, c.Region, c.Service, c.AccessKey, awsfake.AccessKey)
		}
	}
}

func TestShift_Revert(t *testing.T) {
	fake, s := setup(t)
	ctx := context.Background()
	if _, err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWeight(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if err := s.Revert(ctx); err != nil {
		t.Fatal(err)
	}
	a := fake.Alias("fn", "live")
	if a.Version != "1" || len(a.Weights) != 0 {
		t.Errorf("after revert: %+v; want version 1 alone", a)
	}
}

func TestShift_CheckRefusesAMovedAlias(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		weights map[string]float64
		advice  string
	}{
		{"another version", "3", nil, "set CurrentVersion: 3 in the AppSpec"},
		{"already on target", "2", nil, "TargetVersion 2 is deployed"},
		{"weights to another version", "1", map[string]float64{"3": 0.2}, "with 20% to version 3; another deployment may be shifting it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, s := setup(t)
			fake.SetAlias("fn", "live", tc.version, tc.weights)
			_, err := s.Check(context.Background())
			if !errors.Is(err, awslambda.ErrAliasMoved) {
				t.Fatalf("Check: %v; want ErrAliasMoved", err)
			}
			if !strings.Contains(err.Error(), tc.advice) {
				t.Errorf("Check: %v; want it to say %q", err, tc.advice)
			}
		})
	}
}

func TestShift_ResumesAShiftInProgress(t *testing.T) {
	fake, s := setup(t)
	fake.SetAlias("fn", "live", "1", map[string]float64{"2": 0.4})
	got, err := s.Check(context.Background())
	if err != nil || got != 40 {
		t.Fatalf("Check = %d, %v; want 40, nil", got, err)
	}
}

func TestShift_ConcurrentChangeStopsTheShift(t *testing.T) {
	fake, s := setup(t)
	ctx := context.Background()
	if _, err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	fake.SetAlias("fn", "live", "1", map[string]float64{"3": 0.5}) // someone else's change
	err := s.SetWeight(ctx, 10)
	if !errors.Is(err, awslambda.ErrAliasMoved) {
		t.Fatalf("SetWeight: %v; want ErrAliasMoved", err)
	}
	if a := fake.Alias("fn", "live"); a.Weights["3"] != 0.5 {
		t.Errorf("the other change was overwritten: %+v", a)
	}
}

func TestShift_APIErrorsNameTheAction(t *testing.T) {
	fake, s := setup(t)
	ctx := context.Background()
	if _, err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	fake.Fail("UpdateAlias", 0, awsfake.Fault{Status: 403, Code: "AccessDeniedException", Message: "User is not authorized to perform: lambda:UpdateAlias"})
	err := s.SetWeight(ctx, 10)
	want := "update alias live of fn: lambda:UpdateAlias: AccessDeniedException: User is not authorized to perform: lambda:UpdateAlias; allow lambda:UpdateAlias to the server's AWS identity"
	if err == nil || err.Error() != want {
		t.Fatalf("SetWeight error:\n got %v\nwant %s", err, want)
	}
}

func TestNew_RefusesWhatLambdaWould(t *testing.T) {
	for _, tc := range []appspec.LambdaTarget{
		{Name: "fn", Alias: "live", CurrentVersion: "$LATEST", TargetVersion: "2"},
		{Name: "fn", Alias: "live", CurrentVersion: "1", TargetVersion: "1"},
		{Name: "fn", Alias: "live", CurrentVersion: "1", TargetVersion: "v2"},
	} {
		if _, err := awslambda.New(nil, tc); !errors.Is(err, awslambda.ErrInvalidTarget) {
			t.Errorf("New(%+v) = %v; want ErrInvalidTarget", tc, err)
		}
	}
}

func TestShift_MoveFromWhereverTheShiftLeftIt(t *testing.T) {
	fake, s := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		percent int
		changed bool
	}{{10, true}, {10, false}, {60, true}, {100, true}, {100, false}} {
		changed, err := s.Move(ctx, tc.percent)
		if err != nil || changed != tc.changed {
			t.Fatalf("Move(%d) = %v, %v; want %v, nil", tc.percent, changed, err, tc.changed)
		}
		if got := fake.Alias("fn", "live").Percent("2"); got != tc.percent {
			t.Errorf("after Move(%d): version 2 gets %d%%", tc.percent, got)
		}
	}
	if n := len(fake.CallsOf("UpdateAlias")); n != 3 {
		t.Errorf("%d UpdateAlias calls, want 3 (a repeated step changes nothing)", n)
	}
}

func TestShift_MoveRefusesAnAliasSomeoneElseMoved(t *testing.T) {
	fake, s := setup(t)
	fake.SetAlias("fn", "live", "3", nil)
	_, err := s.Move(context.Background(), 20)
	if !errors.Is(err, awslambda.ErrAliasMoved) || !strings.Contains(err.Error(), "someone else changed it") {
		t.Fatalf("Move: %v; want ErrAliasMoved saying someone else changed it", err)
	}
	if a := fake.Alias("fn", "live"); a.Version != "3" {
		t.Errorf("the other change was overwritten: %+v", a)
	}
}
