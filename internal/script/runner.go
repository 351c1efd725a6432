package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultTimeout applies when a Command gives none; it is CodeDeploy's default hook timeout.
	DefaultTimeout = time.Hour
	// DefaultKillGrace is how long a script's process group has between SIGTERM and SIGKILL, as in
	// the reference agent's v2.
	DefaultKillGrace = 5 * time.Second
	// DefaultPipeGrace is how long output is still read after the script exits, for children that
	// finish writing just after their parent.
	DefaultPipeGrace = 2 * time.Second
	// DefaultTailBytes is the size of the diagnostics tail; the reference keeps 2 KiB, which is
	// often too little to see why a script failed.
	DefaultTailBytes = 8 << 10
)

// Command is one script to run.
type Command struct {
	// Event is the lifecycle event name, written on every log line.
	Event string
	// Path is the absolute path of the script. Confining it to the bundle is the caller's job.
	Path string
	// Location is the script as the AppSpec names it, used in messages users act on; Path when empty.
	Location string
	// Dir is the working directory; empty means the agent's own.
	Dir string
	// RunAs is the user to run as; empty means the agent's own user.
	RunAs string
	// Timeout bounds the run; DefaultTimeout when zero or negative.
	Timeout time.Duration
	// Env is the script's whole environment; nil means an empty one, never the agent's.
	Env []string
	// Started, when set, is called once the script has started, with its process group, before
	// Run waits for it: a caller that records the group can end it after its own crash (see End).
	Started func(Group)
}

// Runner runs scripts. The zero value is usable; a Runner must not be copied after first use.
type Runner struct {
	// Log receives every output line; each line is exactly one Write, and Runner serialises its
	// writes, so several scripts of one deployment can share it. Nil discards the output.
	Log io.Writer
	// KillGrace is the time between SIGTERM and SIGKILL; DefaultKillGrace when zero.
	KillGrace time.Duration
	// PipeGrace is how long to keep reading output after the script exits; DefaultPipeGrace when
	// zero.
	PipeGrace time.Duration
	// TailBytes is the size of Result.Tail; DefaultTailBytes when zero.
	TailBytes int

	mu sync.Mutex
}

// Result is what happened to one script. Run reports every outcome, including a bad Command,
// as a Result rather than an error: each one becomes a lifecycle event status with a code, and
// the caller has nothing else to do with it.
type Result struct {
	Code Code
	// Message explains a failure in the reference agent's words where it has them; empty on
	// success.
	Message string
	// ExitCode is the script's exit status, or -1 when it did not start or was ended by a signal.
	ExitCode int
	// Signal is the signal that ended the script, if one did.
	Signal syscall.Signal
	// Tail is the end of the script's output as "[stream] text" lines, for the diagnostics.
	Tail              string
	Started, Finished time.Time
	// Err is the underlying cause when there is one: a file system or exec error, a user lookup
	// error, or the context's cause when the agent stopped the script.
	Err error
	// LogErr is the first error writing to Log. Output that could not be logged does not change
	// the script's outcome, but the caller should say that the log is incomplete.
	LogErr error
}

// Run runs c and waits for it, its process group when it is stopped, and its output.
//
// A timeout sends SIGTERM to the script's process group and SIGKILL after KillGrace; anything
// still in the group when the script has gone is killed too. Cancelling ctx (the agent shutting
// down) stops the group the same way and reports UnknownError with Err wrapping the context's
// cause, so a shutdown is not mistaken for a script failure.
//
// A script that exits while a background child still holds its stdout or stderr is not waited
// for beyond PipeGrace: it reports OutputsLeftOpen and the child is left running, since starting
// a daemon is what an ApplicationStart script is for. That child's later writes to the closed
// pipe fail, which is why the message tells the user to redirect them.
func (r *Runner) Run(ctx context.Context, c Command) Result {
	x := &run{r: r, c: c, tail: tail{max: r.tailBytes()}}
	if x.c.Location == "" {
		x.c.Location = c.Path
	}
	if x.c.Timeout <= 0 {
		x.c.Timeout = DefaultTimeout
	}
	res := Result{ExitCode: -1, Started: time.Now()}
	x.note("start %s (%s, timeout %s)", c.Path, x.who(), seconds(x.c.Timeout))
	x.execute(ctx, &res)
	res.Finished = time.Now()
	res.Tail = x.tail.String()

	status := "exit code " + strconv.Itoa(res.ExitCode)
	if res.Signal != 0 {
		status = "killed by " + signalName(res.Signal)
	} else if res.ExitCode < 0 {
		status = "not run"
	}
	end := fmt.Sprintf("end %s: %s, %s, %s", c.Path, res.Code, status, res.Finished.Sub(res.Started).Round(time.Millisecond))
	if res.Message != "" {
		end += ": " + res.Message
	}
	x.note("%s", end)
	res.LogErr = x.logErr
	return res
}

func (r *Runner) tailBytes() int {
	if r.TailBytes > 0 {
		return r.TailBytes
	}
	return DefaultTailBytes
}

func (r *Runner) killGrace() time.Duration {
	if r.KillGrace > 0 {
		return r.KillGrace
	}
	return DefaultKillGrace
}

func (r *Runner) pipeGrace() time.Duration {
	if r.PipeGrace > 0 {
		return r.PipeGrace
	}
	return DefaultPipeGrace
}

// run is the state of one Run. tail and logErr are guarded by r.mu, since both output streams
// feed them.
type run struct {
	r      *Runner
	c      Command
	tail   tail
	logErr error
	acct   *account // nil when the script runs as the agent's user
}

// failf ends the run with code and a message prefixed the way the reference agent names scripts.
func (x *run) failf(res *Result, code Code, cause error, format string, args ...any) {
	res.Code = code
	res.Message = x.prefix() + " " + fmt.Sprintf(format, args...)
	res.Err = cause
}

func (x *run) prefix() string {
	p := "Script at specified location: " + x.c.Location
	if x.c.RunAs != "" {
		p += " run as user " + x.c.RunAs
	}
	return p
}

func (x *run) who() string {
	if x.c.RunAs == "" {
		return "as the agent's user"
	}
	return "as user " + x.c.RunAs
}

func (x *run) execute(ctx context.Context, res *Result) {
	if !filepath.IsAbs(x.c.Path) {
		res.Code = UnknownError
		res.Message = fmt.Sprintf("script path %q is not absolute", x.c.Path)
		return
	}
	if err := context.Cause(ctx); err != nil {
		x.failf(res, UnknownError, fmt.Errorf("run %s: %w", x.c.Path, err), "was not started because the agent is stopping")
		return
	}
	if !x.prepareFile(res) || !x.prepareUser(res) {
		return
	}

	outR, outW, err := os.Pipe()
	if err != nil {
		x.failf(res, UnknownError, fmt.Errorf("stdout pipe: %w", err), "could not be started: %v", err)
		return
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		x.failf(res, UnknownError, fmt.Errorf("stderr pipe: %w", err), "could not be started: %v", err)
		return
	}
	cmd, err := x.start(outW, errW)
	// The child has its own copies now; holding ours would keep the pipes open forever.
	closeAll(outW, errW)
	if err != nil {
		closeAll(outR, errR)
		x.startFailed(res, err)
		return
	}
	if x.c.Started != nil {
		// The script is not reaped before Wait, so its /proc entry is there even if it has exited.
		if g, err := groupOf(cmd.Process.Pid); err != nil {
			x.note("cannot identify process group %d for the crash marker: %v", cmd.Process.Pid, err)
		} else {
			x.c.Started(g)
		}
	}

	var wg sync.WaitGroup
	var leftOpen [2]bool
	for i, p := range []struct {
		f      *os.File
		stream string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		wg.Go(func() { leftOpen[i] = x.pump(p.f, p.stream) })
	}

	end, waitErr := x.await(ctx, cmd)
	// Output still arriving after the exit comes from children that outlived the script; give
	// them PipeGrace to finish, then stop reading.
	deadline := time.Now().Add(x.r.pipeGrace())
	for _, f := range []*os.File{outR, errR} {
		if err := f.SetReadDeadline(deadline); err != nil {
			// Pipes are pollable on every Unix Go supports; should one not be, closing it still
			// unblocks its reader, only without the grace.
			_ = f.Close()
		}
	}
	wg.Wait()

	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		x.failf(res, UnknownError, fmt.Errorf("wait for %s: %w", x.c.Path, waitErr), "could not be waited for: %v", waitErr)
		return
	}
	state := cmd.ProcessState
	res.ExitCode = state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal()
	}
	streams := openStreams(leftOpen)

	switch {
	case end == timedOut:
		how := "it exited after SIGTERM"
		if res.Signal != 0 {
			how = "it was ended by " + signalName(res.Signal)
		}
		x.failf(res, TimedOut, nil, "failed to complete in %s seconds (%s)", secondsNumber(x.c.Timeout), how)
	case end == stopped:
		x.failf(res, UnknownError, fmt.Errorf("run %s: %w", x.c.Path, context.Cause(ctx)), "was stopped because the agent is stopping")
	case res.Signal != 0:
		x.failf(res, Failed, nil, "was killed by %s%s", signalName(res.Signal), x.accessHint())
	case res.ExitCode != 0:
		msg := "failed with exit code " + strconv.Itoa(res.ExitCode)
		if streams != "" {
			msg += " (and left its " + streams + " open)"
		}
		x.failf(res, Failed, nil, "%s%s", msg, x.accessHint())
	case streams != "":
		x.failf(res, OutputsLeftOpen, nil, "exited, but a background process it started still holds its %s open. "+
			"Redirect that process's output, for example `my-daemon > /dev/null 2>&1 &`, so the script can finish", streams)
	default:
		res.Code = Succeeded
	}
}

// ending is how the wait for a script ended.
type ending int

const (
	exited ending = iota
	timedOut
	stopped
)

// await waits for the script to exit, stopping its process group when the timeout passes or ctx
// is done. The error is cmd.Wait's.
func (x *run) await(ctx context.Context, cmd *exec.Cmd) (ending, error) {
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(x.c.Timeout)
	defer timer.Stop()
	select {
	case err := <-waited:
		return exited, err
	case <-timer.C:
		// A script that ended just as the timer fired has not timed out.
		select {
		case err := <-waited:
			return exited, err
		default:
			return timedOut, x.stop(cmd, waited)
		}
	case <-ctx.Done():
		return stopped, x.stop(cmd, waited)
	}
}

// prepareFile checks that the script is a file and makes it executable if no one may execute it,
// as the reference agent does.
func (x *run) prepareFile(res *Result) bool {
	fi, err := os.Stat(x.c.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		res.Code = Missing
		res.Message = "Script does not exist at specified location: " + x.c.Path
		res.Err = err
		return false
	case err != nil:
		x.failf(res, Failed, err, "could not be read: %v", err)
		return false
	case fi.IsDir():
		// No script there, and the fix is the same as for a missing one: correct the location.
		res.Code = Missing
		res.Message = "Script at specified location: " + x.c.Path + " is a directory, not a script file"
		return false
	case !fi.Mode().IsRegular():
		res.Code = Missing
		res.Message = "Script at specified location: " + x.c.Path + " is not a regular file"
		return false
	}
	if fi.Mode()&0o111 != 0 {
		return true
	}
	mode := fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) | 0o111
	if err := os.Chmod(x.c.Path, mode); err != nil {
		res.Code = NotExecutable
		res.Message = "Unable to set script at specified location: " + x.c.Location + " as executable: " + errText(err)
		res.Err = err
		return false
	}
	x.note("%s was not executable; made it executable (mode %04o)", x.c.Path, mode.Perm())
	return true
}

func (x *run) prepareUser(res *Result) bool {
	if x.c.RunAs == "" {
		return true
	}
	acct, err := lookupAccount(x.c.RunAs)
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown):
		x.failf(res, Failed, err, "could not be started: user %s does not exist on this host", x.c.RunAs)
		return false
	case err != nil:
		x.failf(res, Failed, err, "could not be started: %v", err)
		return false
	}
	if int(acct.uid) == os.Geteuid() {
		return true
	}
	if os.Geteuid() != 0 {
		err := fmt.Errorf("the agent runs as uid %d, not root, so it cannot run scripts as user %s", os.Geteuid(), x.c.RunAs)
		x.failf(res, Failed, err, "could not be started: %v", err)
		return false
	}
	x.acct = &acct
	return true
}

// Retries of an exec that failed with ETXTBSY: the file is open for writing somewhere, most often
// in a child that another goroutine of this process forked while the file was being written
// and that has not reached its own exec yet, which takes microseconds (Go issue 22315). About a
// second in all, then the error is reported.
const (
	busyRetries = 20
	busyBackoff = 5 * time.Millisecond
)

func (x *run) start(stdout, stderr *os.File) (*exec.Cmd, error) {
	cmd := x.command(x.c.Path)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Start()
	for i := 1; errors.Is(err, syscall.ETXTBSY) && i <= busyRetries; i++ {
		if i == 1 {
			x.note("%s is busy (open for writing); retrying for up to a second", x.c.Path)
		}
		time.Sleep(time.Duration(i) * busyBackoff)
		cmd = x.command(x.c.Path)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err = cmd.Start()
	}
	if errors.Is(err, syscall.ENOEXEC) {
		// No #! line: shells, and so the reference agent, fall back to running it with sh.
		x.note("%s has no #! line; running it with /bin/sh", x.c.Path)
		cmd = x.command("/bin/sh", x.c.Path)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err = cmd.Start()
	}
	return cmd, err
}

func (x *run) command(name string, args ...string) *exec.Cmd {
	cmd := &exec.Cmd{
		Path: name,
		Args: append([]string{name}, args...),
		Dir:  x.c.Dir,
		Env:  x.c.Env,
		// Stdin stays nil: /dev/null, so a script that reads input sees EOF instead of hanging.
		// A session of its own makes the script lead a process group (which a timeout ends
		// whole) and takes away the agent's controlling terminal, if it has one: a script run as
		// a less privileged user could otherwise open /dev/tty and push input (TIOCSTI) into the
		// terminal of a root agent started by hand.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	if x.acct != nil {
		cmd.SysProcAttr.Credential = x.acct.credential()
		cmd.Env = x.acct.environ(cmd.Env)
	}
	return cmd
}

func (x *run) startFailed(res *Result, err error) {
	switch {
	case errors.Is(err, syscall.EACCES):
		hint := x.accessHint()
		switch {
		case hint != "":
		case x.acct == nil:
			hint = "; is its file system mounted noexec?"
		default:
			// The mode bits allow it, so an ACL or a security module denies it.
			hint = fmt.Sprintf("; user %s needs execute permission on it and search permission on every directory above it", x.c.RunAs)
			if x.c.Dir != "" {
				hint += " and on the working directory " + x.c.Dir
			}
		}
		x.failf(res, NotExecutable, err, "cannot be executed: permission denied%s", hint)
	case errors.Is(err, fs.ErrNotExist):
		x.failf(res, Failed, err, "could not be started: %s", interpreterProblem(x.c.Path, x.c.Dir))
	default:
		x.failf(res, Failed, err, "could not be started: %s", errText(err))
	}
}

// stop ends the script's process group: SIGTERM, then SIGKILL after the grace. It returns the
// script's Wait result.
func (x *run) stop(cmd *exec.Cmd, waited <-chan error) error {
	// Errors from kill are ignored on purpose: ESRCH only means the group has already gone.
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(x.r.killGrace())
	defer grace.Stop()
	var err error
	select {
	case err = <-waited:
	case <-grace.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-waited
	}
	// What is still in the group outlived a script that was being stopped; a stopped script leaves
	// nothing behind. The group id cannot have been reused while any of them lives.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return err
}

// pump copies one output stream to the log and the tail. It reports whether it stopped reading
// before the stream was closed by every process holding it.
func (x *run) pump(f *os.File, stream string) bool {
	defer closeAll(f)
	s := splitter{emit: func(text []byte, cont bool) { x.record(stream, text, cont) }}
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		s.write(buf[:n])
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The grace after the exit is over, but this goroutine may only have been slow to
			// run: a deadline that has passed fails a read before it looks at the pipe. What the
			// pipe holds now is output the script wrote, and the pipe is held open only if it is
			// empty and yet not at end of file.
			open := drain(f, buf, s.write)
			s.flush()
			return open
		}
		s.flush()
		return errors.Is(err, os.ErrClosed)
	}
}

// drainLimit bounds drain: a process that writes faster than it can be read still holds the pipe.
const drainLimit = 1 << 20

// drain reads, without waiting, what a non-blocking pipe holds, passing it to write, and reports
// whether a writer still holds the pipe: it is empty but not at end of file, or it kept filling.
func drain(f *os.File, buf []byte, write func([]byte)) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return true
	}
	open := true
	// Control, unlike Read, ignores the deadline that has just passed.
	err = rc.Control(func(fd uintptr) {
		for total := 0; total < drainLimit; {
			n, err := syscall.Read(int(fd), buf)
			switch {
			case n > 0:
				write(buf[:n])
				total += n
			case n == 0 && err == nil:
				open = false // end of file: every writer has closed it
				return
			case errors.Is(err, syscall.EINTR):
			default:
				return // EAGAIN: empty, and someone can still write to it
			}
		}
	})
	return open || err != nil
}

// accessHint explains, for a script run as another user, which permission keeps that user from
// the script or its working directory; empty when the mode bits allow it.
func (x *run) accessHint() string {
	if x.acct == nil {
		return ""
	}
	if p := x.acct.accessProblem(x.c.Path, 0o5); p != "" {
		return "; " + p
	}
	if x.c.Dir != "" {
		if p := x.acct.accessProblem(x.c.Dir, 0o1); p != "" {
			return "; " + p
		}
	}
	return ""
}

func (x *run) record(stream string, text []byte, cont bool) {
	text = bytes.ToValidUTF8(text, []byte("\uFFFD"))
	tag := stream
	if cont {
		tag += "+"
	}
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	x.tail.add(stream, text, cont)
	x.writeLocked(tag, text)
}

// note writes one of the Runner's own lines about the script.
func (x *run) note(format string, args ...any) {
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	x.writeLocked("script", []byte(fmt.Sprintf(format, args...)))
}

func (x *run) writeLocked(tag string, text []byte) {
	if x.r.Log == nil {
		return
	}
	line := make([]byte, 0, len(text)+len(x.c.Event)+len(tag)+40)
	line = time.Now().UTC().AppendFormat(line, "2006-01-02T15:04:05.000Z07:00")
	line = append(line, " ["...)
	line = append(line, x.c.Event...)
	line = append(line, "] ["...)
	line = append(line, tag...)
	line = append(line, "] "...)
	line = append(line, text...)
	line = append(line, '\n')
	if _, err := x.r.Log.Write(line); err != nil && x.logErr == nil {
		x.logErr = fmt.Errorf("write scripts log: %w", err)
	}
}

func openStreams(leftOpen [2]bool) string {
	switch {
	case leftOpen[0] && leftOpen[1]:
		return "stdout and stderr"
	case leftOpen[0]:
		return "stdout"
	case leftOpen[1]:
		return "stderr"
	}
	return ""
}

// interpreterProblem explains an ENOENT from exec of a file that exists: the interpreter on its
// #! line (or the working directory) is missing. A CR at the end of the #! line, from a script
// saved with Windows line endings, is the usual cause and is invisible in most editors.
func interpreterProblem(path, dir string) string {
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Sprintf("working directory %s does not exist", dir)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return errText(err)
	}
	defer closeAll(f)
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !bytes.HasPrefix(head, []byte("#!")) {
		return "no such file or directory"
	}
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	fields := bytes.Fields(line)
	if bytes.HasSuffix(line, []byte("\r")) {
		return "its #! line ends with a carriage return (Windows line endings); convert the script to Unix line endings"
	}
	if len(fields) == 0 {
		return "its #! line names no interpreter"
	}
	return fmt.Sprintf("the interpreter %s named on its #! line does not exist", fields[0])
}

// errText drops the operation and path from err, which the surrounding message already names.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// closeAll closes files whose close errors mean nothing: read ends, or write ends already
// handed to the child.
func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// seconds formats d for log lines: "30s", "0.25s".
func seconds(d time.Duration) string {
	return secondsNumber(d) + "s"
}

// secondsNumber formats d in seconds the way the reference agent's timeout message does, with a
// fraction only when there is one.
func secondsNumber(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// signalName gives the conventional name of the signals a script is likely to die from.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return "signal " + strconv.Itoa(int(s))
}
