package appspec

import (
	"strconv"
	"strings"
)

// checker is the validation stage: it reads raw nodes for one platform and reports what is wrong.
type checker struct {
	report
	opts Options
}

// fields reads one mapping, remembering which keys were asked for so the others can be reported.
type fields struct {
	c    *checker
	n    *node
	path string
	used map[string]bool
}

// mapping returns a field reader for n, or nil (after reporting) when n is not a mapping.
// A null n is an empty mapping.
func (c *checker) mapping(n *node, path string) *fields {
	if n.isNull() {
		return &fields{c: c, path: path, used: map[string]bool{}}
	}
	if n.kind != kindMapping {
		c.errorf(n, CodeType, "%s must be a mapping of keys to values, not %s", path, n.describe())
		return nil
	}
	return &fields{c: c, n: n, path: path, used: map[string]bool{}}
}

// get returns the value of key. A key that differs only in case is an error, because CodeDeploy
// would silently ignore it while the author clearly meant key; its value is still checked so
// that one slip does not hide the rest.
func (f *fields) get(key string) *node {
	f.used[key] = true
	if k := f.n.keyNode(key); k != nil || f.n == nil {
		return f.n.get(key)
	}
	for _, p := range f.n.pairs {
		if !strings.EqualFold(p.key.value, key) {
			continue
		}
		if f.used[p.key.value] {
			return p.value // reported on the first get
		}
		f.used[p.key.value] = true
		if f.path == "" {
			f.c.errorf(p.key, CodeKeyCase, "top-level key '%s' must be spelled '%s'", p.key.value, key)
		} else {
			f.c.errorf(p.key, CodeKeyCase, "%s: key '%s' must be spelled '%s'", f.path, p.key.value, key)
		}
		return p.value
	}
	return nil
}

// at is the best node to report a problem with key at: the key itself, else the mapping.
func (f *fields) at(key string) *node {
	if k := f.n.keyNode(key); k != nil {
		return k
	}
	if f.n != nil {
		for _, p := range f.n.pairs {
			if strings.EqualFold(p.key.value, key) {
				return p.key
			}
		}
	}
	return f.n
}

func (f *fields) child(key string) string {
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

// rest reports the keys nobody asked for: they are ignored, with a warning. hint may explain a
// key that belongs to another platform.
func (c *checker) rest(f *fields, hint func(key string) string) {
	if f == nil || f.n == nil {
		return
	}
	var known []string
	for k := range f.used {
		known = append(known, k)
	}
	for _, p := range f.n.pairs {
		key := p.key.value
		if f.used[key] {
			continue
		}
		if hint != nil {
			if h := hint(key); h != "" {
				c.warnf(p.key, CodeUnknownKey, "%s %s", f.child(key), h)
				continue
			}
		}
		c.warnf(p.key, CodeUnknownKey, "%s is not an AppSpec key (ignored)%s: remove it or correct its name", f.child(key), didYouMean(key, known))
	}
}

// str reads a scalar as text, as the reference agent does with to_s. ok is false (after
// reporting) when the value is a list or mapping; a null value gives "", true.
func (c *checker) str(n *node, path string) (string, bool) {
	if n.isNull() {
		return "", true
	}
	if n.kind != kindScalar {
		c.errorf(n, CodeType, "%s must be a single value, not %s", path, n.describe())
		return "", false
	}
	return n.value, true
}

// required reads a scalar that must be present and not empty.
func (c *checker) required(f *fields, key string) (string, *node, bool) {
	n := f.get(key)
	if n.isNull() {
		c.errorf(f.at(key), CodeMissing, "%s is missing: add '%s: <value>'", f.child(key), key)
		return "", n, false
	}
	s, ok := c.str(n, f.child(key))
	if !ok {
		return "", n, false
	}
	if s == "" {
		c.errorf(n, CodeMissing, "%s is empty: give it a value", f.child(key))
		return "", n, false
	}
	return s, n, true
}

// optional reads a scalar that may be absent.
func (c *checker) optional(f *fields, key string) (string, *node, bool) {
	n := f.get(key)
	s, ok := c.str(n, f.child(key))
	return s, n, ok
}

// warnPlaceholder warns when a value looks unfilled.
func (c *checker) warnPlaceholder(n *node, path, s string) {
	if why := placeholder(s); why != "" {
		c.warnf(n, CodePlaceholder, "%s %q %s: replace it with the real value before deploying", path, s, why)
	}
}

// list returns the items of a sequence (a null value is an empty list).
func (c *checker) list(n *node, path, example string) ([]*node, bool) {
	if n.isNull() {
		return nil, true
	}
	if n.kind != kindSequence {
		c.errorf(n, CodeType, "%s must be a list, not %s%s", path, n.describe(), example)
		return nil, false
	}
	return n.items, true
}

// strList reads a list of scalars.
func (c *checker) strList(n *node, path, example string) ([]string, []*node, bool) {
	items, ok := c.list(n, path, example)
	if !ok {
		return nil, nil, false
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := c.str(it, index(path, i))
		if !ok {
			return nil, nil, false
		}
		if it.isNull() || s == "" {
			c.errorf(it, CodeMissing, "%s is empty: remove the '-' or give it a value", index(path, i))
			return nil, nil, false
		}
		out = append(out, s)
	}
	return out, items, true
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// version accepts 0.0 as a YAML number or the string "0.0", as DESIGN.md §3 says.
func (c *checker) version(f *fields) bool {
	n := f.get("version")
	if n.isNull() {
		c.errorf(f.at("version"), CodeVersion, "version is missing: add 'version: 0.0' (the only AppSpec version)")
		return false
	}
	if n.kind == kindScalar {
		switch n.tag {
		case "!!int", "!!float":
			if v, err := strconv.ParseFloat(n.value, 64); err == nil && v == 0 {
				return true
			}
		case "!!str":
			if strings.TrimSpace(n.value) == "0.0" {
				return true
			}
		}
	}
	c.errorf(n, CodeVersion, "version must be 0.0 (got %s): write 'version: 0.0'", n.describe())
	return false
}
