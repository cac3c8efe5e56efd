package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"

	"github.com/mediagate/mediagate/internal/frontconf"
)

// apacheConfig prints an Apache config (mod_xsendfile) for the current
// configuration.
func apacheConfig(_ context.Context, e env, args []string) error {
	var opt frontconf.Options
	cfg, err := loadConfig(e, "apache-config", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.Listen, "listen", frontconf.DefaultListen, "address Apache listens on")
		fs.StringVar(&opt.Upstream, "upstream", "", "the app's address (default: MEDIAGATE_ADDR)")
		fs.StringVar(&opt.Prefix, "prefix", frontconf.DefaultApachePrefix, "directory for Apache's pid file, logs and runtime files")
		fs.StringVar(&opt.User, "user", "", "user Apache's workers run as when started as root (default: the data dir's owner)")
		fs.StringVar(&opt.Modules, "modules", frontconf.DefaultModules, "directory holding Apache's modules (mod_*.so)")
	})
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 && opt.User == "" {
		// Apache started as root runs its workers as another user, who must
		// be able to read the data dir; it refuses root.
		opt.User = dataDirOwner(cfg.DataDir)
		if opt.User == "root" || opt.User == "" {
			return errors.New("apache-config: the data dir belongs to root, and Apache does not run its workers as root: pass --user NAME, a user that can read it (such as www-data)")
		}
	}
	if opt.User != "" {
		if opt.Group, err = primaryGroup(opt.User); err != nil {
			return fmt.Errorf("apache-config: --user %s: %w", opt.User, err)
		}
	}
	return frontconf.RenderApache(e.stdout, cfg, opt)
}

// caddyConfig prints a Caddyfile for the current configuration.
func caddyConfig(_ context.Context, e env, args []string) error {
	var opt frontconf.Options
	cfg, err := loadConfig(e, "caddy-config", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.Listen, "listen", frontconf.DefaultListen, "address Caddy listens on")
		fs.StringVar(&opt.Upstream, "upstream", "", "the app's address (default: MEDIAGATE_ADDR)")
		fs.StringVar(&opt.Prefix, "prefix", frontconf.DefaultCaddyPrefix, "directory for Caddy's storage and access log")
	})
	if err != nil {
		return err
	}
	return frontconf.RenderCaddy(e.stdout, cfg, opt)
}

// primaryGroup names the primary group of the named user.
func primaryGroup(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", err
	}
	return g.Name, nil
}
