package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

const sha1 = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"

func ghLink(githubID int64) store.GitHubDeployment {
	return store.GitHubDeployment{
		Repository: "octo/shop", RepositoryID: 42, GitHubID: githubID,
		SHA: sha1, Ref: "main", Environment: "production",
	}
}

func TestSQLite_CreateDeploymentForGitHub_OneDeploymentPerGitHubDeployment(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)

	// The Action's call and the webhook race for the same GitHub Deployment.
	const racers = 8
	var wg sync.WaitGroup
	ids := make([]string, racers)
	created := make([]bool, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			d, _, c, err := s.CreateDeploymentForGitHub(ctx, newDeployment(fmt.Sprintf("d-%d", i), "r1"), false, ghLink(7))
			ids[i], created[i], errs[i] = d.ID, c, err
		})
	}
	wg.Wait()
	winner := ""
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if created[i] {
			if winner != "" {
				t.Fatalf("two deployments created for one GitHub deployment: %s and %s", winner, ids[i])
			}
			winner = ids[i]
		}
	}
	if winner == "" {
		t.Fatal("no racer created the deployment")
	}
	for i, id := range ids {
		if id != winner {
			t.Errorf("racer %d got deployment %s, want the one created (%s)", i, id, winner)
		}
	}
	list, err := s.ListDeployments(ctx, store.DeploymentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("stored deployments: got %d, want 1", len(list))
	}
	l, err := s.GitHubDeploymentOf(ctx, winner)
	if err != nil {
		t.Fatal(err)
	}
	if l.GitHubID != 7 || l.RepositoryID != 42 || l.SHA != sha1 || l.Environment != "production" || l.Done || string(l.Report) != "{}" {
		t.Errorf("link: got %+v", l)
	}

	// Another GitHub Deployment makes another (queued) deployment.
	d, adm, c, err := s.CreateDeploymentForGitHub(ctx, newDeployment("d-other", "r2"), false, ghLink(8))
	if err != nil || !c || adm != deploy.AdmitQueued || d.Status != deploy.StatusQueued {
		t.Errorf("second GitHub deployment: got %v %v %v %v, want created and queued", d.Status, adm, c, err)
	}
}

func TestSQLite_CreateDeploymentForGitHub_RefusesBadLinks(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	for _, tc := range []struct {
		name string
		edit func(*store.GitHubDeployment)
	}{
		{"no repository", func(l *store.GitHubDeployment) { l.Repository = "" }},
		{"no repository id", func(l *store.GitHubDeployment) { l.RepositoryID = 0 }},
		{"no GitHub id", func(l *store.GitHubDeployment) { l.GitHubID = 0 }},
		{"short sha", func(l *store.GitHubDeployment) { l.SHA = "f95f852" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ghLink(9)
			tc.edit(&l)
			_, _, _, err := s.CreateDeploymentForGitHub(ctx, newDeployment("d-bad", "r"), false, l)
			wantErr(t, "CreateDeploymentForGitHub", err, store.ErrInvalid)
		})
	}
	if _, err := s.GetDeployment(ctx, "d-bad"); err == nil {
		t.Error("a refused link left a deployment behind")
	}
	// A busy group that refuses: nothing is stored, not even the link.
	create(t, s, newDeployment("d-1", "r1"))
	_, _, _, err := s.CreateDeploymentForGitHub(ctx, newDeployment("d-2", "r2"), true, ghLink(10))
	wantErr(t, "CreateDeploymentForGitHub busy", err, deploy.ErrGroupBusy)
	if _, err := s.GitHubDeploymentOf(ctx, "d-2"); err == nil {
		t.Error("a refused deployment left its link behind")
	}
}

func TestSQLite_GitHubReport(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	if _, _, _, err := s.CreateDeploymentForGitHub(ctx, newDeployment("d-1", "r1"), false, ghLink(1)); err != nil {
		t.Fatal(err)
	}
	create(t, s, newDeployment("d-rb", "r0"))
	link := ghLink(2)
	link.Deployment = "d-rb"
	if err := s.LinkGitHubDeployment(ctx, link); err != nil {
		t.Fatalf("LinkGitHubDeployment: %v", err)
	}
	wantErr(t, "link the same GitHub deployment again", s.LinkGitHubDeployment(ctx, link), store.ErrExists)
	link.GitHubID = 3
	wantErr(t, "link a linked deployment again", s.LinkGitHubDeployment(ctx, link), store.ErrExists)
	link.Deployment = "d-none"
	wantErr(t, "link an unknown deployment", s.LinkGitHubDeployment(ctx, link), store.ErrNotFound)

	report := json.RawMessage(`{"statuses":["queued"]}`)
	if err := s.SaveGitHubReport(ctx, "d-1", 555, report, false); err != nil {
		t.Fatalf("SaveGitHubReport: %v", err)
	}
	wantErr(t, "save bad JSON", s.SaveGitHubReport(ctx, "d-1", 555, json.RawMessage("{"), false), store.ErrInvalid)
	wantErr(t, "save unknown", s.SaveGitHubReport(ctx, "d-none", 1, report, false), store.ErrNotFound)
	byRun, err := s.GitHubDeploymentByCheckRun(ctx, 42, 555)
	if err != nil || byRun.Deployment != "d-1" || string(byRun.Report) != string(report) {
		t.Errorf("GitHubDeploymentByCheckRun: got %+v %v", byRun, err)
	}
	if _, err := s.GitHubDeploymentByCheckRun(ctx, 43, 555); err == nil {
		t.Error("a check run was found in another repository")
	}
	if _, err := s.GitHubDeploymentByCheckRun(ctx, 42, 0); err == nil {
		t.Error("check run 0 matched a link without a check run")
	}
	if err := s.SaveGitHubReport(ctx, "d-rb", 0, json.RawMessage(`{}`), true); err != nil {
		t.Fatal(err)
	}
	todo, err := s.GitHubDeploymentsToReport(ctx)
	if err != nil || len(todo) != 1 || todo[0].Deployment != "d-1" {
		t.Errorf("GitHubDeploymentsToReport: got %+v %v, want d-1 only", todo, err)
	}
	in, err := s.GitHubDeploymentsIn(ctx, 42, "production")
	if err != nil || len(in) != 2 {
		t.Errorf("GitHubDeploymentsIn: got %d %v, want 2", len(in), err)
	}
	if in, _ := s.GitHubDeploymentsIn(ctx, 42, "staging"); len(in) != 0 {
		t.Errorf("GitHubDeploymentsIn(staging): got %d, want 0", len(in))
	}
}

func TestSQLite_GitHubInstallation(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.GitHubInstallation(ctx, 42); err == nil {
		t.Fatal("unknown repository has an installation")
	}
	for _, inst := range []int64{100, 200} {
		if err := s.SetGitHubInstallation(ctx, 42, "octo/shop", inst); err != nil {
			t.Fatal(err)
		}
		got, err := s.GitHubInstallation(ctx, 42)
		if err != nil || got != inst {
			t.Errorf("GitHubInstallation: got %d %v, want %d", got, err, inst)
		}
	}
	wantErr(t, "zero installation", s.SetGitHubInstallation(ctx, 42, "octo/shop", 0), store.ErrInvalid)
}

func TestSQLite_GroupsForRepository(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	for _, g := range []store.Group{
		{Application: "app", Name: "prod", Environment: "production", GitHub: store.GitHubLink{Repository: "octo/shop", RepositoryID: 42}},
		{Application: "app", Name: "other", GitHub: store.GitHubLink{Repository: "octo/else", RepositoryID: 43}},
		{Application: "app", Name: "staging", Environment: "staging", GitHub: store.GitHubLink{Repository: "octo/shop", RepositoryID: 42}},
	} {
		g.ConfigName, g.Tags = deploy.ConfigAllAtOnce, deploy.TagSet{{{Key: "role", Type: deploy.KeyOnly}}}
		if _, err := s.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GroupsForRepository(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "prod,staging" {
		t.Errorf("GroupsForRepository(42): got %v, want [prod staging]", names)
	}
}

func TestSQLite_RevisionForCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	digest := strings.Repeat("ab", 32)
	if _, err := s.PutRevision(ctx, store.Revision{Digest: digest, Application: "app", Size: 1, Format: "tgz", Source: store.SourceUpload}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevisionForCommit(ctx, "app", sha1); err == nil {
		t.Fatal("a revision without a commit was found by commit")
	}
	// Uploading the same bytes again with the commit and directory fills them in; a later other
	// commit or directory does not overwrite them.
	for i, commit := range []string{sha1, strings.Repeat("1", 40)} {
		dir := []string{"deploy/web", "elsewhere"}[i]
		if _, err := s.PutRevision(ctx, store.Revision{Digest: digest, Application: "app", Size: 1, Format: "tgz", Source: store.SourceUpload, Commit: commit, Directory: dir}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.RevisionForCommit(ctx, "app", sha1)
	if err != nil || r.Digest != digest || r.Commit != sha1 || r.Directory != "deploy/web" {
		t.Errorf("RevisionForCommit: got %+v %v", r, err)
	}
	newer := strings.Repeat("cd", 32)
	if _, err := s.PutRevision(ctx, store.Revision{Digest: newer, Application: "app", Size: 2, Format: "tgz", Source: store.SourceGitHub,
		Commit: sha1, CreateTime: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.RevisionForCommit(ctx, "app", sha1); r.Digest != newer {
		t.Errorf("RevisionForCommit: got %s, want the newest revision %s", r.Digest, newer)
	}
	_, err = s.PutRevision(ctx, store.Revision{Digest: newer, Application: "app", Source: store.SourceGitHub, Commit: "main"})
	wantErr(t, "PutRevision with a branch name as commit", err, store.ErrInvalid)
}

func TestSQLite_Deliveries(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	put := func(id string, at time.Time) bool {
		t.Helper()
		ok, err := s.PutDelivery(ctx, store.Delivery{ID: id, Event: "ping", Payload: []byte(`{"zen":"x"}`), ReceivedTime: at})
		if err != nil {
			t.Fatalf("PutDelivery(%s): %v", id, err)
		}
		return ok
	}
	if !put("a", t0) || !put("b", t0.Add(time.Second)) {
		t.Fatal("first deliveries were not recorded")
	}
	if put("a", t0.Add(time.Minute)) {
		t.Error("a redelivery was recorded twice")
	}
	pending, next, err := s.PendingDeliveries(ctx, t0.Add(time.Hour), store.DeliveryCursor{}, 10)
	if err != nil || len(pending) != 2 || pending[0].ID != "a" || string(pending[0].Payload) != `{"zen":"x"}` || !next.IsZero() {
		t.Fatalf("PendingDeliveries: got %+v next %v %v", pending, next, err)
	}
	retry := t0.Add(2 * time.Hour)
	if err := s.DeferDelivery(ctx, "a", "github unavailable", retry); err != nil {
		t.Fatal(err)
	}
	pending, next, err = s.PendingDeliveries(ctx, t0.Add(time.Hour), store.DeliveryCursor{}, 10)
	if err != nil || len(pending) != 1 || pending[0].ID != "b" || !next.Equal(retry) {
		t.Errorf("after defer: got %+v next %v %v, want b and next %v", pending, next, err, retry)
	}
	// Listed a page at a time: after a, then after b.
	if page, _, err := s.PendingDeliveries(ctx, retry, store.DeliveryCursor{ReceivedTime: t0, ID: "a"}, 1); err != nil || len(page) != 1 || page[0].ID != "b" {
		t.Errorf("after a: got %+v %v, want b", page, err)
	}
	if page, _, err := s.PendingDeliveries(ctx, retry, store.DeliveryCursor{ReceivedTime: t0.Add(time.Second), ID: "b"}, 10); err != nil || len(page) != 0 {
		t.Errorf("after b: got %+v %v, want none", page, err)
	}
	if err := s.FinishDelivery(ctx, "b", "pong"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDelivery(ctx, "b")
	if err != nil || got.ProcessedTime.IsZero() || len(got.Payload) != 0 || got.Outcome != "pong" || got.Attempts != 1 {
		t.Errorf("finished delivery: got %+v %v", got, err)
	}
	if put("b", t0) {
		t.Error("a redelivery of a processed delivery was recorded again")
	}
	wantErr(t, "defer a processed delivery", s.DeferDelivery(ctx, "b", "x", retry), store.ErrNotFound)
	pending, _, _ = s.PendingDeliveries(ctx, retry, store.DeliveryCursor{}, 10)
	if len(pending) != 1 || pending[0].ID != "a" || pending[0].Attempts != 1 || pending[0].Outcome != "github unavailable" {
		t.Errorf("due again: got %+v", pending)
	}
	n, err := s.PruneDeliveries(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneDeliveries: got %d %v, want 1 (the processed one only)", n, err)
	}
	if _, err := s.GetDelivery(ctx, "a"); err != nil {
		t.Errorf("pending delivery pruned: %v", err)
	}
}

func TestSQLite_GitHubCommands(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	_, err := s.GetGitHubCommand(ctx, 42, 7)
	wantErr(t, "command never recorded", err, store.ErrNotFound)

	first, err := s.RecordGitHubCommand(ctx, store.GitHubCommand{RepositoryID: 42, CommentID: 7, Reply: "rolling back to abc", CreateTime: t0})
	if err != nil || first.Reply != "rolling back to abc" || first.Refused || first.ReplyComment != 0 || !first.CreateTime.Equal(t0) {
		t.Fatalf("RecordGitHubCommand: got %+v %v", first, err)
	}
	// The comment handled again: the first outcome stands.
	again, err := s.RecordGitHubCommand(ctx, store.GitHubCommand{RepositoryID: 42, CommentID: 7, Refused: true, Reply: "nothing to roll back to"})
	if err != nil || again != first {
		t.Errorf("second record: got %+v %v, want the first %+v", again, err, first)
	}
	// The same comment id in another repository is another command.
	if other, err := s.RecordGitHubCommand(ctx, store.GitHubCommand{RepositoryID: 43, CommentID: 7, Refused: true, Reply: "no"}); err != nil || !other.Refused {
		t.Errorf("other repository: got %+v %v", other, err)
	}
	if err := s.SetGitHubCommandReply(ctx, 42, 7, 9001); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetGitHubCommand(ctx, 42, 7)
	if err != nil || got.ReplyComment != 9001 || got.Reply != first.Reply {
		t.Errorf("after the reply: got %+v %v", got, err)
	}
	wantErr(t, "reply to an unknown command", s.SetGitHubCommandReply(ctx, 42, 8, 9002), store.ErrNotFound)
	_, err = s.RecordGitHubCommand(ctx, store.GitHubCommand{CommentID: 7})
	wantErr(t, "command without a repository", err, store.ErrInvalid)

	n, err := s.PruneGitHubRecords(ctx, t0.Add(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("PruneGitHubRecords: got %d %v, want 1 (the old one only)", n, err)
	}
	if _, err := s.GetGitHubCommand(ctx, 43, 7); err != nil {
		t.Errorf("a recent command was pruned: %v", err)
	}
}

func TestSQLite_GitHubRefusals(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	// The webhook and the Action's call race to refuse one GitHub Deployment: one wins, and
	// both learn which.
	const racers = 8
	var wg sync.WaitGroup
	got := make([]store.GitHubRefusal, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			got[i], errs[i] = s.RecordGitHubRefusal(ctx, store.GitHubRefusal{RepositoryID: 42, GitHubID: 7, Webhook: i%2 == 0, Reason: fmt.Sprint("racer ", i), CreateTime: t0})
		})
	}
	wg.Wait()
	for i := range racers {
		if errs[i] != nil || got[i] != got[0] {
			t.Errorf("racer %d: got %+v %v, want the first refusal %+v", i, got[i], errs[i], got[0])
		}
	}
	var winner int
	if _, err := fmt.Sscanf(got[0].Reason, "racer %d", &winner); err != nil || got[0].Webhook != (winner%2 == 0) {
		t.Errorf("the winner %+v is not what one racer recorded", got[0])
	}
	other, err := s.RecordGitHubRefusal(ctx, store.GitHubRefusal{RepositoryID: 42, GitHubID: 8, Reason: "later"})
	if err != nil || other.Webhook || other.Reason != "later" {
		t.Errorf("another Deployment: got %+v %v", other, err)
	}
	_, err = s.RecordGitHubRefusal(ctx, store.GitHubRefusal{RepositoryID: 42})
	wantErr(t, "refusal without a GitHub Deployment", err, store.ErrInvalid)
	if n, err := s.PruneGitHubRecords(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("PruneGitHubRecords: got %d %v, want 1 (the old refusal only)", n, err)
	}
}
