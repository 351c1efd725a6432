package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/store"
)

// tarballTimeout bounds fetching a repository tarball, download included.
const tarballTimeout = 10 * time.Minute

// revisionFor returns the revision to deploy for commit sha of repo in application app: the one
// named (it must be registered), else a revision already registered for that commit (uploaded by
// the Action, or fetched before), else the repository's tarball at sha, fetched and checked now.
func (h *handlers) revisionFor(ctx context.Context, gh *github.Client, repo Repo, app, sha, named string) (string, error) {
	if named != "" {
		if _, err := h.store.GetRevision(ctx, app, named); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", permanentf("revision %s is not uploaded to application %s: upload the bundle before creating the GitHub Deployment", named, app)
			}
			return "", err
		}
		return named, nil
	}
	if r, err := h.store.RevisionForCommit(ctx, app, sha); err == nil {
		return r.Digest, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return h.fetchTarball(ctx, gh, repo, app, sha)
}

// fetchTarball downloads the repository's tarball at sha (GET /repos/{o}/{r}/tarball/{sha}, then
// the archive link it redirects to), checks it as the agents will use it — it must extract safely
// within the limits and hold a valid server AppSpec at its root — and registers it as a revision
// with source github, like an upload.
func (h *handlers) fetchTarball(ctx context.Context, gh *github.Client, repo Repo, app, sha string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tarballTimeout)
	defer cancel()
	link, resp, err := gh.Repositories.GetArchiveLink(ctx, repo.Owner, repo.Name, github.Tarball, &github.RepositoryContentGetOptions{Ref: sha}, 1)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnprocessableEntity) {
			return "", permanentf("GitHub has no tarball of %s at %s: %s", repo, sha, resp.Status)
		}
		return "", fmt.Errorf("tarball link of %s at %s: %w", repo, sha, err)
	}
	dl, err := h.clients.Download(ctx, link.String())
	if err != nil {
		return "", err
	}
	defer dl.Body.Close()
	dir, err := os.MkdirTemp("", "slipway-tarball-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.tgz")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(dl.Body, h.maxBundleBytes+1))
	if err != nil {
		return "", fmt.Errorf("download tarball of %s at %s: %w", repo, sha, err)
	}
	if n > h.maxBundleBytes {
		return "", permanentf("the tarball of %s at %s is larger than the server's max_bundle_bytes (%d)", repo, sha, h.maxBundleBytes)
	}
	if err := checkBundle(ctx, path, filepath.Join(dir, "tree"), h.maxBundleBytes); err != nil {
		return "", permanentf("the tarball of %s at %s cannot be deployed: %w", repo, sha, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	rev, err := h.server.AddGitHubRevision(ctx, app, f, repo.String(), sha)
	if err != nil {
		return "", userOr(err)
	}
	h.log.Info("fetched revision from GitHub", "repository", repo.String(), "commit", sha, "revision", rev.Digest, "size", rev.Size)
	return rev.Digest, nil
}

// checkBundle extracts the bundle at path into dest with the agents' protections and limits and
// validates its AppSpec, so that a commit that cannot deploy fails here, once, with the reason,
// rather than on every host.
func checkBundle(ctx context.Context, path, dest string, maxBytes int64) error {
	if _, err := bundle.ExtractFile(ctx, path, dest, bundle.Limits{MaxBytes: 4 * maxBytes}); err != nil {
		return err
	}
	file, err := appspec.Find(dest, appspec.PlatformServer)
	if err != nil {
		return fmt.Errorf("no appspec.yml at the repository's root")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	_, diags := appspec.Parse(filepath.Base(file), data, appspec.Options{Platform: appspec.PlatformServer})
	return appspec.AsError(diags)
}
