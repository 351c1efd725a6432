package awslambda

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
)

// API is what a Shift needs of the Lambda service; *lambda.Client has it.
type API interface {
	GetAlias(ctx context.Context, in *lambda.GetAliasInput, opts ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
	UpdateAlias(ctx context.Context, in *lambda.UpdateAliasInput, opts ...func(*lambda.Options)) (*lambda.UpdateAliasOutput, error)
}

// NewClient returns a Lambda client with the group's AWS settings.
func NewClient(ctx context.Context, cfg awsconfig.Config) (*lambda.Client, error) {
	awsCfg, err := cfg.Load(ctx)
	if err != nil {
		return nil, err
	}
	return lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
		if e := cfg.EndpointFor(awsconfig.ServiceLambda); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
	}), nil
}

var (
	// ErrInvalidTarget marks an AppSpec Lambda resource that cannot be deployed as it is.
	ErrInvalidTarget = errors.New("invalid Lambda target")
	// ErrAliasMoved marks an alias that is not where the deployment expects it: on another
	// version than CurrentVersion, or changed by someone else during the deployment.
	ErrAliasMoved = errors.New("alias is not where the deployment expects it")
)

// Alias is an alias as Lambda reports it.
type Alias struct {
	Function string
	Name     string
	// Version is the version the alias points at.
	Version string
	// Weights maps an additional version to its share of the invocations, 0 to 1.
	Weights    map[string]float64
	RevisionID string
}

// Percent returns the share of invocations (0-100) that version gets through the alias.
func (a Alias) Percent(version string) int {
	extra := 0.0
	for _, w := range a.Weights {
		extra += w
	}
	if version == a.Version {
		return int(math.Round((1 - extra) * 100))
	}
	return int(math.Round(a.Weights[version] * 100))
}

func (a Alias) String() string {
	s := fmt.Sprintf("alias %s of %s on version %s", a.Name, a.Function, a.Version)
	for v, w := range a.Weights {
		s += fmt.Sprintf(" with %d%% to version %s", int(math.Round(w*100)), v)
	}
	return s
}

// Shift moves one alias from CurrentVersion to TargetVersion.
type Shift struct {
	api    API
	target appspec.LambdaTarget
	// revision is the alias's RevisionId as this Shift last saw or left it; "" until Check.
	revision string
}

// versionRE is a published version: weighted aliases take no $LATEST.
var versionRE = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)

// New returns a Shift of the AppSpec's alias, after checking what Lambda would refuse later.
func New(api API, t appspec.LambdaTarget) (*Shift, error) {
	for _, f := range []struct{ name, value string }{{"CurrentVersion", t.CurrentVersion}, {"TargetVersion", t.TargetVersion}} {
		if !versionRE.MatchString(f.value) {
			return nil, fmt.Errorf("%w: %s %q is not a published version number; publish the function (aws lambda publish-version) and use the number it returns ($LATEST cannot take weighted traffic)", ErrInvalidTarget, f.name, f.value)
		}
	}
	if t.CurrentVersion == t.TargetVersion {
		return nil, fmt.Errorf("%w: CurrentVersion and TargetVersion are both %s; set TargetVersion to the version to deploy", ErrInvalidTarget, t.TargetVersion)
	}
	if t.Name == "" || t.Alias == "" {
		return nil, fmt.Errorf("%w: Name and Alias must both be set", ErrInvalidTarget)
	}
	return &Shift{api: api, target: t}, nil
}

// State reads the alias as it is now.
func (s *Shift) State(ctx context.Context) (Alias, error) {
	out, err := s.api.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(s.target.Name), Name: aws.String(s.target.Alias)})
	if err != nil {
		return Alias{}, fmt.Errorf("read alias %s of %s: %w", s.target.Alias, s.target.Name, awsconfig.Call("lambda:GetAlias", err))
	}
	a := Alias{Function: s.target.Name, Name: s.target.Alias, Version: aws.ToString(out.FunctionVersion), RevisionID: aws.ToString(out.RevisionId)}
	if out.RoutingConfig != nil && len(out.RoutingConfig.AdditionalVersionWeights) > 0 {
		a.Weights = maps.Clone(out.RoutingConfig.AdditionalVersionWeights)
	}
	return a, nil
}

// Check reads the alias and makes sure the deployment can start from it: the alias points at
// CurrentVersion, and sends nothing to any version but TargetVersion. It returns the share
// TargetVersion has now — above 0 only when a shift is resumed.
func (s *Shift) Check(ctx context.Context) (int, error) {
	a, err := s.State(ctx)
	if err != nil {
		return 0, err
	}
	t := s.target
	if a.Version != t.CurrentVersion {
		if a.Version == t.TargetVersion {
			return 0, fmt.Errorf("%w: %s already, not version %s; TargetVersion %s is deployed — set CurrentVersion and TargetVersion for the next deployment", ErrAliasMoved, a, t.CurrentVersion, t.TargetVersion)
		}
		return 0, fmt.Errorf("%w: %s, not version %s; set CurrentVersion: %s in the AppSpec (or point the alias back at %s)", ErrAliasMoved, a, t.CurrentVersion, a.Version, t.CurrentVersion)
	}
	for v := range a.Weights {
		if v != t.TargetVersion {
			return 0, fmt.Errorf("%w: %s; another deployment may be shifting it — finish or revert that one first", ErrAliasMoved, a)
		}
	}
	s.revision = a.RevisionID
	return a.Percent(t.TargetVersion), nil
}

// SetWeight sends percent of the alias's invocations to TargetVersion: below 100 the alias
// stays on CurrentVersion with TargetVersion as its additional version, at 100 it points at
// TargetVersion alone. Check must have run first; a change made to the alias by anyone else
// since is ErrAliasMoved.
func (s *Shift) SetWeight(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: weight %d%%; use 0 to 100", ErrInvalidTarget, percent)
	}
	if s.revision == "" {
		return fmt.Errorf("%w: the alias has not been checked; call Check first", ErrAliasMoved)
	}
	version, weights := s.target.CurrentVersion, map[string]float64{}
	switch {
	case percent == 100:
		version = s.target.TargetVersion
	case percent > 0:
		weights[s.target.TargetVersion] = float64(percent) / 100
	}
	return s.update(ctx, version, weights, s.revision)
}

// Move sends percent of the invocations to TargetVersion from wherever a shift of this alias
// left it, for a caller that keeps no Shift between steps (a server that may restart between
// them): it reads the alias, does nothing when the alias is there already (a change made before
// a restart), refuses an alias that points anywhere but CurrentVersion and TargetVersion, and
// otherwise changes it under the RevisionId it read. changed says whether it called
// UpdateAlias.
func (s *Shift) Move(ctx context.Context, percent int) (changed bool, err error) {
	a, err := s.State(ctx)
	if err != nil {
		return false, err
	}
	t := s.target
	onTarget := a.Version == t.TargetVersion && len(a.Weights) == 0
	onCurrent := a.Version == t.CurrentVersion
	for v := range a.Weights {
		onCurrent = onCurrent && v == t.TargetVersion
	}
	switch {
	case !onTarget && !onCurrent:
		return false, fmt.Errorf("%w: %s, which this deployment from version %s to %s did not leave it at; someone else changed it", ErrAliasMoved, a, t.CurrentVersion, t.TargetVersion)
	case percent == 100 && onTarget, percent < 100 && onCurrent && a.Percent(t.TargetVersion) == percent:
		return false, nil
	}
	s.revision = a.RevisionID
	return true, s.SetWeight(ctx, percent)
}

// Revert points the alias at CurrentVersion alone, whatever it points at now.
func (s *Shift) Revert(ctx context.Context) error {
	return s.update(ctx, s.target.CurrentVersion, map[string]float64{}, "")
}

// update sets the alias; an empty weights map clears the routing configuration.
func (s *Shift) update(ctx context.Context, version string, weights map[string]float64, revision string) error {
	in := &lambda.UpdateAliasInput{
		FunctionName:    aws.String(s.target.Name),
		Name:            aws.String(s.target.Alias),
		FunctionVersion: aws.String(version),
		RoutingConfig:   &types.AliasRoutingConfiguration{AdditionalVersionWeights: weights},
	}
	if revision != "" {
		in.RevisionId = aws.String(revision)
	}
	out, err := s.api.UpdateAlias(ctx, in)
	if err != nil {
		var moved *types.PreconditionFailedException
		if errors.As(err, &moved) {
			return fmt.Errorf("%w: alias %s of %s was changed by someone else during the deployment", ErrAliasMoved, s.target.Alias, s.target.Name)
		}
		return fmt.Errorf("update alias %s of %s: %w", s.target.Alias, s.target.Name, awsconfig.Call("lambda:UpdateAlias", err))
	}
	s.revision = aws.ToString(out.RevisionId)
	return nil
}
