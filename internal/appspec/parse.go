package appspec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound means a bundle directory holds no AppSpec file under any of the accepted names.
var ErrNotFound = errors.New("appspec not found")

// Options tunes Parse.
type Options struct {
	// Platform is the platform the caller expects; PlatformUnknown detects it from the file.
	Platform Platform
	// AllowCustomEvents accepts hook names outside the scriptable server events, as
	// codedeploy-local does for `--events CustomEvent`. Reserved events stay errors.
	AllowCustomEvents bool
	// Dir is the bundle directory holding the AppSpec, when there is one: a hook script missing
	// from it is a warning, so the typo shows before any host changes rather than as ScriptMissing
	// after Install. Load sets it.
	Dir string
}

// Parse validates an AppSpec. file only labels the diagnostics. The Spec is nil exactly when a
// diagnostic is an error; diagnostics are in line order either way.
func Parse(file string, data []byte, opts Options) (*Spec, []Diagnostic) {
	c := &checker{report: report{file: file}, opts: opts}
	spec := c.parse(data)
	sortDiagnostics(c.diags)
	if HasErrors(c.diags) {
		return nil, c.diags
	}
	return spec, c.diags
}

// Detect says which platform an AppSpec is written for, without validating it: ECS or Lambda
// when it has Resources (in any case) naming such a resource, server when it has none, unknown when
// it cannot be read or names neither.
func Detect(data []byte) Platform {
	r := &report{}
	root := decode(r, data)
	if root == nil {
		return PlatformUnknown
	}
	p, _ := detect(root)
	return p
}

// detect returns the platform and the Resources key it was read from, if any.
func detect(root *node) (Platform, *node) {
	if root.kind != kindMapping {
		return PlatformUnknown, nil
	}
	var key, res *node
	for _, p := range root.pairs {
		if strings.EqualFold(p.key.value, "Resources") {
			key, res = p.key, p.value
			break
		}
	}
	if key == nil {
		return PlatformServer, nil
	}
	for _, r := range resourceBodies(res) {
		switch strings.TrimSpace(r.get("Type").scalarText()) {
		case ecsServiceType:
			return PlatformECS, key
		case lambdaFunctionType:
			return PlatformLambda, key
		}
	}
	return PlatformUnknown, key
}

// resourceBodies returns the {Type, Properties} mappings under Resources, whichever shape it has.
func resourceBodies(res *node) []*node {
	var out []*node
	collect := func(m *node) {
		if m != nil && m.kind == kindMapping {
			for _, p := range m.pairs {
				if p.value != nil && p.value.kind == kindMapping {
					out = append(out, p.value)
				}
			}
		}
	}
	switch {
	case res == nil:
	case res.kind == kindSequence:
		for _, it := range res.items {
			collect(it)
		}
	case res.kind == kindMapping:
		collect(res)
	}
	return out
}

func (n *node) scalarText() string {
	if n == nil || n.kind != kindScalar || n.isNull() {
		return ""
	}
	return n.value
}

func (c *checker) parse(data []byte) *Spec {
	root := decode(&c.report, data)
	if root == nil {
		return nil
	}
	if root.kind != kindMapping {
		c.errorf(root, CodeType, "an AppSpec must be a mapping of keys such as 'version' and 'os', not %s", root.describe())
		return nil
	}
	detected, res := detect(root)
	platform := c.opts.Platform
	switch {
	case detected == PlatformUnknown:
		if platform == PlatformUnknown || platform == PlatformServer {
			c.errorf(res, CodeResource, "Resources must name one resource whose Type is %s (ECS) or %s (Lambda)", ecsServiceType, lambdaFunctionType)
			return nil
		}
	case platform == PlatformUnknown:
		platform = detected
	case platform != detected:
		at := root
		if res != nil {
			at = res
		}
		c.errorf(at, CodePlatform, "this AppSpec is written for the %s platform but %s was asked for: use an AppSpec for %s or change the platform", detected, platform, platform)
		return nil
	}
	switch platform {
	case PlatformECS:
		return c.ecs(root)
	case PlatformLambda:
		return c.lambda(root)
	}
	return c.server(root)
}

// Find returns the path of the AppSpec in a bundle directory: appspec.yml, then appspec.yaml, then
// (unless the platform is server, whose agent never reads it) appspec.json.
func Find(dir string, platform Platform) (string, error) {
	name, err := find(os.DirFS(dir), dir, platform)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// FindFS is Find for a bundle seen as a file system (an archive read without unpacking it): it
// returns the AppSpec's name at the root of fsys.
func FindFS(fsys fs.FS, platform Platform) (string, error) {
	return find(fsys, "the bundle", platform)
}

// find looks for the AppSpec at the root of fsys; where names fsys in messages. Symlinks are
// followed, as the agent does when it opens the file.
func find(fsys fs.FS, where string, platform Platform) (string, error) {
	names := []string{"appspec.yml", "appspec.yaml"}
	if platform != PlatformServer {
		names = append(names, "appspec.json")
	}
	for _, name := range names {
		fi, err := fs.Stat(fsys, name)
		if err == nil && fi.Mode().IsRegular() {
			return name, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find appspec: %w", err)
		}
	}
	hint := ""
	if entries, err := fs.ReadDir(fsys, "."); err == nil {
		for _, e := range entries {
			for _, name := range names {
				if e.Name() != name && strings.EqualFold(e.Name(), name) {
					hint = fmt.Sprintf(" (found %s: the name is case-sensitive, rename it to %s)", e.Name(), name)
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("find appspec: %w", err)
	}
	return "", fmt.Errorf("%w: no %s in %s%s", ErrNotFound, strings.Join(names, " or "), where, hint)
}

// Load finds, reads and parses the AppSpec of a bundle directory. The error is ErrNotFound, a read
// error, or an *Error when the AppSpec is invalid; warnings come back in the diagnostics.
func Load(dir string, opts Options) (*Spec, []Diagnostic, error) {
	path, err := Find(dir, opts.Platform)
	if err != nil {
		return nil, nil, err
	}
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	opts.Dir = dir
	spec, diags := Parse(path, data, opts)
	if spec == nil {
		return nil, diags, AsError(diags)
	}
	return spec, diags, nil
}

// ReadFile reads an AppSpec file for Parse, but never more than MaxSize+1 bytes: enough for Parse
// to refuse a file that is too large without holding all of it in memory.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read appspec: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read appspec %s: %w", path, err)
	}
	return data, nil
}
