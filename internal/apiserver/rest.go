package apiserver

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// defaultConfig is CodeDeploy's default deployment config for server groups.
const defaultConfig = deploy.ConfigOneAtATime

// nameRE is CodeDeploy's rule for application, group and config names, which also keeps them safe
// as directory names on hosts.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func checkName(field, v string) error {
	if !nameRE.MatchString(v) {
		return invalid(field, "%q is not a valid name: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", v)
	}
	return nil
}

func (s *Server) routeAPI(r *mux.Router) {
	r.Use(s.authenticate)
	r.HandleFunc("/applications", s.handleApplicationCreate).Methods(http.MethodPost)
	r.HandleFunc("/applications", s.handleApplicationList).Methods(http.MethodGet)
	r.HandleFunc("/applications/{app}", s.handleApplicationGet).Methods(http.MethodGet)
	r.HandleFunc("/applications/{app}/groups", s.handleGroupCreate).Methods(http.MethodPost)
	r.HandleFunc("/applications/{app}/groups", s.handleGroupList).Methods(http.MethodGet)
	r.HandleFunc("/applications/{app}/groups/{group}", s.handleGroupGet).Methods(http.MethodGet)
	r.HandleFunc("/applications/{app}/groups/{group}", s.handleGroupUpdate).Methods(http.MethodPut)
	r.HandleFunc("/applications/{app}/groups/{group}/rollback", s.handleGroupRollback).Methods(http.MethodPost)
	r.HandleFunc("/applications/{app}/groups/{group}/uploads", s.handleUploadCreate).Methods(http.MethodPost)
	r.HandleFunc("/applications/{app}/groups/{group}/uploads/{id}/complete", s.handleUploadComplete).Methods(http.MethodPost)
	// One collection, two ways in: a JSON body registers a revision kept elsewhere (S3); any
	// other body is the bundle itself.
	r.HandleFunc("/applications/{app}/revisions", s.handleRevisionRegister).Methods(http.MethodPost).
		HeadersRegexp("Content-Type", `^application/json\b`)
	r.HandleFunc("/applications/{app}/revisions", s.handleRevisionUpload).Methods(http.MethodPost)
	r.HandleFunc("/deployment-configs", s.handleConfigCreate).Methods(http.MethodPost)
	r.HandleFunc("/deployment-configs", s.handleConfigList).Methods(http.MethodGet)
	r.HandleFunc("/deployments", s.handleDeploymentCreate).Methods(http.MethodPost)
	r.HandleFunc("/deployments", s.handleDeploymentList).Methods(http.MethodGet)
	r.HandleFunc("/deployments/{id}", s.handleDeploymentGet).Methods(http.MethodGet)
	r.HandleFunc("/deployments/{id}/stop", s.handleDeploymentStop).Methods(http.MethodPost)
	r.HandleFunc("/deployments/{id}/promote", s.handleDeploymentPromote).Methods(http.MethodPost)
	r.HandleFunc("/deployments/{id}/pause", s.handleDeploymentPause).Methods(http.MethodPost)
	r.HandleFunc("/deployments/{id}/continue", s.handleDeploymentContinue).Methods(http.MethodPost)
	r.HandleFunc("/deployments/{id}/abort", s.handleDeploymentAbort).Methods(http.MethodPost)
	r.HandleFunc("/instances", s.handleInstanceList).Methods(http.MethodGet)
	r.HandleFunc("/instances/{name}", s.handleInstanceDeregister).Methods(http.MethodDelete)
	r.HandleFunc("/instances/{name}/tags", s.handleInstanceTags).Methods(http.MethodPut)
}

// storeErr maps the store's sentinel errors onto the handlers' own.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return classified{kind: errNotFound, err: err}
	case errors.Is(err, store.ErrExists):
		return classified{kind: errConflict, err: err}
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrInUse):
		return badRequest{msg: err.Error()}
	}
	return err
}

// Applications

func applicationJSON(a store.Application) api.Application {
	return api.Application{Name: a.Name, ComputePlatform: string(a.ComputePlatform), CreateTime: a.CreateTime.UTC()}
}

func (s *Server) handleApplicationCreate(w http.ResponseWriter, r *http.Request) {
	var in api.Application
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkName("name", in.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.ComputePlatform == "" {
		in.ComputePlatform = string(store.PlatformServer)
	}
	if err := store.ComputePlatform(in.ComputePlatform).Validate(); err != nil {
		s.writeError(w, r, invalid("compute_platform", "%q: use server, lambda or ecs", in.ComputePlatform))
		return
	}
	a, err := s.store.CreateApplication(r.Context(), store.Application{Name: in.Name, ComputePlatform: store.ComputePlatform(in.ComputePlatform)})
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	writeJSON(w, http.StatusCreated, applicationJSON(a))
}

func (s *Server) handleApplicationList(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListApplications(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Application, 0, len(list))
	for _, a := range list {
		out = append(out, applicationJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleApplicationGet(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.GetApplication(r.Context(), mux.Vars(r)["app"])
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	writeJSON(w, http.StatusOK, applicationJSON(a))
}

// Deployment groups

func groupJSON(g store.Group) api.DeploymentGroup {
	out := api.DeploymentGroup{
		Application:                   g.Application,
		Name:                          g.Name,
		DeploymentConfig:              g.ConfigName,
		AutoRollback:                  api.AutoRollback{OnFailure: g.AutoRollback.OnFailure, OnAlarm: g.AutoRollback.OnAlarm, OnStopRequested: g.AutoRollback.OnStopRequested},
		IgnoreApplicationStopFailures: g.IgnoreApplicationStopFailures,
		OnBusy:                        "queue",
		Environment:                   g.Environment,
		CurrentRevision:               g.CurrentRevision,
		LastSuccessfulDeployment:      g.LastSuccessfulDeployment,
		ActiveDeployment:              g.Queue.Active,
		QueuedDeployments:             g.Queue.Waiting,
		CreateTime:                    g.CreateTime.UTC(),
		TagGroups:                     tagGroupsJSON(g.Tags),
		TrafficRouter:                 routerJSON(g.Router),
		BlueGreen:                     blueGreenJSON(g),
		AlarmConfiguration:            alarmsJSON(g.Alarms),
	}
	awsGroupJSON(g, &out)
	out.Upload = api.UploadServer
	if g.DirectUpload {
		out.Upload = api.UploadDirect
	}
	if g.Type != deploy.InPlace {
		out.DeploymentType = g.Type.String()
	}
	if g.RefuseWhenBusy {
		out.OnBusy = "reject"
	}
	if g.GitHub.Linked() {
		out.GitHub = &api.GitHubLink{Repository: g.GitHub.Repository, RepositoryID: g.GitHub.RepositoryID, AllowedRefs: g.GitHub.AllowedRefs, EnvironmentURL: g.GitHub.EnvironmentURL}
	}
	return out
}

func tagGroupsJSON(set deploy.TagSet) [][]api.TagFilter {
	out := [][]api.TagFilter{}
	for _, tg := range set {
		fs := make([]api.TagFilter, 0, len(tg))
		for _, f := range tg {
			fs = append(fs, api.TagFilter{Key: f.Key, Value: f.Value, Type: f.Type.String()})
		}
		out = append(out, fs)
	}
	return out
}

// tagSetFromJSON reads the tag groups of field.
func tagSetFromJSON(field string, groups [][]api.TagFilter) (deploy.TagSet, error) {
	if len(groups) == 0 {
		return nil, invalid(field, "give at least one tag filter, e.g. [[{\"key\":\"role\",\"value\":\"web\",\"type\":\"KEY_AND_VALUE\"}]]")
	}
	var set deploy.TagSet
	for i, tg := range groups {
		fs, err := tagFiltersFromJSON(sprintf("%s[%d]", field, i), tg)
		if err != nil {
			return nil, err
		}
		set = append(set, fs)
	}
	if err := set.Validate(); err != nil {
		return nil, invalid(field, "%v", err)
	}
	return set, nil
}

// tagFiltersFromJSON reads the filters of one tag group, field; Validate checks them.
func tagFiltersFromJSON(field string, filters []api.TagFilter) ([]deploy.TagFilter, error) {
	var fs []deploy.TagFilter
	for j, f := range filters {
		typ, err := deploy.ParseTagFilterType(f.Type)
		if err != nil {
			return nil, invalid(sprintf("%s[%d].type", field, j), "%v", err)
		}
		fs = append(fs, deploy.TagFilter{Key: f.Key, Value: f.Value, Type: typ})
	}
	return fs, nil
}

// groupFromJSON validates a group request; app is the application named by the path.
func (s *Server) groupFromJSON(ctx context.Context, app string, in api.DeploymentGroup) (store.Group, error) {
	if in.Application != "" && in.Application != app {
		return store.Group{}, invalid("application", "the body names application %q but the path %q", in.Application, app)
	}
	if err := checkName("name", in.Name); err != nil {
		return store.Group{}, err
	}
	g := store.Group{
		Application:                   app,
		Name:                          in.Name,
		ConfigName:                    in.DeploymentConfig,
		AutoRollback:                  deploy.AutoRollback{OnFailure: in.AutoRollback.OnFailure, OnAlarm: in.AutoRollback.OnAlarm, OnStopRequested: in.AutoRollback.OnStopRequested},
		IgnoreApplicationStopFailures: in.IgnoreApplicationStopFailures,
		Environment:                   in.Environment,
	}
	if in.GitHub != nil {
		g.GitHub = store.GitHubLink{Repository: in.GitHub.Repository, RepositoryID: in.GitHub.RepositoryID, AllowedRefs: in.GitHub.AllowedRefs, EnvironmentURL: in.GitHub.EnvironmentURL}
	}
	if g.ConfigName == "" {
		g.ConfigName = defaultConfig
	}
	switch in.Upload {
	case "", api.UploadServer:
	case api.UploadDirect:
		if _, err := s.directUploads(); err != nil {
			return store.Group{}, err
		}
		g.DirectUpload = true
	default:
		return store.Group{}, invalid("upload", "%q: use server (bundles go through the server) or direct (clients upload them to the S3 bundle bucket)", in.Upload)
	}
	switch in.OnBusy {
	case "", "queue":
	case "reject":
		g.RefuseWhenBusy = true
	default:
		return store.Group{}, invalid("on_busy", "%q: use queue or reject", in.OnBusy)
	}
	a, err := s.store.GetApplication(ctx, app)
	if err != nil {
		return store.Group{}, storeErr(err)
	}
	if a.ComputePlatform != store.PlatformServer {
		if err := awsFromJSON(in, a.ComputePlatform, &g); err != nil {
			return store.Group{}, err
		}
	} else {
		tags, err := tagSetFromJSON("tag_groups", in.TagGroups)
		if err != nil {
			return store.Group{}, err
		}
		g.Tags = tags
		if err := awsFromJSON(in, a.ComputePlatform, &g); err != nil {
			return store.Group{}, err
		}
		if err := s.trafficFromJSON(in, &g); err != nil {
			return store.Group{}, err
		}
	}
	if g.Alarms, err = alarmsFromJSON(in.AlarmConfiguration); err != nil {
		return store.Group{}, err
	}
	if _, err := s.config(ctx, g.ConfigName); err != nil {
		return store.Group{}, err
	}
	return g, nil
}

func (s *Server) handleGroupCreate(w http.ResponseWriter, r *http.Request) {
	var in api.DeploymentGroup
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.groupFromJSON(r.Context(), mux.Vars(r)["app"], in)
	if err == nil {
		g, err = s.store.CreateGroup(r.Context(), g)
		err = storeErr(err)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, groupJSON(g))
}

func (s *Server) handleGroupUpdate(w http.ResponseWriter, r *http.Request) {
	var in api.DeploymentGroup
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	in.Name = mux.Vars(r)["group"]
	g, err := s.groupFromJSON(r.Context(), mux.Vars(r)["app"], in)
	if err == nil {
		g, err = s.store.UpdateGroup(r.Context(), g)
		err = storeErr(err)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, groupJSON(g))
}

func (s *Server) handleGroupList(w http.ResponseWriter, r *http.Request) {
	app := mux.Vars(r)["app"]
	// An application with no groups lists none; one that does not exist is not found.
	if _, err := s.store.GetApplication(r.Context(), app); err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	list, err := s.store.ListGroups(r.Context(), app)
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	out := make([]api.DeploymentGroup, 0, len(list))
	for _, g := range list {
		out = append(out, groupJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGroupGet(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	g, err := s.store.GetGroup(r.Context(), v["app"], v["group"])
	if err == nil {
		err = s.authorizeGroup(r, g)
	} else {
		err = storeErr(err)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, groupJSON(g))
}

// Deployment configs

// config returns the deployment config a request names; one that does not exist is the
// request's mistake.
func (s *Server) config(ctx context.Context, name string) (deploy.Config, error) {
	c, err := s.store.GetConfig(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return c, invalid("deployment_config", "no deployment config %q (see slipway config list)", name)
	}
	return c, err
}

func configJSON(c deploy.Config) api.DeploymentConfig {
	_, preset := deploy.Preset(c.Name)
	return api.DeploymentConfig{
		Name:                c.Name,
		MinimumHealthyHosts: api.MinimumHealthyHosts{Type: c.MinimumHealthyHosts.Type.String(), Value: c.MinimumHealthyHosts.Value},
		Preset:              preset,
	}
}

func (s *Server) handleConfigCreate(w http.ResponseWriter, r *http.Request) {
	var in api.DeploymentConfig
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkName("name", in.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	typ, err := deploy.ParseMinimumType(in.MinimumHealthyHosts.Type)
	if err != nil || typ == deploy.MostConcurrency {
		s.writeError(w, r, invalid("minimum_healthy_hosts.type", "%q: use HOST_COUNT or FLEET_PERCENT", in.MinimumHealthyHosts.Type))
		return
	}
	c := deploy.Config{Name: in.Name, MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: typ, Value: in.MinimumHealthyHosts.Value}}
	if err := c.MinimumHealthyHosts.Validate(); err != nil {
		s.writeError(w, r, invalid("minimum_healthy_hosts.value", "%v", err))
		return
	}
	// What is left to refuse is the name: a preset's, or one with the presets' prefix.
	if err := c.Validate(); err != nil {
		s.writeError(w, r, invalid("name", "%v", err))
		return
	}
	if err := s.store.CreateConfig(r.Context(), c); err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	writeJSON(w, http.StatusCreated, configJSON(c))
}

func (s *Server) handleConfigList(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListConfigs(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []api.DeploymentConfig{}
	for _, c := range deploy.Presets() {
		out = append(out, configJSON(c))
	}
	for _, c := range list {
		if _, preset := deploy.Preset(c.Name); !preset {
			out = append(out, configJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Deployments

func (s *Server) handleDeploymentCreate(w http.ResponseWriter, r *http.Request) {
	var in api.CreateDeployment
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, created, err := s.createRequested(r, in)
	if err != nil {
		s.writeError(w, r, s.refuseGitHubDeployment(r, in.GitHub, err))
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	s.logWorkflow(r, "deployment created by a workflow", "deployment_id", d.ID, "group", d.Group, "created", created)
	writeJSON(w, status, d)
}

// createRequested creates the deployment a request asks for, once the caller may.
func (s *Server) createRequested(r *http.Request, in api.CreateDeployment) (api.Deployment, bool, error) {
	if err := checkCreateDeployment(in); err != nil {
		return api.Deployment{}, false, err
	}
	g, err := s.store.GetGroup(r.Context(), in.Application, in.Group)
	if err != nil {
		return api.Deployment{}, false, storeErr(err)
	}
	if err := errors.Join(s.authorizeGroup(r, g), s.authorizeGitHubDeployment(r, in.GitHub)); err != nil {
		return api.Deployment{}, false, err
	}
	creator := deploy.CreatorUser
	if in.GitHub != nil {
		// The webhook for the same GitHub Deployment may create it first; both must say the same.
		creator = deploy.CreatorGitHub
	}
	return s.CreateDeployment(r.Context(), in, creator)
}

// refuseGitHubDeployment records that a request naming GitHub Deployment gh was refused with
// err. The caller (the Action) reports the refusal on the Deployment with an error status, and
// so does the deployment webhook when it refuses the same Deployment: the first to record the
// refusal reports it, and when that was the webhook, the answer says so (refusal_reported).
// Only a refusal of the request itself is recorded, by a caller that may name gh; a server
// fault, or a caller that may not, leaves the record alone.
func (s *Server) refuseGitHubDeployment(r *http.Request, gh *api.GitHubDeployment, err error) error {
	status := statusOf(err)
	if gh == nil || gh.RepositoryID <= 0 || gh.DeploymentID <= 0 || status >= http.StatusInternalServerError ||
		status == http.StatusUnauthorized || s.authorizeGitHubDeployment(r, gh) != nil {
		return err
	}
	out := errorBody(err)
	first, rerr := s.store.RecordGitHubRefusal(r.Context(), store.GitHubRefusal{RepositoryID: gh.RepositoryID, GitHubID: gh.DeploymentID, Reason: out.Message})
	if rerr != nil {
		s.log.Warn("record refused GitHub deployment", "github_deployment", gh.DeploymentID, "error", rerr)
		return err
	}
	if !first.Webhook {
		return err
	}
	out.Status, out.RefusalReported = status, true
	return &out
}

func checkCreateDeployment(in api.CreateDeployment) error {
	switch {
	case in.Application == "":
		return invalid("application", "give the application to deploy")
	case in.Group == "":
		return invalid("group", "give the deployment group to deploy to")
	case !blob.ValidDigest(in.Revision):
		return invalid("revision", "%q: give the sha256 digest of an uploaded revision, 64 lower-case hex characters", in.Revision)
	}
	return nil
}

func (s *Server) handleGroupRollback(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	d, err := s.RollbackGroup(r.Context(), v["app"], v["group"], "", "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

func (s *Server) handleDeploymentList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeploymentFilter{Application: q.Get("application"), Group: q.Get("group"), Limit: 100}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, invalid("limit", "%q: give a number from 1 to 1000", l))
			return
		}
		f.Limit = n
	}
	for _, st := range q["status"] {
		status, err := deploy.ParseStatus(st)
		if err != nil {
			s.writeError(w, r, invalid("status", "%v", err))
			return
		}
		f.Statuses = append(f.Statuses, status)
	}
	list, err := s.store.ListDeployments(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Deployment, 0, len(list))
	for _, v := range list {
		out = append(out, deploymentJSON(v.Deployment, nil))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeploymentGet(w http.ResponseWriter, r *http.Request) {
	d, err := s.authorizedDeployment(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.deploymentJSON(r.Context(), d))
}

func (s *Server) handleDeploymentStop(w http.ResponseWriter, r *http.Request) {
	var in api.StopDeployment
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !principalOf(r).admin {
		current, err := s.authorizedDeployment(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.logWorkflow(r, "deployment stopped by a workflow", "deployment_id", current.ID)
	}
	d, err := s.StopDeployment(r.Context(), mux.Vars(r)["id"], in.Rollback, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// deploymentJSON renders a deployment with its hosts named.
func (s *Server) deploymentJSON(ctx context.Context, d deploy.Deployment) api.Deployment {
	names := map[string]string{}
	if list, err := s.store.ListInstances(ctx, true); err == nil {
		for _, in := range list {
			names[in.ID] = in.Name
		}
	}
	return deploymentJSON(d, names)
}

// Instances

func (s *Server) handleInstanceList(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListInstances(r.Context(), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	groups, err := s.allGroups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Instance, 0, len(list))
	for _, in := range list {
		out = append(out, instanceJSON(in, groups))
	}
	slices.SortFunc(out, func(a, b api.Instance) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, out)
}

// instanceJSON renders an instance with its standing in each group it is in, among groups.
func instanceJSON(in store.Instance, groups []store.Group) api.Instance {
	ai := api.Instance{Name: in.Name, Tags: in.Tags, RegisterTime: in.RegisterTime.UTC(), LastSeen: timePtr(in.LastSeen), Deregistered: in.Deregistered}
	deployed := map[[2]string]bool{}
	for _, gh := range in.Groups {
		ai.Groups = append(ai.Groups, api.InstanceGroup{Application: gh.Application, Group: gh.Group, Health: gh.Health.String(), Revision: gh.Revision})
		deployed[[2]string{gh.Application, gh.Group}] = true
	}
	// A host that matches a group no deployment has reached yet is in it all the same.
	for _, g := range groups {
		if !deployed[[2]string{g.Application, g.Name}] && selects(g, in.Tags) {
			ai.Groups = append(ai.Groups, api.InstanceGroup{Application: g.Application, Group: g.Name, Health: api.HealthUnknown})
		}
	}
	return ai
}

// allGroups lists the deployment groups of every application, by application and name.
func (s *Server) allGroups(ctx context.Context) ([]store.Group, error) {
	apps, err := s.store.ListApplications(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Group
	for _, a := range apps {
		gs, err := s.store.ListGroups(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}

// selects reports whether group g deploys to an instance with tags: its tag groups match, or,
// for a blue/green group, those of its replacement fleet.
func selects(g store.Group, tags map[string]string) bool {
	return g.Tags.Match(tags) || g.Type == deploy.BlueGreen && g.ReplacementFleet().Match(tags)
}

func (s *Server) handleInstanceDeregister(w http.ResponseWriter, r *http.Request) {
	in, err := s.registeredInstance(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.DeregisterInstance(r.Context(), in.ID); err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	s.orch.InstanceGone(r.Context(), in.ID)
	w.WriteHeader(http.StatusNoContent)
}

// handleInstanceTags replaces an instance's tags: the administrator's way to move a host between
// deployment groups. Deployments created from now on select it by the new tags, and the groups
// it now joins catch it up to their current revision, as for a host that just registered;
// deployments already running keep the hosts they started with.
func (s *Server) handleInstanceTags(w http.ResponseWriter, r *http.Request) {
	var body api.InstanceTags
	if err := s.decode(w, r, maxJSONBody, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Tags == nil {
		s.writeError(w, r, invalid("tags", "give the instance's tags as an object of K: V, {} for none; they replace all its tags"))
		return
	}
	if err := checkTags(body.Tags); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.registeredInstance(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.SetInstanceTags(r.Context(), in.ID, body.Tags); err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	s.log.Info("instance tags set", "instance", in.ID, "name", in.Name, "tags", formatTags(body.Tags), "were", formatTags(in.Tags))
	s.joined(r.Context(), in.ID, body.Tags)
	in, err = s.store.GetInstance(r.Context(), in.ID)
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	groups, err := s.allGroups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, instanceJSON(in, groups))
}

// registeredInstance finds the registered instance called name.
func (s *Server) registeredInstance(ctx context.Context, name string) (store.Instance, error) {
	list, err := s.store.ListInstances(ctx, false)
	if err != nil {
		return store.Instance{}, err
	}
	for _, in := range list {
		if in.Name == name {
			return in, nil
		}
	}
	return store.Instance{}, as(errNotFound, "no registered instance named %s: slipway instance list shows them", name)
}
