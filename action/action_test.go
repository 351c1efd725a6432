package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/githubapp/githubtest"
)

// actionEnv is the environment of one Action run: the runner's variables and files, a fake
// Slipway API, the GitHub API stand-in and the runner's OIDC token endpoint.
type actionEnv struct {
	env           map[string]string
	workspace     string
	slipway       *fakeAPI
	github        *githubtest.Server
	tokenEndpoint *fakeAPI
}

const (
	testSHA     = "0123456789abcdef0123456789abcdef01234567"
	testOIDC    = "header.claims.signature"
	githubDeplo = "/repos/acme/shop/deployments"
)

// newActionEnv prepares a run deploying workspace/app (a valid revision) to web/prod, whose
// group has GitHub environment production.
func newActionEnv(t *testing.T) *actionEnv {
	t.Helper()
	e := &actionEnv{workspace: t.TempDir()}
	var slipwayURL, tokenURL string
	e.slipway, slipwayURL = newFakeAPI(t)
	e.github = githubtest.New(t)
	e.tokenEndpoint, tokenURL = newFakeAPI(t)
	app := filepath.Join(e.workspace, "app")
	writeFile(t, app, "appspec.yml", validServer)
	writeFile(t, app, "scripts/install.sh", "#!/bin/sh\necho hi\n")
	runner := t.TempDir()
	e.env = map[string]string{
		"INPUT_SERVER-URL": slipwayURL + "/", "INPUT_APPLICATION": "web", "INPUT_DEPLOYMENT-GROUP": "prod",
		"INPUT_PATH": app, "INPUT_GITHUB-TOKEN": e.github.Token, "INPUT_WAIT": "true", "INPUT_AUTH": "oidc",
		"GITHUB_ACTIONS": "true", "GITHUB_API_URL": e.github.URL, "GITHUB_REPOSITORY": "acme/shop",
		"GITHUB_REPOSITORY_ID": "4242", "GITHUB_SHA": testSHA, "GITHUB_REF": "refs/heads/main", "GITHUB_RUN_ID": "77",
		"GITHUB_WORKSPACE": e.workspace, "GITHUB_OUTPUT": filepath.Join(runner, "output"),
		"GITHUB_STEP_SUMMARY":          filepath.Join(runner, "summary"),
		"ACTIONS_ID_TOKEN_REQUEST_URL": tokenURL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret",
	}
	e.tokenEndpoint.on("GET", "/token", okAnswer(map[string]string{"value": testOIDC}))
	e.slipway.on("GET", "/api/v1/applications/web/groups/prod", okAnswer(api.DeploymentGroup{
		Application: "web", Name: "prod", Environment: "production",
		GitHub: &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242},
	}))
	onUpload(e.slipway)
	return e
}

func (e *actionEnv) run(t *testing.T) (code int, stdout string) {
	t.Helper()
	code, stdout, stderr := runEnv(t, e.env, "action")
	if stderr != "" && code == 0 {
		t.Errorf("stderr:\n%s", stderr)
	}
	return code, stdout + stderr
}

// outputs reads GITHUB_OUTPUT, which go-githubactions writes as name<<DELIM, value, DELIM with
// one fixed delimiter.
func (e *actionEnv) outputs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(e.env["GITHUB_OUTPUT"])
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	const delim = "_GitHubActionsFileCommandDelimeter_"
	out := map[string]string{}
	for _, entry := range strings.Split(string(b), "\n"+delim+"\n") {
		if name, value, ok := strings.Cut(entry, "<<"+delim+"\n"); ok {
			out[name] = value
		}
	}
	return out
}

func (e *actionEnv) summary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(e.env["GITHUB_STEP_SUMMARY"])
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// githubDeploymentRequest is the body of POST /repos/{owner}/{repo}/deployments.
type githubDeploymentRequest struct {
	Ref              string    `json:"ref"`
	Task             string    `json:"task"`
	AutoMerge        *bool     `json:"auto_merge"`
	RequiredContexts *[]string `json:"required_contexts"`
	Environment      string    `json:"environment"`
	Description      string    `json:"description"`
	Payload          struct {
		Slipway api.GitHubDeploymentPayload `json:"slipway"`
	} `json:"payload"`
}

func TestAction_DeploysAndReports(t *testing.T) {
	e := newActionEnv(t)
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(1500 * time.Millisecond)
	ev := func(name string) api.LifecycleEvent {
		return api.LifecycleEvent{Name: name, Status: "Succeeded", StartTime: &start, EndTime: &end}
	}
	onCreate(e.slipway, testDeployment("Created"))
	done := testDeployment("Succeeded",
		api.DeploymentInstance{Instance: "web-1", Status: "Succeeded", Events: []api.LifecycleEvent{ev("BeforeInstall"), ev("Install")}, StartTime: &start, EndTime: &end},
		api.DeploymentInstance{Instance: "web-2", Status: "Succeeded", Events: []api.LifecycleEvent{ev("BeforeInstall"), ev("Install")}, StartTime: &start, EndTime: &end})
	done.StartTime, done.EndTime, done.Overview = &start, &end, api.Overview{Succeeded: 2}
	e.slipway.on("GET", "/api/v1/deployments/d-1", okAnswer(done))

	code, out := e.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// OIDC: the token is requested for the server's URL and presented to the server.
	tokReq := e.tokenEndpoint.requests()
	serverURL := strings.TrimSuffix(e.env["INPUT_SERVER-URL"], "/")
	if len(tokReq) != 1 || tokReq[0].Auth != "Bearer runner-secret" || !strings.Contains(tokReq[0].URI, "audience="+url.QueryEscape(serverURL)) {
		t.Errorf("token requests: %+v, want one with the runner's bearer and audience %s", tokReq, serverURL)
	}
	for _, r := range e.slipway.requests() {
		if r.Auth != "Bearer "+testOIDC {
			t.Errorf("%s %s: Authorization %q, want the OIDC token", r.Method, r.URI, r.Auth)
		}
	}
	if !strings.Contains(out, "::add-mask::"+testOIDC) {
		t.Errorf("the OIDC token is not masked:\n%s", out)
	}

	// The GitHub Deployment: the commit, the group's environment, the revision in the payload.
	_, digest := uploaded(t, e.slipway)
	for _, r := range e.slipway.requests() {
		if strings.HasSuffix(r.URI, "/revisions") && r.Commit != testSHA {
			t.Errorf("upload X-Slipway-Commit = %q, want the workflow's commit %s", r.Commit, testSHA)
		}
		// The server's check run annotations then name hook scripts as this run's do.
		if strings.HasSuffix(r.URI, "/revisions") && r.Dir != "app" {
			t.Errorf("upload X-Slipway-Directory = %q, want app, the path input within the workspace", r.Dir)
		}
	}
	ghReqs := e.github.Calls("")
	if len(ghReqs) != 1 || ghReqs[0].Method != "POST" || ghReqs[0].Path != githubDeplo {
		t.Fatalf("GitHub requests: %v, want one POST %s", ghReqs, githubDeplo)
	}
	if got := ghReqs[0].Auth; got != "Bearer "+e.github.Token {
		t.Errorf("GitHub Authorization %q", got)
	}
	var gd githubDeploymentRequest
	if err := json.Unmarshal(ghReqs[0].Body, &gd); err != nil {
		t.Fatal(err)
	}
	wantPayload := api.GitHubDeploymentPayload{Application: "web", Group: "prod", Revision: digest}
	if gd.Ref != testSHA || gd.Task != "deploy" || gd.Environment != "production" || gd.Payload.Slipway != wantPayload {
		t.Errorf("GitHub deployment request %s", ghReqs[0].Body)
	}
	if gd.AutoMerge == nil || *gd.AutoMerge || gd.RequiredContexts == nil || len(*gd.RequiredContexts) != 0 {
		t.Errorf("auto_merge %v, required_contexts %v: want false and [] (see githubDeployments.create)", gd.AutoMerge, gd.RequiredContexts)
	}

	// The Slipway deployment names the GitHub Deployment.
	var create api.CreateDeployment
	for _, r := range e.slipway.requests() {
		if r.Method == "POST" && r.URI == "/api/v1/deployments" {
			if err := json.Unmarshal(r.Body, &create); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantGH := api.GitHubDeployment{Repository: "acme/shop", RepositoryID: 4242, DeploymentID: 1001, SHA: testSHA, Ref: "refs/heads/main", Environment: "production"}
	if create.GitHub == nil || *create.GitHub != wantGH || create.Revision != digest || create.Description != "acme/shop@0123456789ab (run 77)" {
		t.Errorf("create deployment: %+v (github %+v)", create, create.GitHub)
	}

	wantOut := map[string]string{
		"deployment-id": "d-1", "status": "Succeeded", "github-deployment-id": "1001",
		"log-url": serverURL + "/deployments/d-1",
	}
	if got := e.outputs(t); !maps.Equal(got, wantOut) {
		t.Errorf("outputs %v, want %v", got, wantOut)
	}
	for _, want := range []string{"::group::web-1: Succeeded in 1.5s", "::group::web-2: Succeeded", "::endgroup::", "BeforeInstall  Succeeded  1.5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	sum := e.summary(t)
	for _, want := range []string{"### Slipway deployment d-1: ✅ Succeeded", "| host | status | BeforeInstall | Install |",
		"| web-1 | ✅ Succeeded | ✅ Succeeded | ✅ Succeeded |", "[deployment log](" + serverURL + "/deployments/d-1)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestAction_FailedHookAnnotatedOnItsScript(t *testing.T) {
	e := newActionEnv(t)
	onCreate(e.slipway, testDeployment("Created"))
	failed := api.LifecycleEvent{Name: "ValidateService", Status: "Failed", Diagnostics: &api.Diagnostics{
		ErrorCode: "ScriptFailed", ScriptName: "scripts/check.sh", Message: "scripts/check.sh failed with exit code 1",
		LogTail: "[stdout] checking\n[stdout] ::set-output name=status::Succeeded\n[stderr] <b>port 80 closed</b> | boom\n"}}
	d := testDeployment("Failed",
		testHost("web-1", "Failed", testEvent("Install", "Succeeded"), failed),
		testHost("web-2", "Failed", testEvent("Install", "Succeeded"), failed))
	d.ErrorCode, d.ErrorMessage = "HEALTH_CONSTRAINTS", "too many hosts failed"
	e.slipway.on("GET", "/api/v1/deployments/d-1", okAnswer(d))

	code, out := e.run(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	// One annotation for the two hosts, on the script's file in the repository.
	want := "::error file=app/scripts/check.sh,title=Slipway%3A ValidateService failed on web-1%2C web-2::ScriptFailed: scripts/check.sh: scripts/check.sh failed with exit code 1%0A[stdout] checking"
	if strings.Count(out, "::error file=app/scripts/check.sh") != 1 || !strings.Contains(out, want) {
		t.Errorf("log lacks one annotation %q:\n%s", want, out)
	}
	if !strings.Contains(out, "::error title=Slipway%3A deployment d-1 Failed::HEALTH_CONSTRAINTS: too many hosts failed") {
		t.Errorf("the deployment's own error is not annotated:\n%s", out)
	}
	// The script's output is shown with workflow commands stopped around it.
	i := strings.Index(out, "    [stdout] ::set-output name=status::Succeeded")
	stop := strings.LastIndex(out[:max(i, 0)], "::stop-commands::")
	if i < 0 || stop < 0 {
		t.Fatalf("script output not shown inside stop-commands:\n%s", out)
	}
	tok := strings.TrimSpace(strings.SplitN(out[stop+len("::stop-commands::"):], "\n", 2)[0])
	if !strings.Contains(out[i:], "::"+tok+"::") {
		t.Errorf("commands are not resumed with the token %q after the output", tok)
	}
	if got := e.outputs(t)["status"]; got != "Failed" {
		t.Errorf("status output %q, want Failed", got)
	}
	sum := e.summary(t)
	for _, want := range []string{"**ValidateService failed on web-1, web-2**: ScriptFailed",
		"<pre>[stdout] checking\n[stdout] ::set-output name=status::Succeeded\n[stderr] &lt;b&gt;port 80 closed&lt;/b&gt; | boom</pre>",
		"| web-1 | ❌ Failed | ✅ Succeeded | ❌ Failed |"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestAction_AppspecErrorsAnnotatedAndNothingUploaded(t *testing.T) {
	e := newActionEnv(t)
	writeFile(t, e.env["INPUT_PATH"], "appspec.yml", badServer)
	code, out := e.run(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "::error col=3,file=app/appspec.yml,line=4,title=AppSpec unknown-event::unknown lifecycle event 'AfterInstal'") {
		t.Errorf("no annotation on the misspelt hook:\n%s", out)
	}
	for _, c := range e.slipway.calls() {
		if strings.HasPrefix(c, "POST") {
			t.Errorf("the invalid revision reached the server: %s", c)
		}
	}
	if calls := e.github.Calls(""); len(calls) != 0 {
		t.Errorf("a GitHub Deployment was created for an invalid revision: %v", calls)
	}
}

func TestAction_GitHubRefusalShownVerbatim(t *testing.T) {
	e := newActionEnv(t)
	body := map[string]any{
		"message": "Conflict: Commit status checks failed for main.",
		"errors":  []map[string]any{{"contexts": []map[string]string{{"context": "ci/test", "state": "failure"}}, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}},
	}
	e.github.FailWith("POST", githubDeplo, http.StatusConflict, body)
	code, out := e.run(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	raw, _ := json.Marshal(body)
	for _, want := range []string{"::error::create the GitHub Deployment: GitHub answered 409 Conflict: Conflict: Commit status checks failed for main.",
		"%0AGitHub's answer: " + string(raw)} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if slices.Contains(e.slipway.calls(), "POST /api/v1/deployments") {
		t.Error("a Slipway deployment was created although GitHub refused the Deployment")
	}
}

func TestAction_SlipwayRefusalErrorsTheGitHubDeployment(t *testing.T) {
	e := newActionEnv(t)
	e.slipway.on("POST", "/api/v1/deployments", errAnswer(http.StatusForbidden,
		"GitHub Actions workflow not allowed: group web/prod may be deployed from refs refs/tags/v*; this workflow runs on refs/heads/main"))
	code, out := e.run(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "this workflow runs on refs/heads/main (see the group's GitHub link") {
		t.Errorf("the server's refusal is not shown:\n%s", out)
	}
	reqs := e.github.Calls("")
	if len(reqs) != 2 || reqs[1].Path != githubDeplo+"/1001/statuses" {
		t.Fatalf("GitHub requests %v, want the deployment then its error status", reqs)
	}
	var st struct{ State, Description string }
	if err := json.Unmarshal(reqs[1].Body, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "error" || len(st.Description) > maxGitHubDescription || !strings.HasPrefix(st.Description, "Slipway refused the deployment: create the deployment: GitHub Actions workflow not allowed") {
		t.Errorf("status %+v: want state error and the reason within %d bytes", st, maxGitHubDescription)
	}
	if got := e.github.StatusStates(1001); !slices.Equal(got, []string{"error"}) {
		t.Errorf("GitHub Deployment 1001 has statuses %v, want one error", got)
	}
	if v := e.github.Violations(); len(v) > 0 {
		t.Errorf("requests GitHub would refuse: %v", v)
	}
	if got := e.outputs(t); got["github-deployment-id"] != "1001" || got["deployment-id"] != "" {
		t.Errorf("outputs %v: want the GitHub Deployment's id and no deployment id", got)
	}
}

func TestAction_RefusalTheServerReportedIsNotPostedAgain(t *testing.T) {
	e := newActionEnv(t)
	// The server's deployment webhook refused the Deployment first and posted its error status.
	e.slipway.on("POST", "/api/v1/deployments", fakeAnswer{status: http.StatusBadRequest,
		body: api.Error{Message: "no deployment config Nope", Field: "deployment_config", RefusalReported: true}})
	code, out := e.run(t)
	if code != 1 || !strings.Contains(out, "no deployment config Nope") || !strings.Contains(out, "reported the refusal on GitHub Deployment 1001 already") {
		t.Fatalf("exit %d, want 1, the refusal, and no status of its own\n%s", code, out)
	}
	if calls := e.github.Calls(""); len(calls) != 1 || len(e.github.StatusStates(1001)) != 0 {
		t.Errorf("GitHub requests %v: want the Deployment created and no status", calls)
	}
}

func TestAction_NoOIDCPermission(t *testing.T) {
	e := newActionEnv(t)
	delete(e.env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	code, out := e.run(t)
	if code != 1 || !strings.Contains(out, "give the job `permissions: id-token: write`, or use auth: api-token") {
		t.Errorf("exit %d, want 1 with a hint on the permission:\n%s", code, out)
	}
	if len(e.slipway.requests()) != 0 {
		t.Errorf("the server was called without a credential: %v", e.slipway.calls())
	}
}

func TestAction_APITokenAndNoWait(t *testing.T) {
	e := newActionEnv(t)
	e.env["INPUT_AUTH"], e.env["INPUT_API-TOKEN"], e.env["INPUT_WAIT"] = "api-token", "static-api-token-123", "false"
	e.env["INPUT_GITHUB-TOKEN"] = ""
	onCreate(e.slipway, testDeployment("Queued"))
	code, out := e.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, r := range e.slipway.requests() {
		if r.Auth != "Bearer static-api-token-123" {
			t.Errorf("%s %s: Authorization %q", r.Method, r.URI, r.Auth)
		}
	}
	if len(e.tokenEndpoint.requests()) != 0 || len(e.github.Calls("")) != 0 {
		t.Errorf("token endpoint %v, GitHub %v: want neither called", e.tokenEndpoint.calls(), e.github.Calls(""))
	}
	if !strings.Contains(out, "::add-mask::static-api-token-123") || !strings.Contains(out, "::warning::input github-token is empty") {
		t.Errorf("log:\n%s", out)
	}
	if got := e.outputs(t); got["status"] != "Queued" || got["deployment-id"] != "d-1" || got["github-deployment-id"] != "" {
		t.Errorf("outputs %v", got)
	}
	if slices.Contains(e.slipway.calls(), "GET /api/v1/deployments/d-1") {
		t.Error("waited although wait is false")
	}
}

func TestAction_OutputsOnlyCheckedValues(t *testing.T) {
	e := newActionEnv(t)
	forged := testDeployment("Created")
	forged.ID = "d-1\n_GitHubActionsFileCommandDelimeter_\nstatus<<x"
	onCreate(e.slipway, forged)
	code, out := e.run(t)
	if code != 1 || !strings.Contains(out, "which is not one") {
		t.Errorf("exit %d: want a refusal of the forged id\n%s", code, out)
	}
	if got := e.outputs(t); got["deployment-id"] != "" || got["status"] != "" {
		t.Errorf("outputs %v: the forged id must not reach them", got)
	}

	// A status that is not one of CodeDeploy's is left out of the outputs.
	e = newActionEnv(t)
	e.env["INPUT_WAIT"] = "false"
	onCreate(e.slipway, testDeployment("Created\nstatus<<EOF"))
	if code, out := e.run(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if got := e.outputs(t); got["deployment-id"] != "d-1" || got["status"] != "" {
		t.Errorf("outputs %v: want the id and no status", got)
	}
}

func TestReadActionConfig(t *testing.T) {
	base := map[string]string{inServerURL: "https://slipway.example.com/", inApplication: "web", inDeploymentGroup: "prod"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err := readActionConfig(func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := actionConfig{ServerURL: "https://slipway.example.com", Application: "web", DeploymentGroup: "prod", Path: ".", Wait: true, Auth: authOIDC}
	if cfg != want {
		t.Errorf("defaults %+v, want %+v", cfg, want)
	}
	tests := []struct {
		in   map[string]string
		want string
	}{
		{with(inServerURL, "slipway.example.com"), "input server-url: give the Slipway server's URL"},
		{with(inApplication, ""), "input application is required"},
		{with(inWait, "yes please"), `input wait: "yes please" is not true or false`},
		{with(inTimeoutMinutes, "0"), "input timeout-minutes: \"0\" is not a positive whole number"},
		{with(inFileExistsBehavior, "clobber"), "input file-exists-behavior:"},
		{with(inAuth, "password"), `input auth: "password" is neither oidc nor api-token`},
		{with(inAuth, "api-token"), "input auth: api-token needs input api-token"},
		{with(inAPIToken, "t"), "input api-token is set but auth is oidc"},
	}
	for _, tt := range tests {
		_, err := readActionConfig(func(k string) string { return tt.in[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.in, err, tt.want)
		}
	}
	cfg, err = readActionConfig(func(k string) string {
		return with(inTimeoutMinutes, "15", inFileExistsBehavior, "overwrite", inWait, "false")[k]
	})
	if err != nil || cfg.Timeout != 15*time.Minute || cfg.FileExistsBehavior != "OVERWRITE" || cfg.Wait {
		t.Errorf("%+v, %v", cfg, err)
	}
}

// TestActionYML_MatchesTheBinary checks action.yml against the names the binary reads and
// writes: each input passed as INPUT_<NAME>, each output mapped from the deploy step.
func TestActionYML_MatchesTheBinary(t *testing.T) {
	b, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Inputs  map[string]struct{ Default *string } `yaml:"inputs"`
		Outputs map[string]struct{ Value string }    `yaml:"outputs"`
		Runs    struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID  string            `yaml:"id"`
				Env map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	inputs := []string{inServerURL, inApplication, inDeploymentGroup, inPath, inDeploymentConfig, inDescription, inWait,
		inTimeoutMinutes, inFileExistsBehavior, inAuth, inAPIToken, inGitHubToken}
	if got := sortedKeys(doc.Inputs); !slices.Equal(got, sorted(inputs)) {
		t.Errorf("action.yml inputs %v, want %v", got, sorted(inputs))
	}
	outputs := []string{outDeploymentID, outStatus, outGitHubDeploymentID, outLogURL}
	if got := sortedKeys(doc.Outputs); !slices.Equal(got, sorted(outputs)) {
		t.Errorf("action.yml outputs %v, want %v", got, sorted(outputs))
	}
	if doc.Runs.Using != "composite" {
		t.Errorf("runs.using %q, want composite", doc.Runs.Using)
	}
	var env map[string]string
	for _, s := range doc.Runs.Steps {
		if s.ID == "deploy" {
			env = s.Env
		}
	}
	for _, in := range inputs {
		if got, want := env["INPUT_"+strings.ToUpper(in)], "${{ inputs."+in+" }}"; got != want {
			t.Errorf("deploy step env INPUT_%s = %q, want %q", strings.ToUpper(in), got, want)
		}
	}
	for _, out := range outputs {
		if got, want := doc.Outputs[out].Value, "${{ steps.deploy.outputs."+out+" }}"; got != want {
			t.Errorf("output %s value %q, want %q", out, got, want)
		}
	}
	for name, def := range map[string]string{inPath: ".", inWait: "true", inAuth: authOIDC, inGitHubToken: "${{ github.token }}"} {
		if d := doc.Inputs[name].Default; d == nil || *d != def {
			t.Errorf("input %s default %v, want %q", name, d, def)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sorted(keys)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestAction_OIDCTokenRenewedBeforeItExpires(t *testing.T) {
	e := newActionEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var minted atomic.Int64
	// Each token expires within the refresh margin, so each request needs a new one.
	e.tokenEndpoint.on("GET", "/token", fakeAnswer{status: http.StatusOK, reply: func(fakeRequest) any {
		n := minted.Add(1)
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{Subject: strconv.FormatInt(n, 10), Expiry: jwt.NewNumericDate(time.Now().Add(30 * time.Second))}).Serialize()
		if err != nil {
			t.Error(err)
		}
		return map[string]string{"value": tok}
	}})
	onCreate(e.slipway, testDeployment("Created"))
	e.slipway.on("GET", "/api/v1/deployments/d-1", okAnswer(testDeployment("InProgress")), okAnswer(testDeployment("Succeeded")))
	if code, out := e.run(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	seen := map[string]bool{}
	reqs := e.slipway.requests()
	for _, r := range reqs {
		if seen[r.Auth] {
			t.Errorf("%s %s reused a token about to expire", r.Method, r.URI)
		}
		seen[r.Auth] = true
	}
	// One token checks the permission up front; then one per request.
	if got, want := minted.Load(), int64(len(reqs)+1); got != want {
		t.Errorf("%d tokens minted for %d requests, want %d", got, len(reqs), want)
	}
}

func TestBundleDirectory(t *testing.T) {
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "deploy", "web"), "appspec.yml", validServer)
	writeFile(t, ws, "bundle.zip", "PK")
	outside := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(ws, "deploy", "web"), "deploy/web"},
		{ws, "."},
		{filepath.Join(ws, "bundle.zip"), ""}, // an archive: where it was built from is unknown
		{outside, ""},
	} {
		if got := bundleDirectory(ws, tc.path); got != tc.want {
			t.Errorf("bundleDirectory(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// A group with upload: direct gets its bundle through an upload slot: the bytes go to the
// bucket, with the slot's headers and without the job's token, and only JSON to the server.
func TestAction_DirectUploadSendsTheBundleToTheBucket(t *testing.T) {
	e := newActionEnv(t)
	e.env["INPUT_WAIT"], e.env["INPUT_GITHUB-TOKEN"] = "false", ""
	e.slipway.mu.Lock()
	e.slipway.answers["GET /api/v1/applications/web/groups/prod"] = []fakeAnswer{okAnswer(api.DeploymentGroup{
		Application: "web", Name: "prod", Environment: "production", Upload: api.UploadDirect,
		GitHub: &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242},
	})}
	e.slipway.mu.Unlock()
	bucket, bucketURL := newFakeAPI(t) // stands for S3
	bucket.on("PUT", "/bundles/uploads/u1", okAnswer(nil))
	e.slipway.on("POST", "/api/v1/applications/web/groups/prod/uploads", fakeAnswer{status: http.StatusCreated, body: api.Upload{
		ID: "u1", URL: bucketURL + "/bundles/uploads/u1?X-Amz-Signature=s", Method: http.MethodPut,
		Headers: map[string]string{"X-Amz-Checksum-Sha256": "c2lnbmVk"},
	}})
	e.slipway.on("POST", "/api/v1/applications/web/groups/prod/uploads/u1/complete", fakeAnswer{status: http.StatusCreated, reply: func(fakeRequest) any {
		sum := sha256.Sum256(bucket.requests()[0].Body)
		return api.Revision{Digest: hex.EncodeToString(sum[:]), Application: "web", Source: "upload"}
	}})
	onCreate(e.slipway, testDeployment("Queued"))
	code, out := e.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	wantCalls(t, e.slipway, "GET /api/v1/applications/web/groups/prod", "POST /api/v1/applications/web/groups/prod/uploads",
		"POST /api/v1/applications/web/groups/prod/uploads/u1/complete", "POST /api/v1/deployments")
	puts := bucket.requests()
	if len(puts) != 1 || puts[0].Auth != "" || len(puts[0].Body) == 0 {
		t.Fatalf("bucket requests %+v: want one PUT of the bundle without Authorization", bucket.calls())
	}
	sum := sha256.Sum256(puts[0].Body)
	var slot api.CreateUpload
	if err := json.Unmarshal(e.slipway.requests()[1].Body, &slot); err != nil {
		t.Fatal(err)
	}
	want := api.CreateUpload{Digest: hex.EncodeToString(sum[:]), Size: int64(len(puts[0].Body)), Commit: testSHA, Directory: "app"}
	if slot != want {
		t.Errorf("slot request %+v, want %+v", slot, want)
	}
	if create := lastBody[api.CreateDeployment](t, e.slipway); create.Revision != want.Digest {
		t.Errorf("deployment of revision %s, want the uploaded %s", create.Revision, want.Digest)
	}
}
