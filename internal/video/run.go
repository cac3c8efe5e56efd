package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// limits bound one ffmpeg or ffprobe run. A file that needs more than this
// is treated as hostile.
type limits struct {
	wall  time.Duration // on top of the caller's ctx
	cpu   time.Duration // RLIMIT_CPU
	mem   int64         // RLIMIT_AS, bytes: ffmpeg maps some 600 MiB of libraries before it reads a byte
	fsize int64         // RLIMIT_FSIZE, bytes: the largest file the child may write
}

const (
	defaultMem = 3 << 30
	maxStdout  = 4 << 20  // ffprobe's JSON; more is a file with absurdly many streams or tags
	maxStderr  = 64 << 10 // we only show its first line
	niceness   = 10       // below the serving path
)

// Test hooks: started sees each child's pid; noPrlimit forces the sh
// fallback.
var (
	started func(pid int)
	// remuxRate is the bytes a second a faststart remux is given beyond
	// the cap; a test of the cap itself takes the allowance away.
	remuxRate int64 = 4 << 20
	noPrlimit bool
)

// tool is an ffmpeg or ffprobe run: argv without the program, the limits,
// and what to call the paths in messages.
type tool struct {
	prog  string // "ffmpeg" or "ffprobe"
	args  []string
	lim   limits
	names map[string]string // path -> the word that replaces it in a Reason
}

// run starts t in a fresh, empty working directory with a clean
// environment, no stdin, its own process group (killed whole when ctx ends)
// and the resource limits, and returns its stdout. A failure is a
// *runError holding stderr.
func (t tool) run(ctx context.Context) ([]byte, error) {
	prog, err := exec.LookPath(t.prog)
	if err != nil {
		return nil, fmt.Errorf("video: %s is not installed: %w", t.prog, err)
	}
	wall := t.lim.wall
	if wall <= 0 {
		wall = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, wall)
	defer cancel()

	dir, err := os.MkdirTemp("", "mediagate-video-")
	if err != nil {
		return nil, fmt.Errorf("video: working directory: %w", err)
	}
	defer os.RemoveAll(dir)

	argv := limitedArgv(prog, t.args, t.lim)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	// Nothing from our environment: FFREPORT would make ffmpeg write a
	// report file, AV_LOG_FORCE_* change its output. Two malloc arenas at
	// most, as glibc reserves 64 MiB of address space (which RLIMIT_AS
	// caps) for each one a thread makes.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "MALLOC_ARENA_MAX=2"}
	cmd.Stdin = nil // /dev/null
	var stdout, stderr capped
	stdout.max, stderr.max = maxStdout, maxStderr
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// The whole group: prlimit and sh exec the tool, but should any of
		// them ever fork, none may outlive the job.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			// The cap was over before the tool could start: a timeout
			// like any other, not a broken installation.
			return nil, &runError{tool: t, err: err, ctxErr: ctx.Err(), elapsed: time.Since(start)}
		}
		return nil, fmt.Errorf("video: start %s: %w", t.prog, err)
	}
	// Best effort: a process may always lower its own priority.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, niceness)
	if started != nil {
		started(cmd.Process.Pid)
	}
	err = cmd.Wait()
	if err == nil && !stdout.over {
		return stdout.Bytes(), nil
	}
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	return nil, &runError{
		cpu:     cpu,
		tool:    t,
		err:     err,
		ctxErr:  ctx.Err(),
		stderr:  stderr.String(),
		over:    stdout.over,
		elapsed: time.Since(start),
	}
}

// limitedArgv wraps prog in prlimit (util-linux), or in sh's ulimit when
// prlimit is missing. Only fixed numbers go into the shell script; prog and
// args reach it as positional parameters and are never parsed by it.
func limitedArgv(prog string, args []string, lim limits) []string {
	mem := lim.mem
	if mem <= 0 {
		mem = defaultMem
	}
	cpu := int64(lim.cpu / time.Second)
	if cpu <= 0 {
		cpu = int64(DefaultTimeout / time.Second)
	}
	fsize := lim.fsize
	if fsize <= 0 {
		fsize = 1 << 20
	}
	if p, err := exec.LookPath("prlimit"); err == nil && !noPrlimit {
		argv := []string{p,
			"--as=" + strconv.FormatInt(mem, 10),
			"--cpu=" + strconv.FormatInt(cpu, 10),
			"--fsize=" + strconv.FormatInt(fsize, 10),
			"--core=0",
			"--", prog}
		return append(argv, args...)
	}
	// ulimit -v is in KiB, -f in 512-byte blocks (dash, and bash as sh).
	script := fmt.Sprintf(`ulimit -v %d && ulimit -t %d && ulimit -f %d && ulimit -c 0 && exec "$@"`, mem>>10, cpu, (fsize+511)/512)
	argv := []string{"/bin/sh", "-c", script, "sh", prog}
	return append(argv, args...)
}

// runError is a run that failed.
type runError struct {
	tool    tool
	err     error // from Wait
	ctxErr  error // the run's ctx, with our own wall-clock cap
	stderr  string
	over    bool // stdout went past maxStdout
	elapsed time.Duration
	cpu     time.Duration // the CPU time it used
}

func (e *runError) Error() string {
	stderr := strings.TrimSpace(e.stderr)
	if len(stderr) > 4<<10 {
		stderr = stderr[:4<<10] + "..."
	}
	return fmt.Sprintf("%s %s: %v after %v: %s", e.tool.prog, strings.Join(e.tool.args, " "), e.err, e.elapsed.Round(time.Millisecond), stderr)
}

// toError turns a failed run into the *Error the caller sees: ctx's own
// error when the caller gave up; ErrTimeout when the run went past its
// wall-clock cap, which a busy machine causes as well as a hostile file;
// else a bad input whose reason is what (like "the file is cut short or
// damaged") and the first line ffmpeg wrote. Using up the CPU-time limit is
// a bad input: CPU time hardly grows with the load.
func toError(ctx context.Context, op string, err error, what string) error {
	var re *runError
	if !errors.As(err, &re) {
		return &Error{Op: op, Reason: "the file could not be processed", Detail: err.Error(), Err: err}
	}
	if cerr := ctx.Err(); cerr != nil {
		return &Error{Op: op, Reason: "processing was cancelled", Detail: re.Error(), Err: cerr}
	}
	if re.ctxErr != nil {
		return &Error{Op: op, Reason: "processing took too long", Detail: re.Error(), Err: ErrTimeout}
	}
	// ffmpeg exits on SIGXCPU by itself, with status 255, so the CPU
	// limit shows in the time it used rather than in a signal.
	cpuLimit := re.tool.lim.cpu
	if cpuLimit <= 0 {
		cpuLimit = DefaultTimeout
	}
	if re.cpu >= cpuLimit-cpuLimit/20 {
		return badInput(op, "the file takes too long to process", re.Error())
	}
	var ee *exec.ExitError
	if errors.As(re.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGXCPU, syscall.SIGKILL:
				return badInput(op, "the file takes too long to process", re.Error())
			case syscall.SIGXFSZ:
				return badInput(op, "the result would be too large", re.Error())
			}
		}
	}
	if re.over {
		return badInput(op, what+": too much metadata", re.Error())
	}
	if line := firstLine(re.stderr, re.tool.names); line != "" {
		what += ": " + line
	}
	return badInput(op, what, re.Error())
}

var (
	// "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0a8b280] " names a pointer, of
	// no use to anyone reading the reason.
	logPrefix = regexp.MustCompile(`^\[[^\]]* @ 0x[0-9a-f]+\] *`)
	// Any absolute path left over.
	pathLike = regexp.MustCompile(`(^|[\s'"(=])(?:file:)?/[^\s'"]*`)
)

// firstLine is the first line of stderr that says something, fit to show
// to the user: no pointers, no paths (names maps each path we passed to the
// word that replaces it), printable ASCII, at most 200 bytes.
func firstLine(stderr string, names map[string]string) string {
	for _, line := range strings.Split(stderr, "\n") {
		line = logPrefix.ReplaceAllString(strings.TrimSpace(line), "")
		for path, word := range names {
			line = strings.ReplaceAll(line, "file:"+path, word)
			line = strings.ReplaceAll(line, path, word)
			line = strings.TrimPrefix(line, word+": ") // "<url>: End of file"
		}
		line = pathLike.ReplaceAllString(line, "${1}a file")
		line = strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, line)
		line = strings.TrimSpace(line)
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		if line != "" {
			return line
		}
	}
	return ""
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room < len(p) {
		c.over = true
		if room > 0 {
			c.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// output is a temp file beside out, which a run writes and commit renames
// into place; abort removes it. Nothing half-written is left under out.
type output struct {
	out, tmp string
}

func newOutput(out string) (*output, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("video: output path: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".video-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("video: output: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("video: output: %w", err)
	}
	return &output{out: out, tmp: f.Name()}, nil
}

// size is how much the run wrote.
func (o *output) size() (int64, error) {
	fi, err := os.Stat(o.tmp)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// commit fsyncs the temp file, renames it to out and fsyncs the directory.
func (o *output) commit() error {
	f, err := os.OpenFile(o.tmp, os.O_RDWR, 0)
	if err != nil {
		o.abort()
		return fmt.Errorf("video: output: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(o.tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(o.tmp, o.out)
	}
	if err != nil {
		o.abort()
		return fmt.Errorf("video: output: %w", err)
	}
	if d, err := os.Open(filepath.Dir(o.out)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("video: output: sync directory: %w", err)
		}
	}
	return nil
}

func (o *output) abort() { os.Remove(o.tmp) }
