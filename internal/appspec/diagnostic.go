package appspec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid matches every *Error, so callers can ask errors.Is(err, appspec.ErrInvalid).
var ErrInvalid = errors.New("invalid appspec")

// Severity says whether a Diagnostic makes the AppSpec unusable.
type Severity int

// An error makes the AppSpec invalid; a warning does not.
const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "unknown"
}

// Warning codes. They are part of the interface: tests and the corpus expectations name them.
const (
	CodeUnknownKey    = "unknown-key"
	CodePlaceholder   = "placeholder"
	CodeTimeoutString = "timeout-string"
	CodeRunAsWindows  = "runas-windows"
	CodeScriptMissing = "script-missing"
)

// Error codes.
const (
	CodeEmpty              = "empty"
	CodeTooLarge           = "too-large"
	CodeEncoding           = "encoding"
	CodeSyntax             = "syntax"
	CodeMultipleDocuments  = "multiple-documents"
	CodeDuplicateKey       = "duplicate-key"
	CodeAlias              = "alias"
	CodeKeyCase            = "key-case"
	CodeType               = "type"
	CodeMissing            = "missing"
	CodeVersion            = "version"
	CodeOS                 = "os"
	CodeFileExistsBehavior = "file-exists-behavior"
	CodePath               = "path"
	CodeMode               = "mode"
	CodeACL                = "acl"
	CodeSELinux            = "selinux"
	CodeObjectType         = "object-type"
	CodeDuplicate          = "duplicate"
	CodeUnknownEvent       = "unknown-event"
	CodeReservedEvent      = "reserved-event"
	CodeTimeout            = "timeout"
	CodeEventTimeout       = "event-timeout"
	CodePlatform           = "platform"
	CodeResource           = "resource"
	CodeValue              = "value"
	CodeWindows            = "windows-permissions"
)

// Diagnostic is one finding about an AppSpec file.
type Diagnostic struct {
	File string
	// Line and Column are 1-based; zero when the finding is about the file as a whole.
	Line, Column int
	Severity     Severity
	Code         string
	Message      string
}

// String formats the diagnostic as compilers do, so editors and CI logs can link to the line.
func (d Diagnostic) String() string {
	if d.Line <= 0 {
		return fmt.Sprintf("%s: %s: %s", d.File, d.Severity, d.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", d.File, d.Line, d.Severity, d.Message)
}

// Error is an invalid AppSpec: the error diagnostics in line order.
type Error struct {
	Diagnostics []Diagnostic
}

func (e *Error) Error() string {
	if len(e.Diagnostics) == 0 {
		return ErrInvalid.Error()
	}
	msg := e.Diagnostics[0].String()
	if n := len(e.Diagnostics) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalid) true for any *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// AsError returns an *Error holding the error diagnostics, or nil when there are none.
func AsError(diags []Diagnostic) error {
	var errs []Diagnostic
	for _, d := range diags {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Diagnostics: errs}
}

// HasErrors reports whether any diagnostic is an error.
func HasErrors(diags []Diagnostic) bool {
	for _, d := range diags {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

func sortDiagnostics(diags []Diagnostic) {
	sort.SliceStable(diags, func(i, j int) bool {
		if diags[i].Line != diags[j].Line {
			return diags[i].Line < diags[j].Line
		}
		return diags[i].Column < diags[j].Column
	})
}

// report collects diagnostics for one file.
type report struct {
	file  string
	diags []Diagnostic
}

func (r *report) add(sev Severity, line, col int, code, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{
		File: r.file, Line: line, Column: col, Severity: sev, Code: code,
		Message: strings.TrimSpace(fmt.Sprintf(format, args...)),
	})
}

func (r *report) errorf(n *node, code, format string, args ...any) {
	line, col := n.pos()
	r.add(SeverityError, line, col, code, format, args...)
}

func (r *report) warnf(n *node, code, format string, args ...any) {
	line, col := n.pos()
	r.add(SeverityWarning, line, col, code, format, args...)
}
