package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/agent"
	"github.com/slipway-deploy/slipway/internal/api"
)

func TestRunAgent_UsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantMsg string
	}{
		{name: "no server", args: []string{"--root", "/tmp/x"}, wantMsg: "--server"},
		{name: "no root", args: []string{"--server", "http://localhost:1"}, wantMsg: "--root"},
		{name: "server without scheme", args: []string{"--server", "localhost:8080", "--root", "/tmp/x"}, wantMsg: "not an http or https URL"},
		{name: "server of another scheme", args: []string{"--server", "ftp://host", "--root", "/tmp/x"}, wantMsg: "not an http or https URL"},
		{name: "tag without value", args: []string{"--server", "http://h", "--root", "/tmp/x", "--tag", "role"}, wantMsg: "KEY=VALUE"},
		{name: "tag without key", args: []string{"--server", "http://h", "--root", "/tmp/x", "--tag", "=web"}, wantMsg: "KEY=VALUE"},
		{name: "tag twice", args: []string{"--server", "http://h", "--root", "/tmp/x", "--tag", "a=1", "--tag", "a=2"}, wantMsg: "given twice"},
		{name: "unknown flag", args: []string{"--server", "http://h", "--root", "/tmp/x", "--bogus"}, wantMsg: "bogus"},
		{name: "stray argument", args: []string{"--server", "http://h", "--root", "/tmp/x", "extra"}, wantMsg: `unexpected argument "extra"`},
		{name: "zero poll wait", args: []string{"--server", "http://h", "--root", "/tmp/x", "--poll-wait", "0s"}, wantMsg: "--poll-wait"},
		{name: "bad log level", args: []string{"--server", "http://h", "--root", "/tmp/x", "--log-level", "loud"}, wantMsg: "--log-level"},
		{name: "no revisions kept", args: []string{"--server", "http://h", "--root", "/tmp/x", "--keep-revisions", "0"}, wantMsg: "--keep-revisions"},
		{name: "server from env still needs root", args: nil, env: map[string]string{"SLIPWAY_SERVER": "http://h"}, wantMsg: "--root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			err := run(context.Background(), append([]string{"run"}, tt.args...), getenv, &stdout, &stderr)
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("run: got %v, want exit status 2", err)
			}
			if !strings.Contains(stderr.String(), tt.wantMsg) {
				t.Errorf("stderr = %q, want it to mention %q", stderr.String(), tt.wantMsg)
			}
			if !strings.Contains(stderr.String(), "usage: slipway-agent run") {
				t.Errorf("stderr = %q, want the usage", stderr.String())
			}
		})
	}
}

func TestRunAgent_Help(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"run", "--help"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("run --help: got %v, want nil", err)
	}
	if !strings.Contains(stderr.String(), "SLIPWAY_ENROLL_TOKEN") {
		t.Errorf("help = %q, want it to name SLIPWAY_ENROLL_TOKEN", stderr.String())
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\n  run ") {
		t.Errorf("usage = %q, want the run command listed", stdout.String())
	}
}

// TestRunAgent_EnrollsWithTokenFromEnvironment checks the wiring: server and token from the
// environment, tags from flags, and a refused token reported without showing it.
func TestRunAgent_EnrollsWithTokenFromEnvironment(t *testing.T) {
	const token = "enroll-token-from-env"
	var got api.Register
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != api.PathAgent+"/register" {
			http.NotFound(w, r)
			return
		}
		gotAuth = r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(api.Error{Message: "invalid enrollment token"})
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"SLIPWAY_SERVER": srv.URL, "SLIPWAY_ENROLL_TOKEN": token}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(),
		[]string{"run", "--root", t.TempDir(), "--name", "web-7", "--tag", "role=web", "--tag", "env=prod"},
		func(k string) string { return env[k] }, &stdout, &stderr)
	if !errors.Is(err, agent.ErrEnrollRefused) {
		t.Fatalf("run: got %v, want ErrEnrollRefused", err)
	}
	if gotAuth != "Bearer "+token {
		t.Errorf("register sent Authorization %q, want the token from SLIPWAY_ENROLL_TOKEN", gotAuth)
	}
	if got.Name != "web-7" || got.Tags["role"] != "web" || got.Tags["env"] != "prod" {
		t.Errorf("register = %+v, want name web-7 and tags role=web, env=prod", got)
	}
	for _, out := range []string{err.Error(), stdout.String(), stderr.String()} {
		if strings.Contains(out, token) {
			t.Errorf("output shows the enrollment token: %q", out)
		}
	}
}
