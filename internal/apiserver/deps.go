package apiserver

import (
	"context"
	"io"
	"time"

	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// Store is what the handlers need of durable state (store.SQLite provides it).
type Store interface {
	Ping(ctx context.Context) error
	CreateApplication(ctx context.Context, a store.Application) (store.Application, error)
	GetApplication(ctx context.Context, name string) (store.Application, error)
	ListApplications(ctx context.Context) ([]store.Application, error)
	CreateConfig(ctx context.Context, c deploy.Config) error
	GetConfig(ctx context.Context, name string) (deploy.Config, error)
	ListConfigs(ctx context.Context) ([]deploy.Config, error)
	CreateGroup(ctx context.Context, g store.Group) (store.Group, error)
	UpdateGroup(ctx context.Context, g store.Group) (store.Group, error)
	GetGroup(ctx context.Context, application, name string) (store.Group, error)
	ListGroups(ctx context.Context, application string) ([]store.Group, error)
	PutRevision(ctx context.Context, r store.Revision) (store.Revision, error)
	GetRevision(ctx context.Context, application, digest string) (store.Revision, error)
	GetDeployment(ctx context.Context, id string) (store.Versioned, error)
	// CreateDeploymentForGitHub creates (or, for a GitHub Deployment seen before, returns) the
	// deployment that runs a GitHub Deployment.
	CreateDeploymentForGitHub(ctx context.Context, d deploy.Deployment, refuseWhenBusy bool, link store.GitHubDeployment) (deploy.Deployment, deploy.Admission, bool, error)
	ListDeployments(ctx context.Context, f store.DeploymentFilter) ([]store.Versioned, error)
	// RecordGitHubRefusal records, once, that a GitHub Deployment was refused; the first
	// recorded is returned.
	RecordGitHubRefusal(ctx context.Context, f store.GitHubRefusal) (store.GitHubRefusal, error)
	RegisterInstance(ctx context.Context, name string, tags map[string]string, credentialHash string, replace bool) (store.Instance, error)
	InstanceByCredential(ctx context.Context, hash string) (store.Instance, error)
	ListInstances(ctx context.Context, includeDeregistered bool) ([]store.Instance, error)
	GetInstance(ctx context.Context, id string) (store.Instance, error)
	DeregisterInstance(ctx context.Context, id string) error
	TouchInstance(ctx context.Context, id string, now time.Time) error
	SetInstanceTags(ctx context.Context, id string, tags map[string]string) error
	CreateUpload(ctx context.Context, u store.Upload) (store.Upload, error)
	// ClaimUpload hands out an upload slot once, before it expires.
	ClaimUpload(ctx context.Context, application, group, id string, now time.Time) (store.Upload, error)
}

// Blobs stores bundles by sha256 (blob.Disk and blob.S3 provide it). size is the content's
// length, or -1 when unknown (a store may then refuse with blob.ErrSizeRequired). Put runs check
// on the complete content before storing it, and keeps nothing when check refuses it.
type Blobs interface {
	Put(ctx context.Context, r io.Reader, size int64, wantDigest string, check blob.Check) (digest string, n int64, err error)
	Open(ctx context.Context, digest string) (io.ReadSeekCloser, int64, error)
	Delete(ctx context.Context, digest string) error
}

// Presigner is a Blobs that hands out short-lived download URLs (blob.S3 is one): agents then
// fetch bundles from the store itself, and no bundle byte passes through the server.
type Presigner interface {
	PresignGet(ctx context.Context, digest string) (url string, expires time.Time, err error)
}

// BucketStore is a Blobs kept in an S3 bucket (blob.S3 is one): the server's own bucket, which
// revisions are never registered from.
type BucketStore interface {
	Bucket() string
}

// DirectUploads is a Blobs that clients can upload to themselves (blob.S3 is one): the server
// hands out presigned PUTs, then takes over what arrived (ClaimUpload: a copy only the server
// writes), reads it with Get, and keeps it under its digest once checked (KeepUpload) or
// discards it.
type DirectUploads interface {
	PresignUpload(ctx context.Context, id string, size int64, digest string, ttl time.Duration) (blob.PresignedPut, error)
	ClaimUpload(ctx context.Context, id string) (blob.S3Object, int64, error)
	Get(ctx context.Context, o blob.S3Object) (io.ReadCloser, error)
	KeepUpload(ctx context.Context, claimed blob.S3Object, size int64, digest string) error
	DiscardUpload(ctx context.Context, claimed blob.S3Object)
}

// S3Objects reads the S3 objects revisions are registered by (blob.S3Client provides it).
type S3Objects interface {
	Head(ctx context.Context, o blob.S3Object) (blob.S3Object, int64, error)
	Get(ctx context.Context, o blob.S3Object) (io.ReadCloser, error)
	Presign(ctx context.Context, o blob.S3Object) (url string, expires time.Time, err error)
}

var (
	_ Store         = (*store.SQLite)(nil)
	_ Blobs         = (*blob.Disk)(nil)
	_ Blobs         = (*blob.S3)(nil)
	_ Presigner     = (*blob.S3)(nil)
	_ DirectUploads = (*blob.S3)(nil)
	_ BucketStore   = (*blob.S3)(nil)
	_ S3Objects     = (*blob.S3Client)(nil)
)
