package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestWorkflow_Authorize(t *testing.T) {
	w := Workflow{Repository: "acme/shop", RepositoryID: 4242, Ref: "refs/heads/main", Environment: "Production"}
	linked := Target{Application: "shop", Group: "prod", Repository: "acme/shop", RepositoryID: 4242}
	tests := []struct {
		name   string
		w      Workflow
		target func(Target) Target
		want   string // "" allows
	}{
		{"linked, no other rule", w, func(t Target) Target { return t }, ""},
		{"not linked", w, func(Target) Target { return Target{Application: "shop", Group: "prod"} }, "is not linked to a GitHub repository"},
		{"other repository, same name", Workflow{Repository: "acme/shop", RepositoryID: 7, Ref: w.Ref}, func(t Target) Target { return t },
			"accepts workflows of repository acme/shop (id 4242), and this token is from acme/shop (id 7)"},
		{"ref allowed", w, func(t Target) Target { t.AllowedRefs = []string{"refs/tags/v*", "refs/heads/main"}; return t }, ""},
		{"ref not allowed", w, func(t Target) Target { t.AllowedRefs = []string{"refs/tags/v*"}; return t },
			"may be deployed from refs refs/tags/v*; this workflow runs on refs/heads/main"},
		{"a star stops at a slash", Workflow{RepositoryID: 4242, Ref: "refs/heads/feature/x"}, func(t Target) Target { t.AllowedRefs = []string{"refs/heads/*"}; return t },
			"this workflow runs on refs/heads/feature/x"},
		{"environment matches, case aside", w, func(t Target) Target { t.Environment = "production"; return t }, ""},
		{"environment differs", w, func(t Target) Target { t.Environment = "staging"; return t },
			"deploys to GitHub environment \"staging\", so the job must declare `environment: staging`; this job declares environment \"Production\""},
		{"no environment declared", Workflow{RepositoryID: 4242, Ref: w.Ref}, func(t Target) Target { t.Environment = "staging"; return t },
			"this job declares no environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Authorize(tt.target(linked))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrForbidden saying %q", err, tt.want)
			}
		})
	}
}

func TestParseClaims_RepositoryIDAsStringOrNumber(t *testing.T) {
	for _, in := range []string{`{"repository_id":"42","ref":"r"}`, `{"repository_id":42,"ref":"r"}`} {
		w, err := parseClaims([]byte(in))
		if err != nil || w.RepositoryID != 42 {
			t.Errorf("%s: %+v, %v; want repository id 42", in, w, err)
		}
	}
	for _, in := range []string{`{"repository_id":"x","ref":"r"}`, `{"repository_id":"-1","ref":"r"}`, `{"ref":"r"}`} {
		if _, err := parseClaims([]byte(in)); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: err = %v, want ErrTokenInvalid", in, err)
		}
	}
}
