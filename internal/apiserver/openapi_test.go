package apiserver

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// The parts of an OpenAPI 3.1 document the tests check.
type (
	oaDoc struct {
		OpenAPI    string                `yaml:"openapi"`
		Security   []map[string][]string `yaml:"security"`
		Paths      map[string]oaPath     `yaml:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `yaml:"type"`
				Scheme string `yaml:"scheme"`
			} `yaml:"securitySchemes"`
			Parameters map[string]oaParam     `yaml:"parameters"`
			Responses  map[string]oaResponse  `yaml:"responses"`
			Schemas    map[string]*oaSchema   `yaml:"schemas"`
			Headers    map[string]interface{} `yaml:"headers"`
		} `yaml:"components"`
	}
	oaPath struct {
		Parameters []oaParam `yaml:"parameters"`
		Get        *oaOp     `yaml:"get"`
		Post       *oaOp     `yaml:"post"`
		Put        *oaOp     `yaml:"put"`
		Delete     *oaOp     `yaml:"delete"`
	}
	oaOp struct {
		OperationID string                 `yaml:"operationId"`
		Security    *[]map[string][]string `yaml:"security"`
		Parameters  []oaParam              `yaml:"parameters"`
		RequestBody *struct {
			Content map[string]oaMedia `yaml:"content"`
		} `yaml:"requestBody"`
		Responses map[string]oaResponse `yaml:"responses"`
	}
	oaParam struct {
		Ref      string `yaml:"$ref"`
		Name     string `yaml:"name"`
		In       string `yaml:"in"`
		Required bool   `yaml:"required"`
	}
	oaResponse struct {
		Ref     string             `yaml:"$ref"`
		Content map[string]oaMedia `yaml:"content"`
	}
	oaMedia struct {
		Schema *oaSchema `yaml:"schema"`
	}
	oaSchema struct {
		Ref                  string               `yaml:"$ref"`
		Type                 string               `yaml:"type"`
		Format               string               `yaml:"format"`
		GoType               string               `yaml:"x-go-type"`
		Required             []string             `yaml:"required"`
		Properties           map[string]*oaSchema `yaml:"properties"`
		Items                *oaSchema            `yaml:"items"`
		AllOf                []*oaSchema          `yaml:"allOf"`
		AdditionalProperties *oaSchema            `yaml:"additionalProperties"`
		Enum                 []string             `yaml:"enum"`
	}
)

func (p oaPath) ops() map[string]*oaOp {
	out := map[string]*oaOp{}
	for m, op := range map[string]*oaOp{http.MethodGet: p.Get, http.MethodPost: p.Post, http.MethodPut: p.Put, http.MethodDelete: p.Delete} {
		if op != nil {
			out[m] = op
		}
	}
	return out
}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	var doc oaDoc
	if err := yaml.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %q, want 3.1.0", doc.OpenAPI)
	}
	return &doc
}

// schema follows $ref and single-element allOf to the schema that says what a value is.
func (d *oaDoc) schema(t *testing.T, s *oaSchema) *oaSchema {
	t.Helper()
	for s != nil {
		switch {
		case s.Ref != "":
			name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
			if !ok || d.Components.Schemas[name] == nil {
				t.Fatalf("unresolved schema $ref %q", s.Ref)
			}
			s = d.Components.Schemas[name]
		case len(s.AllOf) == 1 && s.Type == "":
			s = s.AllOf[0]
		default:
			return s
		}
	}
	return nil
}

func (d *oaDoc) param(t *testing.T, p oaParam) oaParam {
	t.Helper()
	return component(t, p.Ref, "#/components/parameters/", d.Components.Parameters, p)
}

func (d *oaDoc) response(t *testing.T, r oaResponse) oaResponse {
	t.Helper()
	return component(t, r.Ref, "#/components/responses/", d.Components.Responses, r)
}

// component returns v, or the component its $ref names.
func component[T any](t *testing.T, ref, prefix string, components map[string]T, v T) T {
	t.Helper()
	if ref == "" {
		return v
	}
	name, ok := strings.CutPrefix(ref, prefix)
	got, found := components[name]
	if !ok || !found {
		t.Fatalf("unresolved $ref %q", ref)
	}
	return got
}

// TestOpenAPI_MatchesRouter: every route the server has is documented, and every documented
// operation is routed, with its path parameters and its credential.
func TestOpenAPI_MatchesRouter(t *testing.T) {
	doc := loadOpenAPI(t)
	srv := New(Config{}, nil, nil, nil, nil, nil)
	routed := map[string]bool{}
	for _, rt := range routes(t, srv) {
		routed[rt.method+" "+rt.path] = true
	}
	documented := map[string]bool{}
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item.ops() {
			key := method + " " + path
			documented[key] = true
			if !routed[key] {
				t.Errorf("%s is documented but the server has no such route", key)
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q is missing or not unique", key, op.OperationID)
			}
			ids[op.OperationID] = true
			checkOperation(t, doc, path, method, item, op)
		}
	}
	for key := range routed {
		if !documented[key] {
			t.Errorf("the server routes %s but openapi.yaml does not document it", key)
		}
	}
	if len(routed) < 25 {
		t.Errorf("walked %d routes; the router has more", len(routed))
	}
}

var pathVar = regexp.MustCompile(`\{([^}]+)\}`)

func checkOperation(t *testing.T, doc *oaDoc, path, method string, item oaPath, op *oaOp) {
	t.Helper()
	key := method + " " + path
	// Path parameters: exactly the template's variables, each required.
	declared := map[string]bool{}
	for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
		p = doc.param(t, p)
		if p.In != "path" {
			continue
		}
		declared[p.Name] = true
		if !p.Required {
			t.Errorf("%s: path parameter %s must be required", key, p.Name)
		}
	}
	var vars []string
	for _, m := range pathVar.FindAllStringSubmatch(path, -1) {
		vars = append(vars, m[1])
		if !declared[m[1]] {
			t.Errorf("%s: path variable {%s} has no parameter", key, m[1])
		}
	}
	if len(declared) != len(vars) {
		t.Errorf("%s: path parameters %v, template variables %v", key, declared, vars)
	}

	// The credential, as the server checks it (TestAuth_EveryRouteChecksItsCredential); the
	// routes open to workflows take their OIDC token as an alternative (workflowRoutes).
	var want string
	switch {
	case path == openAPIPath || !strings.HasPrefix(path, api.PathAPI) && !strings.HasPrefix(path, api.PathAgent):
		want = "none"
	case path == api.HookStatusPath("{id}"):
		// The execution's own token; a wrong one is 403 (TestHookStatus), never a user's 401.
		want = "hookToken"
	case path == api.PathAgent+"/register":
		want = "enrollToken"
	case strings.HasPrefix(path, api.PathAgent):
		want = "instanceCredential"
	case workflowRoutes[key]:
		want = "adminToken|workflowToken"
	default:
		want = "adminToken"
	}
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	var schemes []string
	for _, alt := range security {
		if len(alt) != 1 {
			t.Errorf("%s: security %v, want one scheme per alternative", key, security)
		}
		for name := range alt {
			schemes = append(schemes, name)
			if s := doc.Components.SecuritySchemes[name]; s.Type != "http" || s.Scheme != "bearer" {
				t.Errorf("%s: security scheme %s is not a bearer scheme", key, name)
			}
		}
	}
	got := strings.Join(schemes, "|")
	if got == "" {
		got = "none"
	}
	if got != want {
		t.Errorf("%s: security %s, want %s", key, got, want)
	}
	if _, ok := op.Responses["401"]; ok != (want != "none" && want != "hookToken") {
		t.Errorf("%s: documents 401 = %v, but the call needs credential %s", key, ok, want)
	}
	for _, code := range []string{"403", "503"} {
		if _, ok := op.Responses[code]; workflowRoutes[key] && !ok {
			t.Errorf("%s: open to workflow tokens but does not document %s", key, code)
		}
	}

	// Errors have the error body; JSON bodies can be refused as invalid or too large.
	for code, r := range op.Responses {
		r = doc.response(t, r)
		if n, err := strconv.Atoi(code); code != "default" && (err != nil || n < 400) || key+" "+code == "GET /readyz 503" {
			continue // not an error, or the probe's own answer
		}
		if c, ok := r.Content["application/json"]; ok || len(r.Content) > 0 {
			if s := doc.schema(t, c.Schema); s == nil || s.GoType != "api.Error" {
				t.Errorf("%s: response %s is not the Error body", key, code)
			}
		}
	}
	if op.RequestBody != nil {
		if _, ok := op.RequestBody.Content["application/json"]; ok {
			for _, code := range []string{"400", "413"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: takes a JSON body but does not document %s", key, code)
				}
			}
		}
	}
	if _, ok := op.Responses["405"]; !ok {
		t.Errorf("%s: does not document 405", key)
	}
}

// wireTypes maps the x-go-type names of the document to internal/api's types.
func wireTypes() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, v := range []any{
		api.Error{}, api.Application{}, api.TagFilter{}, api.MinimumHealthyHosts{}, api.DeploymentConfig{},
		api.AutoRollback{}, api.DeploymentGroup{}, api.Revision{}, api.CreateDeployment{}, api.Deployment{},
		api.Overview{}, api.DeploymentInstance{}, api.LifecycleEvent{}, api.Diagnostics{}, api.StopDeployment{},
		api.Instance{}, api.InstanceGroup{}, api.InstanceTags{}, api.Register{}, api.Registered{}, api.Hello{}, api.Command{},
		api.Bundle{}, api.Result{}, api.GitHubLink{}, api.GitHubDeployment{},
		api.TrafficRouter{}, api.BlueGreen{}, api.TrafficShape{}, api.TrafficIncrement{}, api.TrafficStep{},
		api.TrafficAnalysis{}, api.DeploymentTraffic{}, api.TrafficPoint{}, api.OriginalsRelease{},
		api.AlarmConfiguration{}, api.Alarm{}, api.PrometheusAlarm{}, api.CloudWatchAlarm{}, api.HTTPAlarm{}, api.RegisterRevision{},
		api.S3Location{}, api.AWSSettings{}, api.ECSService{}, api.HookStatus{}, api.CreateUpload{}, api.Upload{},
	} {
		t := reflect.TypeOf(v)
		out["api."+t.Name()] = t
	}
	return out
}

// TestOpenAPI_SchemasMatchWireTypes holds every schema to the Go type it documents: the same
// JSON names, compatible types, nothing required that Go may leave out. And every wire type of
// internal/api has its schema, so a new one cannot go undocumented.
func TestOpenAPI_SchemasMatchWireTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	types := wireTypes()
	documented := map[string]bool{}
	for name, s := range doc.Components.Schemas {
		if s.GoType == "" {
			continue
		}
		typ, ok := types[s.GoType]
		if !ok {
			t.Errorf("schema %s: x-go-type %s is not a known wire type", name, s.GoType)
			continue
		}
		documented[s.GoType] = true
		checkStruct(t, doc, name, s, typ)
	}
	for goType := range types {
		if !documented[goType] {
			t.Errorf("%s has no schema in openapi.yaml", goType)
		}
	}
	// The exported structs of internal/api this server never sends or reads: the client itself,
	// its list filter, what the Action puts in a GitHub Deployment's payload, where an upload
	// was built from (sent as headers), and the payload lambda and ecs hooks are invoked with
	// (docs/aws.md).
	notWire := []string{"Client", "DeploymentFilter", "GitHubDeploymentPayload", "RevisionOrigin", "HookPayload"}
	for _, name := range exportedStructs(t, filepath.Join("..", "api")) {
		if _, ok := types["api."+name]; !ok && !slices.Contains(notWire, name) {
			t.Errorf("api.%s is neither documented (wireTypes) nor listed as not a wire type (notWire)", name)
		}
	}
}

// exportedStructs lists the exported struct types declared in the package in dir.
func exportedStructs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() {
					out = append(out, ts.Name.Name)
				}
			}
		}
	}
	if len(out) < len(wireTypes()) {
		t.Fatalf("found %d struct types in %s: is the path right?", len(out), dir)
	}
	return out
}

func checkStruct(t *testing.T, doc *oaDoc, name string, s *oaSchema, typ reflect.Type) {
	t.Helper()
	if s.Type != "object" {
		t.Errorf("schema %s: type %q, want object", name, s.Type)
	}
	fields := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		jsonName, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || jsonName == "-" {
			continue
		}
		if jsonName == "" {
			jsonName = f.Name
		}
		fields[jsonName] = true
		prop, ok := s.Properties[jsonName]
		if !ok {
			t.Errorf("schema %s lacks property %q (%s.%s)", name, jsonName, typ.Name(), f.Name)
			continue
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if optional && slices.Contains(s.Required, jsonName) {
			t.Errorf("schema %s requires %q, which %s.%s may leave out (%s)", name, jsonName, typ.Name(), f.Name, opts)
		}
		if err := compatible(t, doc, prop, f.Type); err != nil {
			t.Errorf("schema %s, property %q (%s.%s %s): %v", name, jsonName, typ.Name(), f.Name, f.Type, err)
		}
	}
	for prop := range s.Properties {
		if !fields[prop] {
			t.Errorf("schema %s has property %q, which %s does not have", name, prop, typ.Name())
		}
	}
	for _, r := range s.Required {
		if !fields[r] {
			t.Errorf("schema %s requires %q, which %s does not have", name, r, typ.Name())
		}
	}
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(api.Duration(0))
)

// compatible says whether a value of Go type typ always encodes as something s allows.
func compatible(t *testing.T, doc *oaDoc, s *oaSchema, typ reflect.Type) error {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s = doc.schema(t, s)
	want := ""
	switch {
	case typ == timeType:
		if s.Type != "string" || s.Format != "date-time" {
			return fmt.Errorf("a time is a date-time string, not %s %s", s.Type, s.Format)
		}
		return nil
	case typ == durationType:
		want = "string"
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float64:
		want = "number"
	case typ.Kind() == reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			return fmt.Errorf("a slice is an array with items, not %q", s.Type)
		}
		return compatible(t, doc, s.Items, typ.Elem())
	case typ.Kind() == reflect.Map:
		if s.Type != "object" || s.AdditionalProperties == nil {
			return fmt.Errorf("a map is an object with additionalProperties, not %q", s.Type)
		}
		return compatible(t, doc, s.AdditionalProperties, typ.Elem())
	case typ.Kind() == reflect.Struct:
		if s.GoType != "api."+typ.Name() {
			return fmt.Errorf("schema documents %q, want api.%s", s.GoType, typ.Name())
		}
		return nil
	default:
		return fmt.Errorf("no rule for Go kind %s", typ.Kind())
	}
	if s.Type != want {
		return fmt.Errorf("type %q, want %q", s.Type, want)
	}
	return nil
}

// enumNames lists an enumeration's names by asking String for each value until it runs out.
func enumNames(name func(i int) string) []string {
	var out []string
	for i := range 64 {
		n := name(i)
		if strings.HasPrefix(n, "invalid(") || n == "unknown" && i > 0 {
			break
		}
		if n != "" && n != "unknown" {
			out = append(out, n)
		}
	}
	return out
}

// TestOpenAPI_EnumsAreTheServers: the enumerations are exactly the names the server writes and
// accepts (CodeDeploy's, for statuses).
func TestOpenAPI_EnumsAreTheServers(t *testing.T) {
	doc := loadOpenAPI(t)
	for schema, want := range map[string][]string{
		"DeploymentStatus":        enumNames(func(i int) string { return deploy.Status(i).String() }),
		"InstanceStatus":          enumNames(func(i int) string { return deploy.InstanceStatus(i).String() }),
		"EventStatus":             enumNames(func(i int) string { return deploy.EventStatus(i).String() }),
		"Creator":                 enumNames(func(i int) string { return deploy.Creator(i).String() }),
		"Health":                  enumNames(func(i int) string { return deploy.Health(i).String() }),
		"TagFilterType":           enumNames(func(i int) string { return deploy.TagFilterType(i).String() }),
		"MinimumHealthyHostsType": enumNames(func(i int) string { return deploy.MinimumType(i).String() }),
		"DeploymentType":          enumNames(func(i int) string { return deploy.Type(i).String() }),
		"TrafficPhase":            enumNames(func(i int) string { return deploy.Phase(i).String() }),
		"FileExistsBehavior":      enumNames(func(i int) string { return appspec.FileExistsBehavior(i).String() }),
		"BundleFormat":            enumNames(func(i int) string { return bundle.Format(i).String() }),
		"ComputePlatform":         {string(store.PlatformServer), string(store.PlatformLambda), string(store.PlatformECS)},
		"RevisionSource":          {string(store.SourceUpload), string(store.SourceS3), string(store.SourceGitHub)},
	} {
		s := doc.Components.Schemas[schema]
		if s == nil {
			t.Errorf("no schema %s", schema)
			continue
		}
		if !slices.Equal(s.Enum, want) {
			t.Errorf("schema %s: enum %v, want %v", schema, s.Enum, want)
		}
	}
	// An instance's health in a group is a deploy.Health, or unknown before any deployment.
	health := append(enumNames(func(i int) string { return deploy.Health(i).String() }), api.HealthUnknown)
	if got := doc.Components.Schemas["InstanceGroup"].Properties["health"].Enum; !slices.Equal(got, health) {
		t.Errorf("InstanceGroup.health enum %v, want %v", got, health)
	}
	// What an agent may report is how an event ended.
	result := doc.Components.Schemas["Result"].Properties["status"].Enum
	for _, st := range result {
		if _, err := deploy.ParseEventStatus(st); err != nil {
			t.Errorf("Result.status %q: %v", st, err)
		}
	}
	if len(result) != 3 {
		t.Errorf("Result.status enum %v, want Succeeded, Failed, Skipped", result)
	}
}

// TestOpenAPI_RefsResolve walks the whole document for $ref and resolves each one.
func TestOpenAPI_RefsResolve(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(openAPIDoc, &root); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(*yaml.Node)
	walk = func(node *yaml.Node) {
		if node.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(node.Content); i += 2 {
				if node.Content[i].Value == "$ref" {
					n++
					if !resolves(&root, node.Content[i+1].Value) {
						t.Errorf("line %d: $ref %q does not resolve", node.Content[i+1].Line, node.Content[i+1].Value)
					}
				}
			}
		}
		for _, c := range node.Content {
			walk(c)
		}
	}
	walk(&root)
	if n < 50 {
		t.Errorf("found %d $refs; the walk is broken", n)
	}
}

func resolves(root *yaml.Node, ref string) bool {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	node := root.Content[0]
	for _, part := range strings.Split(pointer, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		if node.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == part {
				next = node.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		node = next
	}
	return true
}

func TestOpenAPI_Served(t *testing.T) {
	e := newEnv(t)
	r := e.call(http.MethodGet, openAPIPath, "", nil)
	want(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if string(r.body) != string(openAPIDoc) {
		t.Error("the served document differs from openapi.yaml")
	}
}
