package githubapp

import (
	"fmt"
	"regexp"
	"strings"
)

// A pull-request comment command: the first non-empty line of the comment, e.g.
//
//	/deploy [group] [--config NAME] [--commit SHA]
//	/rollback [group]
//	/stop [group]
//	/status [group]
//
// group is a group name, or application/group when names repeat across applications; it may be
// left out when one group is linked to the repository.
type command struct {
	Name   string
	Group  string
	Config string
	// Commit is the head commit the commenter reviewed (7 to 40 hex digits): /deploy refuses
	// when the pull request's head is another, as after a push that followed the comment.
	Commit string
	// Line is the command as written, quoted in the reply.
	Line string
}

const (
	cmdDeploy   = "deploy"
	cmdRollback = "rollback"
	cmdStop     = "stop"
	cmdStatus   = "status"
)

// commitPrefixRE is what --commit takes: an abbreviated or full commit id.
var commitPrefixRE = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// maxCommandLine bounds the line read as a command.
const maxCommandLine = 200

// parseCommand reads a comment. ok is false when the comment is not addressed to Slipway (its
// first line is not one of the commands), so it is ignored without a reaction; err is a command
// written wrongly, with the usage.
func parseCommand(body string) (cmd command, ok bool, err error) {
	line := ""
	for l := range strings.SplitSeq(body, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		return command{}, false, nil
	}
	cmd.Name = strings.ToLower(strings.TrimPrefix(fields[0], "/"))
	switch cmd.Name {
	case cmdDeploy, cmdRollback, cmdStop, cmdStatus:
	default:
		return command{}, false, nil
	}
	if len(line) > maxCommandLine {
		line = line[:maxCommandLine]
	}
	cmd.Line = line
	args := fields[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" && cmd.Name == cmdDeploy:
			if i+1 >= len(args) {
				return cmd, true, fmt.Errorf("--config needs a deployment config name; %s", usage(cmd.Name))
			}
			i++
			cmd.Config = args[i]
		case strings.HasPrefix(a, "--config=") && cmd.Name == cmdDeploy:
			cmd.Config = strings.TrimPrefix(a, "--config=")
		case (a == "--commit" || strings.HasPrefix(a, "--commit=")) && cmd.Name == cmdDeploy:
			v, given := strings.CutPrefix(a, "--commit=")
			if !given {
				if i+1 >= len(args) {
					return cmd, true, fmt.Errorf("--commit needs the head commit's id; %s", usage(cmd.Name))
				}
				i++
				v = args[i]
			}
			if !commitPrefixRE.MatchString(v) {
				return cmd, true, fmt.Errorf("--commit %q: give 7 to 40 hex digits of the pull request's head commit; %s", v, usage(cmd.Name))
			}
			cmd.Commit = strings.ToLower(v)
		case strings.HasPrefix(a, "-"):
			return cmd, true, fmt.Errorf("unknown option %s; %s", a, usage(cmd.Name))
		case cmd.Group == "":
			cmd.Group = a
		default:
			return cmd, true, fmt.Errorf("unexpected %q; %s", a, usage(cmd.Name))
		}
	}
	return cmd, true, nil
}

func usage(name string) string {
	if name == cmdDeploy {
		return "usage: /deploy [group] [--config NAME] [--commit SHA]"
	}
	return "usage: /" + name + " [group]"
}
