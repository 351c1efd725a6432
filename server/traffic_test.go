package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/alarm"
	"github.com/slipway-deploy/slipway/internal/store"
)

func TestLoadConfig_ReleaseCommandsAndTimings(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"valid", "release_commands:\n  terminate: [/usr/local/bin/terminate, --now]\ndrain_timeout: 10s\n", ""},
		{"relative program", "release_commands:\n  terminate: [terminate]\n", "release_commands.terminate: give the program's absolute path"},
		{"no program", "release_commands:\n  terminate: []\n", "release_commands.terminate"},
		{"bad name", "release_commands:\n  'kill all': [/bin/true]\n", `name "kill all"`},
		{"drain longer than the lease", "drain_timeout: 2m\n", "drain_timeout 2m0s: give a duration above 0 and below the lease (1m0s)"},
		{"alarms polled too often", "alarm_interval: 1ms\n", "alarm_interval 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "server.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"SLIPWAY_ADMIN_TOKEN": "admin-0123456789abcdef", "SLIPWAY_ENROLL_TOKEN": "enroll-0123456789abcdef"}
			cfg, err := loadConfig([]string{"--config", file, "--data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case tt.want == "" && (len(cfg.ReleaseCommands["terminate"]) != 2 || cfg.DrainTimeout != 10*time.Second):
				t.Errorf("read %+v %v", cfg.ReleaseCommands, cfg.DrainTimeout)
			}
		})
	}
}

// groups is a store of one group, for groupAlarms.
type groups struct{ g store.Group }

func (s *groups) GetGroup(context.Context, string, string) (store.Group, error) { return s.g, nil }

// groupAlarms reads a group's alarms through internal/alarm against a real HTTP endpoint, no more
// often than the group's interval, and picks up a changed configuration at once.
func TestGroupAlarms_PollsThroughTheAlarmLibrary(t *testing.T) {
	var healthy atomic.Bool
	var hits atomic.Int32
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	st := &groups{g: store.Group{Application: "app", Name: "web", Alarms: alarm.Config{
		Interval: alarm.Duration(time.Hour),
		Alarms:   []alarm.Spec{{Name: "health", HTTP: &alarm.HTTPCheck{URL: srv.URL}}},
	}}}
	a := newGroupAlarms(st, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	start := time.Now()

	p, ok := a.Poll(ctx, "app", "web", start)
	if !ok || len(p.Alarms) != 1 || p.Alarms[0].Firing || p.Alarms[0].Name != "health" {
		t.Fatalf("healthy: %+v, %v", p, ok)
	}
	healthy.Store(false)
	if p, _ := a.Poll(ctx, "app", "web", start); p.Alarms[0].Firing || hits.Load() != 1 {
		t.Errorf("second poll within the hour: %+v after %d requests; want the first answer again", p, hits.Load())
	}
	st.g.Alarms.Interval = alarm.Duration(time.Second) // a new configuration: a new poller
	p, _ = a.Poll(ctx, "app", "web", start)
	if !p.Alarms[0].Firing || !strings.Contains(p.Alarms[0].Reason, "alarm health fired") {
		t.Errorf("after the check broke: %+v", p)
	}
	// A later deployment does not get the reading taken before it started.
	healthy.Store(true)
	if p, _ := a.Poll(ctx, "app", "web", time.Now()); p.Alarms[0].Firing {
		t.Errorf("a deployment that started after the alarm fired got the old reading: %+v", p)
	}
	st.g.Alarms = alarm.Config{}
	if _, ok := a.Poll(ctx, "app", "web", start); ok {
		t.Error("a group without alarms reported some")
	}
}

func TestLoadConfig_DrainTimeoutFollowsAShortLease(t *testing.T) {
	env := map[string]string{"SLIPWAY_ADMIN_TOKEN": "admin-0123456789abcdef", "SLIPWAY_ENROLL_TOKEN": "enroll-0123456789abcdef"}
	for lease, want := range map[string]time.Duration{"4s": 2 * time.Second, "5m": 30 * time.Second} {
		cfg, err := loadConfig([]string{"--data-dir", t.TempDir(), "--lease", lease}, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DrainTimeout != want {
			t.Errorf("lease %s: drain timeout %v, want %v", lease, cfg.DrainTimeout, want)
		}
	}
}
