package appspec

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var windowsAbsRE = regexp.MustCompile(`^[A-Za-z]:[\\/]`)

func (c *checker) server(root *node) *Spec {
	f := c.mapping(root, "")
	spec := &Spec{Platform: PlatformServer, Version: "0.0", Hooks: map[string][]Script{}}
	c.version(f)
	spec.OS = c.os(f)
	if s, n, ok := c.optional(f, "file_exists_behavior"); ok && !n.isNull() {
		b, err := ParseFileExistsBehavior(strings.TrimSpace(s))
		if err != nil {
			c.errorf(n, CodeFileExistsBehavior, "file_exists_behavior %q is not one of DISALLOW,OVERWRITE,RETAIN%s", s,
				didYouMean(s, []string{"DISALLOW", "OVERWRITE", "RETAIN"}))
		}
		spec.FileExistsBehavior = b
	}
	spec.Files = c.files(f.get("files"), spec.OS)
	spec.Permissions = c.permissions(f.get("permissions"), spec.OS)
	c.hooks(f.get("hooks"), spec)
	c.rest(f, nil)
	return spec
}

func (c *checker) os(f *fields) OS {
	s, n, ok := c.optional(f, "os")
	if !ok {
		return 0
	}
	if n.isNull() {
		c.errorf(f.at("os"), CodeOS, "os is missing: add 'os: linux' or 'os: windows'")
		return 0
	}
	switch strings.TrimSpace(s) {
	case "linux":
		return OSLinux
	case "windows":
		return OSWindows
	}
	c.errorf(n, CodeOS, "unsupported operating system (%s): os must be linux or windows%s", s, didYouMean(s, []string{"linux", "windows"}))
	return 0
}

func (c *checker) files(n *node, os OS) []File {
	items, ok := c.list(n, "files", " (write each entry as '- source: ...' with 'destination: ...')")
	if !ok {
		return nil
	}
	var out []File
	for i, it := range items {
		p := index("files", i)
		if it.isNull() {
			c.errorf(it, CodeMissing, "%s is empty: give it a source and a destination, or remove the '-'", p)
			continue
		}
		f := c.mapping(it, p)
		if f == nil {
			continue
		}
		src, srcNode, ok1 := c.optional(f, "source")
		dst, dstNode, ok2 := c.optional(f, "destination")
		c.rest(f, nil)
		if !ok1 || !ok2 {
			continue
		}
		switch {
		case src == "" && dst == "":
			c.errorf(it, CodeMissing, "%s has neither source nor destination: add both", p)
			continue
		case src == "":
			c.errorf(f.at("source"), CodeMissing, "%s specifies a destination file (%s) but no source file: add 'source: <path in the bundle>'", p, dst)
			continue
		case dst == "":
			c.errorf(f.at("destination"), CodeMissing, "%s specifies only a source file (%s): add 'destination: <absolute directory>'", p, src)
			continue
		}
		good := true
		if escapes(src) {
			c.errorf(srcNode, CodePath, "%s.source %q leaves the bundle: sources are relative to the bundle root", p, src)
			good = false
		} else {
			c.warnPlaceholder(srcNode, p+".source", src)
		}
		if !absolute(dst, os) {
			c.errorf(dstNode, CodePath, "%s.destination %q is not an absolute path%s: give the full directory path, such as %s",
				p, dst, templateNote(dst), exampleDir(os))
			good = false
		} else {
			c.warnPlaceholder(dstNode, p+".destination", dst)
		}
		if good {
			out = append(out, File{Source: src, Destination: dst, Line: it.line})
		}
	}
	return out
}

func templateNote(s string) string {
	if placeholder(s) != "" {
		return " (unfilled template)"
	}
	return ""
}

func exampleDir(os OS) string {
	if os == OSWindows {
		return `C:\app`
	}
	return "/opt/app"
}

// absolute accepts what each OS calls fully qualified; with the OS unknown, either form.
func absolute(p string, os OS) bool {
	linux := strings.HasPrefix(p, "/")
	windows := windowsAbsRE.MatchString(p)
	switch os {
	case OSLinux:
		return linux
	case OSWindows:
		return windows
	}
	return linux || windows
}

// escapes reports whether a bundle-relative path climbs out of the bundle.
func escapes(p string) bool {
	rel := path.Clean(strings.TrimLeft(strings.ReplaceAll(p, `\`, "/"), "/"))
	return rel == ".." || strings.HasPrefix(rel, "../")
}

func (c *checker) hooks(n *node, spec *Spec) {
	if n.isNull() {
		return
	}
	if n.kind != kindMapping {
		c.errorf(n, CodeType, "hooks must be a mapping of lifecycle event names to lists of scripts, not %s", n.describe())
		return
	}
	for _, p := range n.pairs {
		event := p.key.value
		if !c.serverEvent(p.key) {
			continue
		}
		if p.value.isNull() {
			// The reference agent drops an event with no scripts; so do we.
			continue
		}
		scripts, ok := c.scripts(p.value, "hooks."+event, spec.OS)
		if !ok {
			continue
		}
		// Only timeouts written in the file count: the reference agent, its tests and AWS's own
		// samples give several scripts of one event no timeout, and those must stay valid.
		var total time.Duration
		for _, s := range scripts {
			if s.TimeoutGiven {
				total += s.Timeout
			}
		}
		if total > MaxEventTimeout {
			c.errorf(p.key, CodeEventTimeout, "the timeouts of the %s scripts add up to %d s, over the %d s one event may take: lower them",
				event, int64(total/time.Second), int64(MaxEventTimeout/time.Second))
			continue
		}
		if len(scripts) > 0 {
			spec.Hooks[event] = scripts
		}
	}
}

// serverEvent reports whether key names an event a server AppSpec may attach scripts to.
func (c *checker) serverEvent(key *node) bool {
	event := key.value
	for _, e := range ServerHookEvents {
		if e == event {
			return true
		}
	}
	for _, e := range ReservedEvents {
		if strings.EqualFold(e, event) {
			c.errorf(key, CodeReservedEvent, "%s is run by Slipway itself and cannot have scripts: move them to %s", e, reservedAlternative(e))
			return false
		}
	}
	if c.opts.AllowCustomEvents {
		return true
	}
	extra := didYouMean(event, ServerHookEvents)
	if extra == "" && event == EventAfterAllowTestTraffic {
		extra = " (it is an ECS hook)"
	}
	c.errorf(key, CodeUnknownEvent, "unknown lifecycle event '%s' (not one of the nine scriptable server events: %s)%s",
		event, strings.Join(ServerHookEvents, ", "), extra)
	return false
}

// missingFrom says whether a script location names nothing in the bundle directory dir.
func missingFrom(dir, loc string, system OS) bool {
	if system == OSWindows {
		loc = strings.ReplaceAll(loc, `\`, "/")
	}
	_, err := os.Lstat(filepath.Join(dir, loc))
	return errors.Is(err, fs.ErrNotExist)
}

func reservedAlternative(event string) string {
	switch event {
	case EventDownloadBundle:
		return "BeforeInstall"
	case EventInstall:
		return "BeforeInstall or AfterInstall"
	case EventBlockTraffic:
		return "BeforeBlockTraffic or AfterBlockTraffic"
	}
	return "BeforeAllowTraffic or AfterAllowTraffic"
}

func (c *checker) scripts(n *node, p string, os OS) ([]Script, bool) {
	items, ok := c.list(n, p, " (write each script as '- location: ...')")
	if !ok {
		return nil, false
	}
	good := true
	var out []Script
	for i, it := range items {
		ip := index(p, i)
		if it.isNull() {
			c.errorf(it, CodeMissing, "%s is empty: give it a location or remove the '-'", ip)
			good = false
			continue
		}
		f := c.mapping(it, ip)
		if f == nil {
			good = false
			continue
		}
		s, ok := c.script(f, os)
		c.rest(f, nil)
		if !ok {
			good = false
			continue
		}
		s.Line = it.line
		out = append(out, s)
	}
	return out, good
}

func (c *checker) script(f *fields, os OS) (Script, bool) {
	s := Script{Timeout: DefaultScriptTimeout}
	ok := true
	loc, locNode, good := c.optional(f, "location")
	loc = strings.TrimSpace(loc)
	switch {
	case !good:
		ok = false
	case loc == "":
		c.errorf(f.at("location"), CodeMissing, "%s is a script with no location value: add 'location: <script path in the bundle>'", f.path)
		ok = false
	case escapes(loc):
		c.errorf(locNode, CodePath, "%s.location %q leaves the bundle: scripts are relative to the bundle root", f.path, loc)
		ok = false
	default:
		c.warnPlaceholder(locNode, f.child("location"), loc)
		s.Location = loc
		if c.opts.Dir != "" && missingFrom(c.opts.Dir, loc, os) {
			c.warnf(locNode, CodeScriptMissing, "%s.location %q is not in the bundle: the event will fail with ScriptMissing unless an earlier hook creates it; add the file or correct the path",
				f.path, loc)
		}
	}
	if t, good := c.timeout(f); good {
		s.Timeout = t
		s.TimeoutGiven = !f.get("timeout").isNull()
	} else {
		ok = false
	}
	runas, runasNode, good := c.optional(f, "runas")
	runas = strings.TrimSpace(runas)
	switch {
	case !good:
		ok = false
	case runas == "":
	case os == OSWindows:
		c.warnf(runasNode, CodeRunAsWindows, "%s is ignored on Windows, where scripts run as the agent's user: remove it", f.child("runas"))
	default:
		c.warnPlaceholder(runasNode, f.child("runas"), runas)
		s.RunAs = runas
	}
	if n := f.get("sudo"); !n.isNull() {
		switch {
		case n.kind == kindScalar && n.tag == "!!bool":
			s.Sudo, _ = strconv.ParseBool(strings.ToLower(n.value))
		default:
			c.errorf(n, CodeValue, "%s must be true or false, not %s", f.child("sudo"), n.describe())
			ok = false
		}
	}
	return s, ok
}

func (c *checker) timeout(f *fields) (time.Duration, bool) {
	n := f.get("timeout")
	p := f.child("timeout")
	if n.isNull() {
		return DefaultScriptTimeout, true
	}
	text := ""
	switch {
	case n.kind == kindScalar && n.tag == "!!int":
		text = n.value
	case n.kind == kindScalar && n.tag == "!!str" && isDigits(strings.TrimSpace(n.value)):
		text = strings.TrimSpace(n.value)
		c.warnf(n, CodeTimeoutString, "%s is the string %q: write it as a number without quotes (timeout: %s)", p, n.value, text)
	default:
		c.errorf(n, CodeTimeout, "%s %s is not a positive integer%s: give the number of seconds, such as 'timeout: 300'", p, n.describe(), templateNote(n.value))
		return 0, false
	}
	secs, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err != nil && isDigits(strings.TrimPrefix(text, "+")):
		c.errorf(n, CodeTimeout, "%s %s is far too large: one event may take at most %d seconds", p, text, int64(MaxEventTimeout/time.Second))
		return 0, false
	case err != nil:
		c.errorf(n, CodeTimeout, "%s %s is not a positive integer: give the number of seconds, such as 'timeout: 300'", p, text)
		return 0, false
	case secs <= 0:
		c.errorf(n, CodeTimeout, "%s must be greater than 0 (got %d): give the number of seconds, such as 'timeout: 300'", p, secs)
		return 0, false
	case secs > int64(MaxEventTimeout/time.Second):
		c.errorf(n, CodeTimeout, "%s %d is over the %d seconds one event may take: lower it", p, secs, int64(MaxEventTimeout/time.Second))
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
