// Package frontconf renders the Apache and Caddy configurations that front
// Mediagate as nginx does (package nginxconf): the web server sends private
// files once the app has handed them over (Apache's mod_xsendfile follows
// X-Sendfile, Caddy's handle_response follows X-Accel-Redirect), serves
// published files straight from disk, and proxies everything else to the
// app. Every path, prefix and header value comes from package config, and
// only local storage is supported: blobs in S3 need nginx.
package frontconf

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mediagate/mediagate/internal/config"
)

// Defaults for Options fields left empty.
const (
	DefaultListen       = "127.0.0.1:8081"
	DefaultApachePrefix = "./var/apache"
	DefaultCaddyPrefix  = "./var/caddy"
	DefaultModules      = "/usr/lib/apache2/modules" // Debian's apache2
)

// Options are the parts of a front end's config that are not app
// configuration. When Upstream is empty, the front end connects to cfg.Addr,
// with a wildcard or missing host replaced by loopback.
type Options struct {
	Listen   string // address the server listens on, default "127.0.0.1:8081"
	Upstream string // the app's address, default cfg.Addr
	Prefix   string // directory for the pid file, logs and runtime files; made absolute
	User     string // Apache: when non-empty, the User its workers run as (never root)
	Group    string // Apache: their Group, with User
	Modules  string // Apache: the directory of its modules, default Debian's
}

// site is what both templates see; every string in it is checked for the
// syntax it goes into.
type site struct {
	Prefix        string
	Listen        string
	ListenHost    string // Caddy binds it
	ListenPort    string
	Upstream      string
	PrivateDir    string
	PublicDir     string
	AccelPrefix   string // X-Accel-Redirect targets start with it (Caddy)
	PublicPrefix  string
	ShareName     string // config.SharePrefix's one segment, for the logs' regexes
	TokenPrefix   string // config.ShareTokenPrefix, for the logs' regexes
	MaxBody       int64  // the largest request body
	MaxUpload     int64  // the largest file
	MaxUploadText string // MaxUpload in words, as the app's refusals name it
	Timeout       int64  // whole seconds, rounded up: the body idle timeout
	CSP           string
	Referrer      string
	PublicCache   string
	FrontHeader   string // config.FrontHeader, which a client may not send the app
	Types         []mimeType
	User, Group   string
	Modules       string
}

// mimeType is one extension of a published file and the type it is served
// with, from config.PublicTypes.
type mimeType struct {
	Ext  string // without the dot
	Type string
	CSP  string // config.MediaCSPFor(Type): what the browser's viewer of it needs
}

// extRE and typeRE are what a published extension and its type may be, so
// that both go into a regular expression or an argument unquoted.
var (
	extRE  = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
	typeRE = regexp.MustCompile(`^[a-z]+/[a-z0-9.+-]+$`)
)

// newSite checks cfg and opt and fills a site.
func newSite(cfg config.Config, opt Options, defaultPrefix string) (site, error) {
	var errs []error
	path := func(what, p string) string {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute path", what, p))
		} else if err := pathArg(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return p
	}
	if cfg.Storage != config.StorageLocal {
		errs = append(errs, fmt.Errorf("storage %s: only nginx can serve blobs from S3 (mediagate nginx-config)", cfg.Storage))
	}
	if cfg.MaxUpload <= 0 {
		errs = append(errs, errors.New("max upload must be positive"))
	}
	if cfg.BodyIdleTimeout <= 0 {
		errs = append(errs, errors.New("body idle timeout must be positive"))
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	switch {
	case cfg.DataDir == "":
		errs = append(errs, errors.New("data dir must not be empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("data dir: %w", err))
	}
	cfg.DataDir = dataDir
	prefix := opt.Prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	if prefix, err = filepath.Abs(prefix); err != nil {
		errs = append(errs, fmt.Errorf("prefix: %w", err))
	}
	listen := opt.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || !addrRE.MatchString(listen) {
		errs = append(errs, fmt.Errorf("listen: %q is not a host:port address", listen))
	}
	upstream := opt.Upstream
	if upstream == "" {
		if upstream, err = config.DialAddr(cfg.Addr); err != nil {
			errs = append(errs, fmt.Errorf("app address: %w", err))
		}
	}
	if strings.HasPrefix(upstream, config.UnixPrefix) {
		// Only the nginx config is tested over a Unix socket; these two are
		// refused rather than rendered untested.
		errs = append(errs, fmt.Errorf("upstream: %q is a Unix socket, which the Apache and Caddy configs do not take: let the app listen on TCP (MEDIAGATE_ADDR=127.0.0.1:8080) or put nginx in front", upstream))
	} else if _, _, err := net.SplitHostPort(upstream); err != nil || !addrRE.MatchString(upstream) {
		errs = append(errs, fmt.Errorf("upstream: %q is not a host:port address", upstream))
	}
	for _, name := range []string{opt.User, opt.Group} {
		if name != "" && !nameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("user or group: %q is not a name", name))
		}
	}
	if (opt.User == "") != (opt.Group == "") {
		errs = append(errs, errors.New("user and group: give both or neither"))
	}
	modules := opt.Modules
	if modules == "" {
		modules = DefaultModules
	}

	s := site{
		Prefix:        path("prefix", prefix),
		Listen:        listen,
		ListenHost:    host,
		ListenPort:    port,
		Upstream:      upstream,
		PrivateDir:    path("private dir", cfg.PrivateDir()),
		PublicDir:     path("public dir", cfg.PublicDir()),
		AccelPrefix:   strings.TrimSuffix(config.AccelPrefix, "/"),
		PublicPrefix:  config.PublicPrefix,
		ShareName:     strings.Trim(config.SharePrefix, "/"),
		TokenPrefix:   config.ShareTokenPrefix,
		MaxBody:       cfg.MaxUploadBody(),
		MaxUpload:     cfg.MaxUpload,
		MaxUploadText: config.HumanSize(cfg.MaxUpload),
		Timeout:       int64((cfg.BodyIdleTimeout + time.Second - 1) / time.Second),
		CSP:           config.MediaCSP,
		Referrer:      config.MediaReferrerPolicy,
		FrontHeader:   config.FrontHeader,
		PublicCache:   config.PublicCacheControl,
		Types:         mimeTypes(),
		User:          opt.User,
		Group:         opt.Group,
		Modules:       path("modules", modules),
	}
	for what, v := range map[string]string{"media CSP": s.CSP, "referrer policy": s.Referrer, "public cache control": s.PublicCache} {
		if err := valueArg(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	for _, p := range []string{config.AccelPrefix, config.PublicPrefix, config.SharePrefix} {
		if !prefixRE.MatchString(p) {
			errs = append(errs, fmt.Errorf("url prefix %q: not a plain /prefix/", p))
		}
	}
	if !wordRE.MatchString(s.ShareName) || !wordRE.MatchString(s.TokenPrefix) {
		errs = append(errs, fmt.Errorf("share prefix %q or token prefix %q: not a plain word for a regex", s.ShareName, s.TokenPrefix))
	}
	for _, t := range s.Types {
		if !extRE.MatchString(t.Ext) || !typeRE.MatchString(t.Type) {
			errs = append(errs, fmt.Errorf("public type %s %s: not a plain extension and type", t.Ext, t.Type))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return site{}, fmt.Errorf("frontconf: %w", err)
	}
	return s, nil
}

var (
	addrRE   = regexp.MustCompile(`^[A-Za-z0-9._\-]*:[0-9]+$|^\[[0-9A-Fa-f:.]+\]:[0-9]+$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)
	prefixRE = regexp.MustCompile(`^/[a-z0-9_-]+/$`)
	wordRE   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// mimeTypes lists config.PublicTypes by extension.
func mimeTypes() []mimeType {
	out := make([]mimeType, 0, len(config.PublicTypes))
	for ext, t := range config.PublicTypes {
		out = append(out, mimeType{Ext: strings.TrimPrefix(ext, "."), Type: t, CSP: config.MediaCSPFor(t)})
	}
	slices.SortFunc(out, func(a, b mimeType) int { return strings.Compare(a.Ext, b.Ext) })
	return out
}

// valueArg refuses what cannot sit between double quotes in either syntax
// without meaning something else: quotes, backslashes, control characters,
// Apache's ${VAR} and Caddy's {placeholders}.
func valueArg(s string) error {
	if strings.ContainsAny(s, "\"\\`${}") {
		return fmt.Errorf("%q holds one of \" \\ ` $ { }, which the config does not take", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q holds a control character", s)
		}
	}
	return nil
}

// pathArg is valueArg for paths, which must not hold the wildcards that
// Apache's <Directory> would match with either.
func pathArg(p string) error {
	if strings.ContainsAny(p, "*?[]") {
		return fmt.Errorf("%q holds one of * ? [ ], which the config does not take", p)
	}
	return valueArg(p)
}
