package agent

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

func TestOutbox_FirstResultWinsAndOldestComesFirst(t *testing.T) {
	o := newOutbox(lifecycle.Root(t.TempDir()))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	puts := []report{
		{Command: "cmd-b", Result: api.Result{Status: "Failed"}, Queued: t0.Add(time.Second)},
		{Command: "cmd-a", Result: api.Result{Status: "Succeeded"}, Queued: t0},
		{Command: "cmd-b", Result: api.Result{Status: "Succeeded"}, Queued: t0.Add(2 * time.Second)},
	}
	for _, rp := range puts {
		if err := o.put(rp); err != nil {
			t.Fatal(err)
		}
	}
	got, err := o.list()
	if err != nil {
		t.Fatal(err)
	}
	var ids, statuses []string
	for _, rp := range got {
		ids, statuses = append(ids, rp.Command), append(statuses, rp.Result.Status)
	}
	if want := []string{"cmd-a", "cmd-b"}; !slices.Equal(ids, want) {
		t.Errorf("commands = %v, want %v", ids, want)
	}
	if want := []string{"Succeeded", "Failed"}; !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v (the first result of cmd-b)", statuses, want)
	}
	if err := o.remove("cmd-a"); err != nil {
		t.Fatal(err)
	}
	if err := o.remove("cmd-a"); err != nil {
		t.Errorf("second remove: %v, want nil", err)
	}
	if got, _ := o.list(); len(got) != 1 {
		t.Errorf("after remove: %d entries, want 1", len(got))
	}
}

func TestOutbox_PathStaysInsideForAnyCommandID(t *testing.T) {
	o := newOutbox(lifecycle.Root(t.TempDir()))
	for _, id := range []string{"d-1.Install.2", "../../etc/passwd", "a/b", ".hidden", "", strings.Repeat("x", 300)} {
		p := o.path(id)
		if filepath.Dir(p) != string(o) || strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("path(%q) = %s, want a visible file directly in %s", id, p, o)
		}
	}
	if got, want := filepath.Base(o.path("d-1.Install.2")), "d-1.Install.2.json"; got != want {
		t.Errorf("path of a plain id = %s, want %s", got, want)
	}
}
