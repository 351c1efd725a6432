package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

// handle runs one command and queues its result for delivery, unless the server withdrew it.
func (a *Agent) handle(ctx context.Context, cmd api.Command) {
	log := a.log.With(keyCommand, cmd.ID, keyDeployment, cmd.DeploymentID, keyEvent, cmd.Event)
	log.Info("running command")
	res, wanted := a.execute(ctx, cmd)
	if !wanted {
		log.Warn("the server withdrew the command; it was stopped and its result is not reported")
		a.done(log, cmd)
		return
	}
	attrs := []any{keyStatus, res.Status, keyDuration, res.EndTime.Sub(res.StartTime).Round(time.Millisecond).String()}
	if res.Diagnostics != nil && res.Diagnostics.ErrorCode != "" {
		attrs = append(attrs, keyErrorCode, res.Diagnostics.ErrorCode)
	}
	log.Info("command finished", attrs...)
	rp := report{Command: cmd.ID, Result: res, Queued: time.Now().UTC()}
	if err := a.outbox.put(rp); err != nil {
		// The crash marker stays: if the agent stops before delivering this result, it reports
		// the event as interrupted when it comes back rather than saying nothing.
		log.Error("cannot save the result in the outbox; it is lost if the agent stops before delivering it", keyError, err.Error())
		a.unsaved = append(a.unsaved, rp)
		return
	}
	a.done(log, cmd)
}

// done removes the command's crash marker once its result is safe (or not wanted).
func (a *Agent) done(log *slog.Logger, cmd api.Command) {
	if err := a.root.Done(cmd.DeploymentID); err != nil {
		log.Error("remove crash marker; the event will be reported as interrupted if the agent restarts", keyError, err.Error())
	}
}

// execute runs cmd while heartbeating it. wanted is false when the server answered a heartbeat
// saying it no longer wants the command: the run was stopped and nothing is to be reported.
func (a *Agent) execute(ctx context.Context, cmd api.Command) (res api.Result, wanted bool) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var withdrawn atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeat(runCtx, cmd, func() {
			withdrawn.Store(true)
			cancel()
		})
	}()
	r := a.runCommand(runCtx, cmd)
	cancel()
	wg.Wait()
	if withdrawn.Load() {
		return api.Result{}, false
	}
	return toAPI(r), true
}

// runCommand runs one lifecycle event; like Host.Run it reports every failure as a result.
func (a *Agent) runCommand(ctx context.Context, cmd api.Command) lifecycle.Result {
	start := time.Now()
	fail := func(err error) lifecycle.Result {
		return lifecycle.Result{Event: cmd.Event, Status: lifecycle.StatusFailed, Code: script.UnknownError,
			Message: err.Error(), Started: start, Finished: time.Now()}
	}
	d, err := deployment(cmd)
	if err != nil {
		return fail(err)
	}
	if cmd.Event == appspec.EventDownloadBundle {
		path, err := a.download(ctx, cmd)
		if err != nil {
			return fail(err)
		}
		d.Bundle = path
	}
	r := a.cfg.Host.Run(ctx, d, cmd.Event)
	r.Started = start // the event includes the download
	return r
}

// deployment maps a command to what the lifecycle needs, refusing ids that cannot be directory
// names in the deployment root.
func deployment(cmd api.Command) (lifecycle.Deployment, error) {
	for _, id := range []struct{ kind, v string }{{"deployment group id", cmd.GroupID}, {"deployment id", cmd.DeploymentID}} {
		if !plainName(id.v) {
			return lifecycle.Deployment{}, fmt.Errorf("%s %q is not usable as a directory name (letters, digits, '-', '_', '.'; no leading dot)", id.kind, id.v)
		}
		if reservedName(id.v) {
			return lifecycle.Deployment{}, fmt.Errorf("%s %q is reserved for the agent's own files", id.kind, id.v)
		}
	}
	d := lifecycle.Deployment{
		ID:              cmd.DeploymentID,
		ApplicationName: cmd.ApplicationName,
		GroupName:       cmd.GroupName,
		GroupID:         cmd.GroupID,
		BundleEnv:       cmd.Bundle.Env,
		Command:         cmd.ID,
	}
	if cmd.FileExistsBehavior != "" {
		b, err := appspec.ParseFileExistsBehavior(cmd.FileExistsBehavior)
		if err != nil {
			return lifecycle.Deployment{}, err
		}
		d.FileExists = b
	}
	return d, nil
}

// reservedName reports whether name is a directory of the deployment root that a group id must not
// collide with: the root keeps each group's revisions in <root>/<group-id>/ and prunes old ones
// there, so a group called "agent" would prune the outbox.
func reservedName(name string) bool {
	switch name {
	case "agent", "deployment-instructions", "ongoing-deployment":
		return true
	}
	return false
}

// errTooLarge stops a download that goes past the size the command announced.
var errTooLarge = errors.New("bundle is larger than announced")

// download fetches the command's bundle into <root>/<group-id>/<deployment-id>/bundle.<format>,
// hashing it on the way, and keeps it only if its size and sha256 are the announced ones.
//
// A download that the server or the network cut short (no answer, a reset connection, a 5xx) is
// tried again with backoff for as long as the server's lease on the command lasts: a server
// restarted while a host fetches its bundle must not fail that host. A wrong bundle, a refusal
// or a local error fails at once.
//
// A bundle in an object store comes from a presigned URL that lasts minutes: it may have expired
// before it is used (a resent command, a slow start, long retries). Before trying such a URL
// again, and once after the store refuses it, the agent asks the server for a fresh one. The
// digest and size checked stay the command's own, whatever URL a renewal brings.
func (a *Agent) download(ctx context.Context, cmd api.Command) (string, error) {
	b := cmd.Bundle
	if b.URL == "" {
		return "", errors.New("the command names no bundle to download")
	}
	format, err := bundle.ParseFormat(b.Format)
	if err != nil {
		return "", err
	}
	want := strings.ToLower(strings.TrimPrefix(b.Digest, "sha256:"))
	if want == "" {
		return "", errors.New("the command gives no bundle digest: refusing a bundle that cannot be verified")
	}
	dir := a.root.DeploymentDir(cmd.GroupID, cmd.DeploymentID)
	// The same mode lifecycle gives the deployment directory: hooks may run as other users.
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // see above
		return "", fmt.Errorf("download bundle: %w", err)
	}
	final := filepath.Join(dir, "bundle."+format.String())
	log := a.log.With(keyCommand, cmd.ID)
	giveUp := time.Now().Add(leaseOf(cmd))
	bo := a.newBackoff()
	renewedAfterRefusal := false
	for {
		n, err := a.fetch(ctx, b, dir, final, want)
		if err == nil {
			log.Info("bundle downloaded", keyBytes, n, keyDigest, want)
			return final, nil
		}
		var cut cutShort
		isCut := errors.As(err, &cut)
		refused := presigned(b.URL) && !renewedAfterRefusal && refusedByStore(err)
		if (!isCut && !refused) || ctx.Err() != nil || time.Now().After(giveUp) {
			return "", err
		}
		if presigned(b.URL) {
			log.Warn("bundle download from the object store failed; asking the server for a fresh URL", keyError, err.Error())
			fresh, ferr := a.client.CommandBundle(ctx, cmd.ID)
			switch {
			case ferr == nil:
				b.URL = fresh.URL
			case refused:
				return "", fmt.Errorf("%w (and asking the server for a fresh URL failed: %w)", err, ferr)
			}
			if refused {
				renewedAfterRefusal = true
				continue
			}
		} else {
			log.Warn("bundle download cut short; trying again", keyError, err.Error())
		}
		if !sleep(ctx, bo.next()) {
			return "", err
		}
	}
}

// presigned reports whether a bundle URL points away from the server (a presigned object store
// URL) rather than at one of its own paths.
func presigned(url string) bool { return !strings.HasPrefix(url, "/") }

// refusedByStore reports whether the download was answered with a client error, as S3 answers
// an expired presigned URL (403).
func refusedByStore(err error) bool {
	st := api.StatusOf(err)
	return st >= 400 && st < 500 && !retryable(st)
}

// cutShort marks a download error that another attempt may not meet.
type cutShort struct{ err error }

func (c cutShort) Error() string { return c.err.Error() }
func (c cutShort) Unwrap() error { return c.err }

// fetch makes one attempt at the bundle, from an empty temporary file; see download.
func (a *Agent) fetch(ctx context.Context, b api.Bundle, dir, final, want string) (int64, error) {
	f, err := os.CreateTemp(dir, ".bundle-*")
	if err != nil {
		return 0, fmt.Errorf("download bundle: %w", err)
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name()) // fails harmlessly once renamed
	}()
	h := sha256.New()
	local := &firstError{w: io.MultiWriter(f, h)}
	var w io.Writer = local
	if b.Size > 0 {
		w = &capWriter{w: w, left: b.Size}
	}
	n, err := a.client.Download(ctx, b.URL, w)
	switch {
	case errors.Is(err, errTooLarge):
		return n, fmt.Errorf("bundle size mismatch: got more than %d bytes, want %d", b.Size, b.Size)
	case err != nil && local.err == nil && retryable(api.StatusOf(err)):
		return n, cutShort{fmt.Errorf("download bundle: %w", err)}
	case err != nil:
		return n, fmt.Errorf("download bundle: %w", err)
	case b.Size > 0 && n != b.Size:
		return n, fmt.Errorf("bundle size mismatch: got %d bytes, want %d", n, b.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return n, fmt.Errorf("bundle digest mismatch: got %s, want %s", got, want)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("download bundle: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return n, fmt.Errorf("download bundle: %w", err)
	}
	return n, nil
}

// firstError remembers the first error of the writer it wraps, so that a failing disk is told
// apart from a failing connection.
type firstError struct {
	w   io.Writer
	err error
}

func (f *firstError) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

// capWriter fails once more than left bytes are written, so a wrong or hostile answer cannot fill
// the disk.
type capWriter struct {
	w    io.Writer
	left int64
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, errTooLarge
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

// heartbeat tells the server every cmd.Heartbeat that the command is still running, until ctx
// ends. An answer saying the server no longer wants the command (404, 409, 410) calls withdraw.
// Other failures only get logged: the server decides, by its lease, when silence means failure.
func (a *Agent) heartbeat(ctx context.Context, cmd api.Command, withdraw func()) {
	every := heartbeatOf(cmd)
	log := a.log.With(keyCommand, cmd.ID)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, min(every, a.cfg.RequestTimeout))
		err := a.client.Heartbeat(hctx, cmd.ID)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch st := api.StatusOf(err); {
		case err == nil:
			if failing {
				log.Info("heartbeats accepted again")
			}
			failing = false
		case st == http.StatusNotFound || st == http.StatusConflict || st == http.StatusGone:
			log.Warn("the server no longer wants this command; stopping it", keyHTTPStatus, st)
			withdraw()
			return
		default:
			if !failing {
				log.Warn("heartbeat failed; the command keeps running", keyError, err.Error())
			}
			failing = true
		}
	}
}

// heartbeatOf is how often cmd is to be heartbeated.
func heartbeatOf(cmd api.Command) time.Duration {
	if every := time.Duration(cmd.Heartbeat); every > 0 {
		return every
	}
	return DefaultHeartbeat
}

// leaseOf is how long the server waits for word on cmd: it asks for a heartbeat every third of
// its lease.
func leaseOf(cmd api.Command) time.Duration { return 3 * heartbeatOf(cmd) }

// toAPI maps a lifecycle result to the wire.
func toAPI(r lifecycle.Result) api.Result {
	out := api.Result{Status: r.Status.String(), StartTime: r.Started.UTC(), EndTime: r.Finished.UTC()}
	msg := r.Message
	if len(r.Notes) > 0 {
		msg = strings.TrimSpace(msg + "\n" + strings.Join(r.Notes, "\n"))
	}
	var code string
	switch r.Status {
	case lifecycle.StatusSucceeded, lifecycle.StatusSkipped:
	case lifecycle.StatusFailed:
		code = r.Code.String()
	default:
		out.Status = lifecycle.StatusFailed.String()
		code = script.UnknownError.String()
	}
	if code != "" || msg != "" || r.Tail != "" {
		out.Diagnostics = &api.Diagnostics{ErrorCode: code, ScriptName: r.Script, Message: msg, LogTail: r.Tail}
	}
	return out
}

// interruptedResult is the report of an event a crash or restart cut short.
func interruptedResult(m lifecycle.Marker, now time.Time) api.Result {
	return api.Result{
		Status: lifecycle.StatusFailed.String(),
		Diagnostics: &api.Diagnostics{
			ErrorCode: script.FailedAfterRestart.String(),
			Message: fmt.Sprintf("the agent stopped while running %s of deployment %s (started %s) and did not see it finish",
				m.Event, m.DeploymentID, m.Started.UTC().Format(time.RFC3339)),
		},
		StartTime: m.Started.UTC(),
		EndTime:   now,
	}
}
