package appspec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/corpus"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a\n      timeout: 10\n"))
	f.Add([]byte("version: 0.0\nResources:\n  - t:\n      Type: AWS::ECS::Service\n"))
	if corpusDir, err := corpus.Dir("appspec"); err == nil {
		entries, err := os.ReadDir(corpusDir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasSuffix(e.Name(), ".tsv") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	} else if os.Getenv("CI") == "true" {
		f.Fatalf("appspec corpus missing: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []Options{{}, {Platform: PlatformServer, AllowCustomEvents: true}} {
			spec, diags := Parse("fuzz.yml", data, opts)
			for _, d := range diags {
				if d.Message == "" || d.Code == "" || d.Line < 0 || d.File != "fuzz.yml" {
					t.Fatalf("malformed diagnostic %#v", d)
				}
			}
			if spec == nil {
				if !HasErrors(diags) {
					t.Fatalf("no spec and no error diagnostic")
				}
				continue
			}
			if HasErrors(diags) {
				t.Fatalf("a spec together with errors: %v", diags)
			}
			checkInvariants(t, spec)
		}
		Detect(data)
	})
}

func checkInvariants(t *testing.T, spec *Spec) {
	t.Helper()
	if spec.Version != "0.0" {
		t.Fatalf("Version = %q", spec.Version)
	}
	switch spec.Platform {
	case PlatformServer:
		if spec.ECS != nil || spec.Lambda != nil {
			t.Fatalf("server spec with a function target")
		}
	case PlatformECS:
		if spec.ECS == nil {
			t.Fatalf("ecs spec without ECS target")
		}
	case PlatformLambda:
		if spec.Lambda == nil {
			t.Fatalf("lambda spec without Lambda target")
		}
	default:
		t.Fatalf("valid spec with platform %v", spec.Platform)
	}
	for event, scripts := range spec.Hooks {
		var given int64
		for _, s := range scripts {
			if s.Timeout <= 0 || s.Timeout > MaxEventTimeout {
				t.Fatalf("%s: timeout %v out of range", event, s.Timeout)
			}
			if s.Location == "" {
				t.Fatalf("%s: empty location", event)
			}
			if s.TimeoutGiven {
				given += int64(s.Timeout)
			}
		}
		if given > int64(MaxEventTimeout) {
			t.Fatalf("%s: given timeouts add up to %v", event, given)
		}
	}
	for _, p := range spec.Permissions {
		if !strings.HasPrefix(p.Object, "/") || p.Pattern == "" {
			t.Fatalf("permission %+v", p)
		}
	}
}
