package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/app"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/jobs"
	"github.com/mediagate/mediagate/internal/nginxconf"
	"github.com/mediagate/mediagate/internal/session"
)

func userAdd(ctx context.Context, e env, args []string) error {
	var email, role string
	var fromStdin bool
	cfg, err := loadConfig(e, "user add", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email (required)")
		fs.StringVar(&role, "role", "", "admin, editor or viewer (required)")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	})
	if err != nil {
		return err
	}
	if email == "" || role == "" {
		return fmt.Errorf("user add: --email and --role are required")
	}
	r, err := acl.ParseRole(role)
	if err != nil {
		return err
	}
	password, generated := "", false
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("user add: no password on stdin")
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password, generated = session.GeneratePassword(), true
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	u, err := session.NewUsers(pool).Create(ctx, email, r, password)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, u.ID)
	if generated {
		fmt.Fprintf(e.stderr, "password for %s: %s\n", u.Email, password)
	}
	return nil
}

func tokenCreate(ctx context.Context, e env, args []string) error {
	var email string
	cfg, err := loadConfig(e, "token create", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user the token acts as (required)")
	})
	if err != nil {
		return err
	}
	if email == "" {
		return fmt.Errorf("token create: --email is required")
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	users := session.NewUsers(pool)
	u, err := users.ByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	token, err := users.CreateToken(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, token)
	return nil
}

func nginxConfig(_ context.Context, e env, args []string) error {
	var opt nginxconf.Options
	var serverOnly bool
	cfg, err := loadConfig(e, "nginx-config", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.Listen, "listen", "127.0.0.1:8081", "address nginx listens on")
		fs.Var((*stringList)(&opt.Upstreams), "upstream", "an app instance's address; repeat it for several (default: MEDIAGATE_ADDR)")
		fs.StringVar(&opt.Prefix, "prefix", "./var/nginx", "nginx prefix dir for its pid, logs and temp files")
		fs.BoolVar(&serverOnly, "server-only", false, "print only the upstream and server blocks, to include in an existing nginx")
		fs.StringVar(&opt.ErrorLog, "error-log", "", "nginx's error log (default: error.log in the prefix dir; with --server-only, "+nginxconf.DefaultServerErrorLog+")")
	})
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// nginx started as root runs its workers as nobody, who may not be
		// able to read the data dir: run them as the data dir's owner.
		opt.User = dataDirOwner(cfg.DataDir)
	}
	pages, err := app.StaticErrorPages(cfg)
	if err != nil {
		return err
	}
	for _, p := range pages {
		opt.ErrorPages = append(opt.ErrorPages, nginxconf.ErrorPage{Status: p.Status, Body: p.Body, CSP: p.CSP})
	}
	if serverOnly {
		return nginxconf.RenderServer(e.stdout, cfg, opt)
	}
	return nginxconf.Render(e.stdout, cfg, opt)
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// dataDirOwner names the user owning dir (or its nearest existing parent).
func dataDirOwner(dir string) string {
	for ; ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
					return u.Username
				}
			}
			break
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func groupAdd(ctx context.Context, e env, args []string) error {
	cfg, rest, err := loadConfigArgs(e, "group add", args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("group add: want exactly one NAME")
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	g, err := acl.NewDecider(pool).CreateGroup(ctx, nil, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, g.ID)
	return nil
}

func groupMember(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return fmt.Errorf("group member: want add or remove")
	}
	cfg, rest, err := loadConfigArgs(e, "group member "+args[0], args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return fmt.Errorf("group member %s: want NAME EMAIL", args[0])
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := acl.NewDecider(pool).SetMember(ctx, nil, rest[0], rest[1], args[0] == "add"); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s: %s %s\n", rest[0], map[bool]string{true: "added", false: "removed"}[args[0] == "add"], rest[1])
	return nil
}

// loadConfigArgs is loadConfig for commands that take positional arguments.
func loadConfigArgs(e env, name string, args []string) (config.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg, err := config.Load(fs, args, e.getenv)
	if err == nil {
		e.useLog(cfg)
	}
	return cfg, fs.Args(), err
}

// jobsCmd is "mediagate jobs" (the recent jobs) and "mediagate jobs retry ID".
func jobsCmd(ctx context.Context, e env, args []string) error {
	var retry int64
	rest := args
	if len(args) > 0 && args[0] == "retry" {
		if len(args) < 2 {
			return errors.New("jobs retry: missing the job's id")
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("jobs retry: %q is not a job id", args[1])
		}
		retry, rest = id, args[2:]
	}
	var limit int
	cfg, err := loadConfig(e, "jobs", rest, func(fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", 20, "how many recent jobs to list")
	})
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	j, err := jobs.New(pool, nil, jobs.Options{Log: e.log})
	if err != nil {
		return err
	}
	if retry > 0 {
		job, err := j.Retry(ctx, retry)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "job %d: %s again\n", job.ID, job.State)
		return nil
	}
	list, err := j.List(ctx, max(limit, 1))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tATTEMPT\tCREATED\tBLOB\tERROR")
	for _, jb := range list {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", jb.ID, jb.State, jb.Attempt, jb.CreatedAt.UTC().Format(time.RFC3339),
			jb.Blob, oneLineOf(jb.Error))
	}
	return tw.Flush()
}

// oneLineOf keeps an error to one table cell.
func oneLineOf(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
