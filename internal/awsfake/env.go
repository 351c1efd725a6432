package awsfake

import (
	"os"
	"path/filepath"
	"testing"
)

// The credentials Credentials puts in the environment.
const (
	AccessKey = "AKIDSLIPWAYTEST"
	SecretKey = "slipway-test-secret"
)

// Credentials gives the test's process the SDK environment of a machine with static
// credentials and nothing else: no shared config or credentials files, no instance metadata,
// no region, no endpoint overrides. It uses t.Setenv, so the test must not be parallel.
func Credentials(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                          AccessKey,
		"AWS_SECRET_ACCESS_KEY":                      SecretKey,
		"AWS_SESSION_TOKEN":                          "",
		"AWS_CONFIG_FILE":                            empty,
		"AWS_SHARED_CREDENTIALS_FILE":                empty,
		"AWS_EC2_METADATA_DISABLED":                  "true",
		"AWS_PROFILE":                                "",
		"AWS_DEFAULT_PROFILE":                        "",
		"AWS_REGION":                                 "",
		"AWS_DEFAULT_REGION":                         "",
		"AWS_ENDPOINT_URL":                           "",
		"AWS_ENDPOINT_URL_LAMBDA":                    "",
		"AWS_ENDPOINT_URL_ECS":                       "",
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": "",
		"AWS_MAX_ATTEMPTS":                           "",
		"AWS_RETRY_MODE":                             "",
	} {
		t.Setenv(k, v)
	}
}
