package lifecycle

import (
	"slices"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// The tests in this file encode DESIGN.md §4: which revision's scripts ApplicationStop and the
// block-traffic events run, when "last successful install" moves, and retention.

func TestHost_ApplicationStopRunsLastSuccessfulRevision(t *testing.T) {
	f := newFixture(t)
	f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
	f.mustDeploy(deployment("d-2", traceBundle(t, "rev2", "")))

	tr := f.trace()
	if !slices.Contains(tr, "rev1 ApplicationStop d-2") {
		t.Errorf("trace %q: want d-2's ApplicationStop to run rev1's script", tr)
	}
	for _, line := range tr {
		if strings.HasPrefix(line, "rev2 ApplicationStop") {
			t.Errorf("trace has %q: the revision being deployed must not run its own ApplicationStop", line)
		}
	}
	// Every other script event of d-2 runs the new revision.
	for _, e := range []string{appspec.EventBeforeInstall, appspec.EventAfterInstall, appspec.EventApplicationStart, appspec.EventValidateService} {
		if want := "rev2 " + e + " d-2"; !slices.Contains(tr, want) {
			t.Errorf("trace %q: want %q", tr, want)
		}
	}
}

func TestHost_FirstDeploymentApplicationStopIsNoop(t *testing.T) {
	f := newFixture(t)
	rs := f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
	for _, e := range []string{appspec.EventApplicationStop, appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic} {
		if got := result(t, rs, e).Status; got != StatusSkipped {
			t.Errorf("%s on a first deployment: got %s, want %s", e, got, StatusSkipped)
		}
	}
	for _, line := range f.trace() {
		if strings.Contains(line, "ApplicationStop") || strings.Contains(line, "BlockTraffic") {
			t.Errorf("trace has %q: nothing may run before a first install", line)
		}
	}
}

func TestHost_BlockTrafficEventsUsePreviousRevision(t *testing.T) {
	f := newFixture(t)
	f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
	f.mustDeploy(deployment("d-2", traceBundle(t, "rev2", "")))

	tr := f.trace()
	for _, e := range []string{appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic} {
		if want := "rev1 " + e + " d-2"; !slices.Contains(tr, want) {
			t.Errorf("trace %q: want %q", tr, want)
		}
		if bad := "rev2 " + e + " d-2"; slices.Contains(tr, bad) {
			t.Errorf("trace has %q, want the previous revision's script", bad)
		}
	}
	// The allow-traffic events come after Install, so they run the new revision.
	for _, e := range []string{appspec.EventBeforeAllowTraffic, appspec.EventAfterAllowTraffic} {
		if want := "rev2 " + e + " d-2"; !slices.Contains(tr, want) {
			t.Errorf("trace %q: want %q", tr, want)
		}
	}
}

func TestHost_LastSuccessfulMovesAtInstallNotAtEnd(t *testing.T) {
	t.Run("failure after Install", func(t *testing.T) {
		f := newFixture(t)
		f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
		rs := f.deploy(deployment("d-2", traceBundle(t, "rev2", appspec.EventValidateService)))
		if got := rs[len(rs)-1]; got.Event != appspec.EventValidateService || got.Status != StatusFailed {
			t.Fatalf("d-2 ended with %s %s, want ValidateService Failed", got.Event, got.Status)
		}
		f.mustDeploy(deployment("d-3", traceBundle(t, "rev3", "")))
		if want, tr := "rev2 ApplicationStop d-3", f.trace(); !slices.Contains(tr, want) {
			t.Errorf("trace %q: want %q: d-2 installed its files, so its stop script must stop them", tr, want)
		}
	})
	t.Run("failure before Install", func(t *testing.T) {
		f := newFixture(t)
		f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
		rs := f.deploy(deployment("d-2", traceBundle(t, "rev2", appspec.EventBeforeInstall)))
		if got := rs[len(rs)-1]; got.Event != appspec.EventBeforeInstall || got.Status != StatusFailed {
			t.Fatalf("d-2 ended with %s %s, want BeforeInstall Failed", got.Event, got.Status)
		}
		f.mustDeploy(deployment("d-3", traceBundle(t, "rev3", "")))
		if want, tr := "rev1 ApplicationStop d-3", f.trace(); !slices.Contains(tr, want) {
			t.Errorf("trace %q: want %q: d-2 never installed, so rev1 is still what runs", tr, want)
		}
	})
}

func TestHost_RetentionKeepsLastNAndLastSuccessful(t *testing.T) {
	f := newFixture(t)
	f.host.KeepRevisions = 5
	groupDir := f.host.Root.groupDir("g")
	ids := func(n ...int) []string {
		var out []string
		for _, i := range n {
			out = append(out, "d-"+string(rune('0'+i)))
		}
		slices.Sort(out)
		return out
	}

	// d-1 installs; d-2…d-7 fail before Install, so d-1 stays the last successful install.
	f.mustDeploy(deployment("d-1", traceBundle(t, "rev1", "")))
	for i := 2; i <= 7; i++ {
		id := ids(i)[0]
		rs := f.deploy(deployment(id, traceBundle(t, "rev"+id, appspec.EventBeforeInstall)))
		if got := rs[len(rs)-1]; got.Status != StatusFailed {
			t.Fatalf("%s: got %s, want a failure at BeforeInstall", id, got.Status)
		}
	}
	if got, want := dirNames(t, groupDir), ids(1, 4, 5, 6, 7); !slices.Equal(got, want) {
		t.Fatalf("after six failed deployments: kept %v, want %v (five, the last successful in place of a newer one)", got, want)
	}
	if want, tr := "rev1 ApplicationStop d-7", f.trace(); !slices.Contains(tr, want) {
		t.Errorf("trace %q: want %q: the kept revision is the one that still runs", tr, want)
	}

	// d-8 succeeds; at its download d-1 was still the last successful install.
	f.mustDeploy(deployment("d-8", traceBundle(t, "rev8", "")))
	if got, want := dirNames(t, groupDir), ids(1, 5, 6, 7, 8); !slices.Equal(got, want) {
		t.Fatalf("after d-8: kept %v, want %v", got, want)
	}
	// Now d-8 is the last successful install, and d-1 is an old revision like any other.
	f.mustDeploy(deployment("d-9", traceBundle(t, "rev9", "")))
	if got, want := dirNames(t, groupDir), ids(5, 6, 7, 8, 9); !slices.Equal(got, want) {
		t.Fatalf("after d-9: kept %v, want %v", got, want)
	}
}

func TestHost_ApplicationStopRunsLastSuccessfulRevisionWithCustomEvents(t *testing.T) {
	// The previous revision was deployed with a custom event; the new deployment names none. The
	// old appspec's custom hook must not keep its stop script from running.
	f := newFixture(t)
	spec := "version: 0.0\nos: linux\nhooks:\n  CustomEvent:\n    - location: trace.sh\n  ApplicationStop:\n    - location: trace.sh\n"
	d1 := deployment("d-1", newBundle(t, spec, map[string]string{"trace.sh": traceScript("rev1")}))
	d1.CustomEvents = []string{"CustomEvent"}
	f.mustDeploy(d1, appspec.EventDownloadBundle, appspec.EventInstall, "CustomEvent")
	f.mustDeploy(deployment("d-2", traceBundle(t, "rev2", "")))
	if want, tr := "rev1 ApplicationStop d-2", f.trace(); !slices.Contains(tr, want) {
		t.Errorf("trace %q: want %q", tr, want)
	}
}
