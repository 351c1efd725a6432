package apiserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Lambda and ECS: groups' AWS settings, deployments of an AppSpec-only revision, and the status
// endpoint of their hooks.

// maxHookStatusBody bounds a hook's status report: a verdict and a message of at most
// api.MaxHookMessage bytes.
const maxHookStatusBody = 4 << 10

// maxFunctionBundle bounds what is read of a lambda or ecs revision to find its AppSpec when the
// bundle store cannot read at an offset.
const maxFunctionBundle = 64 << 20

// WithHooks lets lambda and ecs hooks report their verdicts to the server.
func WithHooks(b *hook.Board) Option { return func(s *Server) { s.hooks = b } }

func awsGroupJSON(g store.Group, out *api.DeploymentGroup) {
	a := g.AWS
	if a.IsZero() {
		return
	}
	c := a.Config
	if !reflect.DeepEqual(c, awsconfig.Config{}) {
		out.AWS = &api.AWSSettings{Region: c.Region, Profile: c.Profile, Endpoint: c.Endpoint, Endpoints: c.Endpoints}
	}
	if e := a.ECS; e != (awsecs.Group{}) {
		out.ECS = &api.ECSService{Cluster: e.Cluster, Service: e.Service, TargetGroups: e.TargetGroups[:],
			ProductionListener: e.ProductionListener, TestListener: e.TestListener, TerminationWait: api.Duration(e.Termination())}
	}
	if !reflect.DeepEqual(a.Traffic, traffic.Config{}) {
		shape := shapeJSON(a.Traffic)
		out.Traffic = &shape
	}
	out.HookTimeout = api.Duration(a.HookTimeout)
}

// awsFromJSON reads a group request's AWS settings into g, for an application of platform p.
// Errors name the field to change.
func awsFromJSON(in api.DeploymentGroup, p store.ComputePlatform, g *store.Group) error {
	if p == store.PlatformServer {
		if in.AWS != nil || in.ECS != nil || in.Traffic != nil || in.HookTimeout != 0 {
			return invalid("aws", "aws, ecs, traffic and hook_timeout are for groups of lambda and ecs applications; this application's platform is server")
		}
		return nil
	}
	switch {
	case len(in.TagGroups) > 0:
		return invalid("tag_groups", "a %s group targets no instances: leave tag_groups out", p)
	case in.DeploymentType != "" || in.TrafficRouter != nil || in.BlueGreen != nil:
		return invalid("deployment_type", "a %s deployment is blue/green by nature: give its traffic shape in traffic, and leave deployment_type, traffic_router and blue_green out", p)
	case p == store.PlatformLambda && in.ECS != nil:
		return invalid("ecs", "ecs settings are for groups of ecs applications")
	case p == store.PlatformECS && in.ECS == nil:
		return invalid("ecs", "an ecs group needs its service: cluster, service, target_groups (two) and production_listener")
	}
	a := store.AWSGroup{HookTimeout: time.Duration(in.HookTimeout)}
	if c := in.AWS; c != nil {
		a.Config = awsconfig.Config{Region: c.Region, Profile: c.Profile, Endpoint: c.Endpoint, Endpoints: c.Endpoints}
		if err := a.Config.Validate(); err != nil {
			return invalid("aws", "%v", err)
		}
	}
	if e := in.ECS; e != nil {
		if len(e.TargetGroups) != 2 {
			return invalid("ecs.target_groups", "give the two target group ARNs the service's task sets alternate between")
		}
		a.ECS = awsecs.Group{Cluster: e.Cluster, Service: e.Service, TargetGroups: [2]string{e.TargetGroups[0], e.TargetGroups[1]},
			ProductionListener: e.ProductionListener, TestListener: e.TestListener}
		if e.TerminationWait != 0 {
			a.ECS.TerminationWait = time.Duration(e.TerminationWait).String()
		}
		if err := a.ECS.Validate(); err != nil {
			return invalid("ecs", "%v", err)
		}
	}
	a.Traffic = traffic.Config{AllAtOnce: true}
	if in.Traffic != nil {
		a.Traffic = shapeConfig(*in.Traffic)
		if err := a.Traffic.Validate(); err != nil {
			return invalid("traffic", "%v", err)
		}
		if _, err := a.Traffic.Shape(); err != nil {
			return invalid("traffic", "%v", err)
		}
	}
	if a.HookTimeout < 0 || a.HookTimeout > deploy.MaxWait {
		return invalid("hook_timeout", "%v: give a duration up to %v", a.HookTimeout, deploy.MaxWait)
	}
	g.AWS = a
	g.Tags = nil
	return nil
}

// functionDeployment makes d, a deployment of revision to g, a lambda or ecs deployment of the
// AppSpec the revision holds.
func (s *Server) functionDeployment(ctx context.Context, g store.Group, p store.ComputePlatform, d *deploy.Deployment) error {
	spec, err := s.revisionSpec(ctx, g.Application, d.Revision, p)
	if err != nil {
		return err
	}
	f, err := rollout.NewFunction(spec, g.AWS.Config, g.AWS.ECS)
	if err != nil {
		return invalid("revision", "%v", err)
	}
	if err := s.checkHookURLs(spec.FunctionHooks); err != nil {
		return err
	}
	f.HookTimeout = g.AWS.HookTimeout
	if f.HookTimeout == 0 {
		f.HookTimeout = s.cfg.HookTimeout
	}
	d.Type = deploy.BlueGreen
	d.Platform = deploy.PlatformLambda
	if p == store.PlatformECS {
		d.Platform = deploy.PlatformECS
	}
	d.Function = f
	d.BlueGreen = deploy.BlueGreenOptions{Traffic: g.AWS.Traffic}
	if reflect.DeepEqual(d.BlueGreen.Traffic, traffic.Config{}) {
		d.BlueGreen.Traffic = traffic.Config{AllAtOnce: true}
	}
	d.Router = deploy.Router{}
	return nil
}

// checkHookURLs refuses an AppSpec whose HTTP hooks call outside the server's hook_urls: the
// server would POST wherever an uploaded AppSpec says, internal addresses included.
func (s *Server) checkHookURLs(hooks map[string]string) error {
	for _, event := range slices.Sorted(maps.Keys(hooks)) {
		t, err := hook.ParseTarget(hooks[event])
		if err != nil {
			return invalid("revision", "AppSpec hook %s: %v", event, err)
		}
		if !t.AllowedBy(s.cfg.HookURLs) {
			allowed := "none are allowed yet"
			if len(s.cfg.HookURLs) > 0 {
				list := make([]string, len(s.cfg.HookURLs))
				for i, u := range s.cfg.HookURLs {
					list[i] = u.String()
				}
				allowed = "it allows " + strings.Join(list, ", ")
			}
			return invalid("revision", "AppSpec hook %s calls %s, which this server may not call (%s): add a prefix of it to the server's hook_urls (SLIPWAY_HOOK_URLS), e.g. %s://%s/",
				event, t, allowed, t.URL.Scheme, t.URL.Host)
		}
	}
	return nil
}

// revisionSpec reads the AppSpec of a revision: an uploaded bundle, or one registered by S3
// location, read from its pinned version and checked against its digest.
func (s *Server) revisionSpec(ctx context.Context, application, digest string, p store.ComputePlatform) (*appspec.Spec, error) {
	rev, err := s.store.GetRevision(ctx, application, digest)
	if err != nil {
		return nil, storeErr(err)
	}
	rc, size, err := s.openRevision(ctx, rev)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read only
	content, ok := rc.(io.ReaderAt)
	if !ok {
		if size > maxFunctionBundle {
			return nil, invalid("revision", "a %s revision holds its AppSpec alone; this one is %d bytes", p, size)
		}
		b, err := io.ReadAll(io.LimitReader(rc, size+1))
		if err != nil {
			return nil, fmt.Errorf("read revision %s: %w", digest, err)
		}
		if sum := sha256.Sum256(b); int64(len(b)) != size || hex.EncodeToString(sum[:]) != digest {
			return nil, invalid("revision", "revision %s no longer holds what was registered (%d bytes read, %d registered, or another sha256): register the object again", digest, len(b), size)
		}
		content = bytes.NewReader(b)
	}
	m, err := bundle.Inspect(ctx, content, size, bundle.Limits{})
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", digest, err)
	}
	platform := appspec.PlatformLambda
	if p == store.PlatformECS {
		platform = appspec.PlatformECS
	}
	name, err := appspec.FindFS(m, platform)
	if err != nil {
		return nil, invalid("revision", "%v", err)
	}
	data, err := fs.ReadFile(m, name)
	if err != nil {
		return nil, fmt.Errorf("read revision %s: %w", digest, err)
	}
	spec, diags := appspec.Parse(name, data, appspec.Options{Platform: platform})
	if spec == nil {
		return nil, invalid("revision", "%v", diags)
	}
	return spec, nil
}

// openRevision opens a revision's bundle: from the bundle store, or from the S3 object it was
// registered by.
func (s *Server) openRevision(ctx context.Context, rev store.Revision) (io.ReadCloser, int64, error) {
	if rev.Source != store.SourceS3 {
		rc, size, err := s.blobs.Open(ctx, rev.Digest)
		if err != nil {
			return nil, 0, fmt.Errorf("open revision %s: %w", rev.Digest, err)
		}
		return rc, size, nil
	}
	loc, err := s3Location(rev.Location)
	if err != nil {
		return nil, 0, err
	}
	if s.s3 == nil {
		return nil, 0, fmt.Errorf("revision %s is in S3 but this server has no S3 access (set s3_region)", rev.Digest)
	}
	o := s3Object(loc)
	rc, err := s.s3.Get(ctx, o)
	if err != nil {
		return nil, 0, s3UserErr(err, o)
	}
	return rc, rev.Size, nil
}

// handleHookStatus takes a lambda or ecs hook's verdict. It is outside the user authentication:
// the bearer token is the execution's own, checked in constant time by the board.
func (s *Server) handleHookStatus(w http.ResponseWriter, r *http.Request) {
	if s.hooks == nil {
		s.writeError(w, r, as(errNotFound, "this server runs no lambda or ecs hooks"))
		return
	}
	var in api.HookStatus
	if err := s.decode(w, r, maxHookStatusBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	_, err := s.hooks.Report(r.Context(), mux.Vars(r)["id"], bearer(r), in)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, hook.ErrUnknownExecution):
		err = as(errNotFound, "no such hook execution")
	case errors.Is(err, hook.ErrBadToken):
		err = as(errForbidden, "the token is not this execution's: send the SlipwayStatusToken of the payload that named it")
	case errors.Is(err, hook.ErrAlreadyReported):
		err = as(errConflict, "%v", err)
	case errors.Is(err, hook.ErrInvalidStatus):
		err = invalid("status", "%v", err)
	}
	s.writeError(w, r, err)
}

// functionRollback makes d, a lambda or ecs deployment of an earlier revision, start from where
// the group's last successful deployment left the alias or service, and shift all at once: a
// rollback restores what ran before without waiting through the group's canary.
func (s *Server) functionRollback(ctx context.Context, g store.Group, d *deploy.Deployment) error {
	last, err := s.store.GetDeployment(ctx, g.LastSuccessfulDeployment)
	if err != nil {
		return storeErr(err)
	}
	f, err := rollout.Rollback(d.Function, d.Platform, last.Deployment)
	if err != nil {
		return as(errConflict, "%v", err)
	}
	d.Function = f
	d.BlueGreen.Traffic = traffic.Config{AllAtOnce: true}
	return nil
}
