package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/auth"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/githubapp"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/rollout"
)

// Defaults, named so the README and --help can quote them.
const (
	defaultListen         = "127.0.0.1:8080"
	defaultDataDir        = "/var/lib/slipway"
	defaultLease          = 60 * time.Second
	defaultMaxBundleBytes = 2 << 30
	minTokenLength        = 16
	// DefaultOIDCIssuer issues the OIDC tokens of workflows on github.com.
	DefaultOIDCIssuer = auth.DefaultIssuer
	// oidcOff in oidc_issuer turns workflow tokens off.
	oidcOff = "off"
	// maxS3BundleBytes is the most one S3 PUT stores, which is how the S3 store uploads.
	maxS3BundleBytes = 5 << 30
	// defaultAlarmInterval matches alarm.MinInterval: a group whose interval is that short is
	// read that often.
	defaultAlarmInterval = time.Second
)

// Who sets an instance's tags after enrollment (agent_tags).
const (
	// agentTagsAdmin: only an administrator, through the API (slipway instance tag).
	agentTagsAdmin = "admin"
	// agentTagsHost: the agent, with the tags it starts with; any enrolled host may then join
	// any deployment group.
	agentTagsHost = "host"
)

// Bundle stores.
const (
	storeDisk = "disk"
	storeS3   = "s3"
)

// Config is slipway-server's configuration: a YAML file, overridden by SLIPWAY_* environment
// variables, overridden by flags.
type Config struct {
	Listen  string `yaml:"listen"`
	DataDir string `yaml:"data_dir"`
	// PublicURL is how agents and browsers reach this server (links in statuses, bundle URLs).
	// It is also the audience GitHub Actions OIDC tokens must carry: workflows request their token
	// for this exact URL.
	PublicURL string `yaml:"public_url"`
	// OIDCIssuer issues the GitHub Actions OIDC tokens the API accepts from workflows:
	// DefaultOIDCIssuer for github.com, https://HOST/_services/token for GitHub Enterprise
	// Server, "off" to accept none. Tokens are accepted only when PublicURL is set.
	OIDCIssuer string `yaml:"oidc_issuer"`
	// AdminToken guards the REST API; EnrollToken lets agents register. Prefer the environment
	// (SLIPWAY_ADMIN_TOKEN, SLIPWAY_ENROLL_TOKEN) to the file for both.
	AdminToken  string `yaml:"admin_token"`
	EnrollToken string `yaml:"enroll_token"`
	// AgentTags says who may change an instance's tags once it has enrolled with them:
	// "admin" (the default: slipway instance tag, with the admin token) or "host" (each
	// agent, with the --tag flags it starts with, as before; a host that is broken into can
	// then join any group and receive its bundles).
	AgentTags string `yaml:"agent_tags"`
	// Lease is how long a host may stay silent on a command before its event fails.
	Lease          time.Duration `yaml:"lease"`
	MaxBundleBytes int64         `yaml:"max_bundle_bytes"`
	TLSCertFile    string        `yaml:"tls_cert_file"`
	TLSKeyFile     string        `yaml:"tls_key_file"`

	// BundleStore is where uploaded bundles are kept: "disk" (under data_dir) or "s3" (in
	// S3Bucket, agents downloading through presigned URLs).
	BundleStore string `yaml:"bundle_store"`
	S3Bucket    string `yaml:"s3_bucket"`
	// S3Prefix is put before every key the server writes, e.g. "slipway/".
	S3Prefix string `yaml:"s3_prefix"`
	// S3Region and S3Endpoint override what the AWS SDK finds; the endpoint names an
	// S3-compatible server. They also serve revisions registered by S3 location. Credentials
	// are never configured here: the SDK's standard chain provides them.
	S3Region     string        `yaml:"s3_region"`
	S3Endpoint   string        `yaml:"s3_endpoint"`
	S3PathStyle  bool          `yaml:"s3_path_style"`
	S3PresignTTL time.Duration `yaml:"s3_presign_ttl"`

	// GitHub connects the server to GitHub (docs/github.md).
	GitHub GitHubConfig `yaml:"github"`

	// ReleaseCommands are the commands blue/green groups may name to release their original
	// instances once traffic has moved (to terminate them, say): a name, and the program's
	// absolute path with its arguments. The server runs one with SLIPWAY_ORIGINAL_INSTANCES,
	// SLIPWAY_ORIGINAL_INSTANCE_IDS and SLIPWAY_DEPLOYMENT_ID in its environment, without the
	// server's own SLIPWAY_ settings.
	ReleaseCommands map[string][]string `yaml:"release_commands"`
	// DrainTimeout bounds how long a traffic router's drain waits for a server's open requests
	// to finish before the host's next event runs anyway: 30s, or half the lease when that is
	// shorter, unless set.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// AlarmInterval is how often the server asks whether a running deployment's alarms fire;
	// each group's own interval bounds how often they are actually read.
	AlarmInterval time.Duration `yaml:"alarm_interval"`
	// HookTimeout is how long a lambda or ecs hook has to report its verdict when its group
	// does not say (CodeDeploy's hour by default).
	HookTimeout time.Duration `yaml:"hook_timeout"`
	// AWSPollInterval is how often a replacement ECS task set is read while it stabilises.
	AWSPollInterval time.Duration `yaml:"aws_poll_interval"`
	// HookURLs are the URL prefixes an AppSpec's HTTP hooks may call (see hook.ParseURLPrefix).
	// None by default: the server would otherwise POST wherever an uploaded AppSpec says,
	// internal addresses included.
	HookURLs []string `yaml:"hook_urls"`

	// DebugListen, when set, serves Go's profiler (net/http/pprof) on its own listener, never
	// on Listen: profiles show the server's internals, so it must be a loopback address.
	DebugListen string `yaml:"debug_listen"`
}

// GitHubConfig is how the server talks to GitHub: as a GitHub App (AppID and PrivateKeyFile) or
// with a Token, and the secret GitHub signs webhook deliveries with. Prefer the environment
// (SLIPWAY_GITHUB_TOKEN, SLIPWAY_GITHUB_WEBHOOK_SECRET) to the file for the secrets.
type GitHubConfig struct {
	// APIURL is GitHub's REST API: https://api.github.com, or https://HOST/api/v3 for GitHub
	// Enterprise Server.
	APIURL         string `yaml:"api_url"`
	AppID          int64  `yaml:"app_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
	Token          string `yaml:"token"`
	WebhookSecret  string `yaml:"webhook_secret"`
	// CheckRunInterval is the least time between two updates of one check run.
	CheckRunInterval time.Duration `yaml:"check_run_interval"`
}

// Enabled reports whether any GitHub setting is given.
func (g GitHubConfig) Enabled() bool { return g.AppID != 0 || g.Token != "" || g.WebhookSecret != "" }

// s3Options is the S3 part of the configuration as package blob takes it.
func (c Config) s3Options() blob.S3Options {
	return blob.S3Options{Region: c.S3Region, Endpoint: c.S3Endpoint, PathStyle: c.S3PathStyle, PresignTTL: c.S3PresignTTL}
}

const serverUsage = `usage: slipway-server [--config FILE] [--listen ADDR] [--data-dir DIR] [flags]

Runs the Slipway server: the REST API and its OpenAPI description under /api/v1, the agents'
protocol, the GitHub webhook receiver and the orchestrator. SLIPWAY_ADMIN_TOKEN (the API's
bearer token) and SLIPWAY_ENROLL_TOKEN (what agents enroll with) are required. Settings come
from the YAML file, then the environment (SLIPWAY_LISTEN, SLIPWAY_DATA_DIR, SLIPWAY_PUBLIC_URL,
SLIPWAY_S3_*, SLIPWAY_GITHUB_*, ...), then these flags, each overriding the one before; the README
lists them all. It prints "listening on URL" once it serves.

`

// loadConfig reads the configuration from args, the environment and the file --config names.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Config{Listen: defaultListen, DataDir: defaultDataDir, Lease: defaultLease, MaxBundleBytes: defaultMaxBundleBytes,
		OIDCIssuer: DefaultOIDCIssuer, BundleStore: storeDisk, S3PresignTTL: blob.DefaultPresignTTL, AgentTags: agentTagsAdmin,
		GitHub:        GitHubConfig{APIURL: githubapp.DefaultAPIURL, CheckRunInterval: githubapp.DefaultCheckRunInterval},
		AlarmInterval: defaultAlarmInterval, HookTimeout: deploy.DefaultHookTimeout, AWSPollInterval: rollout.DefaultPollInterval}
	fs := flag.NewFlagSet("slipway-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, serverUsage)
		fs.PrintDefaults()
	}
	var (
		file       = fs.String("config", getenv("SLIPWAY_CONFIG"), "YAML configuration `file`")
		listen     = fs.String("listen", "", "address to listen on (default "+defaultListen+")")
		dataDir    = fs.String("data-dir", "", "`dir`ectory for the SQLite database and bundles (default "+defaultDataDir+")")
		publicURL  = fs.String("public-url", "", "`URL` agents and browsers use to reach this server")
		lease      = fs.Duration("lease", 0, "how long a host may be silent on a command (default 60s)")
		tlsCert    = fs.String("tls-cert", "", "TLS certificate `file` (PEM); serve HTTPS with --tls-key")
		tlsKey     = fs.String("tls-key", "", "TLS private key `file` (PEM)")
		oidcIssuer = fs.String("oidc-issuer", "", "issuer `URL` of the GitHub Actions OIDC tokens to accept, or off (default "+DefaultOIDCIssuer+")")
		store      = fs.String("bundle-store", "", "where uploaded bundles are kept: disk or s3 (default disk)")
		bucket     = fs.String("s3-bucket", "", "S3 `bucket` of the s3 bundle store")
		prefix     = fs.String("s3-prefix", "", "key `prefix` in the bundle bucket, e.g. slipway/")
		region     = fs.String("s3-region", "", "AWS `region` (default: what the AWS SDK finds, e.g. AWS_REGION)")
		endpoint   = fs.String("s3-endpoint", "", "`URL` of an S3-compatible server instead of AWS")
		pathStyle  = fs.Bool("s3-path-style", false, "address buckets as ENDPOINT/BUCKET (most S3-compatible servers need it)")
		ttl        = fs.Duration("s3-presign-ttl", 0, "how long presigned bundle URLs last (default 10m)")
		ghAPI      = fs.String("github-api-url", "", "GitHub REST API `URL` (default "+githubapp.DefaultAPIURL+"; https://HOST/api/v3 for GitHub Enterprise Server)")
		ghApp      = fs.Int64("github-app-id", 0, "GitHub App `id`")
		ghKey      = fs.String("github-private-key-file", "", "GitHub App private key `file` (PEM)")
		debug      = fs.String("debug-listen", "", "loopback `address` to serve Go's profiler (/debug/pprof/) on; off by default")
		agentTags  = fs.String("agent-tags", "", "who changes an enrolled instance's tags: admin (slipway instance tag) or host (each agent's --tag flags) (default admin)")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: %w", *file, err)
		}
	}
	for env, dst := range map[string]*string{
		"SLIPWAY_LISTEN":       &cfg.Listen,
		"SLIPWAY_DATA_DIR":     &cfg.DataDir,
		"SLIPWAY_PUBLIC_URL":   &cfg.PublicURL,
		"SLIPWAY_ADMIN_TOKEN":  &cfg.AdminToken,
		"SLIPWAY_ENROLL_TOKEN": &cfg.EnrollToken,
		"SLIPWAY_OIDC_ISSUER":  &cfg.OIDCIssuer,
		"SLIPWAY_BUNDLE_STORE": &cfg.BundleStore,
		"SLIPWAY_S3_BUCKET":    &cfg.S3Bucket,
		"SLIPWAY_S3_PREFIX":    &cfg.S3Prefix,
		"SLIPWAY_S3_REGION":    &cfg.S3Region,
		"SLIPWAY_S3_ENDPOINT":  &cfg.S3Endpoint,
		// Flags would show secrets in ps; the GitHub ones come from the environment or the file.
		"SLIPWAY_GITHUB_API_URL":          &cfg.GitHub.APIURL,
		"SLIPWAY_GITHUB_PRIVATE_KEY_FILE": &cfg.GitHub.PrivateKeyFile,
		"SLIPWAY_GITHUB_TOKEN":            &cfg.GitHub.Token,
		"SLIPWAY_GITHUB_WEBHOOK_SECRET":   &cfg.GitHub.WebhookSecret,
		"SLIPWAY_DEBUG_LISTEN":            &cfg.DebugListen,
		"SLIPWAY_AGENT_TAGS":              &cfg.AgentTags,
	} {
		if v := getenv(env); v != "" {
			*dst = v
		}
	}
	if v := getenv("SLIPWAY_HOOK_URLS"); v != "" {
		cfg.HookURLs = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.HookURLs = append(cfg.HookURLs, p)
			}
		}
	}
	if v := getenv("SLIPWAY_S3_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("SLIPWAY_S3_PATH_STYLE=%q: give true or false", v)
		}
		cfg.S3PathStyle = b
	}
	if v := getenv("SLIPWAY_S3_PRESIGN_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("SLIPWAY_S3_PRESIGN_TTL=%q: give a duration such as 10m", v)
		}
		cfg.S3PresignTTL = d
	}
	for _, f := range []struct {
		val string
		dst *string
	}{
		{*listen, &cfg.Listen}, {*dataDir, &cfg.DataDir}, {*publicURL, &cfg.PublicURL},
		{*tlsCert, &cfg.TLSCertFile}, {*tlsKey, &cfg.TLSKeyFile}, {*oidcIssuer, &cfg.OIDCIssuer},
		{*store, &cfg.BundleStore}, {*bucket, &cfg.S3Bucket}, {*prefix, &cfg.S3Prefix},
		{*region, &cfg.S3Region}, {*endpoint, &cfg.S3Endpoint},
		{*ghAPI, &cfg.GitHub.APIURL}, {*ghKey, &cfg.GitHub.PrivateKeyFile}, {*debug, &cfg.DebugListen},
		{*agentTags, &cfg.AgentTags},
	} {
		if f.val != "" {
			*f.dst = f.val
		}
	}
	if *lease != 0 {
		cfg.Lease = *lease
	}
	if v := getenv("SLIPWAY_GITHUB_APP_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("SLIPWAY_GITHUB_APP_ID %q: give the App's numeric id", v)
		}
		cfg.GitHub.AppID = id
	}
	if *ghApp != 0 {
		cfg.GitHub.AppID = *ghApp
	}
	if *ttl != 0 {
		cfg.S3PresignTTL = *ttl
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "s3-path-style" {
			cfg.S3PathStyle = *pathStyle
		}
	})
	if cfg.DrainTimeout == 0 {
		// The drain is part of the host's BlockTraffic event, which the lease bounds.
		cfg.DrainTimeout = min(orchestrator.DefaultDrainTimeout, cfg.Lease/2)
	}
	return cfg, cfg.Validate()
}

// Validate says what to change in a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if len(c.AdminToken) < minTokenLength {
		errs = append(errs, fmt.Errorf("admin token: set SLIPWAY_ADMIN_TOKEN to a random secret of at least %d characters (e.g. openssl rand -hex 32)", minTokenLength))
	}
	if len(c.EnrollToken) < minTokenLength {
		errs = append(errs, fmt.Errorf("enroll token: set SLIPWAY_ENROLL_TOKEN to a random secret of at least %d characters", minTokenLength))
	}
	if c.AdminToken != "" && c.AdminToken == c.EnrollToken {
		errs = append(errs, errors.New("the admin and enroll tokens must differ: every host holds the enroll token"))
	}
	if c.AgentTags != agentTagsAdmin && c.AgentTags != agentTagsHost {
		errs = append(errs, fmt.Errorf("agent_tags %q: use admin (the default: only slipway instance tag changes an enrolled instance's tags) or host (agents set their own)", c.AgentTags))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: give a directory (--data-dir)"))
	}
	if c.Lease < time.Second {
		errs = append(errs, fmt.Errorf("lease %s: give at least 1s", c.Lease))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS: give both --tls-cert and --tls-key, or neither"))
	}
	if c.MaxBundleBytes <= 0 {
		errs = append(errs, errors.New("max_bundle_bytes: give a positive size"))
	}
	if _, err := c.workflowVerifier(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.GitHub.validate(c.PublicURL)...)
	switch c.BundleStore {
	case storeDisk:
		if c.S3Bucket != "" {
			errs = append(errs, errors.New("s3_bucket is set but bundle_store is disk: set bundle_store: s3 (--bundle-store s3) to keep bundles in the bucket, or drop s3_bucket"))
		}
	case storeS3:
		if c.S3Bucket == "" {
			errs = append(errs, errors.New("s3_bucket: the s3 bundle store needs a bucket (--s3-bucket or SLIPWAY_S3_BUCKET)"))
		}
		if c.MaxBundleBytes > maxS3BundleBytes {
			errs = append(errs, fmt.Errorf("max_bundle_bytes %d: the s3 bundle store takes at most 5 GiB (%d) per bundle", c.MaxBundleBytes, int64(maxS3BundleBytes)))
		}
	default:
		errs = append(errs, fmt.Errorf("bundle_store %q: use disk (the default) or s3", c.BundleStore))
	}
	if strings.Contains(c.S3Bucket, "/") {
		errs = append(errs, fmt.Errorf("s3_bucket %q: give the bucket's name alone; put a key prefix in s3_prefix", c.S3Bucket))
	}
	if strings.HasPrefix(c.S3Prefix, "/") {
		errs = append(errs, fmt.Errorf("s3_prefix %q: S3 keys do not start with '/'; drop it", c.S3Prefix))
	}
	if err := checkDebugListen(c.DebugListen); err != nil {
		errs = append(errs, err)
	}
	if err := c.s3Options().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("s3: %w (s3_endpoint, s3_presign_ttl)", err))
	}
	for _, name := range slices.Sorted(maps.Keys(c.ReleaseCommands)) {
		argv := c.ReleaseCommands[name]
		switch {
		case !deploy.ValidReleaseCommand(name):
			errs = append(errs, fmt.Errorf("release_commands: name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name))
		case len(argv) == 0 || !filepath.IsAbs(argv[0]):
			errs = append(errs, fmt.Errorf("release_commands.%s: give the program's absolute path first, then its arguments, e.g. [/usr/local/bin/terminate-instances]", name))
		}
	}
	if c.DrainTimeout <= 0 || c.DrainTimeout >= c.Lease {
		errs = append(errs, fmt.Errorf("drain_timeout %s: give a duration above 0 and below the lease (%s)", c.DrainTimeout, c.Lease))
	}
	if c.AlarmInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("alarm_interval %s: give at least 100ms", c.AlarmInterval))
	}
	if c.HookTimeout <= 0 || c.HookTimeout > deploy.MaxWait {
		errs = append(errs, fmt.Errorf("hook_timeout %s: give a duration above 0 and up to %s", c.HookTimeout, deploy.MaxWait))
	}
	if c.AWSPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("aws_poll_interval %s: give at least 100ms", c.AWSPollInterval))
	}
	if _, err := c.hookURLs(); err != nil {
		errs = append(errs, fmt.Errorf("hook_urls: %w", err))
	}
	return errors.Join(errs...)
}

// hookURLs parses HookURLs.
func (c Config) hookURLs() ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(c.HookURLs))
	for _, p := range c.HookURLs {
		u, err := hook.ParseURLPrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// workflowTokensOff says why the server accepts no workflow OIDC tokens and what to do about it;
// "" when it accepts them.
func (c Config) workflowTokensOff() string {
	const instead = "workflows need an API token instead (the Action's inputs auth: api-token and api-token: ${{ secrets.SLIPWAY_TOKEN }})"
	switch {
	case c.OIDCIssuer == oidcOff:
		return "oidc_issuer is off; " + instead
	case c.PublicURL == "":
		return "public_url is not set, and a token must name it as its audience; set it (--public-url or " +
			"SLIPWAY_PUBLIC_URL) to the URL workflows reach this server at, or " + instead
	}
	return ""
}

// workflowVerifier returns the verifier of workflows' OIDC tokens, or nil when they are off (see
// workflowTokensOff).
func (c Config) workflowVerifier() (*auth.Verifier, error) {
	if c.workflowTokensOff() != "" {
		return nil, nil
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuer: c.OIDCIssuer, Audience: c.PublicURL})
	if err != nil {
		return nil, fmt.Errorf("%w (or set oidc_issuer to %s to accept no workflow tokens)", err, oidcOff)
	}
	return v, nil
}

// validate says what to change in the GitHub settings; publicURL is needed for GitHub's links.
func (g GitHubConfig) validate(publicURL string) []error {
	if !g.Enabled() && g.PrivateKeyFile == "" {
		return nil
	}
	var errs []error
	switch {
	case g.AppID < 0:
		errs = append(errs, errors.New("github.app_id: give the App's id from its settings page (a positive number)"))
	case g.AppID != 0 && g.Token != "":
		errs = append(errs, errors.New("github: give app_id and private_key_file (a GitHub App) or token, not both"))
	case g.AppID != 0 && g.PrivateKeyFile == "":
		errs = append(errs, errors.New("github.private_key_file: give the App's private key (the .pem GitHub generated), or set SLIPWAY_GITHUB_PRIVATE_KEY_FILE"))
	case g.AppID == 0 && g.PrivateKeyFile != "":
		errs = append(errs, errors.New("github.app_id: a private key needs the App's id (--github-app-id or SLIPWAY_GITHUB_APP_ID)"))
	case g.AppID == 0 && g.Token == "":
		errs = append(errs, errors.New("github: webhooks need API access too: give app_id and private_key_file (a GitHub App), or SLIPWAY_GITHUB_TOKEN"))
	}
	if g.WebhookSecret != "" && len(g.WebhookSecret) < minTokenLength {
		errs = append(errs, fmt.Errorf("github.webhook_secret: give a random secret of at least %d characters (the same in the webhook's settings on GitHub)", minTokenLength))
	}
	if u, err := url.Parse(g.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("github.api_url %q: give an absolute URL such as %s, or https://HOST/api/v3 for GitHub Enterprise Server", g.APIURL, githubapp.DefaultAPIURL))
	}
	if g.CheckRunInterval < time.Second {
		errs = append(errs, fmt.Errorf("github.check_run_interval %s: give at least 1s; GitHub limits how fast a check run may be updated", g.CheckRunInterval))
	}
	if u, err := url.Parse(publicURL); publicURL == "" || err != nil || u.Host == "" {
		errs = append(errs, errors.New("public_url: GitHub links to deployment pages on this server; give the address people reach it at (--public-url https://slipway.example.com)"))
	}
	return errs
}

// checkDebugListen refuses a profiler address that other hosts could reach: profiles and
// goroutine dumps show the server's internals.
func checkDebugListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("debug_listen %q: give host:port, e.g. 127.0.0.1:6060", addr)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("debug_listen %q: the profiler must listen on a loopback address (127.0.0.1:PORT or [::1]:PORT); reach it from elsewhere through an SSH tunnel", addr)
	}
	return nil
}
