package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/awslambda"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// docs/aws.md is held to the code: its examples parse and validate, its messages are the ones
// the code writes, and its IAM policy lists exactly the actions the code calls.

const awsDocs = "../../docs/aws.md"

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(awsDocs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func blocks(doc, lang, prefix string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if strings.HasPrefix(m[1], prefix) {
			out = append(out, m[1])
		}
	}
	return out
}

// calledActions collects the IAM actions the drivers and hooks name when they call AWS.
func calledActions(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`awsconfig\.Call\("([a-z]+:[A-Za-z]+)"`)
	var out []string
	for _, dir := range []string{"../awslambda", "../awsecs", "../hook"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				if !slices.Contains(out, m[1]) {
					out = append(out, m[1])
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestDocs_IAMPolicyListsExactlyTheCalledActions(t *testing.T) {
	doc := readDocs(t)
	policies := blocks(doc, "json", "{\n  \"Version\"")
	if len(policies) != 1 {
		t.Fatalf("found %d IAM policies in %s; want 1", len(policies), awsDocs)
	}
	var policy struct {
		Statement []struct {
			Action any
		}
	}
	if err := json.Unmarshal([]byte(policies[0]), &policy); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, st := range policy.Statement {
		switch a := st.Action.(type) {
		case string:
			listed = append(listed, a)
		case []any:
			for _, x := range a {
				listed = append(listed, x.(string))
			}
		}
	}
	listed = slices.DeleteFunc(listed, func(a string) bool { return a == "iam:PassRole" }) // ECS checks it; no code calls IAM
	slices.Sort(listed)
	called := calledActions(t)
	if !slices.Equal(listed, called) {
		t.Errorf("the policy lists %v\nthe code calls     %v", listed, called)
	}
	for _, a := range called {
		if !strings.Contains(doc, "| `"+a+"`") && !strings.Contains(doc, ", `"+a+"`") {
			t.Errorf("the IAM table of %s does not name %s", awsDocs, a)
		}
	}
}

func TestDocs_AppSpecExamplesAreClean(t *testing.T) {
	specs := blocks(readDocs(t), "yaml", "version: 0.0")
	if len(specs) != 2 {
		t.Fatalf("found %d AppSpec examples; want the Lambda one and the ECS one", len(specs))
	}
	for i, text := range specs {
		spec, diags := appspec.Parse("aws.md", []byte(text), appspec.Options{})
		if spec == nil || len(diags) > 0 {
			t.Fatalf("example %d: %v", i, diags)
		}
		g := docsGroup(t)
		if _, err := rollout.NewFunction(spec, g.AWS, g.ECS); err != nil {
			t.Errorf("example %d (%v): %v", i, spec.Platform, err)
		}
	}
}

// settings is how a group holds the AWS platforms' settings in docs/aws.md.
type settings struct {
	AWS     awsconfig.Config `yaml:"aws"`
	ECS     awsecs.Group     `yaml:"ecs"`
	Traffic traffic.Config   `yaml:"traffic"`
}

func decodeSettings(t *testing.T, text string) settings {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	var s settings
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%v in\n%s", err, text)
	}
	return s
}

func docsGroup(t *testing.T) settings {
	t.Helper()
	for _, text := range blocks(readDocs(t), "yaml", "aws:") {
		if s := decodeSettings(t, text); s.ECS.Service != "" {
			return s
		}
	}
	t.Fatal("no group example with ecs settings")
	return settings{}
}

func TestDocs_GroupSettingsAreValid(t *testing.T) {
	doc := readDocs(t)
	examples := append(blocks(doc, "yaml", "aws:"), blocks(doc, "yaml", "traffic:")...)
	if len(examples) != 3 {
		t.Fatalf("found %d settings examples; want 3", len(examples))
	}
	for i, text := range examples {
		s := decodeSettings(t, text)
		if err := s.AWS.Validate(); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
		if s.ECS.Service != "" {
			if err := s.ECS.Validate(); err != nil {
				t.Errorf("example %d: %v", i, err)
			}
		}
		if strings.Contains(text, "traffic:") {
			if _, err := s.Traffic.Shape(); err != nil {
				t.Errorf("example %d: %v", i, err)
			}
		}
	}
	for _, form := range []string{"preset: CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "all_at_once: true", "canary: {percent: 10, interval: 5m}", "linear: {percent: 10, interval:\n1m}"} {
		if !strings.Contains(doc, "`"+form+"`") {
			t.Errorf("the traffic forms of %s no longer mention %q", awsDocs, form)
		}
		var c traffic.Config
		if err := yaml.Unmarshal([]byte(strings.ReplaceAll(form, "\n", " ")), &c); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Shape(); err != nil {
			t.Errorf("%q: %v", form, err)
		}
	}
}

func TestDocs_HookWireExamples(t *testing.T) {
	doc := readDocs(t)
	payloads := blocks(doc, "json", "{\n  \"DeploymentId\"")
	if len(payloads) != 1 {
		t.Fatalf("found %d hook payload examples; want 1", len(payloads))
	}
	dec := json.NewDecoder(strings.NewReader(payloads[0]))
	dec.DisallowUnknownFields()
	var p api.HookPayload
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.StatusURL, api.HookStatusPath(p.ExecutionID)) {
		t.Errorf("the example's status URL %s is not the execution's path %s", p.StatusURL, api.HookStatusPath(p.ExecutionID))
	}
	status := regexp.MustCompile(`\n(\{"status": "Succeeded"\})\n`).FindStringSubmatch(doc)
	if status == nil {
		t.Fatal("no status request body in the docs")
	}
	var st api.HookStatus
	if err := json.Unmarshal([]byte(status[1]), &st); err != nil || st.Status != api.HookSucceeded {
		t.Errorf("status body %s: %+v %v", status[1], st, err)
	}
}

func TestDocs_AliasMessage(t *testing.T) {
	awsfake.Credentials(t)
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("checkout-api", 8)
	fake.AddAlias("checkout-api", "live", "6")
	client, err := awslambda.NewClient(context.Background(), awsconfig.Config{Region: "eu-west-1", Endpoint: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	shift, err := awslambda.New(client, appspec.LambdaTarget{Name: "checkout-api", Alias: "live", CurrentVersion: "7", TargetVersion: "8"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = shift.Check(context.Background())
	if err == nil || !bytes.Contains([]byte(readDocs(t)), []byte("\n"+err.Error()+"\n")) {
		t.Errorf("docs do not show the message the code writes:\n%v", err)
	}
}
