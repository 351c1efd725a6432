package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

// A server that keeps bundles in S3 (versitygw here) sends agents to the bucket: every bundle
// byte goes from the object store to the hosts, none through the server. A revision registered
// by S3 location is deployed the same way, and its hooks see where it came from.
func TestS3_AgentsDownloadFromTheBucketAndHooksSeeTheObject(t *testing.T) {
	store := blobtest.StartS3(t)
	store.SetEnv(t) // the server and the agents inherit it; agents need no S3 credentials at all
	store.CreateBucket(t, "bundles", false)
	store.CreateBucket(t, "releases", true)
	s := startServer(t, "--bundle-store", "s3", "--s3-bucket", "bundles", "--s3-prefix", "slipway/",
		"--s3-endpoint", store.Endpoint, "--s3-path-style", "--s3-region", blobtest.Region)
	agents := []*agent{startAgent(t, s, "web-1", "role=web"), startAgent(t, s, "web-2", "role=web")}
	waitInstances(t, s, 2)
	mustCLI(t, s, "app", "create", "shop")
	mustCLI(t, s, "group", "create", "shop", "prod", "--tag", "role=web", "--config", "CodeDeployDefault.AllAtOnce")

	// 1. An uploaded revision: the server streams it into the bucket, agents fetch it there.
	id := deployID(t, mustCLI(t, s, "deploy", "--app", "shop", "--group", "prod", "--bundle", writeBundle(t, "v1", nil, hookEvents...), "--wait"))
	if d := getDeployment(t, s, id); d.Status != "Succeeded" || d.Overview.Succeeded != 2 {
		t.Fatalf("deployment %s: %s %+v, want Succeeded on 2 hosts", id, d.Status, d.Overview)
	}
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v1\n" {
			t.Errorf("%s serves %q, want revision v1", a.Name, got)
		}
	}
	keys := store.Keys(t, "bundles")
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "slipway/sha256/") {
		t.Errorf("bundle bucket holds %q, want the one revision under slipway/sha256/", keys)
	}

	// 2. A revision registered by S3 location, in a versioned bucket of its own.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "appspec.yml"), "version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\n"+
		"hooks:\n  AfterInstall:\n    - location: hooks/where.sh\n", 0o644)
	writeFile(t, filepath.Join(dir, "hooks/where.sh"), "#!/bin/sh\n"+
		`echo "$BUNDLE_BUCKET|$BUNDLE_KEY|$BUNDLE_VERSION|$BUNDLE_ETAG" >> "$SLIPWAY_INSTALL_PREFIX/where"`+"\n", 0o755)
	writeFile(t, filepath.Join(dir, "web/index.html"), "revision v2 from s3\n", 0o644)
	var tgz bytes.Buffer
	if _, err := bundle.Build(context.Background(), &tgz, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	version, etag := store.Put(t, "releases", "shop/v2.tgz", tgz.Bytes())
	out, errOut, code := cli(t, s, "deploy", "--app", "shop", "--group", "prod", "--s3", "s3://releases/shop/v2.tgz", "--wait")
	if code != 0 {
		t.Fatalf("deploy --s3: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := getDeployment(t, s, deployID(t, out)); d.Status != "Succeeded" || d.Overview.Succeeded != 2 {
		t.Fatalf("S3 deployment: %s %+v, want Succeeded on 2 hosts", d.Status, d.Overview)
	}
	want := "releases|shop/v2.tgz|" + version + "|" + strings.Trim(etag, `"`) + "\n"
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "where")); got != want {
			t.Errorf("%s: the hook saw %q, want %q", a.Name, got, want)
		}
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v2 from s3\n" {
			t.Errorf("%s serves %q, want revision v2 from s3", a.Name, got)
		}
	}
	if keys := store.Keys(t, "bundles"); len(keys) != 1 {
		t.Errorf("bundle bucket holds %q: a registered revision must not be copied into it", keys)
	}

	// Two deployments, two hosts, a download each (and every command names the bundle): all
	// presigned, not one byte from the server.
	m := metrics(t, s)
	if got := m[`slipway_bundle_bytes_served_total`]; got != 0 {
		t.Errorf("the server sent %v bundle bytes itself, want 0", got)
	}
	if got := m[`slipway_bundle_urls_total{kind="presigned"}`]; got < 4 {
		t.Errorf("presigned bundle URLs handed out: %v, want at least 4", got)
	}
	if got, ok := m[`slipway_bundle_urls_total{kind="server"}`]; ok {
		t.Errorf("server bundle URLs handed out: %v, want none", got)
	}
	// Nor did any agent ask the server's own bundle endpoint.
	for series := range m {
		if strings.Contains(series, `route="/agent/v1/bundles/{digest}"`) {
			t.Errorf("the server's bundle endpoint was called: %s", series)
			break
		}
	}

	// 3. The group says so: slipway deploy uploads the bundle straight to the bucket through an
	// upload slot, and the server only checks and registers it there.
	mustCLI(t, s, "group", "update", "shop", "prod", "--upload", "direct")
	uploadsBefore := routeCount(m, "/api/v1/applications/{app}/revisions")
	if uploadsBefore < 2 {
		t.Fatalf("revision route count %v after an upload and a registration: is the route's label right?", uploadsBefore)
	}
	out, errOut, code = cli(t, s, "deploy", "--app", "shop", "--group", "prod", "--bundle", writeBundle(t, "v3", nil, hookEvents...), "--wait")
	if code != 0 || !strings.Contains(errOut, "straight to S3") {
		t.Fatalf("deploy with a direct-upload group: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := getDeployment(t, s, deployID(t, out)); d.Status != "Succeeded" || d.Overview.Succeeded != 2 {
		t.Fatalf("direct-upload deployment: %s %+v, want Succeeded on 2 hosts", d.Status, d.Overview)
	}
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v3\n" {
			t.Errorf("%s serves %q, want revision v3", a.Name, got)
		}
	}
	keys = store.Keys(t, "bundles")
	if len(keys) != 2 || !strings.HasPrefix(keys[0], "slipway/sha256/") || !strings.HasPrefix(keys[1], "slipway/sha256/") {
		t.Errorf("bundle bucket holds %q, want the two uploaded revisions and no upload or temporary object", keys)
	}
	m = metrics(t, s)
	if got := routeCount(m, "/api/v1/applications/{app}/revisions"); got != uploadsBefore {
		t.Errorf("uploads through the server: %v, then %v: the bundle went through the server", uploadsBefore, got)
	}
	if got := routeCount(m, "/api/v1/applications/{app}/groups/{group}/uploads/{id}/complete"); got != 1 {
		t.Errorf("upload slots completed: %v, want 1", got)
	}
}

// routeCount is how many requests the server answered on route, by its metrics.
func routeCount(m map[string]float64, route string) float64 {
	var n float64
	for series, v := range m {
		if strings.HasPrefix(series, "slipway_http_request_duration_seconds_count{") && strings.Contains(series, `route="`+route+`"`) {
			n += v
		}
	}
	return n
}

// metrics reads the server's /metrics into series → value.
func metrics(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics") //nolint:gosec // the test's own server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if _, ok := out["slipway_bundle_bytes_served_total"]; !ok {
		t.Fatalf("/metrics has no slipway_bundle_bytes_served_total:\n%s", body)
	}
	return out
}
