package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

// credentialPrefix marks Slipway instance credentials, so secret scanners can recognise a leaked one.
const credentialPrefix = "swi_"

const (
	maxTags     = 50
	maxTagBytes = 256
	// What a host may report about one event. The agent sends one line of message and at most
	// an 8 KiB output tail; longer fields are cut here, because a host's target is stored again
	// on every change of it and every deployment read serves all of them: one hostile host must
	// not grow a deployment by megabytes per event.
	maxDiagCodeBytes    = 64
	maxDiagScriptBytes  = 1 << 10
	maxDiagMessageBytes = 4 << 10
	maxDiagTailBytes    = 16 << 10
	// maxInterrupted bounds the commands a hello may report as interrupted: an agent has at most
	// one in flight per deployment.
	maxInterrupted = 100
)

type instanceKey struct{}

func (s *Server) routeAgent(r *mux.Router) {
	r.HandleFunc("/register", s.handleAgentRegister).Methods(http.MethodPost)
	authed := r.NewRoute().Subrouter()
	authed.Use(s.requireInstance)
	authed.HandleFunc("/hello", s.handleAgentHello).Methods(http.MethodPost)
	authed.HandleFunc("/commands/next", s.handleAgentNext).Methods(http.MethodGet)
	authed.HandleFunc("/commands/{id}/heartbeat", s.handleAgentHeartbeat).Methods(http.MethodPost)
	authed.HandleFunc("/commands/{id}/result", s.handleAgentResult).Methods(http.MethodPost)
	authed.HandleFunc("/commands/{id}/bundle", s.handleAgentCommandBundle).Methods(http.MethodGet)
	authed.HandleFunc("/bundles/{digest}", s.handleAgentBundle).Methods(http.MethodGet)
}

// requireInstance authenticates an agent by its own credential: a host can only ever act as
// itself, whatever deployment or command it names.
func (s *Server) requireInstance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if !strings.HasPrefix(tok, credentialPrefix) {
			s.writeError(w, r, errUnauthorized)
			return
		}
		in, err := s.store.InstanceByCredential(r.Context(), store.HashToken(tok))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("%w: the credential is unknown or revoked (the instance was deregistered): delete the agent's credential file and enroll again", errUnauthorized)
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), instanceKey{}, in)))
	})
}

func instanceOf(r *http.Request) store.Instance {
	in, _ := r.Context().Value(instanceKey{}).(store.Instance)
	return in
}

func (s *Server) handleAgentRegister(w http.ResponseWriter, r *http.Request) {
	if !tokenEqual(bearer(r), s.cfg.EnrollToken) {
		s.writeError(w, r, errUnauthorized)
		return
	}
	var in api.Register
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkName("name", in.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkTags(in.Tags); err != nil {
		s.writeError(w, r, err)
		return
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	cred := credentialPrefix + base64.RawURLEncoding.EncodeToString(raw)
	inst, err := s.store.RegisterInstance(r.Context(), in.Name, in.Tags, store.HashToken(cred), false)
	if errors.Is(err, store.ErrExists) {
		err = as(errConflict, "instance %s is already registered: start the agent with its saved credential, or deregister it first (slipway instance deregister %s)", in.Name, in.Name)
	}
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	s.log.Info("instance registered", "instance", inst.ID, "name", inst.Name)
	writeJSON(w, http.StatusCreated, api.Registered{Instance: inst.ID, Credential: cred})
	s.joined(r.Context(), inst.ID, in.Tags)
}

// joined catches up the groups a host now belongs to. A failure is the server's to log: the
// host is registered either way, and the next deployment of the group includes it.
func (s *Server) joined(ctx context.Context, instance string, tags map[string]string) {
	if err := s.orch.InstanceJoined(context.WithoutCancel(ctx), tags); err != nil {
		s.log.Error("auto-update after join", "instance", instance, "error", err)
	}
}

// tagsRefused says why an agent may not set its own tags, and the command that would.
func tagsRefused(inst store.Instance, asked map[string]string) error {
	return &api.Error{Status: http.StatusConflict, Field: "tags", Message: fmt.Sprintf(
		"instance %s has tags %s and this agent was started with %s: a host cannot change its own tags, so it keeps %s. "+
			"To change them, an administrator runs: %s; to stop this error, start the agent with the instance's tags or with no --tag",
		inst.Name, formatTags(inst.Tags), formatTags(asked), formatTags(inst.Tags), tagCommand(inst.Name, inst.Tags, asked))}
}

// tagCommand is the CLI command that changes an instance's tags from have to want.
func tagCommand(name string, have, want map[string]string) string {
	args := []string{"slipway", "instance", "tag", shellWord(name)}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := have[k]; !ok || v != want[k] {
			args = append(args, "--tag", shellWord(k+"="+want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[k]; !ok {
			args = append(args, "--remove", shellWord(k))
		}
	}
	return strings.Join(args, " ")
}

// shellWord quotes s for a POSIX shell when it needs it, so a command in a message can be pasted.
func shellWord(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.=/:,@+", r)
	}
	plain := s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !safe(r) })
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// formatTags writes tags as K=V pairs by key, {} for none.
func formatTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "{}"
	}
	pairs := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		pairs = append(pairs, k+"="+tags[k])
	}
	return strings.Join(pairs, ",")
}

func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return invalid("tags", "%d tags: give at most %d", len(tags), maxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > maxTagBytes || len(v) > maxTagBytes {
			return invalid("tags", "tag %q: keys must be 1-%d bytes and values at most %d", k, maxTagBytes, maxTagBytes)
		}
	}
	return nil
}

func (s *Server) handleAgentHello(w http.ResponseWriter, r *http.Request) {
	var in api.Hello
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(in.Interrupted) > maxInterrupted {
		s.writeError(w, r, invalid("interrupted", "%d commands: report at most %d", len(in.Interrupted), maxInterrupted))
		return
	}
	inst := instanceOf(r)
	if in.Tags != nil && !maps.Equal(in.Tags, inst.Tags) {
		if err := checkTags(in.Tags); err != nil {
			s.writeError(w, r, err)
			return
		}
		switch {
		case s.cfg.HostsSetTags:
			if err := s.store.SetInstanceTags(r.Context(), inst.ID, in.Tags); err != nil {
				s.writeError(w, r, storeErr(err))
				return
			}
			defer s.joined(r.Context(), inst.ID, in.Tags)
		case len(in.Tags) > 0:
			// Refused before anything else is done: the agent says hello again claiming no
			// tags, and the commands it reports interrupted are recorded then.
			s.log.Warn("instance asked for other tags; kept its own", "instance", inst.ID, "name", inst.Name,
				"tags", formatTags(inst.Tags), "asked", formatTags(in.Tags))
			s.writeError(w, r, tagsRefused(inst, in.Tags))
			return
		}
	}
	for _, id := range in.Interrupted {
		err := s.orch.Report(r.Context(), inst.ID, id, deploy.EventFailed, deploy.Diagnostics{
			ErrorCode: "FailedAfterRestart",
			Message:   "the agent stopped while running this event and reported it when it came back",
		})
		if err != nil && !errors.Is(err, orchestrator.ErrNotFound) {
			s.writeError(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAgentNext(w http.ResponseWriter, r *http.Request) {
	inst := instanceOf(r)
	wait := defaultPollWait
	if q := r.URL.Query().Get("wait"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 {
			s.writeError(w, r, invalid("wait", "%q: give a duration such as 30s", q))
			return
		}
		wait = min(d, maxPollWait)
	}
	// The store keeps last_seen in memory and writes many at once (see TouchInstance).
	if err := s.store.TouchInstance(r.Context(), inst.ID, time.Now()); err != nil {
		s.log.Warn("touch instance", "instance", inst.ID, "error", err)
	}
	cmd, err := s.orch.NextCommand(r.Context(), inst.ID, wait)
	if err != nil {
		if r.Context().Err() != nil {
			return // the agent went away
		}
		s.writeError(w, r, err)
		return
	}
	if cmd == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, err := s.commandJSON(r.Context(), cmd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) commandJSON(ctx context.Context, c *orchestrator.Command) (api.Command, error) {
	d := c.Deployment
	rev, err := s.store.GetRevision(ctx, d.Application, d.Revision)
	if err != nil {
		return api.Command{}, err
	}
	b, err := s.bundleJSON(ctx, rev)
	if err != nil {
		return api.Command{}, err
	}
	lease := d.Lease
	if lease <= 0 {
		lease = deploy.DefaultLease
	}
	return api.Command{
		ID:                 c.ID,
		DeploymentID:       d.ID,
		Event:              c.Event,
		Attempt:            c.Attempt,
		LeaseDeadline:      c.LeaseDeadline.UTC(),
		Heartbeat:          api.Duration(lease / 3),
		ApplicationName:    d.Application,
		GroupName:          d.Group,
		GroupID:            GroupID(d.Application, d.Group),
		FileExistsBehavior: d.FileExistsBehavior,
		Bundle:             b,
	}, nil
}

// GroupID names a group's directories on hosts. It is derived from the names, which are already
// restricted to safe characters, so it is stable across servers and readable on disk.
func GroupID(application, group string) string { return application + "_" + group }

func (s *Server) handleAgentHeartbeat(w http.ResponseWriter, r *http.Request) {
	err := s.orch.Heartbeat(r.Context(), instanceOf(r).ID, mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAgentResult(w http.ResponseWriter, r *http.Request) {
	var in api.Result
	if err := s.decode(w, r, maxJSONBody, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	// An agent reports how an event ended, nothing else.
	status, err := deploy.ParseEventStatus(in.Status)
	if err != nil || (status != deploy.EventSucceeded && status != deploy.EventFailed && status != deploy.EventSkipped) {
		s.writeError(w, r, invalid("status", "%q: report Succeeded, Failed or Skipped", in.Status))
		return
	}
	var diag deploy.Diagnostics
	if in.Diagnostics != nil {
		diag = deploy.Diagnostics{
			ErrorCode:  keepStart(in.Diagnostics.ErrorCode, maxDiagCodeBytes),
			ScriptName: keepStart(in.Diagnostics.ScriptName, maxDiagScriptBytes),
			Message:    keepStart(in.Diagnostics.Message, maxDiagMessageBytes),
			// A script's last lines say most.
			LogTail: keepEnd(in.Diagnostics.LogTail, maxDiagTailBytes),
		}
	}
	if err := s.orch.Report(r.Context(), instanceOf(r).ID, mux.Vars(r)["id"], status, diag); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAgentBundle serves a revision only to a host that an active deployment of it targets.
func (s *Server) handleAgentBundle(w http.ResponseWriter, r *http.Request) {
	digest := mux.Vars(r)["digest"]
	if !s.orch.Targets(instanceOf(r).ID, digest) {
		s.writeError(w, r, as(errNotFound, "no active deployment of revision %s targets this instance", digest))
		return
	}
	f, _, err := s.blobs.Open(r.Context(), digest)
	if err != nil {
		s.writeError(w, r, storeErr(err))
		return
	}
	defer func() { _ = f.Close() }()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Slipway-Digest", "sha256="+digest)
	http.ServeContent(&countingWriter{ResponseWriter: w, n: s.metrics.bundleBytes}, r, digest, time.Time{}, f)
}

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n interface{ Add(float64) }
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(float64(n))
	return n, err
}

// cutMark marks where keepStart and keepEnd cut.
const cutMark = "…"

// keepStart shortens s to at most n bytes, cut on a character boundary and marked.
func keepStart(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len(cutMark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + cutMark
}

// keepEnd keeps the last bytes of s, at most n, cut on a character boundary and marked.
func keepEnd(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - (n - len(cutMark))
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return cutMark + s[i:]
}
