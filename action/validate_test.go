package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/corpus"
)

// runCLI runs the command in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	validServer = "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: scripts/install.sh\n      timeout: 300\n"
	warnServer  = "version: 0.0\nos: windows\nhooks:\n  BeforeInstall:\n    - location: a.bat\n      runas: Administrator\n"
	badServer   = "version: 1\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n"
	validLambda = "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: f\n        Alias: live\n        CurrentVersion: 1\n        TargetVersion: 2\n"
)

func TestValidate_ValidFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", validServer)
	code, stdout, stderr := runCLI(t, "validate", p)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if want := "OK " + p + " (server)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestValidate_WarningsKeepExitZero(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", warnServer)
	code, stdout, stderr := runCLI(t, "validate", p)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if want := p + ":6: warning: "; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}
	if !strings.HasPrefix(stdout, "OK "+p) {
		t.Errorf("stdout = %q, want an OK line", stdout)
	}
}

func TestValidate_InvalidFileListsAllErrorsInLineOrder(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", badServer)
	code, stdout, stderr := runCLI(t, "validate", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing for an invalid file", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 2 {
		t.Fatalf("stderr has %d lines, want 2:\n%s", len(lines), stderr)
	}
	if want := p + ":1: error: version must be 0.0"; !strings.HasPrefix(lines[0], want) {
		t.Errorf("line 1 = %q, want prefix %q", lines[0], want)
	}
	if want := p + ":4: error: unknown lifecycle event 'AfterInstal'"; !strings.HasPrefix(lines[1], want) || !strings.Contains(lines[1], "did you mean 'AfterInstall'") {
		t.Errorf("line 2 = %q, want prefix %q and a suggestion", lines[1], want)
	}
}

func TestValidate_SeveralFilesOneInvalid(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", validServer)
	bad := writeFile(t, dir, "bad.yml", badServer)
	code, stdout, stderr := runCLI(t, "validate", good, bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "OK "+good) || strings.Contains(stdout, bad) {
		t.Errorf("stdout = %q, want only the good file reported OK", stdout)
	}
	if !strings.Contains(stderr, bad+":1: error:") {
		t.Errorf("stderr = %q, want the bad file's errors", stderr)
	}
}

func TestValidate_DirectoryUsesFind(t *testing.T) {
	tests := []struct {
		name, file, content, platform string
		wantCode                      int
		wantOut                       string
	}{
		{"yml", "appspec.yml", validServer, "auto", 0, "appspec.yml (server)"},
		{"yaml", "appspec.yaml", validServer, "server", 0, "appspec.yaml (server)"},
		{"json lambda", "appspec.json", validLambda, "lambda", 0, "appspec.json (lambda)"},
		{"json not read for server", "appspec.json", validServer, "server", 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.file, tc.content)
			code, stdout, stderr := runCLI(t, "validate", "--platform", tc.platform, dir)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if tc.wantOut != "" && !strings.Contains(stdout, tc.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tc.wantOut)
			}
			if tc.wantCode != 0 && !strings.Contains(stderr, "appspec not found") {
				t.Errorf("stderr = %q, want a not-found error", stderr)
			}
		})
	}
}

// TestValidate_DirectoryWarnsOfAMissingScript: a bundle directory is checked for its hook
// scripts (a warning: the file stays valid); a file given alone is not, its bundle being unknown.
func TestValidate_DirectoryWarnsOfAMissingScript(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "appspec.yml", validServer)
	code, _, stderr := runCLI(t, "validate", dir)
	want := p + `:5: warning: hooks.BeforeInstall[0].location "scripts/install.sh" is not in the bundle`
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 0 and %q", code, stderr, want)
	}
	if code, _, stderr := runCLI(t, "validate", p); code != 0 || stderr != "" {
		t.Errorf("the file alone: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	writeFile(t, dir, "scripts/install.sh", "#!/bin/sh\n")
	if code, _, stderr := runCLI(t, "validate", dir); code != 0 || stderr != "" {
		t.Errorf("with the script: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
}

func TestValidate_PlatformFlag(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", validLambda)
	if code, _, stderr := runCLI(t, "validate", "--platform", "server", p); code != 1 || !strings.Contains(stderr, "written for the lambda platform") {
		t.Errorf("--platform server on a lambda appspec: exit %d, stderr %q; want 1 and a platform error", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "validate", "--platform=lambda", p); code != 0 || !strings.Contains(stdout, "(lambda)") {
		t.Errorf("--platform=lambda: exit %d, stdout %q; want 0 and an OK line", code, stdout)
	}
}

func TestValidate_Usage(t *testing.T) {
	p := writeFile(t, t.TempDir(), "appspec.yml", validServer)
	tests := []struct {
		name   string
		args   []string
		substr string
	}{
		{"no files", []string{"validate"}, "usage: slipway validate"},
		{"unknown flag", []string{"validate", "--bogus", p}, "flag provided but not defined"},
		{"bad platform", []string{"validate", "--platform", "ec2", p}, `unknown platform "ec2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.substr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.substr)
			}
		})
	}
}

func TestValidate_MissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yml")
	code, _, stderr := runCLI(t, "validate", missing)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, missing+": error: ") {
		t.Errorf("stderr = %q, want it to name the file", stderr)
	}
}

// TestValidate_Corpus runs the CLI over the shared corpus at once and checks each file's verdict
// against expectations.tsv: an OK line naming the platform for a valid file, an error at the
// expected line for an invalid one, and warnings exactly where the row lists some.
func TestValidate_Corpus(t *testing.T) {
	dir := corpus.Need(t, "appspec")
	f, err := os.Open(filepath.Join(dir, "expectations.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = '\t', 5
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read expectations: %v", err)
	}
	rows = rows[1:]
	args := []string{"validate"}
	for _, row := range rows {
		args = append(args, filepath.Join(dir, row[0]))
	}
	code, stdout, stderr := runCLI(t, args...)
	if code != 1 {
		t.Errorf("exit %d, want 1 (the corpus holds invalid files)", code)
	}
	lineRE := regexp.MustCompile(`^line (\d+)\b`)
	for _, row := range rows {
		path, platform, verdict, warnings := filepath.Join(dir, row[0]), row[1], row[2], row[3]
		ok := strings.Contains(stdout, "OK "+path+" ("+platform+")\n")
		if (verdict == "valid") != ok {
			t.Errorf("%s: OK line present = %v, want verdict %s", row[0], ok, verdict)
		}
		warned := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + `:\d+: warning: `).MatchString(stderr)
		if warned != (warnings != "") {
			t.Errorf("%s: warnings printed = %v, want warnings %q", row[0], warned, warnings)
		}
		if verdict == "invalid" {
			m := lineRE.FindStringSubmatch(row[4])
			if m == nil {
				t.Fatalf("%s: reason of an invalid row has no 'line N': %q", row[0], row[4])
			}
			if want := path + ":" + m[1] + ": error: "; !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q", row[0], want)
			}
		}
	}
}
