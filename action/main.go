// Command slipway is the GitHub Action entry point and the user CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries a specific exit status; its message, if any, has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a mistake on the command line: printed, then exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "slipway:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usage = `usage: slipway <command> [arguments]

commands:
  validate   check AppSpec files (exit 0 valid, 1 invalid, 2 usage)
  app        create an application
  group      create, update, show or list deployment groups
  config     create or list deployment configs
  deploy     bundle, upload and deploy a revision; --wait follows it to the end
  deployment get, list, stop or wait for deployments; promote, pause, continue or abort one
  rollback   undo a group's latest release
  instance   list or deregister instances
  action     run as the GitHub Action (reads INPUT_* variables; see docs/action.md)
  version    print the version (also --version, -v)

The server commands take --server URL and --token T, or SLIPWAY_SERVER and SLIPWAY_TOKEN;
add -h to any of them for its usage.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "app", "group", "config", "deploy", "deployment", "rollback", "instance":
		return runAPICommand(ctx, args, getenv, stdout, stderr)
	case "action":
		return runAction(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version", "-v":
		fmt.Fprintln(stdout, "slipway", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q; run 'slipway help'", args[0])}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
