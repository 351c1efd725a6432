package githubapp

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// Store is what the package needs of durable state (store.SQLite provides it).
type Store interface {
	installations

	PutDelivery(ctx context.Context, d store.Delivery) (bool, error)
	PendingDeliveries(ctx context.Context, now time.Time, after store.DeliveryCursor, limit int) ([]store.Delivery, time.Time, error)
	FinishDelivery(ctx context.Context, id, outcome string) error
	DeferDelivery(ctx context.Context, id, outcome string, next time.Time) error
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)

	GetGitHubCommand(ctx context.Context, repositoryID, commentID int64) (store.GitHubCommand, error)
	RecordGitHubCommand(ctx context.Context, c store.GitHubCommand) (store.GitHubCommand, error)
	SetGitHubCommandReply(ctx context.Context, repositoryID, commentID, reply int64) error
	RecordGitHubRefusal(ctx context.Context, f store.GitHubRefusal) (store.GitHubRefusal, error)
	PruneGitHubRecords(ctx context.Context, before time.Time) (int64, error)

	GetGroup(ctx context.Context, application, name string) (store.Group, error)
	GroupsForRepository(ctx context.Context, repositoryID int64) ([]store.Group, error)
	GetRevision(ctx context.Context, application, digest string) (store.Revision, error)
	RevisionForCommit(ctx context.Context, application, commit string) (store.Revision, error)
	GetDeployment(ctx context.Context, id string) (store.Versioned, error)
	ActiveDeployments(ctx context.Context) ([]store.Versioned, error)

	GitHubDeploymentOf(ctx context.Context, deployment string) (store.GitHubDeployment, error)
	GitHubDeploymentByCheckRun(ctx context.Context, repositoryID, checkRun int64) (store.GitHubDeployment, error)
	GitHubDeploymentsToReport(ctx context.Context) ([]store.GitHubDeployment, error)
	GitHubDeploymentsIn(ctx context.Context, repositoryID int64, environment string) ([]store.GitHubDeployment, error)
	LinkGitHubDeployment(ctx context.Context, link store.GitHubDeployment) error
	SaveGitHubReport(ctx context.Context, deployment string, checkRun int64, report json.RawMessage, done bool) error

	PendingEffects(ctx context.Context, limit int) ([]store.OutboxEffect, error)
	MarkEffectDone(ctx context.Context, id int64) error
}

var _ Store = (*store.SQLite)(nil)

// Server is what the handlers need of the Slipway server: the very calls its REST API makes
// (apiserver.Server provides them), so a webhook deploys, stops and rolls back exactly as a
// user does. Errors that are *api.Error are the requester's to fix; their message says how.
type Server interface {
	CreateDeployment(ctx context.Context, in api.CreateDeployment, creator deploy.Creator) (api.Deployment, bool, error)
	StopDeployment(ctx context.Context, id string, rollback bool, message string) (api.Deployment, error)
	// ActOnDeployment promotes, pauses, continues or aborts a blue/green deployment (the
	// api.Action* actions); message says who aborted.
	ActOnDeployment(ctx context.Context, id, action, message string) (api.Deployment, error)
	RollbackGroup(ctx context.Context, application, group, description, key string) (api.Deployment, error)
	GetDeployment(ctx context.Context, id string) (api.Deployment, error)
	// AddGitHubRevision registers a bundle fetched from GitHub for commit of repository, size
	// bytes long.
	AddGitHubRevision(ctx context.Context, application string, body io.Reader, size int64, repository, commit string) (api.Revision, error)
}
