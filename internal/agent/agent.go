package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

// Defaults for the zero values of Config.
const (
	// DefaultPollWait is how long one long poll may stay open on the server.
	DefaultPollWait = 30 * time.Second
	// DefaultHeartbeat is how often a running command is heartbeated when the server names no
	// interval.
	DefaultHeartbeat = 10 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between retries after the server
	// failed to answer.
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultShutdownGrace is how long a stopping agent keeps trying to deliver the result of the
	// command it was running; what is not delivered by then stays in the outbox.
	DefaultShutdownGrace = 5 * time.Second
	// DefaultRequestTimeout bounds every call but the long poll (which gets PollWait on top) and
	// the bundle download (bounded by the command itself).
	DefaultRequestTimeout = 30 * time.Second
)

// Log keys.
const (
	keyInstance   = "instance"
	keyCommand    = "command_id"
	keyDeployment = "deployment_id"
	keyEvent      = "event"
	keyStatus     = "status"
	keyErrorCode  = "error_code"
	keyError      = "error"
	keyOp         = "op"
	keyOutage     = "outage"
	keyAttempts   = "attempts"
	keyPending    = "pending"
	keyBytes      = "bytes"
	keyDigest     = "digest"
	keyDuration   = "duration"
	keyHTTPStatus = "http_status"
	keyGroup      = "process_group"
)

var (
	// ErrRevoked means the server no longer accepts this instance's credential: the instance was
	// deregistered or its credential revoked.
	ErrRevoked = errors.New("the server refused this instance's credential")
	// ErrEnrollRefused means the server refused the enrollment token.
	ErrEnrollRefused = errors.New("the server refused the enrollment token")
)

// Config is what an Agent needs. Server and Host are required; zero durations take the defaults.
type Config struct {
	// Server is the base URL of the Slipway server.
	Server string
	// EnrollToken is used only when no credential is saved yet.
	EnrollToken string
	// Name is the instance's name, sent at enrollment.
	Name string
	// Tags are the instance's tags, sent at enrollment and on every start. After enrollment
	// the server keeps its own unless it lets hosts set theirs (see Agent.hello).
	Tags    map[string]string
	Version string
	// Host runs the lifecycle events; its Root is the agent's deployment root, which also holds
	// the credential and the outbox under <root>/agent.
	Host *lifecycle.Host

	PollWait       time.Duration
	MinBackoff     time.Duration
	MaxBackoff     time.Duration
	ShutdownGrace  time.Duration
	RequestTimeout time.Duration
	// HTTP is the client for every call; one with header timeouts suited to the long poll when nil.
	HTTP *http.Client
	// CAFile, when set, is a PEM file of CA certificates trusted besides the system's, for a
	// server whose certificate a private CA signed. Used only when HTTP is nil.
	CAFile string
	Logger *slog.Logger
}

// Validate says what is missing or wrong, naming the setting.
func (c Config) Validate() error {
	switch {
	case c.Server == "":
		return errors.New("server: the Slipway server URL is required")
	case c.Host == nil || c.Host.Root == "":
		return errors.New("root: the deployment root is required")
	case c.PollWait < 0, c.MinBackoff < 0, c.MaxBackoff < 0, c.ShutdownGrace < 0, c.RequestTimeout < 0:
		return errors.New("durations may not be negative")
	case c.MaxBackoff != 0 && c.MaxBackoff < c.MinBackoff:
		return errors.New("maximum backoff is below the minimum")
	}
	return nil
}

// Agent is one host's connection to the server. Run it once.
type Agent struct {
	cfg    Config
	root   lifecycle.Root
	client *api.Client
	outbox outbox
	log    *slog.Logger
	link   link
	// unsaved holds results the outbox could not store (a full disk): they are still delivered,
	// only not across a restart.
	unsaved []report
}

// New checks cfg and returns an Agent; it starts nothing and touches no file.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PollWait = orDefault(cfg.PollWait, DefaultPollWait)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, max(DefaultMaxBackoff, cfg.MinBackoff))
	cfg.ShutdownGrace = orDefault(cfg.ShutdownGrace, DefaultShutdownGrace)
	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, DefaultRequestTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := api.NewClient(cfg.Server, "")
	client.UserAgent = "slipway-agent/" + cfg.Version
	client.HTTP = cfg.HTTP
	if client.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// A server that accepted the connection but never answers is noticed; the long poll's
		// answer may legitimately take PollWait.
		tr.ResponseHeaderTimeout = cfg.PollWait + cfg.RequestTimeout
		tlsCfg, err := api.TLSConfig(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tlsCfg
		// Every call has its own deadline from a context; the bundle download has none.
		client.HTTP = &http.Client{Transport: tr}
	}
	// The agent removes each crash marker itself, once the event's result is in the outbox.
	cfg.Host.KeepMarkers = true
	a := &Agent{
		cfg:    cfg,
		root:   cfg.Host.Root,
		client: client,
		outbox: newOutbox(cfg.Host.Root),
		log:    cfg.Logger,
	}
	a.link.log = cfg.Logger
	return a, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Run enrolls if needed, says hello, and then serves commands until ctx is done. It returns nil
// when ctx ends it, ErrRevoked (wrapped, with what to do) when the server refuses the credential,
// and other errors only for what no retry can fix.
func (a *Agent) Run(ctx context.Context) error {
	unlock, err := a.root.Lock()
	if err != nil {
		return err
	}
	defer func() { _ = unlock() }()
	err = a.run(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		a.log.Info("agent stopped")
		return nil
	}
	return err
}

func (a *Agent) run(ctx context.Context) error {
	cred, err := a.enroll(ctx)
	if err != nil {
		return err
	}
	a.client.Token = cred.Secret
	a.log = a.log.With(keyInstance, cred.Instance)
	a.link.log = a.log
	if err := a.hello(ctx); err != nil {
		return err
	}
	return a.serve(ctx)
}

// enroll returns the saved credential or, when there is none, registers with the enrollment token
// and saves the credential it gets before using it.
func (a *Agent) enroll(ctx context.Context) (credential, error) {
	path := CredentialPath(a.root)
	c, ok, err := loadCredential(path)
	if err != nil || ok {
		return c, err
	}
	if a.cfg.EnrollToken == "" {
		return credential{}, fmt.Errorf("no credential at %s and no enrollment token: start the agent once with --enroll-token (or SLIPWAY_ENROLL_TOKEN) to enroll it", path)
	}
	bo := a.newBackoff()
	for {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		reg, err := a.client.Register(cctx, a.cfg.EnrollToken, api.Register{Name: a.cfg.Name, Tags: a.cfg.Tags, AgentVersion: a.cfg.Version})
		cancel()
		if err == nil {
			a.link.ok()
			if reg.Credential == "" {
				return credential{}, errors.New("enroll: the server answered without a credential")
			}
			c := credential{Instance: reg.Instance, Secret: reg.Credential}
			if err := saveCredential(path, c); err != nil {
				return credential{}, err
			}
			a.log.Info("enrolled", keyInstance, c.Instance)
			return c, nil
		}
		if ctx.Err() != nil {
			return credential{}, ctx.Err()
		}
		switch st := api.StatusOf(err); {
		case st == http.StatusUnauthorized || st == http.StatusForbidden:
			return credential{}, fmt.Errorf("enroll: %w (%w): check the enrollment token (SLIPWAY_ENROLL_TOKEN on the server)", ErrEnrollRefused, err)
		case !retryable(st):
			return credential{}, fmt.Errorf("enroll: %w", err)
		}
		a.link.fail("register", err)
		if !sleep(ctx, bo.next()) {
			return credential{}, ctx.Err()
		}
	}
}

// hello tells the server the agent's tags and the commands a crash interrupted. Each of those is
// also put in the outbox as a FailedAfterRestart result before the hello, so it travels the
// normal path too; the server keeps whichever arrives first. The crash markers are forgotten only
// once the server has acknowledged.
func (a *Agent) hello(ctx context.Context) error {
	markers, err := a.root.Interrupted()
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range markers {
		a.endInterrupted(ctx, m)
	}
	now := time.Now().UTC()
	for _, m := range markers {
		if m.Command == "" {
			continue
		}
		if a.outbox.has(m.Command) {
			// The event ended and its result was saved just before the agent stopped: that
			// result is delivered as usual; the event was not interrupted.
			continue
		}
		ids = append(ids, m.Command)
		if err := a.outbox.put(report{Command: m.Command, Result: interruptedResult(m, now), Queued: now}); err != nil {
			return err
		}
	}
	bo := a.newBackoff()
	tags := a.cfg.Tags
	for {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		err := a.client.Hello(cctx, api.Hello{Tags: tags, AgentVersion: a.cfg.Version, Interrupted: ids})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if revoked(err) {
			return a.revokedError(err)
		}
		if tags != nil && tagsRefused(err) {
			// The instance's tags are the server's to keep (an administrator changes them). The
			// agent serves on with them rather than stop: every group the host is in would lose
			// it until someone came, for a difference in configuration the server can ignore.
			// The refusal, which names the command that would change them, is logged at every
			// start until the two agree.
			a.log.Error("the server keeps this instance's tags and serves on with them", keyError, err.Error())
			tags = nil
			continue
		}
		a.link.fail("hello", err)
		if !sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
	a.link.ok()
	a.log.Info("connected", "server", a.cfg.Server)
	for _, m := range markers {
		if err := a.root.Forget(m); err != nil {
			return err
		}
		if !slices.Contains(ids, m.Command) {
			continue
		}
		a.log.Warn("event interrupted by an agent restart reported as failed",
			keyCommand, m.Command, keyDeployment, m.DeploymentID, keyEvent, m.Event, keyErrorCode, script.FailedAfterRestart.String())
	}
	return nil
}

// endInterrupted ends the script an interrupted event left running, so that it does not go on
// beside the next deployment's hooks. A failure is logged, not returned: an agent that refused to
// start would leave the host out of every deployment.
func (a *Agent) endInterrupted(ctx context.Context, m lifecycle.Marker) {
	end, err := a.cfg.Host.EndInterrupted(ctx, m)
	switch {
	case err != nil:
		a.log.Error("could not end the script of an interrupted event; it may still run", keyDeployment, m.DeploymentID, keyEvent, m.Event, keyError, err)
	case end != script.NotRunning:
		a.log.Warn("ended the script an interrupted event left running", keyCommand, m.Command, keyDeployment, m.DeploymentID,
			keyEvent, m.Event, keyGroup, m.ProcessGroup(), keyStatus, end.String())
	}
}

// serve is the main loop: deliver every waiting result, then long-poll for the next command and
// run it. Results go first so the server learns the outcome of one event before it is asked for
// the next.
func (a *Agent) serve(ctx context.Context) error {
	bo := a.newBackoff()
	for {
		if err := a.flush(ctx); err != nil {
			return err
		}
		cmd, err := a.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if revoked(err) {
				return a.revokedError(err)
			}
			a.link.fail("poll", err)
			if !sleep(ctx, bo.next()) {
				return ctx.Err()
			}
			continue
		}
		a.link.ok()
		bo.reset()
		if cmd == nil {
			continue
		}
		a.handle(ctx, *cmd)
		if ctx.Err() != nil {
			return a.drain(ctx)
		}
	}
}

func (a *Agent) poll(ctx context.Context) (*api.Command, error) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.PollWait+a.cfg.RequestTimeout)
	defer cancel()
	cmd, err := a.client.NextCommand(cctx, a.cfg.PollWait)
	if err != nil {
		return nil, err
	}
	if cmd != nil && cmd.ID == "" {
		return nil, errors.New("the server sent a command without an id")
	}
	return cmd, nil
}

// drain gives the result of the command that was running when the agent was told to stop a few
// seconds to reach the server; what does not stays in the outbox for the next start.
func (a *Agent) drain(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownGrace)
	defer cancel()
	err := a.flush(gctx)
	switch {
	case errors.Is(err, ErrRevoked):
		return err
	case err != nil:
		a.log.Warn("stopping with undelivered results; they are sent when the agent starts again", keyPending, a.pendingCount())
	}
	return ctx.Err()
}

// flush delivers every waiting result, oldest first, retrying with backoff until each is settled.
func (a *Agent) flush(ctx context.Context) error {
	bo := a.newBackoff()
	for {
		pending, err := a.pending()
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		var failed error
		for _, rp := range pending {
			if failed = a.deliver(ctx, rp); failed != nil {
				break
			}
		}
		if failed == nil {
			a.link.ok()
			bo.reset()
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if revoked(failed) {
			return a.revokedError(failed)
		}
		a.link.fail("report result", failed)
		if !sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
}

func (a *Agent) pending() ([]report, error) {
	saved, err := a.outbox.list()
	if err != nil {
		return nil, err
	}
	return append(saved, a.unsaved...), nil
}

func (a *Agent) pendingCount() int {
	p, _ := a.pending()
	return len(p)
}

// deliver sends one result. It returns nil once the result is settled — accepted, or answered in
// a way that resending cannot change — and removes it; an error means try again later.
func (a *Agent) deliver(ctx context.Context, rp report) error {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	err := a.client.Complete(cctx, rp.Command, rp.Result)
	cancel()
	log := a.log.With(keyCommand, rp.Command, keyStatus, rp.Result.Status)
	switch st := api.StatusOf(err); {
	case err == nil:
		log.Info("result reported")
	case st == http.StatusConflict:
		log.Info("result already recorded by the server")
	case st == http.StatusNotFound || st == http.StatusGone:
		log.Warn("the server no longer knows or wants this command; result not resent", keyHTTPStatus, st)
	case revoked(err), retryable(st):
		return err
	default:
		// The server refuses this body for good; resending it would block every later result.
		log.Error("the server refused the result; dropping it", keyHTTPStatus, st, keyError, err.Error())
	}
	for i, u := range a.unsaved {
		if u.Command == rp.Command {
			a.unsaved = append(a.unsaved[:i], a.unsaved[i+1:]...)
			return nil
		}
	}
	return a.outbox.remove(rp.Command)
}

func (a *Agent) revokedError(err error) error {
	return fmt.Errorf("%w (%w): the instance was deregistered or its credential revoked. To enroll it again, delete %s and start the agent with an enrollment token (--enroll-token or SLIPWAY_ENROLL_TOKEN)",
		ErrRevoked, err, CredentialPath(a.root))
}

func (a *Agent) newBackoff() *backoff { return &backoff{min: a.cfg.MinBackoff, max: a.cfg.MaxBackoff} }

// revoked reports whether the server refused the credential itself.
func revoked(err error) bool {
	st := api.StatusOf(err)
	return st == http.StatusUnauthorized || st == http.StatusForbidden
}

// tagsRefused reports whether the server refused the tags a hello asked for.
func tagsRefused(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == http.StatusConflict && e.Field == "tags"
}

// retryable reports whether a call that got HTTP status st (0: no answer at all) may succeed if
// repeated unchanged.
func retryable(st int) bool {
	return st == 0 || st == http.StatusRequestTimeout || st == http.StatusTooEarly ||
		st == http.StatusTooManyRequests || st >= 500
}
