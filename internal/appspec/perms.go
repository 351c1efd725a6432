package appspec

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func (c *checker) permissions(n *node, os OS) []Permission {
	items, ok := c.list(n, "permissions", " (write each entry as '- object: ...')")
	if !ok || len(items) == 0 {
		return nil
	}
	if os == OSWindows {
		c.errorf(n, CodeWindows, "permissions are supported only for os: linux: remove the permissions section or set ACLs from a hook script")
		return nil
	}
	var out []Permission
	for i, it := range items {
		p := index("permissions", i)
		if it.isNull() {
			c.errorf(it, CodeMissing, "%s is empty: give it an object or remove the '-'", p)
			continue
		}
		f := c.mapping(it, p)
		if f == nil {
			continue
		}
		perm, ok := c.permission(f)
		c.rest(f, nil)
		if !ok {
			continue
		}
		perm.Line = it.line
		if prev := overlapping(out, perm); prev != nil {
			c.errorf(it, CodeDuplicate, "%s sets permissions on %s a second time (first at line %d) for the same pattern and types: merge the two entries", p, perm.Object, prev.Line)
			continue
		}
		out = append(out, perm)
	}
	return out
}

// overlapping finds an earlier entry that certainly selects the same paths as p. Entries for one
// object with different types or patterns are a common, legitimate split (directories 755, files
// 644); a path they both select is caught when the permissions are applied.
func overlapping(prev []Permission, p Permission) *Permission {
	for i := range prev {
		q := &prev[i]
		if q.Object != p.Object || q.Pattern != p.Pattern || !slices.Equal(q.Except, p.Except) {
			continue
		}
		if q.AppliesTo(ObjectFile) && p.AppliesTo(ObjectFile) || q.AppliesTo(ObjectDirectory) && p.AppliesTo(ObjectDirectory) {
			return q
		}
	}
	return nil
}

func (c *checker) permission(f *fields) (Permission, bool) {
	var p Permission
	ok := true
	obj, objNode, good := c.optional(f, "object")
	obj = strings.TrimSpace(obj)
	switch {
	case !good:
		ok = false
	case obj == "":
		c.errorf(f.at("object"), CodeMissing, "%s has no object value: add 'object: <absolute path>'", f.path)
		ok = false
	case !strings.HasPrefix(obj, "/"):
		c.errorf(objNode, CodePath, "%s.object %q is not an absolute path%s: permissions apply to installed paths, so give a full path such as /opt/app",
			f.path, obj, templateNote(obj))
		ok = false
	default:
		c.warnPlaceholder(objNode, f.child("object"), obj)
		p.Object = obj
	}
	p.Pattern = "**"
	if s, n, good := c.optional(f, "pattern"); !good {
		ok = false
	} else if !n.isNull() && s != "" {
		c.warnPlaceholder(n, f.child("pattern"), s)
		p.Pattern = s
	}
	if n := f.get("except"); !n.isNull() {
		list, _, good := c.strList(n, f.child("except"), " (write it as a list: except: [\"*.tmp\"])")
		p.Except, ok = list, ok && good
	}
	if n := f.get("type"); !n.isNull() {
		types, good := c.objectTypes(n, f.child("type"))
		p.Types, ok = types, ok && good
	}
	for _, key := range []string{"owner", "group"} {
		s, n, good := c.optional(f, key)
		if !good {
			ok = false
			continue
		}
		s = strings.TrimSpace(s)
		c.warnPlaceholder(n, f.child(key), s)
		if key == "owner" {
			p.Owner = s
		} else {
			p.Group = s
		}
	}
	if n := f.get("mode"); !n.isNull() {
		m, err := modeFromNode(n)
		if err != nil {
			c.errorf(n, CodeMode, "%s %s%s: give 1 to 4 octal digits, such as mode: 644", f.child("mode"), err, templateNote(n.value))
			ok = false
		} else {
			p.Mode = m
		}
	}
	if n := f.get("acls"); !n.isNull() {
		list, items, good := c.strList(n, f.child("acls"), " (write it as a list: acls: [\"u:bob:rwx\"])")
		ok = ok && good
		for i, s := range list {
			ace, err := ParseACE(s)
			if err != nil {
				c.errorf(items[i], CodeACL, "%s: %s%s: write entries as [d:][u|g|m|o]:[name]:perms, such as u:bob:rwx", index(f.child("acls"), i), err, templateNote(s))
				ok = false
				continue
			}
			p.ACLs = append(p.ACLs, ace)
		}
	}
	if n := f.get("context"); !n.isNull() {
		ctx, good := c.context(n, f.child("context"))
		p.Context, ok = ctx, ok && good
	}
	return p, ok
}

func (c *checker) objectTypes(n *node, path string) ([]ObjectType, bool) {
	list, items, ok := c.strList(n, path, " (write it as a list: type: [file] or type: [file, directory])")
	if !ok {
		return nil, false
	}
	var out []ObjectType
	for i, s := range list {
		var t ObjectType
		switch s {
		case "file":
			t = ObjectFile
		case "directory":
			t = ObjectDirectory
		default:
			c.errorf(items[i], CodeObjectType, "%s %q is not file or directory%s%s", index(path, i), s, templateNote(s), didYouMean(s, []string{"file", "directory"}))
			ok = false
			continue
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, ok
}

// modeFromNode reads a mode as the digits written: an unquoted 644 is YAML's decimal 644 but
// everyone means octal 644, and an unquoted 0644 is read the same way rather than as octal 420.
func modeFromNode(n *node) (*Mode, error) {
	if n.kind != kindScalar {
		return nil, fmt.Errorf("must be a single value, not %s", n.describe())
	}
	switch n.tag {
	case "!!int", "!!str":
		return ParseMode(strings.TrimSpace(n.value))
	}
	return nil, fmt.Errorf("%s is not 1-4 octal digits", n.describe())
}

// ParseMode reads a file mode of 1 to 4 octal digits, the fourth being setuid/setgid/sticky.
func ParseMode(s string) (*Mode, error) {
	if len(s) < 1 || len(s) > 4 {
		return nil, fmt.Errorf("%q has %d characters, not 1 to 4", s, len(s))
	}
	for _, r := range s {
		if r < '0' || r > '7' {
			return nil, fmt.Errorf("%q contains the invalid character %q (only 0-7)", s, r)
		}
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return nil, fmt.Errorf("%q is not octal: %w", s, err)
	}
	bits := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		bits |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		bits |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		bits |= fs.ModeSticky
	}
	text := s
	for len(text) < 3 {
		text = "0" + text
	}
	return &Mode{Bits: bits, Text: text}, nil
}

// ParseACE reads one ACL entry in the reference agent's grammar:
// an optional "d" or "default" tag, an optional kind (u, user, g, group, m, mask, o, other), a
// name (possibly empty), then perms: one octal digit or letters from "rwx-", colon-separated.
func ParseACE(s string) (ACE, error) {
	invalid := fmt.Errorf("invalid acl entry (%s)", s)
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return ACE{}, invalid
	}
	var a ACE
	rest := parts
	if len(parts) == 4 {
		if !isDefault(parts[0]) {
			return ACE{}, invalid
		}
		a.Default, rest = true, parts[1:]
	}
	if len(rest) == 3 {
		switch tag := rest[0]; {
		case isDefault(tag):
			if a.Default {
				return ACE{}, invalid
			}
			a.Default = true
		case tag == "m" || tag == "mask":
			a.Kind = "mask"
		case tag == "o" || tag == "other":
			a.Kind = "other"
		case tag == "g" || tag == "group":
			a.Kind = "group"
		case tag == "u" || tag == "user":
			a.Kind = "user"
		default:
			return ACE{}, invalid
		}
		rest = rest[1:]
	}
	switch name := rest[0]; name {
	case "m", "mask":
		if a.Kind == "" {
			a.Kind = "mask"
		} else {
			a.Name = "mask"
		}
	case "o", "other":
		if a.Kind == "" {
			a.Kind = "other"
		} else {
			a.Name = "other"
		}
	default:
		if a.Kind == "" {
			a.Kind = "user"
		}
		a.Name = name
	}
	if (a.Kind == "mask" || a.Kind == "other") && a.Name != "" {
		return ACE{}, invalid
	}
	if !a.Default && a.Kind != "mask" && a.Name == "" {
		return ACE{}, fmt.Errorf("use mode to set the base acl entry (%s)", s)
	}
	perms, err := acePerms(rest[1])
	if err != nil {
		return ACE{}, fmt.Errorf("acl entry %s: %w", s, err)
	}
	a.Perms = perms
	return a, nil
}

func isDefault(s string) bool { return s == "d" || s == "default" }

func acePerms(s string) (string, error) {
	var r, w, x bool
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		d := s[0] - '0'
		r, w, x = d&4 != 0, d&2 != 0, d&1 != 0
	} else {
		for _, ch := range s {
			switch ch {
			case 'r':
				r = true
			case 'w':
				w = true
			case 'x':
				x = true
			case '-':
			default:
				return "", fmt.Errorf("contains an invalid character (%c)", ch)
			}
		}
	}
	out := []byte("---")
	if r {
		out[0] = 'r'
	}
	if w {
		out[1] = 'w'
	}
	if x {
		out[2] = 'x'
	}
	return string(out), nil
}

func (c *checker) context(n *node, path string) (*SELinuxContext, bool) {
	f := c.mapping(n, path)
	if f == nil {
		return nil, false
	}
	defer c.rest(f, nil)
	ctx := &SELinuxContext{}
	ok := true
	user, userNode, good1 := c.optional(f, "user")
	name, nameNode, good2 := c.optional(f, "name")
	switch {
	case !good1 || !good2:
		ok = false
	case user != "" && name != "":
		c.errorf(nameNode, CodeSELinux, "%s gives both user and name: they mean the same SELinux user, keep one", path)
		ok = false
	case user != "":
		c.warnPlaceholder(userNode, f.child("user"), user)
		ctx.User = user
	default:
		c.warnPlaceholder(nameNode, f.child("name"), name)
		ctx.User = name
	}
	typ, typNode, good := c.optional(f, "type")
	switch {
	case !good:
		ok = false
	case strings.TrimSpace(typ) == "":
		c.errorf(f.at("type"), CodeSELinux, "%s has no type: add the SELinux type, such as 'type: httpd_sys_content_t'", path)
		ok = false
	default:
		c.warnPlaceholder(typNode, f.child("type"), typ)
		ctx.Type = typ
	}
	rn := f.get("range")
	if rn.isNull() {
		return ctx, ok
	}
	text, good := c.rangeText(rn, f.child("range"))
	if !good {
		return ctx, false
	}
	r, err := ParseSELinuxRange(text)
	if err != nil {
		c.errorf(rn, CodeSELinux, "%s %q is not an SELinux range (%s)%s: write it as s0, s0-s3 or s0:c0.c7,c13", f.child("range"), text, err, templateNote(text))
		return ctx, false
	}
	ctx.Range = r
	return ctx, ok
}

// rangeText accepts a range string or the mapping form {low, high, categories}.
func (c *checker) rangeText(n *node, path string) (string, bool) {
	if n.kind != kindMapping {
		return c.str(n, path)
	}
	f := c.mapping(n, path)
	defer c.rest(f, nil)
	low, _, ok := c.required(f, "low")
	if !ok {
		return "", false
	}
	text := strings.TrimSpace(low)
	high, _, ok := c.optional(f, "high")
	if !ok {
		return "", false
	}
	if high = strings.TrimSpace(high); high != "" {
		text += "-" + high
	}
	cats, _, ok := c.optional(f, "categories")
	if !ok {
		return "", false
	}
	if cats = strings.TrimSpace(cats); cats != "" {
		text += ":" + cats
	}
	return text, true
}

// maxCategory is the highest SELinux category number.
const maxCategory = 1023

// ParseSELinuxRange reads an MLS/MCS range: s<low>[-s<high>][:c<n>[.c<m>](,c<n>[.c<m>])*].
func ParseSELinuxRange(s string) (*SELinuxRange, error) {
	levels, cats, hasCats := strings.Cut(s, ":")
	if hasCats && (levels == "" || cats == "") {
		return nil, fmt.Errorf("empty part around ':'")
	}
	lowText, highText, hasHigh := strings.Cut(levels, "-")
	if hasHigh && (lowText == "" || highText == "") {
		return nil, fmt.Errorf("empty part around '-'")
	}
	low, err := selinuxNumber(lowText, 's', -1)
	if err != nil {
		return nil, err
	}
	high := low
	if hasHigh {
		if high, err = selinuxNumber(highText, 's', -1); err != nil {
			return nil, err
		}
		if high < low {
			return nil, fmt.Errorf("high sensitivity s%d is below low s%d", high, low)
		}
	}
	r := &SELinuxRange{Low: low, High: high, Text: s}
	if !hasCats {
		return r, nil
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(cats, ",") {
		from, to := part, part
		if a, b, ok := strings.Cut(part, "."); ok {
			if a == "" || b == "" {
				return nil, fmt.Errorf("category range %q has an empty end", part)
			}
			from, to = a, b
		}
		lo, err := selinuxNumber(from, 'c', maxCategory)
		if err != nil {
			return nil, err
		}
		hi, err := selinuxNumber(to, 'c', maxCategory)
		if err != nil {
			return nil, err
		}
		if hi < lo {
			return nil, fmt.Errorf("category range %q is reversed", part)
		}
		for v := lo; v <= hi; v++ {
			if seen[v] {
				return nil, fmt.Errorf("category c%d is given twice", v)
			}
			seen[v] = true
			r.Categories = append(r.Categories, v)
		}
	}
	sort.Ints(r.Categories)
	return r, nil
}

// selinuxNumber reads "s3" or "c7"; limit < 0 means unbounded (six characters at most).
func selinuxNumber(s string, prefix byte, limit int) (int, error) {
	what := map[byte]string{'s': "sensitivity", 'c': "category"}[prefix]
	if len(s) < 2 || s[0] != prefix || !isDigits(s[1:]) || len(s) > 6 {
		return 0, fmt.Errorf("invalid %s %q", what, s)
	}
	v, err := strconv.Atoi(s[1:])
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q", what, s)
	}
	if limit >= 0 && v > limit {
		return 0, fmt.Errorf("%s %q is above %c%d", what, s, prefix, limit)
	}
	return v, nil
}
