package lifecycle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// DefaultLocalEvents is what `slipway-agent local` runs when no --events are given: every
// scriptable server event plus the two Slipway performs itself, in lifecycle order, as
// codedeploy-local does. BlockTraffic and AllowTraffic need a traffic router and are left out.
var DefaultLocalEvents = []string{
	appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic,
	appspec.EventApplicationStop, appspec.EventDownloadBundle, appspec.EventBeforeInstall,
	appspec.EventInstall, appspec.EventAfterInstall, appspec.EventApplicationStart,
	appspec.EventValidateService,
	appspec.EventBeforeAllowTraffic, appspec.EventAfterAllowTraffic,
}

// WithRequiredEvents adds DownloadBundle and Install to a local run's event list when they are
// missing, as codedeploy-local does: running a revision locally always downloads and installs it,
// so `--events ApplicationStart,CustomEvent` has a revision to run. DownloadBundle goes before the
// first event that runs the new revision; Install after BeforeInstall when that follows
// DownloadBundle, else right after DownloadBundle. Events already listed keep their order, which
// CheckEventOrder then judges.
func WithRequiredEvents(events []string) []string {
	out := slices.Clone(events)
	if !slices.Contains(out, appspec.EventDownloadBundle) {
		i := slices.IndexFunc(out, func(e string) bool { return !usesPreviousRevision(e) })
		if i < 0 {
			i = len(out)
		}
		out = slices.Insert(out, i, appspec.EventDownloadBundle)
	}
	if !slices.Contains(out, appspec.EventInstall) {
		download := slices.Index(out, appspec.EventDownloadBundle)
		i := download + 1
		if b := slices.Index(out, appspec.EventBeforeInstall); b > download {
			i = b + 1
		}
		out = slices.Insert(out, i, appspec.EventInstall)
	}
	return out
}

// usesPreviousRevision reports whether event runs the scripts of the last successfully installed
// revision rather than the one being deployed: these events stop or drain what is running now.
func usesPreviousRevision(event string) bool {
	switch event {
	case appspec.EventApplicationStop, appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic:
		return true
	}
	return false
}

// CheckEventOrder refuses an event list that would run the new revision's scripts before the
// revision is downloaded, or its post-install scripts before Install: only the events that use the
// previous revision (and BeforeInstall, before Install) may come earlier.
func CheckEventOrder(events []string) error {
	if len(events) == 0 {
		return fmt.Errorf("no events given")
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e] {
			return fmt.Errorf("event %s is listed twice", e)
		}
		seen[e] = true
	}
	before := func(stop string) []string {
		i := slices.Index(events, stop)
		if i < 0 {
			return nil
		}
		return events[:i]
	}
	for _, e := range before(appspec.EventDownloadBundle) {
		if !usesPreviousRevision(e) {
			return fmt.Errorf("only ApplicationStop, BeforeBlockTraffic and AfterBlockTraffic may come before DownloadBundle, got %s first; fix the order: %s",
				e, strings.Join(events, ","))
		}
	}
	for _, e := range before(appspec.EventInstall) {
		if !usesPreviousRevision(e) && e != appspec.EventDownloadBundle && e != appspec.EventBeforeInstall {
			return fmt.Errorf("only ApplicationStop, BeforeBlockTraffic, AfterBlockTraffic, DownloadBundle and BeforeInstall may come before Install, got %s first; fix the order: %s",
				e, strings.Join(events, ","))
		}
	}
	return nil
}
