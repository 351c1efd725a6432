// Command slipway-agent runs on each host: it installs revisions and runs their lifecycle hooks,
// driven by the Slipway server or, with "local", by nobody but the person at the terminal.
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
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "slipway-agent:", err)
			os.Exit(1)
		}
		os.Exit(ee.code)
	}
}

// exitError carries a specific exit status; its message, if any, has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `usage: slipway-agent <command> [arguments]

commands:
  local     run a bundle's lifecycle on this machine with no server
  run       connect to a Slipway server and run the lifecycle events it sends
  version   print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "local":
		return runLocal(ctx, args[1:], stdout, stderr)
	case "run":
		return runAgent(ctx, args[1:], getenv, stderr)
	case "version":
		fmt.Fprintln(stdout, "slipway-agent", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "slipway-agent: unknown command %q\n%s", args[0], usage)
	return exitError{2}
}

var version = "dev"
