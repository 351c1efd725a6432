package apiserver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

// digestHeader carries a bundle's sha256 ("sha256=<hex>"): announced by an upload, stated by a
// download.
const digestHeader = "X-Slipway-Digest"

// commitHeader names the commit an uploaded bundle was built from (40 hex characters).
const commitHeader = "X-Slipway-Commit"

// directoryHeader names the directory of the repository an uploaded bundle was built from.
const directoryHeader = "X-Slipway-Directory"

// S3 limits on what names an object.
const (
	maxS3KeyBytes    = 1024
	maxS3BucketBytes = 63
	maxS3TokenBytes  = 1024 // a version id or an ETag
)

// handleRevisionUpload stores an uploaded bundle by its sha256 and registers it, once it has
// passed the checks an agent would apply when it deploys it. The optional X-Slipway-Commit
// header names the commit it was built from, so hooks see BUNDLE_COMMIT and a pull request
// comment can deploy that commit from this bundle; X-Slipway-Directory names the bundle's
// directory in the repository, so check run annotations point at files GitHub knows.
func (s *Server) handleRevisionUpload(w http.ResponseWriter, r *http.Request) {
	commit := r.Header.Get(commitHeader)
	app, _, err := s.revisionApp(r, mux.Vars(r)["app"])
	if err == nil {
		err = s.authorizeCommit(r, commitHeader, commit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, s.cfg.MaxBundleBytes))
	// No bundle starts with '{': this is a registration sent without its content type.
	if first, _ := body.Peek(1); string(first) == "{" {
		s.writeError(w, r, invalid("Content-Type", "the body is JSON, not a bundle: to register a revision by S3 location, send Content-Type: application/json"))
		return
	}
	rev, err := s.AddRevision(r.Context(), NewRevision{
		Application: app.Name,
		Body:        body,
		Size:        r.ContentLength,
		Digest:      strings.TrimPrefix(r.Header.Get(digestHeader), "sha256="),
		Source:      store.SourceUpload,
		Commit:      commit,
		Directory:   r.Header.Get(directoryHeader),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rev)
}

// revisionApp is the application a revision is for, once the caller is known to be allowed to
// add revisions to it, and the platform its AppSpec must suit. The check comes before a body is
// read or S3 is asked anything: a workflow that may not deploy here uploads nothing, and cannot
// make the server read objects with its own rights.
func (s *Server) revisionApp(r *http.Request, name string) (store.Application, appspec.Platform, error) {
	app, err := s.store.GetApplication(r.Context(), name)
	if err != nil {
		return app, appspec.PlatformUnknown, storeErr(err)
	}
	if err := s.authorizeApplication(r, app.Name); err != nil {
		return app, appspec.PlatformUnknown, err
	}
	platform, err := appspec.ParsePlatform(string(app.ComputePlatform))
	if err != nil {
		return app, platform, fmt.Errorf("application %s: %w", app.Name, err)
	}
	return app, platform, nil
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
	case errors.Is(err, blob.ErrSizeMismatch):
		return invalid("", "%v", err)
	case errors.Is(err, blob.ErrSizeRequired):
		return fmt.Errorf("%w: the server keeps bundles in S3, which needs the size up front: send Content-Length (slipway deploy does)", errLengthRequired)
	}
	return err
}

func revisionJSON(rev store.Revision) api.Revision {
	out := api.Revision{
		Digest: rev.Digest, Application: rev.Application, Size: rev.Size, Format: rev.Format,
		Source: string(rev.Source), CreateTime: rev.CreateTime.UTC(),
	}
	if rev.Source == store.SourceS3 {
		if loc, err := s3Location(rev.Location); err == nil {
			out.S3 = &loc
		}
	}
	return out
}

func s3Location(raw json.RawMessage) (api.S3Location, error) {
	var loc api.S3Location
	if err := json.Unmarshal(raw, &loc); err != nil {
		return loc, fmt.Errorf("stored S3 location: %w", err)
	}
	return loc, nil
}

func s3Object(loc api.S3Location) blob.S3Object {
	return blob.S3Object{Bucket: loc.Bucket, Key: loc.Key, Version: loc.Version, ETag: loc.ETag}
}

// bundleJSON says where an agent downloads a revision: a presigned URL when the bytes are in S3
// (the server's bundle bucket or the user's own), else a path on this server.
func (s *Server) bundleJSON(ctx context.Context, rev store.Revision) (api.Bundle, error) {
	b := api.Bundle{Digest: rev.Digest, Size: rev.Size, Format: rev.Format, URL: api.PathAgent + "/bundles/" + rev.Digest}
	kind := urlServer
	switch rev.Source {
	case store.SourceS3:
		loc, err := s3Location(rev.Location)
		if err != nil {
			return api.Bundle{}, err
		}
		if s.s3 == nil {
			return api.Bundle{}, fmt.Errorf("revision %s is in S3 but this server has no S3 access (set s3_region)", rev.Digest)
		}
		url, _, err := s.s3.Presign(ctx, s3Object(loc))
		if err != nil {
			return api.Bundle{}, err
		}
		b.URL, kind = url, urlPresigned
		// What CodeDeploy's agent gives hooks of a revision from S3.
		b.Env = map[string]string{
			"BUNDLE_BUCKET": loc.Bucket, "BUNDLE_KEY": loc.Key,
			"BUNDLE_VERSION": loc.Version, "BUNDLE_ETAG": loc.ETag,
		}
	default:
		if p, ok := s.blobs.(Presigner); ok {
			url, _, err := p.PresignGet(ctx, rev.Digest)
			if err != nil {
				return api.Bundle{}, err
			}
			b.URL, kind = url, urlPresigned
		}
	}
	if rev.Commit != "" {
		// What CodeDeploy's agent gives hooks of a revision from GitHub.
		if b.Env == nil {
			b.Env = map[string]string{}
		}
		b.Env["BUNDLE_COMMIT"] = rev.Commit
	}
	s.metrics.bundleURLs.WithLabelValues(kind).Inc()
	return b, nil
}

// handleAgentCommandBundle tells an agent again where its command's bundle is, with a fresh
// presigned URL: the one in the command may have expired before the download began.
func (s *Server) handleAgentCommandBundle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dep, _, _, err := orchestrator.ParseCommandID(mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, _, err := s.orch.Get(ctx, dep)
	if err != nil || !s.orch.TargetedBy(dep, instanceOf(r).ID) {
		s.writeError(w, r, as(errNotFound, "no active deployment of command %s targets this instance", mux.Vars(r)["id"]))
		return
	}
	rev, err := s.store.GetRevision(ctx, d.Application, d.Revision)
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	b, err := s.bundleJSON(ctx, rev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// handleRevisionRegister registers a revision by S3 location. The server reads the object once,
// to check that it is a bundle with a valid AppSpec for the application's platform and to learn
// the sha256 that names the revision; agents later download it from the bucket themselves.
func (s *Server) handleRevisionRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in api.RegisterRevision
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkS3Location(in.S3); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.s3 == nil {
		s.writeError(w, r, invalid("s3", "this server has no S3 access: configure s3_region (and s3_endpoint for an S3-compatible store), or upload the bundle instead"))
		return
	}
	app, platform, err := s.revisionApp(r, mux.Vars(r)["app"])
	if err == nil {
		err = s.checkNotBundleStore(in.S3.Bucket)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, size, err := s.s3.Head(ctx, s3Object(*in.S3))
	if err != nil {
		s.writeError(w, r, s3UserErr(err, s3Object(*in.S3)))
		return
	}
	if size > s.cfg.MaxBundleBytes {
		s.writeError(w, r, as(errTooLarge, "%s is %d bytes, more than the server's max_bundle_bytes (%d)", obj, size, s.cfg.MaxBundleBytes))
		return
	}
	digest, format, err := s.inspectS3(ctx, obj, size, platform)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj.ETag = strings.Trim(obj.ETag, `"`)
	loc, err := json.Marshal(api.S3Location{Bucket: obj.Bucket, Key: obj.Key, Version: obj.Version, ETag: obj.ETag})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.store.PutRevision(ctx, store.Revision{
		Digest: digest, Application: app.Name, Size: size, Format: format.String(),
		Source: store.SourceS3, Location: loc,
	})
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	s.log.Info("revision registered", "application", app.Name, "revision", digest, "source", "s3", "bucket", obj.Bucket, "key", obj.Key)
	writeJSON(w, http.StatusCreated, revisionJSON(rev))
}

func checkS3Location(loc *api.S3Location) error {
	switch {
	case loc == nil:
		return invalid("s3", `give the bundle's S3 location: {"s3": {"bucket": "...", "key": "..."}}`)
	case loc.Bucket == "" || len(loc.Bucket) > maxS3BucketBytes || strings.ContainsAny(loc.Bucket, "/ "):
		return invalid("s3.bucket", "%q: give the bucket's name (3-63 characters, no slashes)", loc.Bucket)
	case loc.Key == "" || len(loc.Key) > maxS3KeyBytes:
		return invalid("s3.key", "give the object's key (1-%d bytes, without a leading s3://bucket/)", maxS3KeyBytes)
	case len(loc.Version) > maxS3TokenBytes || len(loc.ETag) > maxS3TokenBytes:
		return invalid("s3", "version and etag may be at most %d bytes", maxS3TokenBytes)
	}
	return nil
}

// checkNotBundleStore refuses a registration from the bucket the server keeps its own bundles in.
// The server reads it with its own rights and it holds every application's revisions by digest:
// registering one of them to another application would hand that application's hosts, and
// whoever may deploy to them, another application's bundle.
func (s *Server) checkNotBundleStore(bucket string) error {
	if st, ok := s.blobs.(BucketStore); ok && st.Bucket() == bucket {
		return invalid("s3.bucket", "%q is this server's bundle store, whose objects are not registered as revisions: register from another bucket, or upload the bundle", bucket)
	}
	return nil
}

// s3UserErr turns what S3 said about a user's object into an answer that says what to change.
func s3UserErr(err error, o blob.S3Object) error {
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return invalid("s3", "%s does not exist (check the bucket, key and version)", o)
	case errors.Is(err, blob.ErrETagMismatch):
		return invalid("s3.etag", "%v: the object was replaced; give its current ETag or version", err)
	case errors.Is(err, blob.ErrAccessDenied):
		return invalid("s3", "the server may not read %s: grant its role s3:GetObject (and s3:GetObjectVersion for versions) on it (see docs/s3.md)", o)
	}
	return err
}

// inspectS3 reads the object once and checks it as an upload is checked (see inspect).
func (s *Server) inspectS3(ctx context.Context, o blob.S3Object, size int64, platform appspec.Platform) (string, bundle.Format, error) {
	body, err := s.s3.Get(ctx, o)
	if err != nil {
		return "", bundle.FormatUnknown, s3UserErr(err, o)
	}
	defer func() { _ = body.Close() }()
	digest, format, err := s.inspect(ctx, body, size, platform)
	var br badRequest
	if errors.As(err, &br) {
		return "", format, invalid("s3", "%s: %s", o, br.msg)
	}
	if err != nil {
		return "", format, fmt.Errorf("read %s: %w", o, err)
	}
	return digest, format, nil
}

// inspect reads a bundle of size bytes once into a temporary file, hashing it on the way, then
// checks it as an upload is checked (checkBundle: what an agent would refuse, and the AppSpec),
// and returns its sha256. Nothing of it is kept; no more than size+1 bytes are read.
func (s *Server) inspect(ctx context.Context, body io.Reader, size int64, platform appspec.Platform) (string, bundle.Format, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "s3-revision-")
	if err != nil {
		return "", bundle.FormatUnknown, err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, size+1))
	if err != nil {
		return "", bundle.FormatUnknown, err
	}
	if n != size {
		return "", bundle.FormatUnknown, invalid("", "the object changed while it was read (%d bytes, then %d): give its version", size, n)
	}
	format, err := checkBundle(ctx, f, size, platform)
	if err != nil {
		return "", format, err
	}
	return hex.EncodeToString(h.Sum(nil)), format, nil
}
