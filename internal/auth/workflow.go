package auth

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Workflow is the verified identity of a GitHub Actions job, from its OIDC token's claims.
// Decisions use the ID claims (RepositoryID), never names: a repository renamed, or deleted and
// re-created under the same name, must not inherit the right to deploy.
type Workflow struct {
	Subject      string `json:"sub"`
	Repository   string `json:"repository"`
	RepositoryID int64  `json:"-"`
	// Ref is the ref that triggered the run, e.g. refs/heads/main or refs/tags/v1.2.
	Ref string `json:"ref"`
	SHA string `json:"sha"`
	// Environment is the GitHub environment the job declared; empty when it declared none.
	Environment    string `json:"environment"`
	Workflow       string `json:"workflow"`
	JobWorkflowRef string `json:"job_workflow_ref"`
	EventName      string `json:"event_name"`
	Actor          string `json:"actor"`
	RunID          string `json:"run_id"`
}

// workflowClaims is the token's JSON: GitHub sends the numeric IDs as strings.
type workflowClaims struct {
	Workflow
	RepositoryID json.RawMessage `json:"repository_id"`
}

// parseClaims decodes the claims of a verified token.
func parseClaims(payload []byte) (Workflow, error) {
	var c workflowClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Workflow{}, fmt.Errorf("%w: its claims are not JSON: %w", ErrTokenInvalid, err)
	}
	w := c.Workflow
	raw := strings.Trim(string(c.RepositoryID), `"`)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return Workflow{}, fmt.Errorf("%w: it has no repository_id claim, so it is not a GitHub Actions job token", ErrTokenInvalid)
	}
	w.RepositoryID = id
	if w.Ref == "" {
		return Workflow{}, fmt.Errorf("%w: it has no ref claim, so it is not a GitHub Actions job token", ErrTokenInvalid)
	}
	return w, nil
}

// Target is one deployment group as the policy sees it.
type Target struct {
	Application, Group string
	// RepositoryID is the GitHub repository linked to the group; 0 when the group is not linked.
	RepositoryID int64
	Repository   string
	// AllowedRefs are path.Match patterns the workflow's ref must match; empty allows any ref.
	AllowedRefs []string
	// Environment is the GitHub environment of the group; empty when it has none.
	Environment string
}

// Authorize says whether the workflow may deploy to t (upload its revisions, create, read and
// stop its deployments). The rules, all of which must hold:
//   - the group is linked to a repository, and it is the token's (by repository_id);
//   - when the group has allowed refs, the token's ref matches one of them;
//   - when the group has a GitHub environment, the job declared that environment (names compared
//     case-insensitively, as GitHub does), so the environment's protection rules — required
//     reviewers, wait timers, branch policies — have passed before the job got its token.
func (w Workflow) Authorize(t Target) error {
	name := t.Application + "/" + t.Group
	if t.RepositoryID == 0 {
		return fmt.Errorf("%w: group %s is not linked to a GitHub repository; link it (slipway group create --github-repo OWNER/NAME --github-repo-id ID) to let that repository's workflows deploy it",
			ErrForbidden, name)
	}
	if w.RepositoryID != t.RepositoryID {
		return fmt.Errorf("%w: group %s accepts workflows of repository %s (id %d), and this token is from %s (id %d)",
			ErrForbidden, name, orUnnamed(t.Repository), t.RepositoryID, orUnnamed(w.Repository), w.RepositoryID)
	}
	if len(t.AllowedRefs) > 0 && !refAllowed(w.Ref, t.AllowedRefs) {
		return fmt.Errorf("%w: group %s may be deployed from refs %s; this workflow runs on %s",
			ErrForbidden, name, strings.Join(t.AllowedRefs, ", "), w.Ref)
	}
	if t.Environment != "" && !strings.EqualFold(w.Environment, t.Environment) {
		got := "declares no environment"
		if w.Environment != "" {
			got = fmt.Sprintf("declares environment %q", w.Environment)
		}
		return fmt.Errorf("%w: group %s deploys to GitHub environment %q, so the job must declare `environment: %s`; this job %s",
			ErrForbidden, name, t.Environment, t.Environment, got)
	}
	return nil
}

func refAllowed(ref string, patterns []string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, ref); err == nil && ok {
			return true
		}
	}
	return false
}

func orUnnamed(repo string) string {
	if repo == "" {
		return "(unnamed)"
	}
	return repo
}
