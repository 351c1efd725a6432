package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

const validateUsage = `usage: slipway validate [--platform auto|server|ecs|lambda] FILE|DIR...

Checks AppSpec files. A directory is searched for appspec.yml, appspec.yaml, then appspec.json.
Exit status: 0 all valid (warnings allowed), 1 some file invalid, 2 usage error.
`

// runValidate checks each named AppSpec and prints compiler-style diagnostics, so CI logs and
// editors can link to the line.
func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, validateUsage)
		fs.PrintDefaults()
	}
	platformName := fs.String("platform", "auto", "compute platform: auto, server, ecs or lambda")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2}
	}
	platform, err := appspec.ParsePlatform(*platformName)
	if err != nil {
		return usageError{fmt.Sprintf("validate: %v", err)}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError{2}
	}
	opts := appspec.Options{Platform: platform}
	invalid := false
	for _, arg := range fs.Args() {
		if !validateOne(arg, opts, stdout, stderr) {
			invalid = true
		}
	}
	if invalid {
		return exitError{1}
	}
	return nil
}

// validateOne reports on one file or bundle directory and says whether it is valid.
func validateOne(arg string, opts appspec.Options, stdout, stderr io.Writer) bool {
	path := arg
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		found, err := appspec.Find(arg, opts.Platform)
		if err != nil {
			fmt.Fprintf(stderr, "%s: error: %v\n", arg, err)
			return false
		}
		path = found
		opts.Dir = arg
	}
	data, err := appspec.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: error: %v\n", path, err)
		return false
	}
	spec, diags := appspec.Parse(path, data, opts)
	for _, d := range diags {
		fmt.Fprintln(stderr, d)
	}
	if spec == nil {
		return false
	}
	fmt.Fprintf(stdout, "OK %s (%s)\n", path, spec.Platform)
	return true
}
