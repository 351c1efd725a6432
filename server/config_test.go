package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		wantOff    string // in the reason they are off
		wantErr    string
	}{
		{name: "no public URL: off", env: env(), wantOff: "public_url is not set, and a token must name it as its audience; set it (--public-url or SLIPWAY_PUBLIC_URL)"},
		{name: "public URL: github.com's issuer", env: env("SLIPWAY_PUBLIC_URL", public), wantIssuer: DefaultOIDCIssuer},
		{name: "GHES issuer by flag", env: env("SLIPWAY_PUBLIC_URL", public),
			args: []string{"--oidc-issuer", "https://ghes.example.com/_services/token"}, wantIssuer: "https://ghes.example.com/_services/token"},
		{name: "turned off", env: env("SLIPWAY_PUBLIC_URL", public, "SLIPWAY_OIDC_ISSUER", "off"),
			wantOff: "oidc_issuer is off; workflows need an API token instead (the Action's inputs auth: api-token and api-token: ${{ secrets.SLIPWAY_TOKEN }})"},
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
			if off := cfg.workflowTokensOff(); (off == "") != (tt.wantOff == "") || !strings.Contains(off, tt.wantOff) {
				t.Errorf("reason tokens are off = %q, want %q", off, tt.wantOff)
			}
		})
	}
}

func TestLoadConfig_GitHub(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, []byte("not checked here"), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(dir, "slipway.yml")
	if err := os.WriteFile(yamlFile, []byte("github:\n  app_id: 12\n  private_key_file: "+keyFile+"\n  check_run_interval: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"SLIPWAY_ADMIN_TOKEN": "admin-0123456789abcdef", "SLIPWAY_ENROLL_TOKEN": "enroll-0123456789abcdef",
		"SLIPWAY_PUBLIC_URL": "https://slipway.example.com",
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "off by default", check: func(t *testing.T, c Config) {
			if c.GitHub.Enabled() {
				t.Error("GitHub enabled without settings")
			}
		}},
		{name: "token and secret from the environment", env: map[string]string{
			"SLIPWAY_GITHUB_TOKEN": "ghp_x", "SLIPWAY_GITHUB_WEBHOOK_SECRET": "0123456789abcdef", "SLIPWAY_GITHUB_API_URL": "https://ghe.example.com/api/v3",
		}, check: func(t *testing.T, c Config) {
			if c.GitHub.Token != "ghp_x" || c.GitHub.APIURL != "https://ghe.example.com/api/v3" || c.GitHub.CheckRunInterval != 5*time.Second {
				t.Errorf("got %+v", c.GitHub)
			}
		}},
		{name: "app from the file", args: []string{"--config", yamlFile}, check: func(t *testing.T, c Config) {
			if c.GitHub.AppID != 12 || c.GitHub.PrivateKeyFile != keyFile || c.GitHub.CheckRunInterval != 3*time.Second {
				t.Errorf("got %+v", c.GitHub)
			}
		}},
		{name: "flags over the environment", env: map[string]string{"SLIPWAY_GITHUB_APP_ID": "5", "SLIPWAY_GITHUB_PRIVATE_KEY_FILE": keyFile},
			args: []string{"--github-app-id", "7"}, check: func(t *testing.T, c Config) {
				if c.GitHub.AppID != 7 {
					t.Errorf("app id %d, want 7", c.GitHub.AppID)
				}
			}},
		{name: "app and token", env: map[string]string{"SLIPWAY_GITHUB_APP_ID": "5", "SLIPWAY_GITHUB_PRIVATE_KEY_FILE": keyFile, "SLIPWAY_GITHUB_TOKEN": "t"}, wantErr: "not both"},
		{name: "app without key", env: map[string]string{"SLIPWAY_GITHUB_APP_ID": "5"}, wantErr: "github.private_key_file"},
		{name: "key without app", env: map[string]string{"SLIPWAY_GITHUB_PRIVATE_KEY_FILE": keyFile}, wantErr: "github.app_id"},
		{name: "bad app id", env: map[string]string{"SLIPWAY_GITHUB_APP_ID": "my-app"}, wantErr: "numeric id"},
		{name: "webhooks without API access", env: map[string]string{"SLIPWAY_GITHUB_WEBHOOK_SECRET": "0123456789abcdef"}, wantErr: "webhooks need API access"},
		{name: "short webhook secret", env: map[string]string{"SLIPWAY_GITHUB_TOKEN": "t", "SLIPWAY_GITHUB_WEBHOOK_SECRET": "short"}, wantErr: "github.webhook_secret"},
		{name: "bad API URL", env: map[string]string{"SLIPWAY_GITHUB_TOKEN": "t", "SLIPWAY_GITHUB_API_URL": "api.github.com"}, wantErr: "github.api_url"},
		{name: "no public URL", env: map[string]string{"SLIPWAY_GITHUB_TOKEN": "t", "SLIPWAY_PUBLIC_URL": ""}, wantErr: "public_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := loadConfig(tc.args, func(k string) string { return env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// -h says what the server is and where its settings come from before the flags.
func TestLoadConfig_HelpSaysWhatTheServerIs(t *testing.T) {
	var stderr strings.Builder
	_, err := loadConfig([]string{"-h"}, tokensEnv(), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("loadConfig(-h) = %v, want flag.ErrHelp", err)
	}
	out := stderr.String()
	for _, want := range []string{"usage: slipway-server", "SLIPWAY_ADMIN_TOKEN", "listening on URL", "-data-dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h output lacks %q:\n%s", want, out)
		}
	}
}

// hook_urls comes from the file or, comma-separated, the environment; a prefix that is not an
// http(s) URL with a host is refused, saying what to give.
func TestLoadConfig_HookURLs(t *testing.T) {
	cfg, err := loadConfig(nil, tokensEnv("SLIPWAY_HOOK_URLS", "https://checks.example.com/slipway/, http://127.0.0.1:9000,"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := cfg.hookURLs()
	if err != nil || len(urls) != 2 || urls[0].Host != "checks.example.com" || urls[1].Port() != "9000" {
		t.Errorf("hook URLs %v, %v; want the two prefixes", urls, err)
	}
	cfg.HookURLs = []string{"checks.example.com"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "hook_urls: hook URL prefix \"checks.example.com\": give an http:// or https:// URL with a host") {
		t.Errorf("validate with a bare host: %v", err)
	}
}

func TestLoadConfig_AgentTags(t *testing.T) {
	load := func(args []string, kv ...string) (Config, error) {
		return loadConfig(args, tokensEnv(kv...), io.Discard)
	}
	if cfg, err := load(nil); err != nil || cfg.AgentTags != agentTagsAdmin {
		t.Errorf("by default agent_tags = %q, %v; want %s", cfg.AgentTags, err, agentTagsAdmin)
	}
	if cfg, err := load(nil, "SLIPWAY_AGENT_TAGS", "host"); err != nil || cfg.AgentTags != agentTagsHost {
		t.Errorf("SLIPWAY_AGENT_TAGS=host: agent_tags = %q, %v; want host", cfg.AgentTags, err)
	}
	if _, err := load([]string{"--agent-tags", "agent"}); err == nil || !strings.Contains(err.Error(), `agent_tags "agent": use admin`) {
		t.Errorf("--agent-tags agent: err = %v, want a refusal naming admin and host", err)
	}
}
