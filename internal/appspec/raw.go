package appspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many values a document may expand to once aliases are followed. A real
// AppSpec has a few hundred; the bound turns a "billion laughs" file into an error, not a hang.
const maxNodes = 100_000

type nodeKind int

const (
	kindScalar nodeKind = iota + 1
	kindMapping
	kindSequence
)

// node is the raw stage: what the YAML says, with positions, aliases already resolved.
type node struct {
	kind nodeKind
	// tag is the resolved YAML tag of a scalar: "!!str", "!!int", "!!float", "!!bool", "!!null"...
	tag       string
	value     string
	line, col int
	// pairs holds a mapping's keys and values in file order.
	pairs []pair
	items []*node
}

type pair struct {
	key   *node
	value *node
}

// pos tolerates a nil node so callers can report "missing" at the parent's position.
func (n *node) pos() (int, int) {
	if n == nil {
		return 0, 0
	}
	return n.line, n.col
}

func (n *node) isNull() bool {
	return n == nil || (n.kind == kindScalar && n.tag == "!!null")
}

// describe names a value's YAML type for messages ("a list", "integer 1").
func (n *node) describe() string {
	switch {
	case n == nil || n.isNull():
		return "nothing"
	case n.kind == kindMapping:
		return "a mapping"
	case n.kind == kindSequence:
		return "a list"
	}
	switch n.tag {
	case "!!int":
		return "integer " + n.value
	case "!!float":
		return "number " + n.value
	case "!!bool":
		return "boolean " + n.value
	}
	return strconv.Quote(n.value)
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMapping {
		return nil
	}
	for _, p := range n.pairs {
		if p.key.value == key {
			return p.value
		}
	}
	return nil
}

func (n *node) keyNode(key string) *node {
	if n == nil || n.kind != kindMapping {
		return nil
	}
	for _, p := range n.pairs {
		if p.key.value == key {
			return p.key
		}
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// MaxSize is the largest AppSpec file accepted. Real ones are a few kilobytes; the bound keeps an
// agent (which reads the appspec of an untrusted bundle, as root) from spending memory and minutes
// on a file of gigabytes.
const MaxSize = 1 << 20

// decode is the raw stage. It returns nil with error diagnostics when the bytes are not one
// well-formed YAML document.
func decode(r *report, data []byte) *node {
	if len(data) > MaxSize {
		r.add(SeverityError, 0, 0, CodeTooLarge, "the file is larger than %d MiB, which no AppSpec needs: check that it is the AppSpec and not another file saved under its name", MaxSize>>20)
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		r.add(SeverityError, 1, 0, CodeEmpty, "the AppSpec file is empty: it must define at minimum 'version' and 'os' (or 'Resources' for ECS and Lambda)")
		return nil
	}
	if !checkEncoding(r, data) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(blankTabLines(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.add(SeverityError, 1, 0, CodeEmpty, "the AppSpec file has only comments: it must define at minimum 'version' and 'os' (or 'Resources' for ECS and Lambda)")
			return nil
		}
		syntaxError(r, data, err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(r, data, err)
		return nil
	default:
		line := next.Line
		if line <= 0 {
			line = 1
		}
		r.add(SeverityError, line, 0, CodeMultipleDocuments, "a second YAML document starts here: an AppSpec is a single document, so remove this '---' and what follows or merge it into the first")
		return nil
	}
	if len(doc.Content) != 1 {
		r.add(SeverityError, 1, 0, CodeEmpty, "the AppSpec file has no content: it must define at minimum 'version' and 'os'")
		return nil
	}
	c := converter{r: r, active: map[*yaml.Node]bool{}}
	root := c.convert(doc.Content[0])
	if c.failed {
		return nil
	}
	return root
}

// blankTabLines empties lines holding only spaces and tabs: yaml.v3 rejects a tab there while
// other YAML readers (and every human) see a blank line. Line numbers do not move.
func blankTabLines(data []byte) []byte {
	lines := bytes.Split(data, []byte("\n"))
	changed := false
	for i, l := range lines {
		if bytes.IndexByte(l, '\t') >= 0 && len(bytes.Trim(l, " \t\r")) == 0 {
			lines[i] = bytes.TrimRight(l, " \t")
			changed = true
		}
	}
	if !changed {
		return data
	}
	return bytes.Join(lines, []byte("\n"))
}

// checkEncoding accepts UTF-8 (with or without a byte order mark) and nothing else, because a
// UTF-16 file saved by a Windows editor would otherwise fail with a baffling syntax error.
func checkEncoding(r *report, data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.IndexByte(data, 0) >= 0 {
		r.add(SeverityError, 1, 0, CodeEncoding, "the file is not UTF-8 (it looks like UTF-16): save it as UTF-8")
		return false
	}
	if utf8.Valid(data) {
		return true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		c, size := utf8.DecodeRune(data[i:])
		if c == utf8.RuneError && size <= 1 {
			r.add(SeverityError, line, col, CodeEncoding, "byte 0x%02X at column %d is not valid UTF-8: save the file as UTF-8", data[i], col)
			return false
		}
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return true
}

func syntaxError(r *report, data []byte, err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		// yaml.v3 leaves the line out of messages about the first line.
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := strings.Split(string(data), "\n")
	if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
		// yaml.v3 may name the line before the tab; look around it for the culprit.
		for l := max(line-1, 1); l <= min(line+2, len(lines)); l++ {
			text := strings.TrimRight(lines[l-1], "\r")
			indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
			if strings.Contains(indent, "\t") && strings.TrimSpace(text) != "" {
				r.add(SeverityError, l, strings.Index(indent, "\t")+1, CodeSyntax, "a tab is used for indentation: YAML indentation must be spaces")
				return
			}
		}
	}
	col := 0
	if line >= 1 && line <= len(lines) {
		text := strings.TrimRight(lines[line-1], "\r")
		if trimmed := strings.TrimLeft(text, " \t"); trimmed != "" {
			col = len(text) - len(trimmed) + 1
			if strings.HasPrefix(trimmed, "%{") || strings.HasPrefix(trimmed, "{{") {
				r.add(SeverityError, line, col, CodeSyntax, "YAML syntax error: %s; this looks like a template directive (%.12s...): render the template before validating", msg, trimmed)
				return
			}
		}
	}
	r.add(SeverityError, line, col, CodeSyntax, "YAML syntax error: %s", msg)
}

// converter turns yaml.v3 nodes into raw nodes, following aliases with a budget.
type converter struct {
	r      *report
	count  int
	active map[*yaml.Node]bool
	failed bool
}

func (c *converter) fail(y *yaml.Node, code, format string, args ...any) {
	c.r.add(SeverityError, y.Line, y.Column, code, format, args...)
	c.failed = true
}

func (c *converter) convert(y *yaml.Node) *node {
	if c.failed {
		return nil
	}
	c.count++
	if c.count > maxNodes {
		c.fail(y, CodeAlias, "the document expands to more than %d values through YAML aliases: write the values out instead of nesting aliases", maxNodes)
		return nil
	}
	if y.Kind == yaml.AliasNode {
		if y.Alias == nil {
			c.fail(y, CodeAlias, "alias *%s has no anchor", y.Value)
			return nil
		}
		if c.active[y.Alias] {
			c.fail(y, CodeAlias, "alias *%s refers to a value that contains itself: remove the alias", y.Value)
			return nil
		}
		c.active[y.Alias] = true
		n := c.convert(y.Alias)
		delete(c.active, y.Alias)
		return n
	}
	n := &node{line: y.Line, col: y.Column}
	switch y.Kind {
	case yaml.ScalarNode:
		n.kind, n.tag, n.value = kindScalar, y.ShortTag(), y.Value
	case yaml.SequenceNode:
		n.kind = kindSequence
		c.active[y] = true
		for _, item := range y.Content {
			n.items = append(n.items, c.convert(item))
		}
		delete(c.active, y)
	case yaml.MappingNode:
		n.kind = kindMapping
		c.active[y] = true
		c.mapping(y, n)
		delete(c.active, y)
	default:
		c.fail(y, CodeSyntax, "unexpected YAML node")
		return nil
	}
	if c.failed {
		return nil
	}
	return n
}

func (c *converter) mapping(y *yaml.Node, n *node) {
	seen := map[string]int{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			if y.Style&yaml.FlowStyle != 0 && k.Kind == yaml.MappingNode && k.Style&yaml.FlowStyle != 0 {
				// `{{ name }}` reads as a mapping whose key is a mapping: a template placeholder.
				c.fail(k, CodeSyntax, "{{ ... }} is not YAML: this looks like an unrendered template placeholder; render the template before validating, or quote the value")
				return
			}
			c.fail(k, CodeType, "a mapping key must be a plain name, not a list or mapping")
			return
		}
		if k.ShortTag() == "!!merge" {
			c.fail(k, CodeAlias, "merge keys (<<) are not supported in an AppSpec: write the keys out")
			return
		}
		if first, dup := seen[k.Value]; dup {
			c.fail(k, CodeDuplicateKey, "key %q is given twice (first at line %d): keep one", k.Value, first)
			return
		}
		seen[k.Value] = k.Line
		key := &node{kind: kindScalar, tag: "!!str", value: k.Value, line: k.Line, col: k.Column}
		n.pairs = append(n.pairs, pair{key: key, value: c.convert(v)})
		if c.failed {
			return
		}
	}
}

// String is for test failure messages.
func (n *node) String() string {
	if n == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s@%d:%d", n.describe(), n.line, n.col)
}
