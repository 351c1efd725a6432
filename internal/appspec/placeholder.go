package appspec

import (
	"regexp"
	"strings"
)

var (
	anglePlaceholderRE  = regexp.MustCompile(`<[^<>\s][^<>]*>`)
	dollarPlaceholderRE = regexp.MustCompile(`\$\{[^}]*\}|\{\{[^}]*\}\}`)
)

// templateWords are the fill-in-the-blank values of the AWS AppSpec assistant templates. Files
// copied from those templates and never filled in are common enough to name.
var templateWords = map[string]bool{
	"source-file-location": true, "destination-file-location": true, "script-location": true,
	"user-name": true, "object-specification": true, "pattern-specification": true,
	"exception-specification": true, "owner-account-name": true, "group-name": true,
	"mode-specification": true, "acls-specification": true, "user-specification": true,
	"type-specification": true, "range-specification": true, "object-type": true,
	"timeout-in-seconds": true, "enabled-or-disabled": true,
}

// placeholder says why s looks like a value someone forgot to fill in, or "" when it does not.
func placeholder(s string) string {
	switch {
	case s != "" && strings.TrimSpace(s) == "":
		return "is only whitespace"
	case anglePlaceholderRE.MatchString(s):
		return "contains a <...> placeholder"
	case dollarPlaceholderRE.MatchString(s):
		return "contains a ${...} template variable"
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		return "is a [...] placeholder"
	case templateWords[strings.ToLower(s)]:
		return "is an unfilled template value"
	}
	if strings.HasPrefix(s, "arn:") {
		parts := strings.SplitN(s, ":", 6)
		if len(parts) == 6 && (parts[4] == "*" || strings.HasSuffix(parts[5], ":*")) {
			return "uses '*' for the account or revision"
		}
	}
	return ""
}
