package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/store"
)

// tarballTimeout bounds fetching a repository tarball, download included.
const tarballTimeout = 10 * time.Minute

// revisionFor returns the revision to deploy for commit sha of repo in application app: the one
// named (it must be registered), else a revision already registered for that commit (uploaded by
// the Action, or fetched before), else the repository's tarball at sha, fetched and checked now.
//
// sameCommit makes a named revision's recorded commit have to be sha: a group that deploys only
// some refs has had the GitHub Deployment's ref checked, and that check means nothing if the
// payload may then name a bundle built from another commit (one a branch's workflow uploaded).
func (h *handlers) revisionFor(ctx context.Context, gh *github.Client, repo Repo, app, sha, named string, sameCommit bool) (string, error) {
	if named != "" {
		rev, err := h.store.GetRevision(ctx, app, named)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", permanentf("revision %s is not uploaded to application %s: upload the bundle before creating the GitHub Deployment", named, app)
			}
			return "", err
		}
		if sameCommit && rev.Commit != sha {
			built := "no commit"
			if rev.Commit != "" {
				built = "commit " + short(rev.Commit)
			}
			return "", permanentf("revision %s was uploaded for %s, and this Deployment is of commit %s: the group deploys only refs matching its allowed refs, so it runs only a bundle of the Deployment's own commit (leave the revision out to deploy that commit)",
				short(named), built, short(sha))
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
// the archive link it redirects to) into a file of the server's temporary directory — GitHub
// streams archives without a length, and a bundle store in S3 needs one — and registers it as a
// revision with source github through the server's own upload path, which refuses it, as it
// refuses an upload, unless it extracts safely within the limits and holds a valid AppSpec at its
// root (GitHub's single leading directory is allowed for).
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
	defer func() { _ = dl.Body.Close() }()
	f, err := os.CreateTemp(h.tempDir, "github-tarball-")
	if err != nil {
		return "", err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	n, err := io.Copy(f, io.LimitReader(dl.Body, h.maxBundleBytes+1))
	if err != nil {
		return "", fmt.Errorf("download the tarball of %s at %s: %w", repo, sha, err)
	}
	if n > h.maxBundleBytes {
		return "", permanentf("the tarball of %s at %s is larger than the server's max_bundle_bytes (%d)", repo, sha, h.maxBundleBytes)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	rev, err := h.server.AddGitHubRevision(ctx, app, f, n, repo.String(), sha)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return "", permanentf("the tarball of %s at %s cannot be deployed: %s", repo, sha, ae.Message)
		}
		return "", fmt.Errorf("register the tarball of %s at %s: %w", repo, sha, err)
	}
	h.log.Info("fetched revision from GitHub", "repository", repo.String(), "commit", sha, "revision", rev.Digest, "size", rev.Size)
	return rev.Digest, nil
}
