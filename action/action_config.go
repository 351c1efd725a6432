package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// The Action's inputs, named as in action.yml (a test checks the two agree).
const (
	inServerURL          = "server-url"
	inApplication        = "application"
	inDeploymentGroup    = "deployment-group"
	inPath               = "path"
	inDeploymentConfig   = "deployment-config"
	inDescription        = "description"
	inWait               = "wait"
	inTimeoutMinutes     = "timeout-minutes"
	inFileExistsBehavior = "file-exists-behavior"
	inAuth               = "auth"
	inAPIToken           = "api-token"
	inGitHubToken        = "github-token"
)

// The Action's outputs, named as in action.yml.
const (
	outDeploymentID       = "deployment-id"
	outStatus             = "status"
	outGitHubDeploymentID = "github-deployment-id"
	outLogURL             = "log-url"
)

// Values of the auth input.
const (
	authOIDC     = "oidc"
	authAPIToken = "api-token"
)

// actionConfig is the Action's configuration, one field per input of action.yml.
type actionConfig struct {
	ServerURL          string
	Application        string
	DeploymentGroup    string
	Path               string
	DeploymentConfig   string
	Description        string
	Wait               bool
	Timeout            time.Duration // 0: wait as long as it takes
	FileExistsBehavior string
	Auth               string
	APIToken           string
	GitHubToken        string
}

// readActionConfig reads the inputs with input (the runner's INPUT_* variables) and checks them.
// Defaults match action.yml, so a run outside a workflow behaves the same.
func readActionConfig(input func(string) string) (actionConfig, error) {
	cfg := actionConfig{
		ServerURL:          strings.TrimRight(input(inServerURL), "/"),
		Application:        input(inApplication),
		DeploymentGroup:    input(inDeploymentGroup),
		Path:               input(inPath),
		DeploymentConfig:   input(inDeploymentConfig),
		Description:        input(inDescription),
		Wait:               true,
		FileExistsBehavior: strings.ToUpper(input(inFileExistsBehavior)),
		Auth:               strings.ToLower(input(inAuth)),
		APIToken:           input(inAPIToken),
		GitHubToken:        input(inGitHubToken),
	}
	if cfg.Path == "" {
		cfg.Path = "."
	}
	if cfg.Auth == "" {
		cfg.Auth = authOIDC
	}
	var errs []error
	if v := input(inWait); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %s: %q is not true or false", inWait, v))
		}
		cfg.Wait = b
	}
	if v := input(inTimeoutMinutes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("input %s: %q is not a positive whole number of minutes", inTimeoutMinutes, v))
		}
		cfg.Timeout = time.Duration(n) * time.Minute
	}
	return cfg, errors.Join(append(errs, cfg.Validate())...)
}

// Validate says which input to change.
func (c actionConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.ServerURL); c.ServerURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("input %s: give the Slipway server's URL, e.g. https://slipway.example.com (got %q)", inServerURL, c.ServerURL))
	}
	if c.Application == "" {
		errs = append(errs, fmt.Errorf("input %s is required", inApplication))
	}
	if c.DeploymentGroup == "" {
		errs = append(errs, fmt.Errorf("input %s is required", inDeploymentGroup))
	}
	if c.FileExistsBehavior != "" {
		if _, err := appspec.ParseFileExistsBehavior(c.FileExistsBehavior); err != nil {
			errs = append(errs, fmt.Errorf("input %s: %w", inFileExistsBehavior, err))
		}
	}
	switch c.Auth {
	case authOIDC:
		if c.APIToken != "" {
			errs = append(errs, fmt.Errorf("input %s is set but %s is %s: set %s: %s to use the token", inAPIToken, inAuth, authOIDC, inAuth, authAPIToken))
		}
	case authAPIToken:
		if c.APIToken == "" {
			errs = append(errs, fmt.Errorf("input %s: %s needs input %s (e.g. ${{ secrets.SLIPWAY_TOKEN }})", inAuth, authAPIToken, inAPIToken))
		}
	default:
		errs = append(errs, fmt.Errorf("input %s: %q is neither %s nor %s", inAuth, c.Auth, authOIDC, authAPIToken))
	}
	return errors.Join(errs...)
}
