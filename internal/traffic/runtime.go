package traffic

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// maxResponse bounds what one batch may answer; `show stat` of a large configuration is the
	// biggest answer we ask for.
	maxResponse = 16 << 20
	// maxLine keeps a batch well under HAProxy's command line buffer (tune.bufsize, 16 KiB by
	// default); longer batches go over several connections.
	maxLine = 8 << 10
)

// runtimeAPI speaks HAProxy's runtime API in its non-interactive mode: one connection per line,
// commands on the line separated by ';', HAProxy answers each command with its output and an
// empty line, then closes.
type runtimeAPI struct {
	network, address string
	timeout          time.Duration
}

// run sends cmds and returns one answer per command (its lines, without the closing empty line).
// Each connection gets the timeout, and ctx ends it early.
func (r runtimeAPI) run(ctx context.Context, cmds ...string) ([][]string, error) {
	var out [][]string
	for _, line := range batch(cmds) {
		answers, err := r.line(ctx, line)
		if err != nil {
			return nil, err
		}
		out = append(out, answers...)
	}
	return out, nil
}

func batch(cmds []string) [][]string {
	var lines [][]string
	size := 0
	for _, c := range cmds {
		if len(lines) == 0 || size+len(c)+2 > maxLine {
			lines = append(lines, nil)
			size = 0
		}
		lines[len(lines)-1] = append(lines[len(lines)-1], c)
		size += len(c) + 2
	}
	return lines
}

func (r runtimeAPI) line(ctx context.Context, cmds []string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, r.network, r.address)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime API %s: %w", r.address, err)
	}
	defer func() { _ = conn.Close() }() // the answer is read in full or the call failed already
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("haproxy runtime API %s: %w", r.address, err)
	}
	// A cancelled ctx unblocks the read at once instead of at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	body, err := exchange(conn, strings.Join(cmds, "; ")+"\n")
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The connection's deadline is ctx's, which may not have fired yet.
			err = fmt.Errorf("no answer before the deadline: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("haproxy runtime API %s: %s: %w", r.address, summary(cmds), err)
	}
	answers := splitAnswers(body)
	if len(answers) != len(cmds) {
		return nil, fmt.Errorf("haproxy runtime API %s: %d answers to %d commands (%s): %q",
			r.address, len(answers), len(cmds), summary(cmds), truncate(body, 200))
	}
	return answers, nil
}

func exchange(conn net.Conn, line string) (string, error) {
	if _, err := io.WriteString(conn, line); err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(conn, maxResponse+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxResponse {
		return "", fmt.Errorf("answer is larger than %d bytes", maxResponse)
	}
	return string(body), nil
}

// splitAnswers cuts HAProxy's output into one answer per command: each ends with an empty line,
// and a command that succeeds quietly answers with the empty line alone.
func splitAnswers(body string) [][]string {
	var answers [][]string
	var cur []string
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			answers = append(answers, cur)
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	if cur != nil {
		answers = append(answers, cur)
	}
	return answers
}

func summary(cmds []string) string {
	if len(cmds) == 1 {
		return strconv.Quote(cmds[0])
	}
	return fmt.Sprintf("%q and %d more", cmds[0], len(cmds)-1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ErrRuntime marks a command HAProxy refused; the error carries HAProxy's words.
var ErrRuntime = errors.New("haproxy refused the command")

// quiet checks the answer of a command that prints nothing when it succeeds.
func quiet(cmd string, answer []string) error {
	if len(answer) == 0 {
		return nil
	}
	msg := strings.Join(answer, " ")
	hint := ""
	if strings.Contains(msg, "Permission denied") {
		hint = "; give the stats socket \"level admin\""
	}
	return fmt.Errorf("%w: %q: %s%s", ErrRuntime, cmd, msg, hint)
}

// HAProxy's admin state flags (src/server.h): forced and inherited maintenance and drain, and
// maintenance after a failed address resolution. CMAINT only records that the configuration said
// "disabled" and stays set after the server is made ready.
const (
	admForcedMaint = 0x01
	admMaint       = 0x23
	admForcedDrain = 0x08
	admDrain       = 0x18
)

// adminState reads flags as HAProxy does: maintenance wins over drain. With the forced masks it
// gives the part `set server ... state` controls.
func adminState(flags, maint, drain int) AdminState {
	switch {
	case flags&maint != 0:
		return Maint
	case flags&drain != 0:
		return Drain
	}
	return Ready
}

// HAProxy's operational states (srv_op_state): stopped, starting, running, stopping.
var healthByOpState = map[int]Health{0: Down, 1: Starting, 2: Up, 3: Stopping}

// serverState is one row of `show servers state`, with the forced admin state kept apart so the
// driver compares only what it can set.
type serverState struct {
	Server
	forced AdminState
}

// parseServersState reads `show servers state <backend>`: a version line, a header of column
// names, then one space-separated row per server.
func parseServersState(backend string, answer []string) ([]serverState, error) {
	if len(answer) == 1 && strings.HasPrefix(answer[0], "Can't find backend") {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, backend)
	}
	if len(answer) < 2 || answer[0] != "1" || !strings.HasPrefix(answer[1], "# ") {
		return nil, fmt.Errorf("show servers state %s: unexpected answer %q", backend, truncate(strings.Join(answer, "\n"), 200))
	}
	col := map[string]int{}
	for i, name := range strings.Fields(strings.TrimPrefix(answer[1], "# ")) {
		col[name] = i
	}
	need := []string{"be_name", "srv_name", "srv_addr", "srv_port", "srv_op_state", "srv_admin_state", "srv_uweight"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("show servers state %s: no column %s in %q", backend, n, answer[1])
		}
	}
	var out []serverState
	for _, row := range answer[2:] {
		f := strings.Fields(row)
		if len(f) < len(col) {
			return nil, fmt.Errorf("show servers state %s: short row %q", backend, row)
		}
		if f[col["be_name"]] != backend {
			continue
		}
		op, err1 := strconv.Atoi(f[col["srv_op_state"]])
		adm, err2 := strconv.Atoi(f[col["srv_admin_state"]])
		weight, err3 := strconv.Atoi(f[col["srv_uweight"]])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("show servers state %s: row %q: %w", backend, row, err)
		}
		health, ok := healthByOpState[op]
		if !ok {
			return nil, fmt.Errorf("show servers state %s: row %q: unknown operational state %d", backend, row, op)
		}
		out = append(out, serverState{
			Server: Server{
				Name:    f[col["srv_name"]],
				Address: net.JoinHostPort(f[col["srv_addr"]], f[col["srv_port"]]),
				Weight:  weight,
				Admin:   adminState(adm, admMaint, admDrain),
				Health:  health,
			},
			forced: adminState(adm, admForcedMaint, admForcedDrain),
		})
	}
	return out, nil
}

// parseStat reads `show stat <backend> 4 -1` (CSV, header prefixed by "# ") into current sessions
// per server.
func parseStat(backend string, answer []string) (map[string]int, error) {
	if len(answer) == 1 && strings.HasPrefix(answer[0], "No such proxy") {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, backend)
	}
	if len(answer) == 0 || !strings.HasPrefix(answer[0], "# ") {
		return nil, fmt.Errorf("show stat %s: unexpected answer %q", backend, truncate(strings.Join(answer, "\n"), 200))
	}
	rd := csv.NewReader(strings.NewReader(strings.TrimPrefix(strings.Join(answer, "\n"), "# ")))
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("show stat %s: %w", backend, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	px, sv, scur := col["pxname"], col["svname"], col["scur"]
	if _, ok := col["scur"]; !ok {
		return nil, fmt.Errorf("show stat %s: no scur column", backend)
	}
	out := map[string]int{}
	for _, r := range rows[1:] {
		if len(r) <= max(px, sv, scur) || r[px] != backend || r[sv] == "BACKEND" || r[sv] == "FRONTEND" {
			continue
		}
		n, err := strconv.Atoi(r[scur])
		if err != nil {
			return nil, fmt.Errorf("show stat %s: server %s: scur %q: %w", backend, r[sv], r[scur], err)
		}
		out[r[sv]] = n
	}
	return out, nil
}

// Process identifies the HAProxy process answering the runtime API. A reload in master-worker
// mode or a restart changes Pid.
type Process struct {
	Pid     int
	Version string
	Uptime  time.Duration
}

func parseInfo(answer []string) (Process, error) {
	var p Process
	for _, line := range answer {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Pid":
			p.Pid, _ = strconv.Atoi(v)
		case "Version":
			p.Version = v
		case "Uptime_sec":
			s, _ := strconv.Atoi(v)
			p.Uptime = time.Duration(s) * time.Second
		}
	}
	if p.Pid == 0 {
		return Process{}, fmt.Errorf("show info: no Pid in %q", truncate(strings.Join(answer, "\n"), 200))
	}
	return p, nil
}
