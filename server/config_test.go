package main

import (
	"io"
	"strings"
	"testing"
)

func TestLoadConfig_OIDC(t *testing.T) {
	env := func(kv ...string) map[string]string {
		m := map[string]string{"SLIPWAY_ADMIN_TOKEN": "admin-0123456789abcdef", "SLIPWAY_ENROLL_TOKEN": "enroll-0123456789abcdef"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const public = "https://slipway.example.com"
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantIssuer string // "" when workflow tokens are off
		wantErr    string
	}{
		{name: "no public URL: off", env: env()},
		{name: "public URL: github.com's issuer", env: env("SLIPWAY_PUBLIC_URL", public), wantIssuer: DefaultOIDCIssuer},
		{name: "GHES issuer by flag", env: env("SLIPWAY_PUBLIC_URL", public),
			args: []string{"--oidc-issuer", "https://ghes.example.com/_services/token"}, wantIssuer: "https://ghes.example.com/_services/token"},
		{name: "turned off", env: env("SLIPWAY_PUBLIC_URL", public, "SLIPWAY_OIDC_ISSUER", "off")},
		{name: "plain http issuer", env: env("SLIPWAY_PUBLIC_URL", public, "SLIPWAY_OIDC_ISSUER", "http://issuer.example.com"), wantErr: "use https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data-dir", t.TempDir()}, tt.args...)
			cfg, err := loadConfig(args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := cfg.workflowVerifier()
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if v != nil {
				got = v.Issuer()
			}
			if got != tt.wantIssuer {
				t.Errorf("accepted issuer %q, want %q", got, tt.wantIssuer)
			}
		})
	}
}
