package apiserver

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/store"
)

// Direct uploads: for a group whose upload is direct, a client asks for an upload slot (a
// presigned PUT of a key the server chose in its bundle bucket, signed with the bundle's size
// and sha256), PUTs the bundle to S3 itself, then completes the slot. The server then takes the
// object over, reads it once to check it as it checks an upload, and keeps it under its digest.
// No bundle byte passes through the server on the way in.

// digestRE is a bundle's sha256 as the API spells it.
var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// uploadTTL is how long an upload slot's URL works when Config.UploadTTL is unset.
const uploadTTL = blob.DefaultPresignTTL

func (s *Server) uploadTTL() time.Duration {
	if s.cfg.UploadTTL > 0 {
		return s.cfg.UploadTTL
	}
	return uploadTTL
}

// directUploads is the bundle store clients may upload to themselves, or an error saying why
// there is none.
func (s *Server) directUploads() (DirectUploads, error) {
	du, ok := s.blobs.(DirectUploads)
	if !ok {
		return nil, invalid("upload", "this server keeps bundles on its disk: direct uploads need its bundle store in S3 (bundle_store: s3, see docs/s3.md)")
	}
	return du, nil
}

// uploadGroup is the group an upload route names, once the caller may deploy to it and the
// group takes direct uploads; and the store they go to.
func (s *Server) uploadGroup(r *http.Request) (store.Group, DirectUploads, error) {
	v := mux.Vars(r)
	g, err := s.store.GetGroup(r.Context(), v["app"], v["group"])
	if err != nil {
		return g, nil, storeErr(err)
	}
	if err := s.authorizeGroup(r, g); err != nil {
		return g, nil, err
	}
	du, err := s.directUploads()
	if err != nil {
		return g, nil, err
	}
	if !g.DirectUpload {
		return g, nil, as(errConflict, "group %s/%s takes bundles through the server: upload with POST %s/applications/%s/revisions "+
			"(slipway deploy reads the group and does), or set upload: direct on the group (slipway group update ... --upload direct)",
			g.Application, g.Name, api.PathAPI, g.Application)
	}
	return g, du, nil
}

// handleUploadCreate hands out an upload slot for the bundle the request announces.
func (s *Server) handleUploadCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in api.CreateUpload
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, du, err := s.uploadGroup(r)
	if err == nil {
		err = s.checkCreateUpload(&in)
	}
	if err == nil {
		// The commit a slot names is recorded on completion, as an upload's header is.
		err = s.authorizeCommit(r, "commit", in.Commit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := blob.NewUploadID()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ttl := s.uploadTTL()
	put, err := du.PresignUpload(ctx, id, in.Size, in.Digest, ttl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// An upload that starts just before the URL expires still has as long again to finish.
	completeBy := put.Expires.Add(ttl)
	_, err = s.store.CreateUpload(ctx, store.Upload{
		ID: id, Application: g.Application, Group: g.Name, Digest: in.Digest, Size: in.Size,
		Commit: in.Commit, Directory: in.Directory, ExpireTime: completeBy,
	})
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	headers := make(map[string]string, len(put.Header))
	for k, v := range put.Header {
		headers[k] = strings.Join(v, ",")
	}
	s.logWorkflow(r, "upload slot created", "application", g.Application, "group", g.Name, "upload", id, "revision", in.Digest)
	writeJSON(w, http.StatusCreated, api.Upload{
		ID: id, URL: put.URL, Method: http.MethodPut, Headers: headers, Expires: put.Expires.UTC(), CompleteBy: completeBy.UTC(),
	})
}

// checkCreateUpload checks what an upload slot is asked for, cleaning the directory.
func (s *Server) checkCreateUpload(in *api.CreateUpload) error {
	switch {
	case !digestRE.MatchString(in.Digest):
		return invalid("digest", "give the bundle's sha256 in 64 lower-case hex characters")
	case in.Size <= 0:
		return invalid("size", "give the bundle's size in bytes")
	case in.Size > s.cfg.MaxBundleBytes:
		return as(errTooLarge, "the bundle is %d bytes, more than the server's max_bundle_bytes (%d)", in.Size, s.cfg.MaxBundleBytes)
	case in.Commit != "" && !commitRE.MatchString(in.Commit):
		return invalid("commit", "%q is not a full commit id: give the 40 hex characters of the commit the bundle was built from", in.Commit)
	}
	dir, err := repositoryDirectory(in.Directory)
	in.Directory = dir
	return err
}

// handleUploadComplete registers what was uploaded to a slot: the server takes the object over,
// checks it (the archive, the AppSpec for the application's platform, the size and sha256 the
// slot was made for) and keeps it under its digest. A slot completes once, whatever the
// outcome: a refused bundle needs a new slot.
func (s *Server) handleUploadComplete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, du, err := s.uploadGroup(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	app, err := s.store.GetApplication(ctx, g.Application)
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	platform, err := appspec.ParsePlatform(string(app.ComputePlatform))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := mux.Vars(r)["id"]
	u, err := s.store.ClaimUpload(ctx, g.Application, g.Name, id, time.Now())
	if err != nil {
		s.writeError(w, r, uploadErr(err, g, id))
		return
	}
	claimed, size, err := du.ClaimUpload(ctx, id)
	if err != nil {
		if errors.Is(err, blob.ErrUploadMissing) {
			err = invalid("", "nothing was uploaded to slot %s: PUT the bundle to the slot's URL before completing it; the slot is used up, ask for a new one", id)
		}
		s.writeError(w, r, err)
		return
	}
	defer du.DiscardUpload(ctx, claimed)
	switch {
	case size != u.Size:
		s.writeError(w, r, invalid("", "slot %s holds %d bytes, not the %d it was made for: the object was replaced after the upload; ask for a new slot", id, size, u.Size))
		return
	case size > s.cfg.MaxBundleBytes:
		s.writeError(w, r, as(errTooLarge, "the bundle is %d bytes, more than the server's max_bundle_bytes (%d)", size, s.cfg.MaxBundleBytes))
		return
	}
	body, err := du.Get(ctx, claimed)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	digest, format, err := s.inspect(ctx, body, size, platform)
	_ = body.Close() // read to its end, or abandoned on a refusal
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if digest != u.Digest {
		s.writeError(w, r, invalid("digest", "slot %s holds a bundle of sha256 %s, not the %s it was made for: the object was replaced after the upload; ask for a new slot", id, digest, u.Digest))
		return
	}
	if err := du.KeepUpload(ctx, claimed, size, digest); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.store.PutRevision(ctx, store.Revision{
		Digest: digest, Application: g.Application, Size: size, Format: format.String(),
		Source: store.SourceUpload, Commit: u.Commit, Directory: u.Directory,
	})
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	s.log.Info("revision uploaded to S3", "application", g.Application, "group", g.Name, "upload", id, "revision", digest)
	writeJSON(w, http.StatusCreated, revisionJSON(rev))
}

// uploadErr says what to do about a slot the store would not hand over.
func uploadErr(err error, g store.Group, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return as(errNotFound, "group %s/%s has no upload slot %q", g.Application, g.Name, id)
	case errors.Is(err, store.ErrUploadClaimed):
		return as(errConflict, "upload slot %s was completed already: a slot is used once; ask for a new one", id)
	case errors.Is(err, store.ErrUploadExpired):
		return as(errGone, "upload slot %s has expired: ask for a new one and upload again", id)
	}
	return err
}
