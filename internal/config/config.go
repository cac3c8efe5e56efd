// Package config holds Mediagate's settings, read once from the environment and flags and validated.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// URL prefixes shared by the app and the nginx config. They are constants so
// that nginx and the app cannot disagree about them.
const (
	// PrivatePrefix is where clients ask for private media (the app decides).
	PrivatePrefix = "/smedia/"
	// AccelPrefix is nginx's internal location that maps onto PrivateDir.
	AccelPrefix = "/pmedia/"
	// PublicPrefix is where published media is served straight from PublicDir.
	PublicPrefix = "/media/"
	// SharePrefix is where share links live: /s/<token>, its pages and
	// downloads. The front ends' logs redact the token after it.
	SharePrefix = "/s/"
	// ShareTokenPrefix starts every share link's token (acl.LinkTokenPrefix
	// is it): the logs redact whatever looks like one, wherever.
	ShareTokenPrefix = "mgs_"
)

// AccelMode says when and how the app hands file delivery to the web server
// in front: nginx, Caddy or Apache.
type AccelMode string

// The accel modes.
const (
	AccelAuto   AccelMode = "auto"   // hand off only what a trusted proxy announced in X-Sendfile-Type
	AccelNginx  AccelMode = "nginx"  // always X-Accel-Redirect (the app runs only behind nginx)
	AccelCaddy  AccelMode = "caddy"  // always X-Accel-Redirect, which Caddy's handle_response follows; local storage only
	AccelApache AccelMode = "apache" // always X-Sendfile with the blob's absolute path (mod_xsendfile); local storage only
	AccelOff    AccelMode = "off"    // the app streams every file itself
)

// Headers every media response carries, from the app or from nginx.
const (
	// MediaCSP stops a media file opened as a page from running anything in
	// our origin: it is what every media response carries unless
	// MediaPolicies gives its type a policy that lets the browser's own
	// viewer work. PDFs keep it: Chromium's viewer runs in its own origin,
	// which neither sandbox nor default-src reach.
	MediaCSP = "default-src 'none'; sandbox"
	// PlayerCSP is for video and audio, which the browser shows in its own
	// media document: a <video> of the file (media-src 'self', from our
	// origin, since a sandboxed document's opaque origin fails the player's
	// load) styled inline by the browser. Still no script, form, plugin or
	// popup (sandbox without allow-scripts), and so no autoplay: the
	// viewer's play button starts it.
	PlayerCSP = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox allow-same-origin"
	// ImageCSP is for raster images, which the browser's image document
	// centres and zooms with inline styles; the image itself is the
	// document's own body, which no directive governs.
	ImageCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
	// PrivateCacheControl keeps private media out of shared caches and makes
	// the browser come back (and be re-authorized) before reusing a copy.
	PrivateCacheControl = "private, no-cache"
	// PublicCacheControl is what published files are served with.
	PublicCacheControl = "public, max-age=300"
	// MediaReferrerPolicy keeps a file opened as a page from telling other
	// sites where it came from.
	MediaReferrerPolicy = "no-referrer"
	// CallerVary names the request headers that say who is calling. Every
	// answer that depends on the caller carries it, so that no cache can hand
	// one caller's answer to another.
	CallerVary = "Cookie, Authorization"
	// FrontHeader is how the nginx config that nginx-config renders tells
	// the app, on every request it proxies, that nginx is in front:
	// "FrontHeader: FrontNginx", replacing a client's. nginx passes on only a
	// few of the headers of an X-Accel-Redirect answer and its config sets
	// the rest, so the app sends it no more than those few (in auto and
	// nginx mode alike). The Caddy and Apache configs remove a client's;
	// only a trusted proxy's is believed.
	FrontHeader = "X-Mediagate-Front"
	FrontNginx  = "nginx"
)

// MaxRanges is the most ranges one Range header may ask for; one asking
// for more gets the whole file. nginx's max_ranges is this, and the app
// answers the same when it streams a file itself.
const MaxRanges = 16

// UploadSlack is what a multipart request body may carry beyond the file
// itself (boundaries, part headers, small fields).
const UploadSlack = 1 << 20

// maxFFmpegTimeout bounds FFmpegTimeout: longer runs would meet a
// pipeline job's own 30-minute limit first.
const maxFFmpegTimeout = 10 * time.Minute

// Config is the whole of Mediagate's configuration.
type Config struct {
	DatabaseURL     string
	Addr            string
	DataDir         string // absolute after Validate
	Accel           AccelMode
	MaxUpload       int64
	CookieSecure    bool
	TrustedProxies  []netip.Prefix
	AdminEmail      string
	AdminPassword   string
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	UploadExpiry    time.Duration // resumable uploads idle this long are removed
	TrashRetention  time.Duration // trashed items and folders are purged this long after their delete
	PasswordHashes  int           // argon2id operations (19 MiB each) running at once
	BodyIdleTimeout time.Duration // a request body that sends nothing this long is ended (nginx's client_body_timeout too)
	JobWorkers      int           // media pipeline jobs worked at once by this instance; 0: none
	MetricsAddr     string        // where Prometheus metrics are served; "" serves none
	LogLevel        slog.Level    // debug, info, warn or error
	LogFormat       LogFormat
	FFmpegTimeout   time.Duration // wall-clock cap of one ffprobe or ffmpeg run; a job that reaches it is tried again, 3 times in all

	Storage     StorageKind // where blobs live
	S3Endpoint  string      // the S3 API's base URL, e.g. http://127.0.0.1:8333
	S3Bucket    string
	S3Region    string
	S3AccessKey string
	S3SecretKey string
	S3Prefix    string // key prefix, "" or ending in "/" after Validate
	S3PathStyle bool   // address the bucket in the path, not the host name
}

// LogFormat is how log lines are written.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text" // key=value pairs (slog's TextHandler)
	LogJSON LogFormat = "json" // one JSON object a line (slog's JSONHandler)
)

// logLevels are the level names a setting may give.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// StorageKind names a blob storage.
type StorageKind string

// The storages.
const (
	StorageLocal StorageKind = "local" // the data dir
	StorageS3    StorageKind = "s3"    // an S3-compatible bucket
)

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		DatabaseURL:     "postgres://postgres@127.0.0.1:5432/mediagate?sslmode=disable",
		Addr:            "127.0.0.1:8080",
		DataDir:         "./var/data",
		Accel:           AccelAuto,
		MaxUpload:       4 << 30,
		TrustedProxies:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		AdminEmail:      "admin@localhost",
		SessionIdle:     12 * time.Hour,
		SessionLifetime: 7 * 24 * time.Hour,
		UploadExpiry:    24 * time.Hour,
		TrashRetention:  720 * time.Hour,
		PasswordHashes:  runtime.NumCPU(),
		BodyIdleTimeout: 60 * time.Second,
		JobWorkers:      1,
		LogLevel:        slog.LevelInfo,
		LogFormat:       LogText,
		FFmpegTimeout:   2 * time.Minute,
		Storage:         StorageLocal,
		S3Region:        "us-east-1",
		S3PathStyle:     true,
	}
}

// Var describes one setting: its environment variable, its flag and its help.
type Var struct {
	Env, Flag, Help string
}

// Vars lists every setting, in the order the README documents them.
var Vars = []Var{
	{"DATABASE_URL", "database-url", "PostgreSQL connection string"},
	{"MEDIAGATE_ADDR", "addr", "address the app listens on: host:port, or unix:/absolute/path for a Unix socket (mode 0660)"},
	{"MEDIAGATE_DATA_DIR", "data-dir", "directory holding the media (private/, public/, tmp/, uploads/)"},
	{"MEDIAGATE_ACCEL", "accel", "auto|nginx|caddy|apache|off: when to hand files to the web server in front (X-Accel-Redirect, or X-Sendfile for apache)"},
	{"MEDIAGATE_MAX_UPLOAD", "max-upload", "largest upload, in bytes or with a unit (500MiB, 4GiB)"},
	{"MEDIAGATE_COOKIE_SECURE", "cookie-secure", "mark the session cookie Secure (true behind HTTPS)"},
	{"MEDIAGATE_TRUSTED_PROXIES", "trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For, X-Sendfile-Type and X-Mediagate-Front are believed"},
	{"MEDIAGATE_ADMIN_EMAIL", "admin-email", "email of the admin created on first start"},
	{"MEDIAGATE_ADMIN_PASSWORD", "admin-password", "password of that admin (else one is generated and printed once)"},
	{"MEDIAGATE_SESSION_IDLE", "session-idle", "sign out after this long without a request"},
	{"MEDIAGATE_SESSION_LIFETIME", "session-lifetime", "sign out this long after login, whatever happens"},
	{"MEDIAGATE_UPLOAD_EXPIRY", "upload-expiry", "remove a resumable upload after this long without activity"},
	{"MEDIAGATE_TRASH_RETENTION", "trash-retention", "purge a deleted item or folder from the trash this long after its delete"},
	{"MEDIAGATE_PASSWORD_HASHES", "password-hashes", "password hashes and checks running at once, 19 MiB each (default: one per CPU)"},
	{"MEDIAGATE_BODY_IDLE_TIMEOUT", "body-idle-timeout", "end a request whose body sends nothing, or a download whose client reads nothing, for this long (nginx's client_body_timeout and send_timeout too)"},
	{"MEDIAGATE_JOB_WORKERS", "job-workers", "media pipeline jobs (probe, posters, faststart) this instance works at once; 0 works none"},
	{"MEDIAGATE_METRICS_ADDR", "metrics-addr", "address Prometheus metrics are served on at /metrics, such as 127.0.0.1:9464 (default: none); never behind nginx"},
	{"MEDIAGATE_LOG_LEVEL", "log-level", "debug|info|warn|error: the least severe log lines written"},
	{"MEDIAGATE_LOG_FORMAT", "log-format", "text|json: how log lines are written (to stderr)"},
	{"MEDIAGATE_FFMPEG_TIMEOUT", "ffmpeg-timeout", "wall-clock cap of one ffprobe or ffmpeg run (a faststart remux gets a second more per 4 MiB); a job that reaches it is tried again, 3 times in all"},
	{"MEDIAGATE_STORAGE", "storage", "local|s3: where blobs live (the data dir, or an S3-compatible bucket)"},
	{"MEDIAGATE_S3_ENDPOINT", "s3-endpoint", "the S3 API's base URL, such as http://127.0.0.1:8333"},
	{"MEDIAGATE_S3_BUCKET", "s3-bucket", "the bucket, which must exist"},
	{"MEDIAGATE_S3_REGION", "s3-region", "the bucket's region"},
	{"MEDIAGATE_S3_ACCESS_KEY", "s3-access-key", "the access key id"},
	{"MEDIAGATE_S3_SECRET_KEY", "s3-secret-key", "the secret access key (never printed)"},
	{"MEDIAGATE_S3_PREFIX", "s3-prefix", "a key prefix for everything Mediagate stores, such as mediagate/"},
	{"MEDIAGATE_S3_PATH_STYLE", "s3-path-style", "address the bucket in the URL's path (true) or its host name (false)"},
}

// Load fills a Config from defaults, then the environment, then flags on fs
// (registered here and parsed from args), and validates it.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	// Flags default to empty, not to the environment's value, so that usage
	// text never prints a password or a database URL.
	values := map[string]*string{}
	envOf := map[string]string{}
	for _, v := range Vars {
		values[v.Flag] = fs.String(v.Flag, "", v.Help+" (env "+v.Env+")")
		envOf[v.Flag] = v.Env
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.apply(func(name string) string {
		if s := *values[name]; s != "" {
			return s
		}
		return getenv(envOf[name])
	}); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// FromEnv is Load without flags.
func FromEnv(getenv func(string) string) (Config, error) {
	return Load(flag.NewFlagSet("env", flag.ContinueOnError), nil, getenv)
}

func (c *Config) apply(get func(flag string) string) error {
	var errs []error
	setString := func(name string, dst *string) {
		if s := get(name); s != "" {
			*dst = s
		}
	}
	setDuration := func(name string, dst *time.Duration) {
		if s := get(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s: want a positive duration such as 12h, got %q", name, s))
				return
			}
			*dst = d
		}
	}
	setString("database-url", &c.DatabaseURL)
	setString("addr", &c.Addr)
	setString("data-dir", &c.DataDir)
	setString("admin-email", &c.AdminEmail)
	setString("admin-password", &c.AdminPassword)
	if s := get("accel"); s != "" {
		c.Accel = AccelMode(strings.ToLower(s))
	}
	if s := get("max-upload"); s != "" {
		n, err := ParseSize(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("max-upload: %w", err))
		}
		c.MaxUpload = n
	}
	if s := get("cookie-secure"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("cookie-secure: want true or false, got %q", s))
		}
		c.CookieSecure = b
	}
	if s := get("trusted-proxies"); s != "" {
		p, err := ParsePrefixes(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted-proxies: %w", err))
		}
		c.TrustedProxies = p
	}
	setDuration("session-idle", &c.SessionIdle)
	setDuration("session-lifetime", &c.SessionLifetime)
	setDuration("upload-expiry", &c.UploadExpiry)
	setDuration("trash-retention", &c.TrashRetention)
	setDuration("body-idle-timeout", &c.BodyIdleTimeout)
	setDuration("ffmpeg-timeout", &c.FFmpegTimeout)
	if s := get("ffmpeg-timeout"); c.FFmpegTimeout > maxFFmpegTimeout {
		errs = append(errs, fmt.Errorf("ffmpeg-timeout: want a duration up to %v, got %q", maxFFmpegTimeout, s))
	}
	if s := get("job-workers"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 64 {
			errs = append(errs, fmt.Errorf("job-workers: want a number from 0 to 64, got %q", s))
		}
		c.JobWorkers = n
	}
	setString("metrics-addr", &c.MetricsAddr)
	if s := get("log-level"); s != "" {
		l, ok := logLevels[strings.ToLower(s)]
		if !ok {
			errs = append(errs, fmt.Errorf("log-level: want debug, info, warn or error, got %q", s))
		}
		c.LogLevel = l
	}
	if s := get("log-format"); s != "" {
		c.LogFormat = LogFormat(strings.ToLower(s))
	}
	if s := get("storage"); s != "" {
		c.Storage = StorageKind(strings.ToLower(s))
	}
	setString("s3-endpoint", &c.S3Endpoint)
	setString("s3-bucket", &c.S3Bucket)
	setString("s3-region", &c.S3Region)
	setString("s3-access-key", &c.S3AccessKey)
	setString("s3-secret-key", &c.S3SecretKey)
	setString("s3-prefix", &c.S3Prefix)
	if s := get("s3-path-style"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("s3-path-style: want true or false, got %q", s))
		}
		c.S3PathStyle = b
	}
	if s := get("password-hashes"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1024 {
			errs = append(errs, fmt.Errorf("password-hashes: want a number from 1 to 1024, got %q", s))
		}
		c.PasswordHashes = n
	}
	return errors.Join(errs...)
}

// Validate checks the configuration and makes DataDir absolute.
func (c *Config) Validate() error {
	if err := CheckAddr(c.Addr); err != nil {
		return err
	}
	switch c.Accel {
	case AccelAuto, AccelNginx, AccelCaddy, AccelApache, AccelOff:
	default:
		return fmt.Errorf("accel: want auto, nginx, caddy, apache or off, got %q", c.Accel)
	}
	if c.MaxUpload <= 0 {
		return errors.New("max-upload: must be positive")
	}
	if c.UploadExpiry <= 0 {
		return errors.New("upload-expiry: must be positive")
	}
	if c.TrashRetention <= 0 {
		return errors.New("trash-retention: must be positive")
	}
	if c.PasswordHashes < 1 {
		return errors.New("password-hashes: must be at least 1")
	}
	if c.BodyIdleTimeout <= 0 {
		return errors.New("body-idle-timeout: must be positive")
	}
	if c.FFmpegTimeout <= 0 || c.FFmpegTimeout > maxFFmpegTimeout {
		return fmt.Errorf("ffmpeg-timeout: want a positive duration up to %v, got %v", maxFFmpegTimeout, c.FFmpegTimeout)
	}
	if c.DataDir == "" {
		return errors.New("data-dir: must not be empty")
	}
	switch c.LogFormat {
	case LogText, LogJSON:
	default:
		return fmt.Errorf("log-format: want text or json, got %q", c.LogFormat)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("metrics-addr: want host:port such as 127.0.0.1:9464, got %q", c.MetricsAddr)
		}
		// The app's own address is what nginx proxies to: metrics there
		// would be public.
		if c.MetricsAddr == c.Addr {
			return fmt.Errorf("metrics-addr: %q is the app's own address (addr); metrics need one of their own", c.MetricsAddr)
		}
	}
	switch c.Storage {
	case StorageLocal:
	case StorageS3:
		if err := c.validateS3(); err != nil {
			return err
		}
		if c.Accel == AccelCaddy || c.Accel == AccelApache {
			return fmt.Errorf("accel: %s serves files from the local disk only; with storage s3 put nginx in front (accel nginx or auto)", c.Accel)
		}
	default:
		return fmt.Errorf("storage: want local or s3, got %q", c.Storage)
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	c.DataDir = abs
	if !strings.Contains(c.AdminEmail, "@") {
		return fmt.Errorf("admin-email: %q is not an email address", c.AdminEmail)
	}
	return nil
}

// UnixPrefix starts an address that is a Unix socket's path: unix:/run/mediagate/app.sock.
const UnixPrefix = "unix:"

// maxSocketPath is the longest path a Unix socket may have on Linux
// (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// CheckAddr says whether a may be the app's listen address: host:port, or
// unix: followed by an absolute, clean path short enough for a socket.
func CheckAddr(a string) error {
	if path, ok := strings.CutPrefix(a, UnixPrefix); ok {
		switch {
		case !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.HasSuffix(path, "/"):
			return fmt.Errorf("addr: want unix: and a clean absolute path such as unix:/run/mediagate/app.sock, got %q", a)
		case len(path) > maxSocketPath:
			return fmt.Errorf("addr: the socket path %q is longer than the %d bytes a Unix socket may have", path, maxSocketPath)
		case strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return fmt.Errorf("addr: the socket path %q holds a control character", path)
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
		return fmt.Errorf("addr: want host:port such as 127.0.0.1:8080, or unix:/path, got %q", a)
	}
	return nil
}

// DialAddr returns the address a front end on this machine dials to reach
// a listener on addr: a Unix socket's address as it is (once checked), a
// wildcard host as the loopback address of its family.
func DialAddr(addr string) (string, error) {
	if strings.HasPrefix(addr, UnixPrefix) {
		if err := CheckAddr(addr); err != nil {
			return "", err
		}
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// UnixSocket is the path of the Unix socket the app listens on, if its
// address is one.
func (c Config) UnixSocket() (path string, ok bool) {
	if p, ok := strings.CutPrefix(c.Addr, UnixPrefix); ok {
		return p, true
	}
	return "", false
}

// s3PrefixRE is what a key prefix may hold: it ends up in object keys and
// in nginx's proxied paths, where nothing may need escaping.
var s3PrefixRE = regexp.MustCompile(`^([a-zA-Z0-9_-]+/)*[a-zA-Z0-9_-]*$`)

// CheckS3Prefix says whether p may be a key prefix: letters, digits, _ and -
// in /-separated parts.
func CheckS3Prefix(p string) error {
	if !s3PrefixRE.MatchString(p) || len(p) > 200 {
		return fmt.Errorf("s3-prefix: want letters, digits, _ and - in parts separated by /, such as mediagate/, got %q", p)
	}
	return nil
}

// bucketRE is a bucket name S3 accepts (and that needs no escaping).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (c *Config) validateS3() error {
	u, err := url.Parse(c.S3Endpoint)
	switch {
	case c.S3Endpoint == "":
		return errors.New("s3-endpoint: required with storage s3")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
		return fmt.Errorf("s3-endpoint: want a base URL such as http://127.0.0.1:8333, got %q", c.S3Endpoint)
	case c.S3Bucket == "":
		return errors.New("s3-bucket: required with storage s3")
	case !bucketRE.MatchString(c.S3Bucket):
		return fmt.Errorf("s3-bucket: %q is not a bucket name (3 to 63 lower-case letters, digits, . and -)", c.S3Bucket)
	case c.S3Region == "":
		return errors.New("s3-region: required with storage s3")
	case c.S3AccessKey == "" || c.S3SecretKey == "":
		return errors.New("s3-access-key and s3-secret-key: both required with storage s3")
	}
	c.S3Endpoint = strings.TrimSuffix(c.S3Endpoint, "/")
	if err := CheckS3Prefix(c.S3Prefix); err != nil {
		return err
	}
	if c.S3Prefix != "" && !strings.HasSuffix(c.S3Prefix, "/") {
		c.S3Prefix += "/"
	}
	return nil
}

// S3Target is where requests for the bucket go, as a client signs them:
// the endpoint's scheme, the Host header (the bucket's own host name when
// path-style addressing is off) and the path that every key follows.
func (c Config) S3Target() (scheme, host, base string) {
	u, err := url.Parse(c.S3Endpoint)
	if err != nil {
		return "", "", ""
	}
	if c.S3PathStyle {
		return u.Scheme, u.Host, "/" + c.S3Bucket + "/" + c.S3Prefix
	}
	return u.Scheme, c.S3Bucket + "." + u.Host, "/" + c.S3Prefix
}

// MaxUploadBody is the largest request body an upload may have: the file
// limit plus multipart overhead. nginx's client_max_body_size is this.
func (c Config) MaxUploadBody() int64 { return c.MaxUpload + UploadSlack }

// PrivateDir holds private blobs under content-derived names.
func (c Config) PrivateDir() string { return filepath.Join(c.DataDir, "private") }

// PublicDir holds published files; nginx serves it at PublicPrefix.
func (c Config) PublicDir() string { return filepath.Join(c.DataDir, "public") }

// TmpDir holds uploads in progress; it is on the same filesystem as the blobs
// so that finishing an upload is a rename.
func (c Config) TmpDir() string { return filepath.Join(c.DataDir, "tmp") }

// UploadsDir holds resumable uploads (tus) in progress; it is on the same
// filesystem as the blobs so that finishing one is a rename.
func (c Config) UploadsDir() string { return filepath.Join(c.DataDir, "uploads") }

// TrashDir holds blobs between the delete of their row and its commit.
func (c Config) TrashDir() string { return filepath.Join(c.DataDir, "trash") }

// FsckTrashDir holds what "mediagate fsck --repair" took out of the private
// dir (blobs without a row, damaged blobs, stray files), one dir per run;
// nothing serves it.
func (c Config) FsckTrashDir() string { return filepath.Join(c.DataDir, "fsck-trash") }

// HumanSize writes a byte count for people, in binary units with at most
// one decimal: "512 bytes", "5 MiB", "1.5 GiB". ParseSize reads it back
// (exactly when it has no decimal).
func HumanSize(n int64) string {
	if n < 1024 {
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	v, exp := float64(n)/1024, 0
	for v >= 1024 && exp < 5 {
		v /= 1024
		exp++
	}
	s := strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	return s + " " + "KMGTPE"[exp:exp+1] + "iB"
}

// ParseSize reads a byte count such as 1048576, 500MB, 500MiB or 4G (binary units).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	}[unit]
	f, err := strconv.ParseFloat(num, 64)
	n := f * mult
	if err != nil || mult == 0 || n < 1 || n >= math.MaxInt64 {
		return 0, fmt.Errorf("want a size such as 500MiB or 4GiB, got %q", s)
	}
	return int64(n), nil
}

// ParsePrefixes reads a comma-separated list of CIDRs or bare addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// MediaPolicy gives the media responses whose Content-Type matches Pattern
// (a regular expression that Go and nginx read alike, matched without
// regard to case) the policy CSP.
type MediaPolicy struct {
	Pattern string
	CSP     string
}

// MediaPolicies are the media types whose browser viewer needs more than
// MediaCSP, the first match winning. Both the app and the rendered nginx
// config (a map of the answer's Content-Type) take them from here; anything
// scriptable (HTML, SVG, XML, …) matches none and keeps MediaCSP.
var MediaPolicies = []MediaPolicy{
	{`^(video|audio)/`, PlayerCSP},
	{`^image/(png|jpeg|gif|webp|avif|bmp|apng|x-icon|vnd\.microsoft\.icon)\s*(;|$)`, ImageCSP},
}

var mediaPolicyREs = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(MediaPolicies))
	for i, p := range MediaPolicies {
		out[i] = regexp.MustCompile("(?i)" + p.Pattern)
	}
	return out
}()

// MediaCSPFor returns the Content-Security-Policy of a media response of
// contentType. The answers are remembered, for the first mediaCSPMemoMax
// types: the stored items' types are few, and every private answer asks.
func MediaCSPFor(contentType string) string {
	mediaCSPMemo.RLock()
	csp, ok := mediaCSPMemo.m[contentType]
	mediaCSPMemo.RUnlock()
	if ok {
		return csp
	}
	csp = mediaCSPOf(contentType)
	mediaCSPMemo.Lock()
	if len(mediaCSPMemo.m) < mediaCSPMemoMax {
		mediaCSPMemo.m[contentType] = csp
	}
	mediaCSPMemo.Unlock()
	return csp
}

const mediaCSPMemoMax = 1024

var mediaCSPMemo = struct {
	sync.RWMutex
	m map[string]string
}{m: make(map[string]string)}

func mediaCSPOf(contentType string) string {
	for i, re := range mediaPolicyREs {
		if re.MatchString(contentType) {
			return MediaPolicies[i].CSP
		}
	}
	return MediaCSP
}

// PublicTypes maps the extensions a published file may get to the type it is
// served with. Both the app and the rendered nginx config take it from here;
// anything else is published without an extension and served as
// application/octet-stream, so nothing active runs under PublicPrefix.
var PublicTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4v":  "video/x-m4v",
	".webm": "video/webm",
	".mov":  "video/quicktime",
	".mkv":  "video/x-matroska",
	".ogv":  "video/ogg",
	".mp3":  "audio/mpeg",
	".m4a":  "audio/mp4",
	".ogg":  "audio/ogg",
	".oga":  "audio/ogg",
	".opus": "audio/ogg",
	".wav":  "audio/wav",
	".flac": "audio/flac",
	".aac":  "audio/aac",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".webp": "image/webp",
	".avif": "image/avif",
	".pdf":  "application/pdf",
	".txt":  "text/plain",
}
