package api_test

import (
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
)

func TestRepositoryPath(t *testing.T) {
	for _, tc := range []struct{ dir, location, want string }{
		{"deploy/web", "scripts/check.sh", "deploy/web/scripts/check.sh"},
		{"deploy/web", "/scripts/check.sh", "deploy/web/scripts/check.sh"},
		{"deploy", "./scripts/../bin/start", "deploy/bin/start"},
		{".", "scripts/check.sh", "scripts/check.sh"},
		{"deploy", "../../etc/passwd", "deploy/etc/passwd"}, // never outside the bundle's directory
		{"", "scripts/check.sh", ""},                        // unknown directory
	} {
		if got := api.RepositoryPath(tc.dir, tc.location); got != tc.want {
			t.Errorf("RepositoryPath(%q, %q) = %q, want %q", tc.dir, tc.location, got, tc.want)
		}
	}
}
