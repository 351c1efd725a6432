package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

const groupAWSUsage = `
Lambda and ECS (see docs/aws.md): a group of an application created with --platform lambda or
ecs targets no instances. --aws-region, --aws-profile, --aws-endpoint (every service) and
--aws-endpoint-for SERVICE=URL (lambda, ecs or elasticloadbalancing) say how the server reaches
AWS; credentials come from the server's environment. An ecs group names its service with
--ecs-cluster, --ecs-service, --ecs-target-groups ARN,ARN, --ecs-production-listener ARN,
optionally --ecs-test-listener ARN and --ecs-termination-wait D. --traffic and --traffic-file
give the traffic shape (all at once by default) and --hook-timeout how long hooks have to
report (the server's hook_timeout, 1h, by default).
`

// awsFlags are the settings of a lambda or ecs group.
type awsFlags struct {
	region, profile, endpoint      *string
	endpoints                      listFlag
	cluster, service, targetGroups *string
	production, test               *string
	terminationWait, hookTimeout   *time.Duration
}

func addAWSFlags(fs *flag.FlagSet) *awsFlags {
	f := &awsFlags{}
	f.region = fs.String("aws-region", "", "lambda/ecs: AWS `REGION` of the group's resources")
	f.profile = fs.String("aws-profile", "", "lambda/ecs: `PROFILE` of the server's shared AWS config files")
	f.endpoint = fs.String("aws-endpoint", "", "lambda/ecs: `URL` that replaces every AWS service's endpoint")
	fs.Var(&f.endpoints, "aws-endpoint-for", "lambda/ecs: `SERVICE=URL` replacing one service's endpoint (repeatable)")
	f.cluster = fs.String("ecs-cluster", "", "ecs: the service's `CLUSTER`")
	f.service = fs.String("ecs-service", "", "ecs: the `SERVICE` (EXTERNAL deployment controller)")
	f.targetGroups = fs.String("ecs-target-groups", "", "ecs: the two target group ARNs the task sets alternate between, `ARN,ARN`")
	f.production = fs.String("ecs-production-listener", "", "ecs: `ARN` of the listener that takes production traffic")
	f.test = fs.String("ecs-test-listener", "", "ecs: `ARN` of a listener that takes test traffic first")
	f.terminationWait = fs.Duration("ecs-termination-wait", 0, "ecs: keep the original task set `D` once the replacement is primary")
	f.hookTimeout = fs.Duration("hook-timeout", 0, "lambda/ecs: how long a hook has to report its verdict (`D`)")
	return f
}

// function reports whether a flag of a lambda or ecs group was given.
func (f *awsFlags) given(set map[string]bool) bool {
	for n := range set {
		if strings.HasPrefix(n, "aws-") || strings.HasPrefix(n, "ecs-") || n == "hook-timeout" {
			return true
		}
	}
	return false
}

// apply sets in g the lambda or ecs settings whose flags were given; shape is the traffic shape
// --traffic or --traffic-file gave, if any.
func (f *awsFlags) apply(g *api.DeploymentGroup, set map[string]bool, shape *api.TrafficShape) error {
	if set["aws-region"] || set["aws-profile"] || set["aws-endpoint"] || set["aws-endpoint-for"] {
		a := api.AWSSettings{}
		if g.AWS != nil {
			a = *g.AWS
		}
		if set["aws-region"] {
			a.Region = *f.region
		}
		if set["aws-profile"] {
			a.Profile = *f.profile
		}
		if set["aws-endpoint"] {
			a.Endpoint = *f.endpoint
		}
		for _, e := range f.endpoints {
			svc, u, ok := strings.Cut(e, "=")
			if !ok || svc == "" || u == "" {
				return fmt.Errorf("--aws-endpoint-for %q: give SERVICE=URL, e.g. ecs=http://127.0.0.1:4566", e)
			}
			if a.Endpoints == nil {
				a.Endpoints = map[string]string{}
			}
			a.Endpoints[svc] = u
		}
		g.AWS = &a
	}
	ecsFlags := []string{"ecs-cluster", "ecs-service", "ecs-target-groups", "ecs-production-listener", "ecs-test-listener", "ecs-termination-wait"}
	if slicesAny(ecsFlags, set) {
		e := api.ECSService{}
		if g.ECS != nil {
			e = *g.ECS
		}
		if set["ecs-cluster"] {
			e.Cluster = *f.cluster
		}
		if set["ecs-service"] {
			e.Service = *f.service
		}
		if set["ecs-target-groups"] {
			tgs := strings.Split(*f.targetGroups, ",")
			if len(tgs) != 2 {
				return errors.New("--ecs-target-groups: give the two target group ARNs, separated by a comma")
			}
			e.TargetGroups = tgs
		}
		if set["ecs-production-listener"] {
			e.ProductionListener = *f.production
		}
		if set["ecs-test-listener"] {
			e.TestListener = *f.test
		}
		if set["ecs-termination-wait"] {
			e.TerminationWait = api.Duration(*f.terminationWait)
		}
		g.ECS = &e
	}
	if set["hook-timeout"] {
		g.HookTimeout = api.Duration(*f.hookTimeout)
	}
	if shape != nil {
		g.Traffic = shape
	}
	return nil
}

func slicesAny(names []string, set map[string]bool) bool {
	for _, n := range names {
		if set[n] {
			return true
		}
	}
	return false
}
