package appspec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func mustParse(t *testing.T, src string, opts Options) *Spec {
	t.Helper()
	spec, diags := Parse("appspec.yml", []byte(src), opts)
	if spec == nil {
		t.Fatalf("Parse: got invalid, want valid:\n%s", joinDiags(diags))
	}
	return spec
}

// firstError parses src, insists it is invalid, and returns its first error.
func firstError(t *testing.T, src string, opts Options) Diagnostic {
	t.Helper()
	spec, diags := Parse("appspec.yml", []byte(src), opts)
	if spec != nil {
		t.Fatalf("Parse: got valid, want invalid:\n%s", src)
	}
	for _, d := range diags {
		if d.Severity == SeverityError {
			return d
		}
	}
	t.Fatalf("Parse returned no spec and no error diagnostic")
	return Diagnostic{}
}

func joinDiags(diags []Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

func warningCodes(diags []Diagnostic) []string {
	var codes []string
	for _, d := range diags {
		if d.Severity == SeverityWarning {
			codes = append(codes, d.Code)
		}
	}
	return codes
}

// errorCase is an AppSpec that must be rejected at line with a message containing substr.
type errorCase struct {
	name   string
	src    string
	line   int
	substr string
}

func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := firstError(t, tc.src, Options{})
			if d.Line != tc.line {
				t.Errorf("first error at line %d, want %d: %s", d.Line, tc.line, d)
			}
			if !strings.Contains(d.Message, tc.substr) {
				t.Errorf("message = %q, want it to contain %q", d.Message, tc.substr)
			}
		})
	}
}

// A. Top-level keys.

func TestParse_EmptyAppSpecRejected(t *testing.T) {
	for _, src := range []string{"", " \n", "# only a comment\n"} {
		d := firstError(t, src, Options{})
		if d.Code != CodeEmpty || !strings.Contains(d.Message, "'version' and 'os'") {
			t.Errorf("Parse(%q) = %s, want an empty-file error naming version and os", src, d)
		}
	}
}

func TestParse_TooLargeRejected(t *testing.T) {
	src := "version: 0.0\nos: linux\n" + strings.Repeat("# padding\n", MaxSize/10)
	d := firstError(t, src, Options{})
	if d.Code != CodeTooLarge || d.Line != 0 {
		t.Errorf("got %s (code %s), want a too-large error about the whole file", d, d.Code)
	}
	// Load reads no more than it needs to refuse the file.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "appspec.yml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := ReadFile(filepath.Join(dir, "appspec.yml"))
	if err != nil || len(data) != MaxSize+1 {
		t.Errorf("ReadFile = %d bytes, %v; want %d bytes", len(data), err, MaxSize+1)
	}
	if _, _, err := Load(dir, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Load = %v, want ErrInvalid", err)
	}
}

func TestParse_VersionMustBeZero(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"missing", "os: linux\n", 1, "version is missing"},
		{"word", "version: invalid\nos: linux\n", 1, `must be 0.0 (got "invalid")`},
		{"integer 1", "version: 1\nos: linux\n", 1, "got integer 1"},
		{"string 1.0", "version: '1.0'\nos: linux\n", 1, "must be 0.0"},
		{"list", "version: [0.0]\nos: linux\n", 1, "must be 0.0"},
	})
	for _, v := range []string{"0.0", `"0.0"`, "'0.0'", "0"} {
		if spec := mustParse(t, "version: "+v+"\nos: linux\n", Options{}); spec.Version != "0.0" {
			t.Errorf("version %s: Version = %q, want 0.0", v, spec.Version)
		}
	}
}

func TestParse_UnsupportedOSRejected(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"missing", "version: 0.0\n", 1, "os is missing"},
		{"unsupported", "version: 0.0\nos: unsupported\n", 2, "unsupported operating system (unsupported)"},
		{"wrong case", "version: 0.0\nos: Linux\n", 2, "did you mean 'linux'"},
	})
	for src, want := range map[string]OS{"linux": OSLinux, "windows": OSWindows, "'linux '": OSLinux} {
		if got := mustParse(t, "version: 0.0\nos: "+src+"\n", Options{}).OS; got != want {
			t.Errorf("os %s: got %v, want %v", src, got, want)
		}
	}
}

func TestParse_FileExistsBehavior(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"invalid", "version: 0.0\nos: linux\nfile_exists_behavior: invalid\n", 3, "DISALLOW,OVERWRITE,RETAIN"},
		{"lower case", "version: 0.0\nos: linux\nfile_exists_behavior: overwrite\n", 3, "did you mean 'OVERWRITE'"},
	})
	tests := []struct {
		value string
		want  FileExistsBehavior
	}{
		{"", FileExistsUnset},
		{"file_exists_behavior: DISALLOW\n", FileExistsDisallow},
		{"file_exists_behavior: OVERWRITE\n", FileExistsOverwrite},
		{"file_exists_behavior: RETAIN\n", FileExistsRetain},
	}
	for _, tc := range tests {
		if got := mustParse(t, "version: 0.0\nos: linux\n"+tc.value, Options{}).FileExistsBehavior; got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.value, got, tc.want)
		}
	}
}

func TestParse_NoHooksNoFiles(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\n", Options{})
	if spec.Hooks == nil || len(spec.Hooks) != 0 {
		t.Errorf("Hooks = %#v, want an empty map", spec.Hooks)
	}
	if len(spec.Files) != 0 {
		t.Errorf("Files = %v, want none", spec.Files)
	}
}

// B. hooks.

func TestParse_HookEntryWithEveryField(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: test_location_1\n      runas: foo\n      timeout: 30\n      sudo: true\n", Options{})
	got := spec.Hooks[EventAfterInstall]
	want := []Script{{Location: "test_location_1", RunAs: "foo", Timeout: 30 * time.Second, TimeoutGiven: true, Sudo: true, Line: 5}}
	if !slices.Equal(got, want) {
		t.Errorf("scripts = %+v, want %+v", got, want)
	}
}

func TestParse_DefaultTimeoutIs3600(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: a\n    - location: b\n      timeout: 30\n      runas: foo3\n", Options{})
	scripts := spec.Hooks[EventValidateService]
	var timeouts []time.Duration
	var runas []string
	for _, s := range scripts {
		timeouts = append(timeouts, s.Timeout)
		runas = append(runas, s.RunAs)
	}
	if want := []time.Duration{3600 * time.Second, 30 * time.Second}; !slices.Equal(timeouts, want) {
		t.Errorf("timeouts = %v, want %v", timeouts, want)
	}
	if want := []string{"", "foo3"}; !slices.Equal(runas, want) {
		t.Errorf("runas = %q, want %q", runas, want)
	}
	// Reference case 10: the total of 300 and a default is 3900.
	if got, want := spec.EventTimeout(EventValidateService), 3630*time.Second; got != want {
		t.Errorf("EventTimeout = %v, want %v", got, want)
	}
}

func TestParse_EmptyHookDropped(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\nhooks:\n  ApplicationStop:\n  BeforeInstall:\n    - location: a.sh\n", Options{})
	if _, ok := spec.Hooks[EventApplicationStop]; ok {
		t.Errorf("Hooks has ApplicationStop, want the empty event dropped")
	}
	if got := len(spec.Hooks[EventBeforeInstall]); got != 1 {
		t.Errorf("BeforeInstall has %d scripts, want 1", got)
	}
}

func TestParse_BadScriptEntriesRejected(t *testing.T) {
	const head = "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n"
	runErrorCases(t, []errorCase{
		{"no location", head + "    - timeout: 30\n", 5, "script with no location value"},
		{"word timeout", head + "    - location: a\n      timeout: foo\n", 6, "not a positive integer"},
		{"zero timeout", head + "    - location: a\n      timeout: 0\n", 6, "greater than 0"},
		{"negative timeout", head + "    - location: a\n      timeout: -5\n", 6, "greater than 0"},
		{"float timeout", head + "    - location: a\n      timeout: 1.5\n", 6, "not a positive integer"},
		{"huge timeout", head + "    - location: a\n      timeout: 99999999999999999999999\n", 6, "not a positive integer"},
		{"single script over an hour", head + "    - location: a\n      timeout: 3601\n", 6, "over the 3600 seconds"},
		{"not a list", head + "    location: a\n", 5, "must be a list"},
		{"escaping location", head + "    - location: ../../bin/sh\n", 5, "leaves the bundle"},
	})
}

func TestParse_TimeoutStringAcceptedWithWarning(t *testing.T) {
	spec, diags := Parse("appspec.yml", []byte("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a\n      timeout: \"10\"\n"), Options{})
	if spec == nil {
		t.Fatalf("got invalid:\n%s", joinDiags(diags))
	}
	if got, want := spec.Hooks[EventBeforeInstall][0].Timeout, 10*time.Second; got != want {
		t.Errorf("timeout = %v, want %v", got, want)
	}
	if got, want := warningCodes(diags), []string{CodeTimeoutString}; !slices.Equal(got, want) {
		t.Errorf("warnings = %v, want %v", got, want)
	}
}

func TestParse_EventTimeoutSumAtMost3600(t *testing.T) {
	const head = "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n"
	d := firstError(t, head+"    - location: a\n      timeout: 3000\n    - location: b\n      timeout: 601\n", Options{})
	if d.Line != 4 || d.Code != CodeEventTimeout || !strings.Contains(d.Message, "3601") {
		t.Errorf("got %s, want an event-timeout error at line 4 naming 3601", d)
	}
	mustParse(t, head+"    - location: a\n      timeout: 3000\n    - location: b\n      timeout: 600\n", Options{})
	// Scripts with no timeout do not count, as in AWS's own samples.
	mustParse(t, head+"    - location: a\n    - location: b\n", Options{})
}

func TestParse_RunAsOnWindowsWarns(t *testing.T) {
	spec, diags := Parse("appspec.yml", []byte("version: 0.0\nos: windows\nhooks:\n  BeforeInstall:\n    - location: a.bat\n      runas: Administrator\n"), Options{})
	if spec == nil {
		t.Fatalf("got invalid:\n%s", joinDiags(diags))
	}
	if got, want := warningCodes(diags), []string{CodeRunAsWindows}; !slices.Equal(got, want) {
		t.Errorf("warnings = %v, want %v", got, want)
	}
	if got := spec.Hooks[EventBeforeInstall][0].RunAs; got != "" {
		t.Errorf("RunAs = %q, want it dropped on windows", got)
	}
}

func TestParse_UnknownEventsRejected(t *testing.T) {
	const head = "version: 0.0\nos: linux\nhooks:\n"
	runErrorCases(t, []errorCase{
		{"custom", head + "  CustomEvent:\n    - location: a\n", 4, "unknown lifecycle event 'CustomEvent'"},
		{"misspelt", head + "  AfterInstal:\n    - location: a\n", 4, "did you mean 'AfterInstall'"},
		{"wrong case", head + "  afterinstall:\n    - location: a\n", 4, "did you mean 'AfterInstall'"},
		{"ecs hook", head + "  AfterAllowTestTraffic:\n    - location: a\n", 4, "ECS hook"},
		{"download bundle", head + "  DownloadBundle:\n    - location: a\n", 4, "run by Slipway itself"},
		{"install", head + "  Install:\n    - location: a\n", 4, "run by Slipway itself"},
		{"block traffic", head + "  BlockTraffic:\n    - location: a\n", 4, "run by Slipway itself"},
		{"allow traffic", head + "  AllowTraffic:\n    - location: a\n", 4, "run by Slipway itself"},
	})
}

func TestParse_CustomEventsAllowedWhenAsked(t *testing.T) {
	src := "version: 0.0\nos: linux\nhooks:\n  CustomEvent:\n    - location: custom.sh\n"
	spec := mustParse(t, src, Options{AllowCustomEvents: true})
	if got := len(spec.Hooks["CustomEvent"]); got != 1 {
		t.Errorf("CustomEvent has %d scripts, want 1", got)
	}
	d := firstError(t, "version: 0.0\nos: linux\nhooks:\n  Install:\n    - location: a\n", Options{AllowCustomEvents: true})
	if d.Code != CodeReservedEvent {
		t.Errorf("got %s, want reserved events rejected even with custom events allowed", d)
	}
}

func TestParse_AllNineServerEvents(t *testing.T) {
	src := "version: 0.0\nos: linux\nhooks:\n"
	for _, e := range ServerHookEvents {
		src += "  " + e + ":\n    - location: scripts/" + e + ".sh\n      timeout: 300\n"
	}
	spec := mustParse(t, src, Options{})
	for _, e := range ServerHookEvents {
		if got := spec.EventTimeout(e); got != 300*time.Second {
			t.Errorf("EventTimeout(%s) = %v, want 5m0s", e, got)
		}
	}
}

// C. Finding the appspec file.

func TestFind_ResolutionOrder(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		platform Platform
		want     string
	}{
		{"yml first", []string{"appspec.yml", "appspec.yaml"}, PlatformServer, "appspec.yml"},
		{"yaml fallback", []string{"appspec.yaml"}, PlatformServer, "appspec.yaml"},
		{"json for ecs", []string{"appspec.json"}, PlatformECS, "appspec.json"},
		{"json for lambda", []string{"appspec.json"}, PlatformLambda, "appspec.json"},
		{"yaml before json", []string{"appspec.json", "appspec.yaml"}, PlatformUnknown, "appspec.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("version: 0.0\nos: linux\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Find(dir, tc.platform)
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if want := filepath.Join(dir, tc.want); got != want {
				t.Errorf("Find = %s, want %s", got, want)
			}
		})
	}
}

func TestFind_NotFound(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		platform Platform
		substr   string
	}{
		{"empty dir", nil, PlatformServer, "appspec.yml or appspec.yaml"},
		{"json ignored for server", []string{"appspec.json"}, PlatformServer, "appspec.yml or appspec.yaml in"},
		{"wrong case", []string{"AppSpec.yml"}, PlatformServer, "rename it to appspec.yml"},
		{"directory named appspec.yml", []string{"appspec.yml/"}, PlatformServer, "appspec.yml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				var err error
				if strings.HasSuffix(f, "/") {
					err = os.Mkdir(filepath.Join(dir, f), 0o755)
				} else {
					err = os.WriteFile(filepath.Join(dir, f), []byte("version: 0.0\n"), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := Find(dir, tc.platform)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Find error = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.substr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(dir, Options{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of an empty dir: %v, want ErrNotFound", err)
	}
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "appspec.yml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a.sh\n")
	spec, _, err := Load(dir, Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := spec.Hooks[EventBeforeInstall][0].Location; got != "a.sh" {
		t.Errorf("location = %q, want a.sh", got)
	}
	write("version: 0.0\nos: solaris\n")
	_, diags, err := Load(dir, Options{})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load of an invalid appspec: %v, want ErrInvalid", err)
	}
	var ae *Error
	if !errors.As(err, &ae) || len(ae.Diagnostics) != 1 || ae.Diagnostics[0].Line != 2 {
		t.Errorf("error = %#v, want one diagnostic at line 2", err)
	}
	if len(diags) != 1 || !strings.HasPrefix(diags[0].String(), filepath.Join(dir, "appspec.yml")+":2: error: ") {
		t.Errorf("diagnostics = %v, want one error naming the file and line 2", diags)
	}
}

// TestLoad_MissingScriptIsAWarning: a hook location naming nothing in the bundle directory is a
// warning at its line (the appspec stays valid, as CodeDeploy only fails that event); one that
// exists, given with a leading "/" or in Windows form, is not.
func TestLoad_MissingScriptIsAWarning(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"scripts/start.sh": "#!/bin/sh\n",
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: /scripts/start.sh\n" +
			"  ValidateService:\n    - location: scripts/chek.sh\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, diags, err := Load(dir, Options{})
	if err != nil || spec == nil {
		t.Fatalf("Load: %v, want a valid spec", err)
	}
	if len(diags) != 1 || diags[0].Code != CodeScriptMissing || diags[0].Line != 7 ||
		!strings.Contains(diags[0].Message, `"scripts/chek.sh" is not in the bundle`) {
		t.Errorf("diagnostics = %v, want one script-missing warning at line 7", diags)
	}
	win := "version: 0.0\nos: windows\nhooks:\n  ApplicationStart:\n    - location: scripts\\start.sh\n"
	if _, diags := Parse("appspec.yml", []byte(win), Options{Dir: dir}); len(diags) != 0 {
		t.Errorf("a Windows location that exists: diagnostics %v, want none", diags)
	}
	if _, diags := Parse("appspec.yml", []byte(win), Options{}); len(diags) != 0 {
		t.Errorf("no Dir: diagnostics %v, want none", diags)
	}
}

// D. files.

func TestParse_Files(t *testing.T) {
	const head = "version: 0.0\nos: linux\nfiles:\n"
	spec := mustParse(t, head+"  - source: /\n    destination: /opt/app\n  - source: bin/run\n    destination: /usr/local/bin/\n", Options{})
	want := []File{{Source: "/", Destination: "/opt/app", Line: 4}, {Source: "bin/run", Destination: "/usr/local/bin/", Line: 6}}
	if !slices.Equal(spec.Files, want) {
		t.Errorf("Files = %+v, want %+v", spec.Files, want)
	}
	win := mustParse(t, "version: 0.0\nos: windows\nfiles:\n  - source: \\index.html\n    destination: C:\\inetpub\\wwwroot\n  - source: a\n    destination: d:/x\n", Options{})
	if got := len(win.Files); got != 2 {
		t.Errorf("windows files = %d, want 2", got)
	}
	runErrorCases(t, []errorCase{
		{"only source", head + "  - source: test_source\n", 4, "specifies only a source file (test_source)"},
		{"only destination", head + "  - destination: /test_destination\n", 4, "destination file (/test_destination) but no source file"},
		{"relative destination", head + "  - source: a\n    destination: opt/app\n", 5, "not an absolute path"},
		{"windows path on linux", head + "  - source: a\n    destination: C:\\app\n", 5, "not an absolute path"},
		{"linux path on windows", "version: 0.0\nos: windows\nfiles:\n  - source: a\n    destination: /app\n", 5, `such as C:\app`},
		{"escaping source", head + "  - source: ../etc/passwd\n    destination: /opt\n", 4, "leaves the bundle"},
		{"not a list", head + "  source: a\n", 4, "files must be a list"},
	})
}

// E. permissions.

func TestParse_PermissionFullExample(t *testing.T) {
	spec := mustParse(t, `version: 0.0
os: linux
permissions:
  - object: /test
    pattern: 'prefix*'
    except: ['*ReadMe', '*.tmp']
    type: [file]
    owner: bob
    group: dev
    mode: 6763
    acls: ['u:henry:7', 'd:g:manager:rw']
    context:
      name: user_u
      type: unconfined_t
      range: 's3-s5:c0.c7,c13'
`, Options{})
	p := spec.Permissions[0]
	if p.Object != "/test" || p.Pattern != "prefix*" || !slices.Equal(p.Except, []string{"*ReadMe", "*.tmp"}) || !slices.Equal(p.Types, []ObjectType{ObjectFile}) || p.Owner != "bob" || p.Group != "dev" {
		t.Errorf("permission = %+v", p)
	}
	if want := fs.ModeSetuid | fs.ModeSetgid | 0o763; p.Mode.Bits != want {
		t.Errorf("mode bits = %v, want %v", p.Mode.Bits, want)
	}
	wantACL := []ACE{{Kind: "user", Name: "henry", Perms: "rwx"}, {Default: true, Kind: "group", Name: "manager", Perms: "rw-"}}
	if !slices.Equal(p.ACLs, wantACL) {
		t.Errorf("acls = %+v, want %+v", p.ACLs, wantACL)
	}
	r := p.Context.Range
	if p.Context.User != "user_u" || p.Context.Type != "unconfined_t" || r.Low != 3 || r.High != 5 || !slices.Equal(r.Categories, []int{0, 1, 2, 3, 4, 5, 6, 7, 13}) {
		t.Errorf("context = %+v range %+v", p.Context, r)
	}
}

func TestParse_PermissionDefaults(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\npermissions:\n  - object: /opt/app\n    pattern: '**'\n  - object: /srv\n", Options{})
	for _, p := range spec.Permissions {
		if p.Pattern != "**" || !p.AppliesTo(ObjectFile) || !p.AppliesTo(ObjectDirectory) || p.Mode != nil {
			t.Errorf("permission = %+v, want pattern ** for files and directories and no mode", p)
		}
	}
}

func TestParse_PermissionRejected(t *testing.T) {
	const head = "version: 0.0\nos: linux\npermissions:\n"
	runErrorCases(t, []errorCase{
		{"no object", head + "  - pattern: '*'\n", 4, "has no object value"},
		{"relative object", head + "  - object: lib\n", 4, "not an absolute path"},
		{"except string", head + "  - object: /a\n    except: '*.tmp'\n", 5, "except must be a list"},
		{"type string", head + "  - object: /a\n    type: file\n", 5, "must be a list"},
		{"type unknown", head + "  - object: /a\n    type: [files]\n", 5, "did you mean 'file'"},
		{"mode too long", head + "  - object: /a\n    mode: 12345\n", 5, "not 1 to 4"},
		{"mode bad char", head + "  - object: /a\n    mode: 12a\n", 5, "invalid character 'a'"},
		{"mode octal 8", head + "  - object: /a\n    mode: 648\n", 5, "invalid character '8'"},
		{"bad acl", head + "  - object: /a\n    acls: ['7']\n", 5, "invalid acl entry (7)"},
		{"context without type", head + "  - object: /a\n    context:\n      name: u\n", 6, "has no type"},
		{"bad range", head + "  - object: /a\n    context:\n      type: t\n      range: s3-s2:c0\n", 7, "not an SELinux range"},
		{"on windows", "version: 0.0\nos: windows\npermissions:\n  - object: C:\\a\n", 4, "only for os: linux"},
		{"duplicate", head + "  - object: /a\n    mode: 644\n  - object: /a\n    owner: bob\n", 6, "a second time (first at line 4)"},
	})
	// Directories and files of one object are a legitimate split.
	mustParse(t, head+"  - object: /a\n    type: [directory]\n    mode: 755\n  - object: /a\n    type: [file]\n    mode: 644\n", Options{})
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in       string
		wantText string
		wantBits fs.FileMode
		wantErr  string
	}{
		{"6763", "6763", fs.ModeSetuid | fs.ModeSetgid | 0o763, ""},
		{"12", "012", 0o12, ""},
		{"0000", "0000", 0, ""},
		{"0644", "0644", 0o644, ""},
		{"1777", "1777", fs.ModeSticky | 0o777, ""},
		{"12345", "", 0, "not 1 to 4"},
		{"12a", "", 0, "invalid character 'a'"},
		{"", "", 0, "not 1 to 4"},
	}
	for _, tc := range tests {
		m, err := ParseMode(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMode(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMode(%q): %v", tc.in, err)
			continue
		}
		if m.Text != tc.wantText || m.Bits != tc.wantBits {
			t.Errorf("ParseMode(%q) = %q %v, want %q %v", tc.in, m.Text, m.Bits, tc.wantText, tc.wantBits)
		}
	}
}

func TestParse_IntegerModeIsOctalDigits(t *testing.T) {
	for _, src := range []string{"644", "0644", `"0644"`, "'644'"} {
		spec := mustParse(t, "version: 0.0\nos: linux\npermissions:\n  - object: /a\n    mode: "+src+"\n", Options{})
		if got := spec.Permissions[0].Mode.Bits; got != 0o644 {
			t.Errorf("mode %s: bits %v, want 0644", src, got)
		}
	}
}

func TestParseACE(t *testing.T) {
	valid := []struct {
		in   string
		want ACE
	}{
		{"u:henry:7", ACE{Kind: "user", Name: "henry", Perms: "rwx"}},
		{"d:g:manager:rw", ACE{Default: true, Kind: "group", Name: "manager", Perms: "rw-"}},
		{"bob:0", ACE{Kind: "user", Name: "bob", Perms: "---"}},
		{"m:7", ACE{Kind: "mask", Perms: "rwx"}},
		{"mask:", ACE{Kind: "mask", Perms: "---"}},
		{"d:bob:rwx", ACE{Default: true, Kind: "user", Name: "bob", Perms: "rwx"}},
		{"default::rw", ACE{Default: true, Kind: "user", Perms: "rw-"}},
		{"group:dev:r-x", ACE{Kind: "group", Name: "dev", Perms: "r-x"}},
	}
	for _, tc := range valid {
		got, err := ParseACE(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseACE(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	invalid := []struct{ in, substr string }{
		{"7", "invalid acl entry (7)"},
		{"d:u:bob:7:rwx", "invalid acl entry"},
		{"invalid:u:bob:7:rwx", "invalid acl entry"},
		{"d:d:bob:rwx", "invalid acl entry"},
		{"mask:name:rwx", "invalid acl entry"},
		{"d:other:name:rwx", "invalid acl entry"},
		{"u:bob:rwxd", "invalid character (d)"},
		{"u::rwx", "use mode to set the base acl entry"},
	}
	for _, tc := range invalid {
		if _, err := ParseACE(tc.in); err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("ParseACE(%q) error = %v, want %q", tc.in, err, tc.substr)
		}
	}
}

func TestParseSELinuxRange(t *testing.T) {
	for _, in := range []string{"s3-s2:c0", "s3-:c0", ":c0", "s", "s0-s-1", "sd3", "d3", "s0:c2.c1", "s0:c2.", "s0:", "s0:c", "s0:c-1", "s0:c1024", "s0:cd3", "s0:c0.c2,c1", ""} {
		if r, err := ParseSELinuxRange(in); err == nil {
			t.Errorf("ParseSELinuxRange(%q) = %+v, want an error", in, r)
		}
	}
	r, err := ParseSELinuxRange("s5")
	if err != nil || r.Low != 5 || r.High != 5 || len(r.Categories) != 0 {
		t.Errorf("ParseSELinuxRange(s5) = %+v, %v; want low = high = 5, no categories", r, err)
	}
	r, err = ParseSELinuxRange("s0:c0.c1,c15,c7.c9")
	if err != nil || len(r.Categories) != 6 {
		t.Errorf("ParseSELinuxRange(s0:c0.c1,c15,c7.c9) = %+v, %v; want six categories", r, err)
	}
}

func TestParse_SELinuxRangeMappingForm(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\npermissions:\n  - object: /a\n    context:\n      user: system_u\n      type: t\n      range:\n        low: s0\n        high: s2\n", Options{})
	r := spec.Permissions[0].Context.Range
	if r.Low != 0 || r.High != 2 || spec.Permissions[0].Context.User != "system_u" {
		t.Errorf("context = %+v range %+v, want user system_u, s0-s2", spec.Permissions[0].Context, r)
	}
}

// Keys and spelling.

func TestParse_UnknownKeys(t *testing.T) {
	spec, diags := Parse("appspec.yml", []byte("version: 0.0\nos: linux\npermission:\n  - object: /a\n"), Options{})
	if spec == nil {
		t.Fatalf("got invalid:\n%s", joinDiags(diags))
	}
	if len(diags) != 1 || diags[0].Code != CodeUnknownKey || diags[0].Line != 3 || !strings.Contains(diags[0].Message, "did you mean 'permissions'") {
		t.Errorf("diagnostics = %v, want one unknown-key warning at line 3 suggesting permissions", diags)
	}
	d := firstError(t, "version: 0.0\nos: linux\nHooks:\n  BeforeInstall:\n    - location: a\n", Options{})
	if d.Code != CodeKeyCase || d.Line != 3 || !strings.Contains(d.Message, "must be spelled 'hooks'") {
		t.Errorf("got %s, want a key-case error at line 3", d)
	}
	_, diags = Parse("appspec.yml", []byte("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a\n      Timeout: 30\n"), Options{})
	if len(diags) != 1 || diags[0].Code != CodeKeyCase || diags[0].Line != 6 {
		t.Errorf("diagnostics = %v, want exactly one key-case error at line 6", diags)
	}
}

// Raw stage: what YAML would otherwise let through by surprise.

func TestParse_RawStageRejects(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	tests := []struct {
		name string
		src  string
		code string
		line int
	}{
		{"duplicate key", "version: 0.0\nos: linux\nos: windows\n", CodeDuplicateKey, 3},
		{"tab indentation", "version: 0.0\nos: linux\nhooks:\n\tBeforeInstall:\n", CodeSyntax, 4},
		{"tab after spaces", "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n  \t- location: a\n", CodeSyntax, 5},
		{"tab in nested mapping", "version: 0.0\nos: linux\nfiles:\n  - source: a\n  \tdestination: /b\n", CodeSyntax, 5},
		{"two documents", "version: 0.0\nos: linux\n---\nversion: 0.0\n", CodeMultipleDocuments, 3},
		{"billion laughs", laughs, CodeAlias, 0},
		{"self alias", "version: 0.0\nos: linux\nfiles: &f [*f]\n", CodeAlias, 3},
		{"merge key", "version: 0.0\nos: linux\nx: &x {a: 1}\nhooks:\n  <<: *x\n", CodeAlias, 5},
		{"latin-1", "version: 0.0\nos: linux\n# caf\xe9\n", CodeEncoding, 3},
		{"utf-16", "\xff\xfev\x00e\x00", CodeEncoding, 1},
		{"not a mapping", "- version: 0.0\n", CodeType, 1},
		{"syntax on line 1", "version: 0.0: x\n", CodeSyntax, 1},
		{"template placeholder value", "version: 0.0\nos: linux\nfiles:\n  - source: a\n    destination: {{ dest }}\n", CodeSyntax, 5},
		{"mapping as a key", "version: 0.0\nos: linux\n? {a: 1}\n: x\n", CodeType, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := firstError(t, tc.src, Options{})
			if d.Code != tc.code || (tc.line != 0 && d.Line != tc.line) {
				t.Errorf("got %s (code %s), want code %s at line %d", d, d.Code, tc.code, tc.line)
			}
		})
	}
}

func TestParse_TabOnlyLineIsBlank(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\n\t\nhooks:\n  BeforeInstall:\n \t \n    - location: a\n", Options{})
	if got := spec.Hooks[EventBeforeInstall][0].Line; got != 7 {
		t.Errorf("script line = %d, want 7 (line numbers kept)", got)
	}
}

func TestParse_CRLFAndNoFinalNewline(t *testing.T) {
	spec := mustParse(t, "\xef\xbb\xbfversion: 0.0\r\nos: windows\r\nhooks:\r\n  BeforeInstall:\r\n    - location: a.bat", Options{})
	if got := spec.Hooks[EventBeforeInstall][0].Location; got != "a.bat" {
		t.Errorf("location = %q, want a.bat", got)
	}
}

func TestParse_AliasesResolved(t *testing.T) {
	spec := mustParse(t, "version: 0.0\nos: linux\nhooks:\n  BeforeInstall: &s\n    - location: a.sh\n  AfterInstall: *s\n", Options{})
	if got := spec.Hooks[EventAfterInstall][0].Location; got != "a.sh" {
		t.Errorf("aliased location = %q, want a.sh", got)
	}
}

// ECS and Lambda.

func TestParse_ECS(t *testing.T) {
	src := `version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: arn:aws:ecs:us-east-1:111122223333:task-definition/app:3
        LoadBalancerInfo:
          ContainerName: web
          ContainerPort: 8080
        PlatformVersion: LATEST
        NetworkConfiguration:
          AwsvpcConfiguration:
            Subnets: [subnet-0abc]
            SecurityGroups: [sg-12ab]
            AssignPublicIp: DISABLED
        CapacityProviderStrategy:
          - CapacityProvider: FARGATE_SPOT
            Base: 1
            Weight: 2
Hooks:
  - BeforeInstall: CheckBefore
  - AfterAllowTestTraffic: CheckTest
`
	spec, diags := Parse("appspec.yml", []byte(src), Options{})
	if spec == nil || len(diags) != 0 {
		t.Fatalf("got %v, want valid with no diagnostics:\n%s", spec, joinDiags(diags))
	}
	want := ECSTarget{TaskDefinition: "arn:aws:ecs:us-east-1:111122223333:task-definition/app:3", ContainerName: "web", ContainerPort: 8080,
		PlatformVersion: "LATEST", Subnets: []string{"subnet-0abc"}, SecurityGroups: []string{"sg-12ab"}, AssignPublicIP: "DISABLED",
		CapacityProviders: []CapacityProvider{{Provider: "FARGATE_SPOT", Base: 1, Weight: 2}}}
	got := *spec.ECS
	if got.TaskDefinition != want.TaskDefinition || got.ContainerName != want.ContainerName || got.ContainerPort != want.ContainerPort ||
		got.PlatformVersion != want.PlatformVersion || !slices.Equal(got.Subnets, want.Subnets) || !slices.Equal(got.SecurityGroups, want.SecurityGroups) ||
		got.AssignPublicIP != want.AssignPublicIP || !slices.Equal(got.CapacityProviders, want.CapacityProviders) {
		t.Errorf("ECS = %+v, want %+v", got, want)
	}
	if spec.Platform != PlatformECS || spec.FunctionHooks[EventBeforeInstall] != "CheckBefore" || spec.FunctionHooks[EventAfterAllowTestTraffic] != "CheckTest" {
		t.Errorf("platform %v hooks %v", spec.Platform, spec.FunctionHooks)
	}
	const head = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n"
	runErrorCases(t, []errorCase{
		{"no task definition", head + "        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\n", 6, "TaskDefinition is missing"},
		{"bad port", head + "        TaskDefinition: td\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 70000}\n", 7, "not a port number"},
		{"server hook", head + "        TaskDefinition: td\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\nHooks:\n  - ValidateService: fn\n", 9, "unknown ecs hook 'ValidateService'"},
		{"hooks as map", head + "        TaskDefinition: td\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}\nHooks:\n  BeforeInstall: fn\n", 9, "Hooks must be a list"},
	})
}

func TestParse_Lambda(t *testing.T) {
	src := "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: inbound\n        Alias: live\n        CurrentVersion: 1\n        TargetVersion: 2\nHooks:\n  - BeforeAllowTraffic: Pre\n"
	spec := mustParse(t, src, Options{})
	want := LambdaTarget{Name: "inbound", Alias: "live", CurrentVersion: "1", TargetVersion: "2"}
	if spec.Platform != PlatformLambda || *spec.Lambda != want || spec.FunctionHooks[EventBeforeAllowTraffic] != "Pre" {
		t.Errorf("spec = %+v lambda %+v, want %+v", spec, spec.Lambda, want)
	}
	d := firstError(t, "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: inbound\n", Options{})
	if d.Line != 6 || !strings.Contains(d.Message, "Alias is missing") {
		t.Errorf("got %s, want Alias missing at line 6", d)
	}
}

func TestParse_PlatformMismatch(t *testing.T) {
	src := "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n"
	if got := Detect([]byte(src)); got != PlatformLambda {
		t.Errorf("Detect = %v, want lambda", got)
	}
	d := firstError(t, src, Options{Platform: PlatformServer})
	if d.Code != CodePlatform || d.Line != 2 {
		t.Errorf("got %s, want a platform error at line 2", d)
	}
	d = firstError(t, "version: 0.0\nos: linux\n", Options{Platform: PlatformECS})
	if d.Code != CodePlatform || !strings.Contains(d.Message, "written for the server platform") {
		t.Errorf("got %s, want a platform error when ECS is asked for", d)
	}
}

func TestDiagnostic_String(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "a.yml", Line: 3, Severity: SeverityError, Message: "m"}, "a.yml:3: error: m"},
		{Diagnostic{File: "a.yml", Line: 1, Severity: SeverityWarning, Message: "w"}, "a.yml:1: warning: w"},
		{Diagnostic{File: "a.yml", Severity: SeverityError, Message: "m"}, "a.yml: error: m"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AfterInstal", "AfterInstall"},
		{"applicationstart", "ApplicationStart"},
		{"ValidateSevice", "ValidateService"},
		{"Banana", ""},
	}
	for _, tc := range tests {
		if got := suggest(tc.in, ServerHookEvents); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFindFS(t *testing.T) {
	spec := &fstest.MapFile{Data: []byte("version: 0.0\nos: linux\n")}
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		platform Platform
		want     string
		wantErr  string
	}{
		{"yml", fstest.MapFS{"appspec.yml": spec}, PlatformServer, "appspec.yml", ""},
		{"symlink followed", fstest.MapFS{
			"appspec.yml":      {Data: []byte("conf/appspec.yml"), Mode: fs.ModeSymlink},
			"conf/appspec.yml": spec,
		}, PlatformServer, "appspec.yml", ""},
		{"dangling symlink skipped", fstest.MapFS{
			"appspec.yml":  {Data: []byte("nowhere"), Mode: fs.ModeSymlink},
			"appspec.yaml": spec,
		}, PlatformServer, "appspec.yaml", ""},
		{"json for lambda", fstest.MapFS{"appspec.json": spec}, PlatformLambda, "appspec.json", ""},
		{"json ignored for server", fstest.MapFS{"appspec.json": spec}, PlatformServer, "", "no appspec.yml or appspec.yaml in the bundle"},
		{"wrong case", fstest.MapFS{"APPSPEC.yml": spec}, PlatformServer, "", "rename it to appspec.yml"},
		{"directory", fstest.MapFS{"appspec.yml/x": spec}, PlatformServer, "", "no appspec.yml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindFS(tc.fsys, tc.platform)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FindFS error = %v, want ErrNotFound saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("FindFS = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
