package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// DefaultCheckRunInterval is the least time between two updates of one check run: host progress
// is batched into one update per interval, which keeps a fleet's worth of events inside GitHub's
// secondary rate limits (about 80 content-creating requests a minute).
const DefaultCheckRunInterval = 5 * time.Second

// Reporter backoff after a failed report: GitHub down or rate limited for long.
const (
	firstReportRetry = 5 * time.Second
	maxReportRetry   = 5 * time.Minute
	// collectEvery bounds how often the outbox is read for finished deployments; the reporter
	// wakes at least once a minute to read it.
	collectEvery = time.Second
)

// report is the reporter's record of what it posted for one deployment, stored with the link.
// It is what makes the writes idempotent across restarts: a status or check run is posted only
// when the record says it was not, and a write cut short by a crash (its intent recorded, its
// result not) is looked up on GitHub before it is made again.
type report struct {
	// Statuses are the deployment statuses posted, in order, with GitHub's ids.
	Statuses []postedStatus `json:"statuses,omitempty"`
	// Posting is the state being posted when this record was written; after a crash GitHub is
	// asked whether it arrived.
	Posting string `json:"posting,omitempty"`
	// Superseded is set once older successful deployments of the environment were made inactive.
	Superseded bool `json:"superseded,omitempty"`
	// RolledBack is set when a rollback was started from this deployment's check run.
	RolledBack bool        `json:"rolled_back,omitempty"`
	Check      checkReport `json:"check"`
}

type postedStatus struct {
	State string `json:"state"`
	ID    int64  `json:"id"`
}

type checkReport struct {
	ID int64 `json:"id,omitempty"`
	// Creating is set before the create call: after a crash the run is looked for first.
	Creating bool      `json:"creating,omitempty"`
	Digest   string    `json:"digest,omitempty"`
	Time     time.Time `json:"time,omitzero"`
	// Annotations are the keys of the annotations posted; Pending those being posted.
	Annotations []string `json:"annotations,omitempty"`
	Pending     []string `json:"pending,omitempty"`
	// Skipped is set when check runs cannot be made (a token, not an App) and that was logged.
	Skipped bool `json:"skipped,omitempty"`
}

func decodeReport(raw json.RawMessage) report {
	var r report
	_ = json.Unmarshal(raw, &r)
	return r
}

func (r report) last() string {
	if len(r.Statuses) == 0 {
		return ""
	}
	return r.Statuses[len(r.Statuses)-1].State
}

// Reporter keeps GitHub up to date with the deployments that run GitHub Deployments, and with
// the rollbacks and auto-updates that follow them: deployment statuses (queued → in_progress →
// success | failure | error, inactive once superseded), and, for a GitHub App, one check run per
// deployment updated as hosts progress. It is level-triggered: for a deployment it is told about
// (Notify), it compares the deployment with its record of what it posted and posts the
// difference, so missed or repeated notifications do no harm. Finished deployments come through
// the store's effects outbox (their Finished effect is marked done once reported), so a final
// status is posted even when the server stopped right after the deployment ended.
type Reporter struct {
	store     Store
	server    Server
	clients   *Clients
	log       *slog.Logger
	now       func() time.Time
	publicURL string
	interval  time.Duration

	// skip remembers the deployments found not to report to GitHub, and those GitHub refused for
	// good, so their many changes cost nothing: a deployment's creator and links do not change.
	skip map[string]bool
	// work serialises writes of reports: the reconcile loop and noteRollback.
	work sync.Mutex
	mu   sync.Mutex
	// due holds the deployments to look at, each with the earliest time to do so.
	due     map[string]time.Time
	fails   map[string]int
	effects map[string][]int64
	wake    chan struct{}
}

func newReporter(st Store, srv Server, clients *Clients, log *slog.Logger, now func() time.Time, publicURL string, interval time.Duration) *Reporter {
	if interval <= 0 {
		interval = DefaultCheckRunInterval
	}
	return &Reporter{
		store: st, server: srv, clients: clients, log: log, now: now, publicURL: publicURL, interval: interval,
		due: map[string]time.Time{}, fails: map[string]int{}, effects: map[string][]int64{}, wake: make(chan struct{}, 1),
		skip: map[string]bool{},
	}
}

// Notify says a deployment changed. It never blocks; a deployment already due keeps its time, so
// notifications cannot undo the batching of check run updates.
func (r *Reporter) Notify(id string) {
	r.mu.Lock()
	if _, ok := r.due[id]; !ok {
		r.due[id] = time.Time{}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends. It starts with what a stopped server left: links with something
// left to post, and unfinished deployments (a rollback or auto-update may need its GitHub
// Deployment).
func (r *Reporter) Run(ctx context.Context) error {
	for {
		err := r.seed(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Error("github reporter start", "error", err)
		if sleepCtx(ctx, firstReportRetry) != nil {
			return nil
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var collected time.Time
	for {
		// Deployments that changed may have finished: read the outbox, at most once a second.
		skippedCollect := r.now().Sub(collected) < collectEvery
		if !skippedCollect {
			collected = r.now()
			if err := r.collectFinished(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("read finished deployments", "error", err)
			}
		}
		for _, id := range r.takeDue() {
			if ctx.Err() != nil {
				return nil
			}
			r.work.Lock()
			next, err := r.reconcile(ctx, id)
			r.work.Unlock()
			r.settle(ctx, id, next, err)
		}
		wait := time.Minute
		if next := r.nextDue(); !next.IsZero() {
			wait = min(max(next.Sub(r.now()), 0), wait)
		}
		if skippedCollect {
			wait = min(max(collected.Add(collectEvery).Sub(r.now()), 0), wait)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
	}
}

func (r *Reporter) skipped(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skip[id]
}

func (r *Reporter) markSkip(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skip[id] = true
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// noteRollback records that a rollback was started from a deployment's check run, so that its
// Roll back button goes away, and makes the deployment due.
func (r *Reporter) noteRollback(ctx context.Context, id string) error {
	r.work.Lock()
	defer r.work.Unlock()
	link, err := r.store.GitHubDeploymentOf(ctx, id)
	if err != nil {
		return err
	}
	rep := decodeReport(link.Report)
	rep.RolledBack = true
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if err := r.store.SaveGitHubReport(ctx, id, rep.Check.ID, b, false); err != nil {
		return err
	}
	r.Notify(id)
	return nil
}

func (r *Reporter) seed(ctx context.Context) error {
	links, err := r.store.GitHubDeploymentsToReport(ctx)
	if err != nil {
		return err
	}
	active, err := r.store.ActiveDeployments(ctx)
	if err != nil {
		return err
	}
	for _, l := range links {
		r.Notify(l.Deployment)
	}
	for _, v := range active {
		r.Notify(v.Deployment.ID)
	}
	return nil
}

// collectFinished makes the deployments with a pending Finished effect due.
func (r *Reporter) collectFinished(ctx context.Context) error {
	pending, err := r.store.PendingEffects(ctx, 200)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range pending {
		if _, ok := e.Effect.(deploy.Finished); !ok || slices.Contains(r.effects[e.Deployment], e.ID) {
			continue
		}
		r.effects[e.Deployment] = append(r.effects[e.Deployment], e.ID)
		if _, ok := r.due[e.Deployment]; !ok {
			r.due[e.Deployment] = time.Time{}
		}
	}
	return nil
}

func (r *Reporter) takeDue() []string {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, at := range r.due {
		if !at.After(now) {
			ids = append(ids, id)
			delete(r.due, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (r *Reporter) nextDue() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	for _, at := range r.due {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// settle schedules what a reconcile left: a retry with backoff after an error, the next batched
// check run update, or nothing; and marks the deployment's Finished effects done once nothing is
// left to post.
func (r *Reporter) settle(ctx context.Context, id string, next time.Time, err error) {
	var perm permanentError
	switch {
	case err != nil && !errors.As(err, &perm):
		r.mu.Lock()
		r.fails[id]++
		pause := min(firstReportRetry<<min(r.fails[id]-1, 10), maxReportRetry)
		if at, ok := r.due[id]; !ok || at.Before(r.now().Add(pause)) {
			r.due[id] = r.now().Add(pause)
		}
		r.mu.Unlock()
		r.log.Warn("report to GitHub failed; will retry", "deployment_id", id, "retry_in", pause.String(), "error", err)
		return
	case err != nil:
		r.log.Error("report to GitHub refused; giving up on this deployment", "deployment_id", id, "error", err)
		r.markSkip(id)
		next = time.Time{}
	}
	r.mu.Lock()
	delete(r.fails, id)
	if !next.IsZero() {
		if at, ok := r.due[id]; !ok || at.Before(next) {
			r.due[id] = next
		}
	}
	var done []int64
	if next.IsZero() {
		done = r.effects[id]
	}
	r.mu.Unlock()
	if len(done) == 0 {
		return
	}
	// The Finished effects are marked done only once the deployment is fully reported (or is not
	// GitHub's, or GitHub refused it for good): until then a restart finds them again.
	if !r.fullyReported(ctx, id) {
		return
	}
	for _, eid := range done {
		if merr := r.store.MarkEffectDone(ctx, eid); merr != nil {
			r.log.Warn("mark effect done", "deployment_id", id, "effect", eid, "error", merr)
			return
		}
	}
	r.mu.Lock()
	delete(r.effects, id)
	r.mu.Unlock()
}

// fullyReported says whether nothing is left to post for a finished deployment: its link is done,
// it has no link (it is not GitHub's to report), or it was given up on.
func (r *Reporter) fullyReported(ctx context.Context, id string) bool {
	if r.skipped(id) {
		return true
	}
	l, err := r.store.GitHubDeploymentOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	return err == nil && l.Done
}

// reconcile posts what deployment id has earned and GitHub was not told yet. next, when set, is
// when to look again (a check run update held back by the batching interval).
func (r *Reporter) reconcile(ctx context.Context, id string) (time.Time, error) {
	if r.skipped(id) {
		return time.Time{}, nil
	}
	link, err := r.store.GitHubDeploymentOf(ctx, id)
	linked := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, err
	}
	if !linked {
		// Most deployments are not GitHub's: decide from the stored state, without naming hosts.
		v, err := r.store.GetDeployment(ctx, id)
		if err != nil {
			return time.Time{}, ignoreNotFound(err)
		}
		if c := v.Deployment.Creator; c != deploy.CreatorRollback && c != deploy.CreatorAutoUpdate {
			r.markSkip(id)
			return time.Time{}, nil
		}
	}
	d, err := r.server.GetDeployment(ctx, id)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return time.Time{}, nil // gone: nothing to report
		}
		return time.Time{}, err
	}
	if !linked {
		var ok bool
		if link, ok, err = r.adopt(ctx, d); err != nil || !ok {
			if err == nil {
				r.markSkip(id)
			}
			return time.Time{}, err
		}
	}
	repo, err := parseRepo(link.Repository, link.RepositoryID)
	if err != nil {
		return time.Time{}, permanent(err)
	}
	gh, err := r.clients.For(ctx, repo, 0)
	if err != nil {
		return time.Time{}, err
	}
	rep := decodeReport(link.Report)
	envURL := ""
	if g, err := r.store.GetGroup(ctx, d.Application, d.Group); err == nil {
		envURL = g.GitHub.EnvironmentURL
	}
	for _, state := range wantStatuses(d) {
		if stateRank(state) <= stateRank(rep.last()) && rep.last() != "" {
			continue
		}
		if err := r.postStatus(ctx, gh, repo, &link, &rep, state, statusDescription(d, state), envURL); err != nil {
			return time.Time{}, err
		}
	}
	if rep.last() == stateSuccess && !rep.Superseded && d.Creator != deploy.CreatorAutoUpdate.String() {
		if err := r.supersede(ctx, gh, repo, link, d.ID); err != nil {
			return time.Time{}, err
		}
		rep.Superseded = true
		if err := r.save(ctx, link, rep, false); err != nil {
			return time.Time{}, err
		}
	}
	next, checkDone, err := r.reportCheckRun(ctx, gh, repo, &link, &rep, d)
	if err != nil {
		return time.Time{}, err
	}
	done := finished(d.Status) && rep.Posting == "" && len(rep.Statuses) > 0 && stateRank(rep.last()) >= 2 && checkDone
	return next, r.save(ctx, link, rep, done)
}

func (r *Reporter) save(ctx context.Context, link store.GitHubDeployment, rep report, done bool) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return r.store.SaveGitHubReport(ctx, link.Deployment, rep.Check.ID, b, done || link.Done)
}

// postStatus posts one deployment status, recording the intent first and the result after, so
// that a crash in between is resolved by asking GitHub rather than by posting twice.
func (r *Reporter) postStatus(ctx context.Context, gh *github.Client, repo Repo, link *store.GitHubDeployment, rep *report, state, desc, envURL string) error {
	if rep.Posting == state {
		list, _, err := gh.Repositories.ListDeploymentStatuses(ctx, repo.Owner, repo.Name, link.GitHubID, &github.ListOptions{PerPage: 10})
		if err != nil {
			return fmt.Errorf("list statuses of GitHub deployment %d: %w", link.GitHubID, err)
		}
		// Newest first: the status cut short by the crash is the latest if it arrived.
		if len(list) > 0 && list[0].GetState() == state {
			rep.Statuses, rep.Posting = append(rep.Statuses, postedStatus{State: state, ID: list[0].GetID()}), ""
			return r.save(ctx, *link, *rep, false)
		}
	}
	rep.Posting = state
	if err := r.save(ctx, *link, *rep, false); err != nil {
		return err
	}
	req := &github.DeploymentStatusRequest{
		State:       github.String(state),
		Description: github.String(clip(desc, maxDescription)),
		// Superseded deployments are made inactive by Slipway itself, for every environment:
		// GitHub's auto_inactive skips production environments and would double ours elsewhere.
		AutoInactive: github.Bool(false),
	}
	if r.publicURL != "" {
		req.LogURL = github.String(deploymentURL(r.publicURL, link.Deployment))
	}
	if envURL != "" && state != stateInactive {
		req.EnvironmentURL = github.String(envURL)
	}
	st, _, err := gh.Repositories.CreateDeploymentStatus(ctx, repo.Owner, repo.Name, link.GitHubID, req)
	if err != nil {
		return githubRefusal(fmt.Sprintf("post %s status to GitHub deployment %d", state, link.GitHubID), err)
	}
	rep.Statuses, rep.Posting = append(rep.Statuses, postedStatus{State: state, ID: st.GetID()}), ""
	r.log.Info("github deployment status posted", "deployment_id", link.Deployment, "github_deployment", link.GitHubID, "state", state)
	return r.save(ctx, *link, *rep, false)
}

// supersede marks inactive the older deployments of the environment whose last status is
// success: current replaced them.
func (r *Reporter) supersede(ctx context.Context, gh *github.Client, repo Repo, cur store.GitHubDeployment, by string) error {
	links, err := r.store.GitHubDeploymentsIn(ctx, cur.RepositoryID, cur.Environment)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Deployment == cur.Deployment || l.CreateTime.After(cur.CreateTime) {
			continue
		}
		rep := decodeReport(l.Report)
		if rep.last() != stateSuccess && rep.Posting != stateInactive {
			continue
		}
		if err := r.postStatus(ctx, gh, repo, &l, &rep, stateInactive, "Superseded by "+by, ""); err != nil {
			return err
		}
	}
	return nil
}

// adopt links a rollback or an auto-update to a GitHub Deployment of its own, created by this
// server in the repository and environment of what it rolls back (or of its group), at the commit
// of the revision it deploys. ok is false when the deployment is not GitHub's to report: not a
// rollback or auto-update, no linked repository, or no known commit for its revision.
func (r *Reporter) adopt(ctx context.Context, d api.Deployment) (store.GitHubDeployment, bool, error) {
	if d.Creator != deploy.CreatorRollback.String() && d.Creator != deploy.CreatorAutoUpdate.String() {
		return store.GitHubDeployment{}, false, nil
	}
	var link store.GitHubDeployment
	desc := d.Description
	if d.RollbackOf != "" {
		if of, err := r.store.GitHubDeploymentOf(ctx, d.RollbackOf); err == nil {
			link = store.GitHubDeployment{Repository: of.Repository, RepositoryID: of.RepositoryID, Environment: of.Environment}
			desc = fmt.Sprintf("Rollback of %s (GitHub deployment %d)", d.RollbackOf, of.GitHubID)
		}
	}
	if link.RepositoryID == 0 {
		g, err := r.store.GetGroup(ctx, d.Application, d.Group)
		if err != nil || !g.GitHub.Linked() || g.Environment == "" {
			return store.GitHubDeployment{}, false, nil
		}
		link = store.GitHubDeployment{Repository: g.GitHub.Repository, RepositoryID: g.GitHub.RepositoryID, Environment: g.Environment}
	}
	sha, err := r.commitOf(ctx, d, link.RepositoryID, link.Environment)
	if err != nil || sha == "" {
		if err == nil {
			r.log.Info("not reported to GitHub: the commit of its revision is unknown", "deployment_id", d.ID, "revision", d.Revision)
		}
		return store.GitHubDeployment{}, false, err
	}
	repo, err := parseRepo(link.Repository, link.RepositoryID)
	if err != nil {
		return store.GitHubDeployment{}, false, nil
	}
	gh, err := r.clients.For(ctx, repo, 0)
	if err != nil {
		return store.GitHubDeployment{}, false, err
	}
	payload := deploymentPayload{
		Slipway:    &api.GitHubDeploymentPayload{Application: d.Application, Group: d.Group, Revision: d.Revision},
		Deployment: d.ID, RollbackOf: d.RollbackOf,
	}
	ghd, err := ensureDeployment(ctx, gh, repo, &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String(link.Environment), Description: github.String(clip(desc, maxDescription)),
		Payload: payload, AutoMerge: github.Bool(false),
		// The server is redeploying what ran before; commit statuses are no gate for that.
		RequiredContexts: &[]string{},
	}, func(p deploymentPayload) bool { return p.Deployment == d.ID })
	if err != nil {
		var perm permanentError
		if errors.As(err, &perm) {
			r.log.Warn("not reported to GitHub: it refused the Deployment", "deployment_id", d.ID, "error", err)
			return store.GitHubDeployment{}, false, nil
		}
		return store.GitHubDeployment{}, false, err
	}
	link.Deployment, link.GitHubID, link.SHA, link.Ref = d.ID, ghd.GetID(), sha, sha
	err = r.store.LinkGitHubDeployment(ctx, link)
	if errors.Is(err, store.ErrExists) {
		link, err = r.store.GitHubDeploymentOf(ctx, d.ID)
	}
	if err != nil {
		return store.GitHubDeployment{}, false, err
	}
	r.log.Info("github deployment created", "deployment_id", d.ID, "github_deployment", link.GitHubID, "creator", d.Creator)
	return link, true, nil
}

// commitOf finds the commit a deployment's revision was built from: recorded with the revision,
// or the commit of an earlier GitHub deployment of the same revision in that environment.
func (r *Reporter) commitOf(ctx context.Context, d api.Deployment, repositoryID int64, env string) (string, error) {
	if rev, err := r.store.GetRevision(ctx, d.Application, d.Revision); err == nil && rev.Commit != "" {
		return rev.Commit, nil
	}
	links, err := r.store.GitHubDeploymentsIn(ctx, repositoryID, env)
	if err != nil {
		return "", err
	}
	for i, l := range links {
		if i == 20 {
			break
		}
		other, err := r.server.GetDeployment(ctx, l.Deployment)
		if err == nil && other.Revision == d.Revision {
			return l.SHA, nil
		}
	}
	return "", nil
}

// reportCheckRun creates and updates the deployment's check run (GitHub Apps only): created at
// once, then updated at most once per interval with the latest state and up to 50 new
// annotations per request. done says the final state and every annotation are posted.
func (r *Reporter) reportCheckRun(ctx context.Context, gh *github.Client, repo Repo, link *store.GitHubDeployment, rep *report, d api.Deployment) (time.Time, bool, error) {
	if !r.clients.IsApp() {
		if !rep.Check.Skipped {
			r.log.Info("no check run: GitHub only lets Apps create them, and the server uses a token", "deployment_id", d.ID)
			rep.Check.Skipped = true
		}
		return time.Time{}, true, nil
	}
	pageURL := ""
	if r.publicURL != "" {
		pageURL = deploymentURL(r.publicURL, d.ID)
	}
	content := renderCheckRun(d, pageURL, rep.RolledBack)
	digest := content.digest()
	if len(rep.Check.Pending) > 0 && rep.Check.ID != 0 {
		if err := r.resolvePendingAnnotations(ctx, gh, repo, rep); err != nil {
			return time.Time{}, false, err
		}
	}
	dir, err := r.bundleDirectory(ctx, d)
	if err != nil {
		return time.Time{}, false, err
	}
	var todo []annotation
	for _, a := range annotationsFor(d, dir) {
		if !slices.Contains(rep.Check.Annotations, a.key) {
			todo = append(todo, a)
		}
	}
	if rep.Check.ID == 0 && rep.Check.Creating {
		found, err := r.findCheckRun(ctx, gh, repo, link.SHA, content.Name, d.ID)
		if err != nil {
			return time.Time{}, false, err
		}
		rep.Check.ID, rep.Check.Creating = found, false
	}
	if rep.Check.ID == 0 {
		batch := todo[:min(len(todo), maxAnnotations)]
		rep.Check.Creating = true
		if err := r.save(ctx, *link, *rep, false); err != nil {
			return time.Time{}, false, err
		}
		cr, err := r.sendCheckRun(ctx, gh, repo, 0, link.SHA, d.ID, content, batch)
		if err != nil {
			return time.Time{}, false, err
		}
		rep.Check = checkReport{ID: cr, Digest: digest, Time: r.now(), Annotations: append(rep.Check.Annotations, keys(batch)...)}
		r.log.Info("github check run created", "deployment_id", d.ID, "check_run", cr)
		if err := r.save(ctx, *link, *rep, false); err != nil {
			return time.Time{}, false, err
		}
		todo = todo[len(batch):]
	}
	if digest == rep.Check.Digest && len(todo) == 0 {
		return time.Time{}, true, nil
	}
	if at := rep.Check.Time.Add(r.interval); r.now().Before(at) {
		return at, false, nil
	}
	batch := todo[:min(len(todo), maxAnnotations)]
	rep.Check.Pending = keys(batch)
	if len(batch) > 0 {
		if err := r.save(ctx, *link, *rep, false); err != nil {
			return time.Time{}, false, err
		}
	}
	if _, err := r.sendCheckRun(ctx, gh, repo, rep.Check.ID, link.SHA, d.ID, content, batch); err != nil {
		return time.Time{}, false, err
	}
	rep.Check.Annotations = append(rep.Check.Annotations, rep.Check.Pending...)
	rep.Check.Pending, rep.Check.Digest, rep.Check.Time = nil, digest, r.now()
	if err := r.save(ctx, *link, *rep, false); err != nil {
		return time.Time{}, false, err
	}
	if len(todo) > len(batch) {
		return r.now().Add(r.interval), false, nil
	}
	return time.Time{}, true, nil
}

// bundleDirectory is the directory of the repository d's revision was built from, "" when
// unknown.
func (r *Reporter) bundleDirectory(ctx context.Context, d api.Deployment) (string, error) {
	rev, err := r.store.GetRevision(ctx, d.Application, d.Revision)
	if err != nil {
		return "", ignoreNotFound(err)
	}
	return rev.Directory, nil
}

func keys(as []annotation) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.key
	}
	return out
}

// checkRunRequest is go-github's update options with the buttons always sent: an empty list must
// reach GitHub to remove buttons that no longer apply, and the library's field omits it.
type checkRunRequest struct {
	github.UpdateCheckRunOptions
	HeadSHA    string                   `json:"head_sha,omitempty"`
	ExternalID string                   `json:"external_id"`
	StartedAt  *time.Time               `json:"started_at,omitempty"`
	Actions    []*github.CheckRunAction `json:"actions"`
}

// sendCheckRun creates (id 0) or updates a check run with content and annotations; it returns
// the run's id.
func (r *Reporter) sendCheckRun(ctx context.Context, gh *github.Client, repo Repo, id int64, sha, deployment string, c checkContent, batch []annotation) (int64, error) {
	body := checkRunRequest{
		UpdateCheckRunOptions: github.UpdateCheckRunOptions{
			Name: c.Name, Status: github.String(c.Status),
			Output: &github.CheckRunOutput{Title: github.String(c.Title), Summary: github.String(c.Summary)},
		},
		ExternalID: deployment, StartedAt: c.StartedAt, Actions: c.Actions,
	}
	if c.DetailsURL != "" {
		body.DetailsURL = github.String(c.DetailsURL)
	}
	if c.Conclusion != "" {
		body.Conclusion = github.String(c.Conclusion)
	}
	if c.CompletedAt != nil {
		body.CompletedAt = &github.Timestamp{Time: *c.CompletedAt}
	}
	if c.Text != "" {
		body.Output.Text = github.String(c.Text)
	}
	for _, a := range batch {
		body.Output.Annotations = append(body.Output.Annotations, a.a)
	}
	method, path := "PATCH", fmt.Sprintf("repos/%s/%s/check-runs/%d", repo.Owner, repo.Name, id)
	if id == 0 {
		method, path, body.HeadSHA = "POST", fmt.Sprintf("repos/%s/%s/check-runs", repo.Owner, repo.Name), sha
	}
	req, err := gh.NewRequest(method, path, body)
	if err != nil {
		return 0, err
	}
	var out github.CheckRun
	if _, err := gh.Do(ctx, req, &out); err != nil {
		return 0, githubRefusal("write check run of deployment "+deployment, err)
	}
	return out.GetID(), nil
}

// findCheckRun looks for the check run a crash may have created without the id being recorded.
func (r *Reporter) findCheckRun(ctx context.Context, gh *github.Client, repo Repo, sha, name, deployment string) (int64, error) {
	res, _, err := gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, sha, &github.ListCheckRunsOptions{
		CheckName: github.String(name), Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return 0, fmt.Errorf("list check runs of %s: %w", short(sha), err)
	}
	for _, cr := range res.CheckRuns {
		if cr.GetExternalID() == deployment {
			return cr.GetID(), nil
		}
	}
	return 0, nil
}

// resolvePendingAnnotations settles annotations whose posting a crash cut short: those GitHub has
// are recorded as posted, the others are posted again.
func (r *Reporter) resolvePendingAnnotations(ctx context.Context, gh *github.Client, repo Repo, rep *report) error {
	have := map[string]bool{}
	opts := &github.ListOptions{PerPage: 100}
	for {
		list, resp, err := gh.Checks.ListCheckRunAnnotations(ctx, repo.Owner, repo.Name, rep.Check.ID, opts)
		if err != nil {
			return fmt.Errorf("list annotations of check run %d: %w", rep.Check.ID, err)
		}
		for _, a := range list {
			have[a.GetTitle()] = true
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	for _, key := range rep.Check.Pending {
		for title := range have {
			if strings.HasPrefix(title, annotationTitle(key)) {
				rep.Check.Annotations = append(rep.Check.Annotations, key)
				break
			}
		}
	}
	rep.Check.Pending = nil
	return nil
}
