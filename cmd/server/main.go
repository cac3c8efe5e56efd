// Command mediagate serves private media: it decides access in PostgreSQL and
// lets nginx stream the bytes through X-Accel-Redirect.
//
// Usage:
//
//	mediagate [serve]                 run the service (the default)
//	mediagate migrate                 create the database if needed and migrate it
//	mediagate user add --email E --role admin|editor|viewer [--password-stdin]
//	mediagate token create --email E  print a new API token
//	mediagate group add NAME
//	mediagate group member add|remove NAME EMAIL
//	mediagate nginx-config [--listen ADDR] [--upstream ADDR]... [--prefix DIR] [--server-only] [--error-log FILE]
//	mediagate apache-config [--listen ADDR] [--upstream ADDR] [--prefix DIR] [--user NAME] [--modules DIR]
//	mediagate caddy-config [--listen ADDR] [--upstream ADDR] [--prefix DIR]
//	mediagate storage copy --to s3|local
//	mediagate jobs [--limit N] | jobs retry ID
//	mediagate fsck [--verify] [--repair]
//
// Values meant for scripts go to stdout, everything else to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/reqid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		var status exitStatus
		if errors.As(err, &status) {
			os.Exit(int(status))
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mediagate: "+oneLine(err))
		}
		os.Exit(1)
	}
}

// exitStatus is a command's answer that is an exit status of its own
// (fsck's), not a failure: what it has to say is on stdout already.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// env bundles what a command may touch, so commands are testable in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	log            *slog.Logger
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, log: newLogger(stderr, config.Default())}
	cmd, rest := "serve", args
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		cmd = "help"
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "migrate":
		return migrateCmd(ctx, e, rest)
	case "user":
		return sub(ctx, e, "user", rest, map[string]command{"add": userAdd})
	case "token":
		return sub(ctx, e, "token", rest, map[string]command{"create": tokenCreate})
	case "group":
		return sub(ctx, e, "group", rest, map[string]command{"add": groupAdd, "member": groupMember})
	case "nginx-config":
		return nginxConfig(ctx, e, rest)
	case "apache-config":
		return apacheConfig(ctx, e, rest)
	case "caddy-config":
		return caddyConfig(ctx, e, rest)
	case "storage":
		return storageCmd(ctx, e, rest)
	case "jobs":
		return jobsCmd(ctx, e, rest)
	case "fsck":
		return fsckCmd(ctx, e, rest)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try: mediagate help)", cmd)
}

// newLogger writes cfg's log format from cfg's level on to w; a line
// logged with a request's context names the request (package reqid).
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opt := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opt)
	if cfg.LogFormat == config.LogJSON {
		h = slog.NewJSONHandler(w, opt)
	}
	return slog.New(reqid.Handler(h))
}

// useLog makes the command log as cfg says from now on. Every copy of e
// shares the one logger, which is replaced in place.
func (e env) useLog(cfg config.Config) { *e.log = *newLogger(e.stderr, cfg) }

type command func(ctx context.Context, e env, args []string) error

func sub(ctx context.Context, e env, name string, args []string, cmds map[string]command) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: missing subcommand (try: mediagate help)", name)
	}
	c, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown subcommand %q (try: mediagate help)", name, args[0])
	}
	return c(ctx, e, args[1:])
}

const usage = `mediagate: private media, decided in PostgreSQL, streamed by nginx.

Commands:
  serve                       run the service (the default)
  migrate                     create the database if missing and apply migrations
  user add --email E --role admin|editor|viewer [--password-stdin]
                              add a user; prints its id (and a generated password on stderr)
  token create --email E      print a new API token for the user (shown once)
  group add NAME              create a group; prints its id
  group member add|remove NAME EMAIL
                              put a user into a group or take them out
  nginx-config [--listen ADDR] [--upstream ADDR]... [--prefix DIR] [--server-only] [--error-log FILE]
                              print an nginx.conf for the current configuration
  apache-config [--listen ADDR] [--upstream ADDR] [--prefix DIR] [--user NAME] [--modules DIR]
                              print an Apache config (mod_xsendfile; local storage only)
  caddy-config [--listen ADDR] [--upstream ADDR] [--prefix DIR]
                              print a Caddyfile (local storage only)
  storage copy --to s3|local  copy every blob into the other storage, each checked by
                              its SHA-256; run again, it goes on where it stopped
  jobs [--limit N]            list the media pipeline's recent jobs, with state and error
  jobs retry ID               make a job due again now
  fsck [--verify] [--repair]  check that the database and the storage agree (with
                              --verify, every blob's SHA-256 too); exit status 0 when
                              clean, 2 when problems are left, 3 when --repair fixed
                              them all

Every command reads the configuration from the environment; flags mirror it
(mediagate serve -h lists them).
`

// oneLine keeps a failure to the single line the CLI contract promises.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
