package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/store"
)

// digestHeader carries a bundle's sha256 ("sha256=<hex>"): announced by an upload, stated by a
// download.
const digestHeader = "X-Slipway-Digest"

// handleRevisionUpload stores an uploaded bundle by its sha256 and registers it, once it has
// passed the checks an agent would apply when it deploys it.
func (s *Server) handleRevisionUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	app, err := s.store.GetApplication(ctx, mux.Vars(r)["app"])
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	// Before the body is read: a workflow that may not deploy here uploads nothing.
	if err := s.authorizeApplication(r, app.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	platform, err := appspec.ParsePlatform(string(app.ComputePlatform))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("application %s: %w", app.Name, err))
		return
	}
	want := strings.TrimPrefix(r.Header.Get(digestHeader), "sha256=")
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBundleBytes)
	var format bundle.Format
	digest, size, err := s.blobs.Put(ctx, body, want, func(content io.ReaderAt, size int64) error {
		var err error
		format, err = checkBundle(ctx, content, size, platform)
		return err
	})
	if err != nil {
		s.writeError(w, r, s.blobErr(err))
		return
	}
	rev, err := s.store.PutRevision(ctx, store.Revision{Digest: digest, Application: app.Name, Size: size, Format: format.String(), Source: store.SourceUpload})
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	writeJSON(w, http.StatusCreated, api.Revision{
		Digest: rev.Digest, Application: rev.Application, Size: rev.Size, Format: rev.Format,
		Source: string(rev.Source), CreateTime: rev.CreateTime.UTC(),
	})
}

// checkBundle refuses a bundle an agent would refuse: one the extractor rejects (paths out of
// the tree, links out, devices, bombs past the default limits, corrupt archives), or one whose
// AppSpec is missing or invalid for the application's platform. It reads the archive in place:
// nothing is unpacked.
func checkBundle(ctx context.Context, content io.ReaderAt, size int64, platform appspec.Platform) (bundle.Format, error) {
	m, err := bundle.Inspect(ctx, content, size, bundle.Limits{})
	if err != nil {
		if ctx.Err() != nil {
			return bundle.FormatUnknown, err
		}
		return bundle.FormatUnknown, invalid("", "the bundle cannot be deployed: %v", err)
	}
	name, err := appspec.FindFS(m, platform)
	if err != nil {
		return m.Format, invalid("", "%v: put the AppSpec at the root of the bundle, or in its only top-level directory", err)
	}
	label := path.Join(m.StrippedDir, name)
	fi, err := fs.Stat(m, name)
	if err != nil {
		return m.Format, invalid("", "%s: %v", label, err)
	}
	// Checked before reading, so a hostile bundle cannot make the server read gigabytes.
	if fi.Size() > appspec.MaxSize {
		return m.Format, invalid("", "%s is %d bytes: an AppSpec is at most %d", label, fi.Size(), appspec.MaxSize)
	}
	data, err := fs.ReadFile(m, name)
	if err != nil {
		return m.Format, invalid("", "%s: %v", label, err)
	}
	// Deployments name no custom events, so the agent accepts exactly the standard ones.
	if spec, diags := appspec.Parse(label, data, appspec.Options{Platform: platform}); spec == nil {
		lines := make([]string, 0, len(diags))
		for _, d := range diags {
			if d.Severity == appspec.SeverityError {
				lines = append(lines, d.String())
			}
		}
		return m.Format, invalid("", "%s", strings.Join(lines, "\n"))
	}
	return m.Format, nil
}

// blobErr turns the blob store's refusals into answers that say what to change.
func (s *Server) blobErr(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, blob.ErrTooLarge):
		return fmt.Errorf("%w: the bundle is larger than the server's max_bundle_bytes (%d)", errTooLarge, s.cfg.MaxBundleBytes)
	case errors.Is(err, blob.ErrDigestMismatch):
		return invalid(digestHeader, "the bundle's sha256 differs from the one the header announces: the upload was cut or altered on the way, or the header names another file")
	case errors.Is(err, blob.ErrInvalidDigest):
		return invalid(digestHeader, "give sha256= and the bundle's digest in 64 lower-case hex characters, or leave the header out")
	}
	return err
}
