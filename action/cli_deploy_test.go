package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

// onUpload makes the fake store uploads of app web, answering with the digest it was sent.
func onUpload(f *fakeAPI) {
	f.on("POST", "/api/v1/applications/web/revisions", fakeAnswer{status: http.StatusCreated, reply: func(r fakeRequest) any {
		return api.Revision{Digest: strings.TrimPrefix(r.Digest, "sha256="), Application: "web",
			Size: int64(len(r.Body)), Format: bundle.Detect(r.Body).String(), Source: "upload"}
	}})
}

func onCreate(f *fakeAPI, d api.Deployment) {
	f.on("POST", "/api/v1/deployments", fakeAnswer{status: http.StatusCreated, body: d})
}

// onDeploy makes the fake deploy to group web/prod, which exists, answering d.
func onDeploy(f *fakeAPI, d api.Deployment) {
	onGroup(f)
	onCreate(f, d)
}

// onGroup makes deployment group web/prod exist: deploy and rollback look it up first.
func onGroup(f *fakeAPI) {
	f.on("GET", pathGroupProd, okAnswer(api.DeploymentGroup{Application: "web", Name: "prod"}))
}

const pathGroupProd = "/api/v1/applications/web/groups/prod"

// sampleApp writes a valid bundle directory with a .git directory that must stay out of it.
func sampleApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "appspec.yml", validServer)
	writeFile(t, dir, "scripts/install.sh", "#!/bin/sh\necho hi\n")
	writeFile(t, dir, ".git/config", "[core]\n")
	writeFile(t, dir, "web/.git", "gitdir: ../.git/modules/web\n")
	writeFile(t, dir, "web/index.html", "<h1>hi</h1>\n")
	return dir
}

// uploaded returns the body of the upload request and checks its digest header.
func uploaded(t *testing.T, f *fakeAPI) (body []byte, digest string) {
	t.Helper()
	for _, r := range f.requests() {
		if r.Method == "POST" && strings.HasSuffix(r.URI, "/revisions") {
			sum := sha256.Sum256(r.Body)
			digest = hex.EncodeToString(sum[:])
			if got, want := r.Digest, "sha256="+digest; got != want {
				t.Errorf("X-Slipway-Digest = %q, want %q (the sha256 of the body)", got, want)
			}
			return r.Body, digest
		}
	}
	t.Fatal("no upload")
	return nil, ""
}

func bundleFiles(t *testing.T, data []byte) []string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "x")
	if _, err := bundle.ExtractReader(context.Background(), bytes.NewReader(data), dest, bundle.Limits{}); err != nil {
		t.Fatalf("extract the uploaded bundle: %v", err)
	}
	var files []string
	err := filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

const testCommit = "89abcdef0123456789abcdef0123456789abcdef"

func TestDeploy_Directory(t *testing.T) {
	dir := sampleApp(t)
	f, url := newFakeAPI(t)
	onUpload(f)
	onDeploy(f, api.Deployment{ID: "d-1", Status: "Created"})
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", dir,
		"--config", "CodeDeployDefault.AllAtOnce", "--description", "release 7",
		"--file-exists-behavior", "OVERWRITE", "--update-outdated-only", "--commit", testCommit)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if got := f.requests()[1].Commit; got != testCommit {
		t.Errorf("X-Slipway-Commit = %q, want %q", got, testCommit)
	}
	if want := "d-1\n"; stdout != want {
		t.Errorf("stdout = %q, want just the id %q", stdout, want)
	}
	wantCalls(t, f, "GET "+pathGroupProd, "POST /api/v1/applications/web/revisions", "POST /api/v1/deployments")
	body, digest := uploaded(t, f)
	if got := bundle.Detect(body); got != bundle.FormatTgz {
		t.Errorf("uploaded a %v, want tgz", got)
	}
	if got, want := bundleFiles(t, body), []string{"appspec.yml", "scripts/install.sh", "web/index.html"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bundle holds %q, want %q (no .git)", got, want)
	}
	want := api.CreateDeployment{
		Application: "web", Group: "prod", Revision: digest, DeploymentConfig: "CodeDeployDefault.AllAtOnce",
		Description: "release 7", FileExistsBehavior: "OVERWRITE", UpdateOutdatedInstancesOnly: true,
	}
	if got := lastBody[api.CreateDeployment](t, f); !reflect.DeepEqual(got, want) {
		t.Errorf("create deployment:\n  got  %+v\n  want %+v", got, want)
	}
	if want := "uploaded revision " + digest + " (tgz, "; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}

	// The same tree gives the same revision.
	f2, url2 := newFakeAPI(t)
	onUpload(f2)
	onDeploy(f2, api.Deployment{ID: "d-2"})
	if code, _, stderr := runAt(t, url2, "deploy", "--app", "web", "--group", "prod", "--bundle", dir); code != 0 {
		t.Fatalf("second deploy: exit %d; stderr:\n%s", code, stderr)
	}
	if _, digest2 := uploaded(t, f2); digest2 != digest {
		t.Errorf("second bundle of the same tree has digest %s, want %s", digest2, digest)
	}
}

// --revision redeploys what the server holds: nothing is bundled or uploaded.
func TestDeploy_RevisionRedeploysWithoutUpload(t *testing.T) {
	f, url := newFakeAPI(t)
	onDeploy(f, api.Deployment{ID: "d-7", Status: "Created"})
	digest := strings.Repeat("ab", 32)
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--revision", "sha256:"+digest)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "GET "+pathGroupProd, "POST /api/v1/deployments")
	if got := lastBody[api.CreateDeployment](t, f); got.Revision != digest {
		t.Errorf("deployment of revision %q, want %q", got.Revision, digest)
	}
	if stdout != "d-7\n" {
		t.Errorf("stdout = %q, want the id", stdout)
	}
}

func TestDeploy_InvalidAppspecUploadsNothing(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "appspec.yml", badServer)
	f, url := newFakeAPI(t)
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	for _, want := range []string{p + ":1: error: version must be 0.0", p + ":4: error: unknown lifecycle event 'AfterInstal'"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q, want it to contain %q", stderr, want)
		}
	}
	wantCalls(t, f)
}

func TestDeploy_MissingAppspec(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "AppSpec.yml", validServer)
	f, url := newFakeAPI(t)
	code, _, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "rename it to appspec.yml"; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	wantCalls(t, f)
}

func TestDeploy_WarningsPrintedThenDeployed(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "appspec.yml", warnServer)
	writeFile(t, dir, "a.bat", "echo\n")
	f, url := newFakeAPI(t)
	onUpload(f)
	onDeploy(f, api.Deployment{ID: "d-1"})
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if want := p + ":6: warning: "; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}
	if stdout != "d-1\n" {
		t.Errorf("stdout = %q, want %q", stdout, "d-1\n")
	}
}

func TestDeploy_Archive(t *testing.T) {
	src := sampleApp(t)
	for _, format := range []bundle.Format{bundle.FormatZip, bundle.FormatTar, bundle.FormatTgz} {
		t.Run(format.String(), func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "rev.bin")
			out, err := os.Create(archive)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bundle.Build(context.Background(), out, src, format, bundle.BuildOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(archive)
			if err != nil {
				t.Fatal(err)
			}
			f, url := newFakeAPI(t)
			onUpload(f)
			onDeploy(f, api.Deployment{ID: "d-1"})
			code, stdout, stderr := runAt(t, url, "deploy", "--bundle", archive, "--app", "web", "--group", "prod")
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			body, digest := uploaded(t, f)
			if !bytes.Equal(body, want) {
				t.Errorf("uploaded %d bytes, want the archive's %d bytes as they are", len(body), len(want))
			}
			if got := lastBody[api.CreateDeployment](t, f).Revision; got != digest {
				t.Errorf("deployment revision = %q, want %q", got, digest)
			}
			if stdout != "d-1\n" {
				t.Errorf("stdout = %q, want %q", stdout, "d-1\n")
			}
		})
	}
}

func TestDeploy_NotAnArchive(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", validServer)
	f, url := newFakeAPI(t)
	code, _, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", p)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "slipway: bundle " + p + ": not a directory, nor a zip, tar or tgz archive\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	wantCalls(t, f)
}

func TestDeploy_Usage(t *testing.T) {
	dir := sampleApp(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no app", []string{"--group", "g", "--bundle", dir}, "deploy: --app is required"},
		{"no bundle", []string{"--app", "web", "--group", "g"}, "deploy: give one of --bundle, --s3 or --revision"},
		{"bundle and s3", []string{"--app", "web", "--group", "g", "--bundle", dir, "--s3", "s3://b/k.tgz"}, "deploy: give one of --bundle, --s3 or --revision"},
		{"bundle and revision", []string{"--app", "web", "--group", "g", "--bundle", dir, "--revision", "abc"}, "deploy: give one of --bundle, --s3 or --revision"},
		{"commit without a bundle", []string{"--app", "web", "--group", "g", "--revision", "abc", "--commit", testCommit}, "--commit goes with --bundle"},
		{"s3 without a key", []string{"--app", "web", "--group", "g", "--s3", "s3://b"}, "give s3://BUCKET/KEY"},
		{"s3 as https", []string{"--app", "web", "--group", "g", "--s3", "https://b.s3.amazonaws.com/k.tgz"}, "give s3://BUCKET/KEY"},
		{"positional", []string{"--app", "web", "--group", "g", dir}, "deploy: want no arguments, got 1"},
		{"timeout without wait", []string{"--app", "web", "--group", "g", "--bundle", dir, "--timeout", "1m"}, "deploy: --timeout needs --wait"},
		{"bad duration", []string{"--app", "web", "--group", "g", "--bundle", dir, "--wait", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"file exists behavior", []string{"--app", "web", "--group", "g", "--bundle", dir, "--file-exists-behavior", "overwrite"},
			`invalid file exists behavior "overwrite" (want one of DISALLOW,OVERWRITE,RETAIN)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			code, _, stderr := runAt(t, url, append([]string{"deploy"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
			wantCalls(t, f)
		})
	}
}

func TestDeploy_JSON(t *testing.T) {
	d := api.Deployment{ID: "d-1", Application: "web", Group: "prod", Status: "Created", Creator: "user"}
	f, url := newFakeAPI(t)
	onUpload(f)
	onDeploy(f, d)
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", sampleApp(t), "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	var got api.Deployment
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Errorf("got %+v, want %+v", got, d)
	}
}

// Helpers to write deployments in tests.
func testDeployment(status string, instances ...api.DeploymentInstance) api.Deployment {
	return api.Deployment{ID: "d-1", Application: "web", Group: "prod", Status: status, Instances: instances}
}

func testHost(name, status string, events ...api.LifecycleEvent) api.DeploymentInstance {
	return api.DeploymentInstance{Instance: name, Status: status, Events: events}
}

func testEvent(name, status string) api.LifecycleEvent {
	return api.LifecycleEvent{Name: name, Status: status}
}

func TestDeploy_WaitSucceeded(t *testing.T) {
	f, url := newFakeAPI(t)
	onUpload(f)
	onDeploy(f, testDeployment("Created"))
	done := testDeployment("Succeeded",
		testHost("host-1", "Succeeded", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "Succeeded"), testEvent("BeforeInstall", "Succeeded")),
		testHost("web-02", "Succeeded", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "Succeeded"), testEvent("BeforeInstall", "Succeeded")))
	done.Overview = api.Overview{Succeeded: 2}
	f.on("GET", "/api/v1/deployments/d-1",
		okAnswer(testDeployment("Queued")),
		okAnswer(testDeployment("InProgress",
			testHost("host-1", "InProgress", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "InProgress"), testEvent("BeforeInstall", "Pending")),
			testHost("web-02", "Pending", testEvent("ApplicationStop", "Pending"), testEvent("DownloadBundle", "Pending"), testEvent("BeforeInstall", "Pending")))),
		okAnswer(testDeployment("InProgress", // nothing changed
			testHost("host-1", "InProgress", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "InProgress"), testEvent("BeforeInstall", "Pending")),
			testHost("web-02", "Pending", testEvent("ApplicationStop", "Pending"), testEvent("DownloadBundle", "Pending"), testEvent("BeforeInstall", "Pending")))),
		okAnswer(testDeployment("InProgress",
			testHost("host-1", "Succeeded", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "Succeeded"), testEvent("BeforeInstall", "Succeeded")),
			testHost("web-02", "InProgress", testEvent("ApplicationStop", "Succeeded"), testEvent("DownloadBundle", "Pending"), testEvent("BeforeInstall", "Pending")))),
		okAnswer(done),
	)
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", sampleApp(t), "--wait", "--timeout", "1h")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if stdout != "d-1\n" {
		t.Errorf("stdout = %q, want %q", stdout, "d-1\n")
	}
	_, progress, _ := strings.Cut(stderr, "\n") // after the upload line
	want := "" +
		"deployment d-1 Queued\n" +
		"deployment d-1 InProgress\n" +
		"host-1  ApplicationStop  Succeeded\n" +
		"host-1  DownloadBundle   InProgress\n" +
		"host-1  DownloadBundle   Succeeded\n" +
		"host-1  BeforeInstall    Succeeded\n" +
		"web-02  ApplicationStop  Succeeded\n" +
		"web-02  DownloadBundle   Succeeded\n" +
		"web-02  BeforeInstall    Succeeded\n" +
		"deployment d-1 Succeeded (2 succeeded)\n"
	if progress != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress, want)
	}
	calls := f.calls()
	if got, want := len(calls), 3+5; got != want {
		t.Errorf("%d requests, want %d (group, upload, create, five polls): %q", got, want, calls)
	}
}

// A blue/green deployment's wait prints where traffic stands each time it moves.
func TestDeploy_WaitShowsTraffic(t *testing.T) {
	f, url := newFakeAPI(t)
	onUpload(f)
	onDeploy(f, testDeployment("Created"))
	at := func(status, phase string, percent, step int, waiting string, reverted bool) fakeAnswer {
		d := testDeployment(status)
		d.DeploymentType = "BLUE_GREEN"
		d.Traffic = &api.DeploymentTraffic{Phase: phase, Shape: "Linear50PercentEvery1m", Percent: percent, Step: step, Steps: 2,
			Waiting: waiting, Reverted: reverted}
		if reverted {
			d.Traffic.RevertSkipped = []string{"green-2"}
			d.ErrorCode, d.ErrorMessage = "ALARM_ACTIVE", "alarm errors fired"
		}
		return okAnswer(d)
	}
	f.on("GET", "/api/v1/deployments/d-1",
		at("InProgress", "Install", 0, 0, "", false),
		at("InProgress", "AllowTraffic", 0, 1, "router", false),
		at("InProgress", "AllowTraffic", 50, 2, "pause", false),
		at("InProgress", "AllowTraffic", 50, 2, "pause", false), // nothing changed
		at("Stopped", "AllowTraffic", 0, 2, "", true),
	)
	code, _, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--bundle", sampleApp(t), "--wait")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (Stopped); stderr:\n%s", code, stderr)
	}
	_, progress, _ := strings.Cut(stderr, "\n") // after the upload line
	want := "" +
		"deployment d-1 InProgress\n" +
		"traffic: phase Install, 0% of traffic on the replacements\n" +
		"traffic: phase AllowTraffic, 0% of traffic on the replacements (step 1 of 2 of Linear50PercentEvery1m), waiting for router\n" +
		"traffic: phase AllowTraffic, 50% of traffic on the replacements (step 2 of 2 of Linear50PercentEvery1m), waiting for pause\n" +
		"traffic: phase AllowTraffic, 0% of traffic on the replacements (step 2 of 2 of Linear50PercentEvery1m); " +
		"traffic sent back to the originals, skipping servers the backend no longer has: green-2\n" +
		"deployment d-1 Stopped: ALARM_ACTIVE: alarm errors fired\n"
	if progress != want {
		t.Errorf("progress:\n%s\nwant:\n%s", progress, want)
	}
}

func TestRollback_WaitFailedWithDiagnosticsAndRollback(t *testing.T) {
	f, url := newFakeAPI(t)
	onGroup(f)
	f.on("POST", "/api/v1/applications/web/groups/prod/rollback", okAnswer(testDeployment("Created")))
	failedEvent := api.LifecycleEvent{Name: "BeforeInstall", Status: "Failed", Diagnostics: &api.Diagnostics{
		ErrorCode: "ScriptFailed", ScriptName: "scripts/install.sh", Message: "exit status 3",
		LogTail: "[stdout] installing\n[stderr] disk full\n",
	}}
	final := testDeployment("Failed",
		testHost("host-1", "Failed", testEvent("ApplicationStop", "Succeeded"), failedEvent, testEvent("AfterInstall", "Skipped")),
		api.DeploymentInstance{Instance: "host-2", Status: "Skipped", Message: "deployment failed first",
			Events: []api.LifecycleEvent{testEvent("ApplicationStop", "Skipped"), testEvent("BeforeInstall", "Skipped"), testEvent("AfterInstall", "Skipped")}})
	final.ErrorCode, final.ErrorMessage = "HEALTH_CONSTRAINTS", "too many instances failed"
	final.RolledBackBy = "d-2"
	final.Overview = api.Overview{Failed: 1, Skipped: 1}
	f.on("GET", "/api/v1/deployments/d-1",
		okAnswer(testDeployment("InProgress",
			testHost("host-1", "InProgress", testEvent("ApplicationStop", "Succeeded"), testEvent("BeforeInstall", "InProgress"), testEvent("AfterInstall", "Pending")),
			testHost("host-2", "Pending", testEvent("ApplicationStop", "Pending"), testEvent("BeforeInstall", "Pending"), testEvent("AfterInstall", "Pending")))),
		okAnswer(final),
	)
	code, stdout, stderr := runAt(t, url, "rollback", "--app", "web", "--group", "prod", "--wait")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "d-1\n" {
		t.Errorf("stdout = %q, want %q", stdout, "d-1\n")
	}
	want := "" +
		"deployment d-1 InProgress\n" +
		"host-1  ApplicationStop  Succeeded\n" +
		"host-1  BeforeInstall    InProgress\n" +
		"host-1  BeforeInstall    Failed\n" +
		"    ScriptFailed: scripts/install.sh: exit status 3\n" +
		"      [stdout] installing\n" +
		"      [stderr] disk full\n" +
		"host-2  Skipped: deployment failed first\n" +
		"deployment d-1 Failed: HEALTH_CONSTRAINTS: too many instances failed (1 failed, 1 skipped)\n" +
		"rollback started: deployment d-2 (follow it with 'slipway deployment wait d-2')\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	wantCalls(t, f, "GET "+pathGroupProd, "POST /api/v1/applications/web/groups/prod/rollback", "GET /api/v1/deployments/d-1", "GET /api/v1/deployments/d-1")
}

func TestRollback_NoWait(t *testing.T) {
	f, url := newFakeAPI(t)
	onGroup(f)
	f.on("POST", "/api/v1/applications/web/groups/prod/rollback", okAnswer(api.Deployment{ID: "d-9", Creator: "rollback"}))
	code, stdout, stderr := runAt(t, url, "rollback", "--group", "prod", "--app", "web")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if stdout != "d-9\n" {
		t.Errorf("stdout = %q, want %q", stdout, "d-9\n")
	}
	wantCalls(t, f, "GET "+pathGroupProd, "POST /api/v1/applications/web/groups/prod/rollback")
}

func TestWait_Outcomes(t *testing.T) {
	stopped := testDeployment("Stopped")
	stopped.ErrorCode = "MANUAL_STOP"
	tests := []struct {
		name     string
		answers  []fakeAnswer
		args     []string
		wantCode int
		want     []string // in stderr, in order
	}{
		{"stopped", []fakeAnswer{okAnswer(stopped)}, nil, 1, []string{"deployment d-1 Stopped: MANUAL_STOP\n"}},
		{"server restarting", []fakeAnswer{errAnswer(http.StatusServiceUnavailable, "starting"), okAnswer(testDeployment("Succeeded"))}, nil, 0,
			[]string{"server unavailable, retrying: starting\n", "server available again\n", "deployment d-1 Succeeded\n"}},
		{"gone", []fakeAnswer{errAnswer(http.StatusNotFound, "deployment d-1 not found")}, nil, 1,
			[]string{"slipway: deployment d-1 not found\n"}},
		{"timeout", []fakeAnswer{okAnswer(testDeployment("InProgress"))}, []string{"--timeout", "50ms"}, 1,
			[]string{"slipway: timed out after 50ms waiting for deployment d-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			onGroup(f)
			f.on("POST", "/api/v1/applications/web/groups/prod/rollback", okAnswer(testDeployment("Created")))
			f.on("GET", "/api/v1/deployments/d-1", tc.answers...)
			args := append([]string{"rollback", "--app", "web", "--group", "prod", "--wait"}, tc.args...)
			code, stdout, stderr := runAt(t, url, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if stdout != "d-1\n" {
				t.Errorf("stdout = %q, want %q", stdout, "d-1\n")
			}
			rest := stderr
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr = %q, want it to contain %q (in order)", stderr, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestWait_JSONPrintsTheFinalDeployment(t *testing.T) {
	final := testDeployment("Succeeded", testHost("host-1", "Succeeded", testEvent("Install", "Succeeded")))
	f, url := newFakeAPI(t)
	onGroup(f)
	f.on("POST", "/api/v1/applications/web/groups/prod/rollback", okAnswer(testDeployment("Created")))
	f.on("GET", "/api/v1/deployments/d-1", okAnswer(testDeployment("InProgress")), okAnswer(final))
	code, stdout, stderr := runAt(t, url, "rollback", "--app", "web", "--group", "prod", "--wait", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	var got api.Deployment
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if !reflect.DeepEqual(got, final) {
		t.Errorf("got %+v, want %+v", got, final)
	}
}

func TestDeploy_S3RevisionIsRegisteredNotUploaded(t *testing.T) {
	f, url := newFakeAPI(t)
	digest := strings.Repeat("ab", 32)
	f.on("POST", "/api/v1/applications/web/revisions", fakeAnswer{status: http.StatusCreated, body: api.Revision{
		Digest: digest, Application: "web", Size: 1234, Format: "zip", Source: "s3",
		S3: &api.S3Location{Bucket: "releases", Key: "web/build 7.zip", Version: "v7", ETag: "e7"},
	}})
	onDeploy(f, api.Deployment{ID: "d-1", Status: "Created"})
	code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--s3", "s3://releases/web/build 7.zip?versionId=v7")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "d-1\n" || !strings.Contains(stderr, "registered revision "+digest+" (zip, 1234 bytes) from s3://releases/web/build 7.zip?versionId=v7") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].URI != pathGroupProd {
		t.Fatalf("requests %+v, want the group's, a registration and a deployment", reqs)
	}
	reqs = reqs[1:]
	var reg api.RegisterRevision
	if err := json.Unmarshal(reqs[0].Body, &reg); err != nil || reg.S3 == nil ||
		*reg.S3 != (api.S3Location{Bucket: "releases", Key: "web/build 7.zip", Version: "v7"}) {
		t.Errorf("registration body %s (%v), want the bucket, key and version", reqs[0].Body, err)
	}
	var create api.CreateDeployment
	if err := json.Unmarshal(reqs[1].Body, &create); err != nil || create.Revision != digest || create.Group != "prod" {
		t.Errorf("deployment request %s, want revision %s in group prod", reqs[1].Body, digest)
	}
}

func TestDeploy_MissingGroupCostsNoUpload(t *testing.T) {
	const appPath = "/api/v1/applications/web"
	tests := []struct {
		name      string
		app       fakeAnswer
		groups    fakeAnswer
		wantCalls []string
		want      string
	}{
		{"no application", errAnswer(http.StatusNotFound, "application web not found"), fakeAnswer{},
			[]string{"GET " + pathGroupProd, "GET " + appPath},
			"slipway: no application web: create it with 'slipway app create web', then its deployment group with 'slipway group create web prod --tag K=V'\n"},
		{"other groups", okAnswer(api.Application{Name: "web", ComputePlatform: "server"}),
			okAnswer([]api.DeploymentGroup{{Name: "production"}, {Name: "staging"}}),
			[]string{"GET " + pathGroupProd, "GET " + appPath, "GET " + appPath + "/groups"},
			"slipway: no deployment group web/prod: create it with 'slipway group create web prod --tag K=V', or deploy to a group web has: production, staging\n"},
		{"no groups", okAnswer(api.Application{Name: "web", ComputePlatform: "server"}), okAnswer([]api.DeploymentGroup{}),
			[]string{"GET " + pathGroupProd, "GET " + appPath, "GET " + appPath + "/groups"},
			"slipway: no deployment group web/prod: create it with 'slipway group create web prod --tag K=V'\n"},
		{"lambda application", okAnswer(api.Application{Name: "web", ComputePlatform: "lambda"}), okAnswer([]api.DeploymentGroup{}),
			[]string{"GET " + pathGroupProd, "GET " + appPath, "GET " + appPath + "/groups"},
			"slipway: no deployment group web/prod: create it with 'slipway group create web prod' and the flags of a lambda group (see 'slipway group create -h')\n"},
	}
	for _, tc := range tests {
		for _, cmd := range [][]string{{"deploy", "--bundle", sampleApp(t)}, {"rollback"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				f, url := newFakeAPI(t)
				onUpload(f)
				onCreate(f, api.Deployment{ID: "d-1"})
				f.on("GET", pathGroupProd, errAnswer(http.StatusNotFound, "deployment group web/prod not found"))
				f.on("GET", appPath, tc.app)
				f.on("GET", appPath+"/groups", tc.groups)
				code, stdout, stderr := runAt(t, url, append(cmd, "--app", "web", "--group", "prod")...)
				if code != 1 || stdout != "" {
					t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
				}
				if stderr != tc.want {
					t.Errorf("stderr:\n  got  %q\n  want %q", stderr, tc.want)
				}
				wantCalls(t, f, tc.wantCalls...)
			})
		}
	}
}

func TestDeploy_QueuedSaysWhatItWaitsFor(t *testing.T) {
	queued := api.Deployment{ID: "d-3", Application: "web", Group: "prod", Status: "Queued"}
	tests := []struct {
		name  string
		group fakeAnswer
		want  string
	}{
		{"behind the running one", okAnswer(api.DeploymentGroup{Name: "prod", ActiveDeployment: "d-1", QueuedDeployments: []string{"d-3"}}),
			"deployment d-3 is queued behind d-1, which runs in web/prod; it starts when d-1 ends (see 'slipway deployment get d-1')\n"},
		{"behind others queued", okAnswer(api.DeploymentGroup{Name: "prod", ActiveDeployment: "d-1", QueuedDeployments: []string{"d-2", "d-4", "d-3"}}),
			"deployment d-3 is queued behind d-1, which runs in web/prod, and d-2, d-4, queued before it; it starts when they have run (see 'slipway deployment get d-1')\n"},
		{"started since", okAnswer(api.DeploymentGroup{Name: "prod", ActiveDeployment: "d-3"}), ""},
		{"group unreadable", errAnswer(http.StatusInternalServerError, "database is locked"),
			"deployment d-3 is queued: another deployment runs in web/prod; it starts when that one ends\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			// The first look-up is deploy's check that the group exists.
			f.on("GET", pathGroupProd, okAnswer(api.DeploymentGroup{Name: "prod"}), tc.group)
			f.on("POST", "/api/v1/deployments", fakeAnswer{status: http.StatusCreated, body: queued})
			code, stdout, stderr := runAt(t, url, "deploy", "--app", "web", "--group", "prod", "--revision", strings.Repeat("ab", 32))
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if stdout != "d-3\n" {
				t.Errorf("stdout = %q, want just the id", stdout)
			}
			if stderr != tc.want {
				t.Errorf("stderr:\n  got  %q\n  want %q", stderr, tc.want)
			}
		})
	}
}
