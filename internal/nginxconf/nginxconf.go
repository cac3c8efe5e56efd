// Package nginxconf renders the nginx configuration that fronts Mediagate:
// nginx serves private media after the app answered with X-Accel-Redirect,
// serves published media straight from disk, and proxies everything else to
// the app. Every path and URL prefix comes from package config, so nginx and
// the app cannot disagree about them.
package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/mediagate/mediagate/internal/config"
)

// Defaults for Options fields left empty.
const (
	DefaultListen = "127.0.0.1:8081"
	DefaultPrefix = "./var/nginx"
	// DefaultServerErrorLog is RenderServer's Options.ErrorLog: Debian's.
	DefaultServerErrorLog = "/var/log/nginx/error.log"
)

// UpstreamName is the name of the upstream block that points at the app. It
// must be unique within the http{} context the server block is included into.
const UpstreamName = "mediagate_app"

// mediaCSP is sent with every media file, private or public, whose type
// config.MediaPolicies gives no viewer's policy: the file may be opened as a
// top-level document, and must then not run anything.
const mediaCSP = config.MediaCSP

// mediaPolicy is a config.MediaPolicy as an entry of nginx's map.
type mediaPolicy struct {
	Pattern string // the map's case-insensitive regex key, ~* included
	CSP     string
}

// nginxEscape is what nginx unescapes in a quoted string.
var nginxEscape = regexp.MustCompile(`\\[\\"'tnr]`)

// mediaPolicies checks config.MediaPolicies for nginx: each goes into a
// double-quoted string, which a quote, a backslash escape nginx would turn
// into something else, a variable or a line break would change.
func mediaPolicies() ([]mediaPolicy, error) {
	var out []mediaPolicy
	for _, p := range config.MediaPolicies {
		for _, s := range []string{p.Pattern, p.CSP} {
			if strings.ContainsAny(s, "\"\n\r") || nginxEscape.MatchString(s) {
				return nil, fmt.Errorf("media policy %q: %q does not fit a quoted nginx string", p.Pattern, s)
			}
		}
		if strings.Contains(p.CSP, "$") {
			return nil, fmt.Errorf("media policy %q: a CSP with $ would be read as a variable", p.Pattern)
		}
		out = append(out, mediaPolicy{Pattern: "~*" + p.Pattern, CSP: p.CSP})
	}
	return out, nil
}

// Options are the parts of the nginx config that are not app configuration.
// When Upstream is empty, nginx connects to cfg.Addr, with a wildcard or
// missing host (":8080", "0.0.0.0:8080", "[::]:8080") replaced by loopback.
type Options struct {
	Listen    string   // address nginx listens on, default "127.0.0.1:8081"
	Upstream  string   // the app's address, default cfg.Addr
	Upstreams []string // several instances of the app; when set, Upstream is not used
	Prefix    string   // nginx prefix dir (pid, logs, temp files go under it); default "./var/nginx", made absolute
	User      string   // when non-empty, emit `user NAME;` (the caller passes the current user's name when running as root so workers can read the data dir)
	// ErrorLog is nginx's error log, where the share links' locations write
	// only their crit lines. Render's default is error.log under Prefix, which
	// it also makes the main one; RenderServer's is DefaultServerErrorLog,
	// and it should be the including nginx's own.
	ErrorLog string
	// ErrorPages are the HTML pages nginx answers with when it refuses a
	// request itself or cannot reach the app (see ErrorStatuses); a status
	// without one gets nginx's own page.
	ErrorPages []ErrorPage
}

// ErrorPage is a whole HTML document nginx answers a status with, and its
// Content-Security-Policy.
type ErrorPage struct {
	Status int
	Body   string
	CSP    string
}

// ErrorStatuses are the statuses nginx answers with a page of its own: 404
// for a published name that is not (or no longer) there, 413 for a body over
// the upload limit, 502 and 504 when the app is down or does not answer.
var ErrorStatuses = []int{404, 413, 502, 504}

// maxToken is how long one argument of an nginx directive may be: nginx
// reads its config through a 4096-byte buffer and refuses a longer token.
const maxToken = 4000

// errorPage is an ErrorPage as the template writes it.
type errorPage struct {
	Status int
	Body   string // quoted for nginx, "" for nginx's own page
	CSP    string
}

// errorPages checks pages for nginx and returns one per ErrorStatuses.
func errorPages(pages []ErrorPage) ([]errorPage, error) {
	var out []errorPage
	for _, st := range ErrorStatuses {
		e := errorPage{Status: st}
		for _, p := range pages {
			if p.Status != st {
				continue
			}
			// In a quoted string nginx reads \\, \", \n, \r and \t as escapes
			// and $ as a variable; a policy goes into one as it is. The body
			// stays on one line, which indenting the server block can't
			// change (its inline style is allowed by its exact hash).
			if strings.Contains(p.Body, "$") || strings.ContainsAny(p.CSP, "$\"\\\n\r") {
				return nil, fmt.Errorf("error page %d: holds $, or its CSP a quote, backslash or line break", st)
			}
			e.Body = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(p.Body) + `"`
			e.CSP = p.CSP
			if len(e.Body) > maxToken {
				return nil, fmt.Errorf("error page %d: %d bytes quoted, more than nginx takes in one argument (%d)", st, len(e.Body), maxToken)
			}
		}
		out = append(out, e)
	}
	for _, p := range pages {
		if !slices.Contains(ErrorStatuses, p.Status) {
			return nil, fmt.Errorf("error page %d: nginx answers no such status itself", p.Status)
		}
	}
	return out, nil
}

// mimeType maps file name extensions to a media type.
type mimeType struct {
	Type string
	Exts []string
}

// mimeTypes is the whole types{} block, made from config.PublicTypes: only
// types a browser cannot run as a page or script. Everything else is
// application/octet-stream.
func mimeTypes() []mimeType {
	byType := map[string][]string{}
	for ext, t := range config.PublicTypes {
		byType[t] = append(byType[t], strings.TrimPrefix(ext, "."))
	}
	out := make([]mimeType, 0, len(byType))
	for t, exts := range byType {
		slices.Sort(exts)
		out = append(out, mimeType{Type: t, Exts: exts})
	}
	slices.SortFunc(out, func(a, b mimeType) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// data is what the template sees; every string in it is already checked and,
// where needed, quoted for nginx.
type data struct {
	User          string
	Prefix        string
	Pid           string
	ErrorLog      string
	AccessLog     string
	TempPaths     []tempPath
	UpstreamName  string
	Upstreams     []string
	S3            *s3Data // when blobs are in S3
	Listen        string
	MaxBody       int64
	MaxUpload     int64
	MaxRanges     int
	BodyTimeout   string
	PublicCache   string
	AccelPrefix   string
	PrivateAlias  string
	PublicPrefix  string
	PublicAlias   string
	SharePrefix   string // config.SharePrefix, a location
	ShareMedia    string // shareMediaPrefix
	ShareName     string // its one segment, for the log's regex
	TokenPrefix   string // config.ShareTokenPrefix, for the log's regex
	CSP           string // the default of the $mg_media_csp map
	Policies      []mediaPolicy
	ErrorPages    []errorPage
	MaxUploadText string // the upload limit in words
	CallerVary    string
	FrontHeader   string // config.FrontHeader and its value for nginx
	FrontNginx    string
	Types         []mimeType
	Server        string // the rendered "server" template, indented, for Render
}

// s3Data is the S3 engine as nginx reaches it: the host it proxies to (and
// the Host header presigned URLs are signed for), and the path of the
// public prefix.
type s3Data struct {
	UpstreamName string
	Scheme       string
	Server       string // the endpoint's host and port, what nginx connects to
	Host         string // the Host header: the bucket's host name when not path-style
	PublicBase   string
	AccelPrefix  string
}

// S3UpstreamName is the name of the upstream block that points at the S3
// engine.
const S3UpstreamName = "mediagate_s3"

// shareMediaPrefix starts the internal locations that send a share link's
// download: the media locations' URIs behind it.
const shareMediaPrefix = "/_mediagate_share"

// s3AccelPrefix is where the app's X-Accel-Redirect sends presigned S3
// requests; s3store.AccelPrefix must be the same.
const s3AccelPrefix = "/_s3/"

type tempPath struct {
	Directive string
	Path      string
}

// tmpl holds both the whole file ("main") and the part that can be included
// into an existing http{} context ("server").
var tmpl = template.Must(template.New("nginx").Parse(`
{{- define "main" -}}
# nginx.conf for Mediagate, written by "mediagate nginx-config".
# Regenerate it rather than edit it: its paths and prefixes come from
# Mediagate's configuration. Run it with
#   nginx -p {{.Prefix}} -e {{.ErrorLog}} -c THIS_FILE -g 'daemon off;'
# (the prefix directory must exist).
{{if .User}}
user {{.User}};
{{- end}}
worker_processes auto;
pid {{.Pid}};
error_log {{.ErrorLog}};

events {
    worker_connections 1024;
}

http {
{{range .TempPaths}}    {{.Directive}} {{.Path}};
{{end}}
{{.Server -}}
    # After the server block, which defines the format (nginx merges
    # http-level settings into servers once the whole block is read).
    access_log {{.AccessLog}} mediagate;
}
{{end -}}

{{- define "s3proxy"}}
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host "{{.S3.Host}}";
        {{- if eq .S3.Scheme "https"}}
        proxy_ssl_server_name on;
        proxy_ssl_name "{{.S3.Host}}";
        {{- end}}
        proxy_buffering off;
        proxy_max_temp_file_size 0;
        proxy_hide_header ETag;
        proxy_hide_header Last-Modified;
        proxy_hide_header Vary;
        proxy_hide_header Cache-Control;
        proxy_hide_header Expires;
        proxy_hide_header Set-Cookie;
        proxy_hide_header X-Robots-Tag;
        proxy_hide_header X-Amz-Request-Id;
        proxy_hide_header X-Request-Id;
        proxy_hide_header X-Amz-Id-2;
        proxy_hide_header X-Amz-Version-Id;
        proxy_hide_header X-Amz-Storage-Class;
        proxy_hide_header X-Amz-Server-Side-Encryption;
        proxy_hide_header X-Amz-Expiration;
        proxy_hide_header X-Amz-Restore;
        proxy_hide_header X-Amz-Replication-Status;
        proxy_hide_header X-Amz-Mp-Parts-Count;
        proxy_hide_header X-Amz-Tagging-Count;
        proxy_hide_header X-Amz-Checksum-Crc32;
        proxy_hide_header X-Amz-Checksum-Crc32c;
        proxy_hide_header X-Amz-Checksum-Sha256;
        proxy_hide_header Access-Control-Allow-Origin;
        proxy_hide_header Access-Control-Allow-Credentials;
        proxy_hide_header Access-Control-Allow-Methods;
        proxy_hide_header Access-Control-Allow-Headers;
        proxy_hide_header Access-Control-Expose-Headers;
        proxy_hide_header Access-Control-Max-Age;
{{- end}}

{{- define "shareredirect"}}
        uninitialized_variable_warn off;
        if ($mediagate_share) {
            rewrite ^ {{.ShareMedia}}$uri last;
        }
{{- end}}

{{- define "privateheaders"}}
        add_header X-Content-Type-Options nosniff always;
        add_header Content-Security-Policy $mg_media_csp always;
        add_header Referrer-Policy no-referrer always;
        add_header Vary "{{.CallerVary}}" always;
        add_header X-Robots-Tag $mg_robots always;
        add_header X-Request-Id $request_id always;
{{- end}}

{{- define "accel"}}
        set $mg_robots $upstream_http_x_robots_tag;
        alias {{.PrivateAlias}};
        {{- template "privateheaders" .}}
{{- end}}

{{- define "s3accel"}}
        set $mg_robots $upstream_http_x_robots_tag;
        proxy_pass {{.S3.Scheme}}://{{.S3.UpstreamName}}$mg_s3_path$is_args$args;
        {{- template "s3proxy" .}}
        proxy_set_header Range $mg_s3_range;
        proxy_intercept_errors on;
        error_page 301 302 303 304 307 400 401 403 404 405 409 411 412 416 500 501 502 503 504 =502 @mediagate_s3_failed;
        add_header ETag "\"$mg_s3_sha\"" always;
        {{- template "privateheaders" .}}
{{- end}}

{{- define "errorpage"}}
        {{- if .Body}}
        # Not the type of the URI's extension (/media/x.mp4).
        types { }
        default_type text/html;
        charset utf-8;
        add_header Content-Security-Policy "{{.CSP}}" always;
        add_header X-Content-Type-Options nosniff always;
        add_header X-Frame-Options DENY always;
        add_header Referrer-Policy same-origin always;
        add_header Cache-Control no-store always;
        add_header X-Request-Id $request_id always;
        return {{.Status}} {{.Body}};
        {{- else}}
        return {{.Status}};
        {{- end}}
{{- end}}

{{define "server" -}}
# Mediagate: the app, and the server in front of it.

# Share-link tokens are credentials: the access log shows /s/<redacted>/...
# The URI is the one sent, which nginx routes as its cleaned form: the
# segment after /s/ is redacted however many slashes come around the s,
# and so is anything shaped like a token ({{.TokenPrefix}}...) anywhere else
# (of several, the first and all that follows it). nginx's error log is kept
# from them by the /s/ location below.
map $request_uri $mediagate_share_uri {
    "~^(?<mg_share>/+{{.ShareName}}/+)[^/?]+(?<mg_share_rest>.*)$" "$mg_share<redacted>$mg_share_rest";
    default $request_uri;
}
map $mediagate_share_uri $mediagate_log_uri {
    "~^(?<mg_token_head>(?:(?!{{.TokenPrefix}}).)*){{.TokenPrefix}}[A-Za-z0-9_-]*(?<mg_token_tail>(?:(?!{{.TokenPrefix}}).)*)$" "$mg_token_head<redacted>$mg_token_tail";
    "~^(?<mg_token_head>(?:(?!{{.TokenPrefix}}).)*){{.TokenPrefix}}" "$mg_token_head<redacted>";
    default $mediagate_share_uri;
}
# A media file's Content-Security-Policy, by the file's type (read before
# the range filter makes a multipart or 416 answer of it): the browser's own
# viewer of video, audio and images loads and styles the file; anything else
# (HTML, SVG, XML, PDF, text…) gets the strictest policy. The app's answers
# take theirs from the same list (config.MediaPolicies).
map $sent_http_content_type $mg_media_csp {
    default "{{.CSP}}";
{{- range .Policies}}
    "{{.Pattern}}" "{{.CSP}}";
{{- end}}
}

log_format mediagate '$remote_addr - $remote_user [$time_local] '
    '"$request_method $mediagate_log_uri $server_protocol" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $request_id';

upstream {{.UpstreamName}} {
{{- range .Upstreams}}
    server {{.}};
{{- end}}
    keepalive 128;
}
{{- with .S3}}

# The S3 engine holding the blobs. Private ones are fetched with the
# presigned URL the app hands over in X-Accel-Redirect; published ones from
# the public prefix the engine lets anyone read.
upstream {{.UpstreamName}} {
    server {{.Server}};
    keepalive 32;
}

# A Range goes to the engine only when the app checked it ("r"); for "w"
# the whole object is fetched (no Range, several, or a failed If-Range).
map $mg_s3_mode $mg_s3_range {
    r $http_range;
    default "";
}

# The engine ignores If-Range: a published file is sent whole when the
# client asks for a range only if unchanged.
map $http_if_range $mg_public_range {
    "" $http_range;
    default "";
}
{{- end}}

server {
    listen {{.Listen}};

    server_tokens off;
    absolute_redirect off;
    sendfile on;
    tcp_nopush on;
    max_ranges {{.MaxRanges}};

    # Only types a browser cannot run; anything else is a download.
    types {
{{- range .Types}}
        {{.Type}}{{range .Exts}} {{.}}{{end}};
{{- end}}
    }
    default_type application/octet-stream;

    # Uploads stream to the app, which enforces the same limit, and end
    # when no byte arrived for as long as the app waits
    # (MEDIAGATE_BODY_IDLE_TIMEOUT).
    client_max_body_size {{.MaxBody}};
    client_body_timeout {{.BodyTimeout}};
    send_timeout {{.BodyTimeout}};

    # Private media: reachable only through the app's X-Accel-Redirect.
    # nginx keeps the app's Content-Type, Content-Disposition, Cache-Control,
    # Expires, Set-Cookie and Accept-Ranges on such a redirect and drops the
    # other headers, so the security headers are set here, and Vary: the
    # answer depends on the caller's cookie or token. The app's X-Robots-Tag
    # (a share link's download is not for indexing) is copied; an answer
    # without one gets none.
{{- if not .S3}}
    #
    # A share link's download (the /s/ location marks it) is sent from a
    # copy of the location that writes only crit lines to the error log:
    # nginx's errors quote the request line, and with it the token.
    location ^~ {{.AccelPrefix}} {
        internal;
        {{- template "shareredirect" .}}
        {{- template "accel" .}}
    }

    location ^~ {{.ShareMedia}}{{.AccelPrefix}} {
        internal;
        error_log {{.ErrorLog}} crit;
        {{- template "accel" .}}
    }

    # Published media, straight from disk.
    location ^~ {{.PublicPrefix}} {
        alias {{.PublicAlias}};
        autoindex off;
        {{- if (index .ErrorPages 0).Body}}
        error_page 404 @mediagate_error_404;
        {{- end}}
        add_header X-Content-Type-Options nosniff always;
        add_header Content-Security-Policy $mg_media_csp always;
        add_header Referrer-Policy no-referrer always;
        add_header Cache-Control "{{.PublicCache}}";
        add_header X-Request-Id $request_id always;
    }
{{- else}}
    # Private media in S3: the app's X-Accel-Redirect is
    # {{.S3.AccelPrefix}}<mode><presigned path>?<signature>. Only the Host and a
    # checked Range reach the engine (never the client's cookie, token or
    # conditionals, which the app answered), the answer streams through
    # unbuffered, the engine's own headers stay behind, and any failure of
    # the engine is a 502. The access log shows the client's URI, never
    # this one. The app's X-Robots-Tag is read before the engine's answer
    # takes the place of the app's.
    # A share link's download (the /s/ location marks it) is fetched from a
    # copy of the location that writes only crit lines to the error log:
    # nginx's errors quote the request line, and with it the token.
    location ~ "^{{.S3.AccelPrefix}}(?<mg_s3_mode>[rw])(?<mg_s3_path>/.+/(?<mg_s3_sha>[0-9a-f]{64}))$" {
        internal;
        {{- template "shareredirect" .}}
        {{- template "s3accel" .}}
    }

    location ~ "^{{.ShareMedia}}{{.S3.AccelPrefix}}(?<mg_s3_mode>[rw])(?<mg_s3_path>/.+/(?<mg_s3_sha>[0-9a-f]{64}))$" {
        internal;
        error_log {{.ErrorLog}} crit;
        {{- template "s3accel" .}}
    }

    # An engine that failed is a 502; a request from outside, which never
    # reached the engine (the location is internal), stays a 404.
    location @mediagate_s3_failed {
        if ($upstream_status = "") {
            return 404;
        }
        return 502;
    }

    # Published media, from the engine's public prefix, with no app hop.
    location ^~ {{.PublicPrefix}} {
        limit_except GET {
            deny all;
        }
        proxy_pass {{.S3.Scheme}}://{{.S3.UpstreamName}}{{.S3.PublicBase}};
        {{- template "s3proxy" .}}
        proxy_hide_header Content-Disposition;
        proxy_set_header Range $mg_public_range;
        proxy_set_header If-None-Match $http_if_none_match;
        proxy_set_header If-Modified-Since $http_if_modified_since;
        proxy_intercept_errors on;
        error_page 400 401 403 404 405 409 411 412 = @mediagate_public_missing;
        error_page 416 = @mediagate_public_range;
        error_page 301 302 303 307 500 501 502 503 504 =502 @mediagate_s3_failed;
        add_header X-Content-Type-Options nosniff always;
        add_header Content-Security-Policy $mg_media_csp always;
        add_header Referrer-Policy no-referrer always;
        add_header Cache-Control "{{.PublicCache}}";
        add_header X-Request-Id $request_id always;
    }

    location @mediagate_public_missing {
        {{- template "errorpage" (index .ErrorPages 0)}}
    }

    location @mediagate_public_range {
        return 416;
    }
{{- end}}

    # Every answer names its request with nginx's $request_id, which the
    # app takes as its own (and logs), as the access log does: nginx's own
    # answers too. A location with add_header of its own repeats this one.
    add_header X-Request-Id $request_id always;

    # Everything else goes to the app. The proxy settings sit at server level
    # so that both locations below inherit them.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Request-Id $request_id;
    # The app's copy of the id is the same; only nginx's is sent.
    proxy_hide_header X-Request-Id;
    # Tells the app it may answer with X-Accel-Redirect (Rack::Sendfile's
    # convention), and that nginx is what follows it: such an answer then
    # carries only the headers nginx keeps (the internal locations above add
    # the others). A client's own values are replaced.
    proxy_set_header X-Sendfile-Type X-Accel-Redirect;
    proxy_set_header {{.FrontHeader}} {{.FrontNginx}};
    proxy_request_buffering off;
    proxy_send_timeout 1h;
    proxy_read_timeout 1h;

    # Several instances: an idempotent request that fails to reach one
    # (down, or answering 502/504) is tried on the next.
    proxy_next_upstream error timeout http_502 http_504;
    proxy_next_upstream_tries 3;

    location / {
        proxy_pass http://{{.UpstreamName}};
    }

    # Share links, whose token is in the path, also when sent as //s/ or
    # /s// (nginx merges slashes before it picks a location, and sends the
    # app the URI as it came). nginx's errors about a request quote its
    # request line, and with it the token: here only crit and worse are
    # written, which no upstream failure is, so the app being down or
    # silent for a share link leaves no line in the error log (the access
    # log has the request, redacted, with its 502 or 504). The mark sends
    # a download's X-Accel-Redirect to the media locations' copies that do
    # the same.
    location ^~ {{.SharePrefix}} {
        set $mediagate_share 1;
        proxy_pass http://{{.UpstreamName}};
        error_log {{.ErrorLog}} crit;
    }

    # nginx's own refusals, and the app being down or silent, as the app's
    # error page (with its style inline: the app may be what is down). The
    # locations with error pages of their own (the API's, S3's) keep them.
    error_page 413 @mediagate_error_413;
    error_page 502 @mediagate_error_502;
    error_page 504 @mediagate_error_504;
{{- range .ErrorPages}}
    location @mediagate_error_{{.Status}} {
        {{- template "errorpage" .}}
    }
{{- end}}

    # API clients get nginx's own refusals as JSON, like the app's.
    location /api/ {
        proxy_pass http://{{.UpstreamName}};
        error_page 413 @api_too_large;
        error_page 502 @api_502;
        error_page 504 @api_504;
    }

    location @api_too_large {
        default_type application/json;
        return 413 '{"error":"too large: uploads are limited to {{.MaxUploadText}}","code":"too_large"}\n';
    }

    location @api_502 {
        default_type application/json;
        return 502 '{"error":"the service is temporarily unavailable, try again shortly","code":"unavailable"}\n';
    }

    location @api_504 {
        default_type application/json;
        return 504 '{"error":"the service took too long to answer, try again shortly","code":"unavailable"}\n';
    }
}
{{end -}}
`))

// Render writes a complete nginx.conf for cfg. It is meant to be run with
// `nginx -p PREFIX -c FILE -g 'daemon off;'` and holds no daemon directive.
func Render(w io.Writer, cfg config.Config, opt Options) error {
	d, err := newData(cfg, opt)
	if err != nil {
		return err
	}
	var server bytes.Buffer
	if err := tmpl.ExecuteTemplate(&server, "server", d); err != nil {
		return fmt.Errorf("nginxconf: %w", err)
	}
	d.Server = indent(server.String(), "    ")
	return execute(w, "main", d)
}

// RenderServer writes only the upstream and server blocks, to be included
// into the http{} context of an existing nginx, which has its own pid, logs,
// temp paths and user: Options.Prefix and Options.User do not appear in it.
func RenderServer(w io.Writer, cfg config.Config, opt Options) error {
	if opt.ErrorLog == "" {
		opt.ErrorLog = DefaultServerErrorLog
	}
	d, err := newData(cfg, opt)
	if err != nil {
		return err
	}
	return execute(w, "server", d)
}

func execute(w io.Writer, name string, d data) error {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return fmt.Errorf("nginxconf: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func newData(cfg config.Config, opt Options) (data, error) {
	var errs []error
	check := func(what, s string, f func(string) (string, error)) string {
		q, err := f(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return q
	}

	if cfg.MaxUpload <= 0 {
		errs = append(errs, errors.New("max upload must be positive"))
	}
	if cfg.BodyIdleTimeout <= 0 {
		errs = append(errs, errors.New("body idle timeout must be positive"))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("data dir must not be empty"))
	} else if abs, err := filepath.Abs(cfg.DataDir); err != nil {
		errs = append(errs, fmt.Errorf("data dir: %w", err))
	} else {
		cfg.DataDir = abs
	}
	prefix := opt.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	prefix, err := filepath.Abs(prefix)
	if err != nil {
		errs = append(errs, fmt.Errorf("prefix: %w", err))
	}
	listen := opt.Listen
	if listen == "" {
		listen = DefaultListen
	}
	upstreams := opt.Upstreams
	if len(upstreams) == 0 {
		upstream := opt.Upstream
		if upstream == "" {
			upstream, err = config.DialAddr(cfg.Addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("app address: %w", err))
			}
		}
		upstreams = []string{upstream}
	}

	policies, err := mediaPolicies()
	if err != nil {
		errs = append(errs, err)
	}
	pages, err := errorPages(opt.ErrorPages)
	if err != nil {
		errs = append(errs, err)
	}
	under := func(name string) string { return check("prefix", filepath.Join(prefix, name), quotePath) }
	errorLog := under("error.log")
	if opt.ErrorLog != "" {
		errorLog = check("error log", opt.ErrorLog, quotePath)
	}
	d := data{
		User:          check("user", opt.User, userToken),
		Prefix:        check("prefix", prefix, quotePath),
		Pid:           under("nginx.pid"),
		ErrorLog:      errorLog,
		AccessLog:     under("access.log"),
		UpstreamName:  UpstreamName,
		Listen:        check("listen", listen, addrToken),
		MaxBody:       cfg.MaxUploadBody(),
		MaxUpload:     cfg.MaxUpload,
		MaxRanges:     config.MaxRanges,
		BodyTimeout:   nginxTime(cfg.BodyIdleTimeout),
		AccelPrefix:   check("accel prefix", config.AccelPrefix, locationPrefix),
		PrivateAlias:  check("private dir", cfg.PrivateDir()+"/", quotePath),
		PublicPrefix:  check("public prefix", config.PublicPrefix, locationPrefix),
		PublicAlias:   check("public dir", cfg.PublicDir()+"/", quotePath),
		SharePrefix:   check("share prefix", config.SharePrefix, locationPrefix),
		ShareMedia:    shareMediaPrefix,
		ShareName:     check("share prefix", strings.Trim(config.SharePrefix, "/"), regexWord),
		TokenPrefix:   check("share token prefix", config.ShareTokenPrefix, regexWord),
		CSP:           mediaCSP,
		Policies:      policies,
		ErrorPages:    pages,
		MaxUploadText: config.HumanSize(cfg.MaxUpload),
		CallerVary:    config.CallerVary,
		FrontHeader:   config.FrontHeader,
		FrontNginx:    config.FrontNginx,
		PublicCache:   config.PublicCacheControl,
		Types:         mimeTypes(),
	}
	for _, u := range upstreams {
		d.Upstreams = append(d.Upstreams, check("upstream", u, addrToken))
	}
	// The metrics' listener is never proxied: it is not the public's.
	if cfg.MetricsAddr != "" {
		metrics, _ := config.DialAddr(cfg.MetricsAddr)
		for _, a := range append([]string{listen}, upstreams...) {
			if a == cfg.MetricsAddr || a == metrics {
				errs = append(errs, fmt.Errorf("%s is the metrics address (MEDIAGATE_METRICS_ADDR), which nginx must not reach", a))
			}
		}
	}
	if cfg.Storage == config.StorageS3 {
		scheme, host, base := cfg.S3Target()
		server := ""
		if u, err := url.Parse(cfg.S3Endpoint); err == nil {
			server = u.Host
			if u.Port() == "" {
				server = net.JoinHostPort(u.Hostname(), map[string]string{"https": "443"}[u.Scheme]+map[string]string{"http": "80"}[u.Scheme])
			}
		}
		if scheme != "http" && scheme != "https" {
			errs = append(errs, fmt.Errorf("s3 endpoint: %q is not an http or https URL", cfg.S3Endpoint))
		}
		d.S3 = &s3Data{
			UpstreamName: S3UpstreamName,
			Scheme:       scheme,
			Server:       check("s3 endpoint", server, addrToken),
			Host:         check("s3 endpoint", host, addrToken),
			PublicBase:   check("s3 public path", base+"public/", locationPrefix),
			AccelPrefix:  s3AccelPrefix,
		}
	}
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		d.TempPaths = append(d.TempPaths, tempPath{t + "_temp_path", under(t + "_temp")})
	}
	if err := errors.Join(errs...); err != nil {
		return data{}, fmt.Errorf("nginxconf: %w", err)
	}
	return d, nil
}

// nginxTime writes d as an nginx time: whole seconds, else milliseconds
// (nginx's finest unit) rounded up.
func nginxTime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10) + "ms"
}

var (
	// bareRe matches what nginx takes unquoted and without surprises.
	bareRe  = regexp.MustCompile(`^[A-Za-z0-9/._+,=@%:-]+$`)
	addrRe  = regexp.MustCompile(`^[A-Za-z0-9._:\[\]/-]+$`)
	wordRe  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	userRe  = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*( [A-Za-z0-9._][A-Za-z0-9._-]*)?$`)
	badPath = "\"'\\;{}$#"
)

// quotePath returns an absolute path as an nginx argument: bare when that is
// safe, else in double quotes. Paths nginx would misread even quoted (quotes,
// backslashes, variables, control characters) are refused, and so are ;, {,
// } and # so that a mistake can never end or open a directive or block.
func quotePath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	if strings.ContainsAny(p, badPath) {
		return "", fmt.Errorf("%q holds one of %s, which the nginx config does not take", p, badPath)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q holds a control character", p)
		}
	}
	if bareRe.MatchString(p) {
		return p, nil
	}
	return `"` + p + `"`, nil
}

// locationPrefix checks a URL prefix used as a location: it must be a plain
// path that starts and ends with a slash (the alias ends with one too, which
// keeps /media../ from escaping the directory).
func locationPrefix(p string) (string, error) {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] != '/' || !bareRe.MatchString(p) || strings.Contains(p, "..") {
		return "", fmt.Errorf("%q is not a plain /prefix/", p)
	}
	return p, nil
}

// regexWord checks a literal that goes into the log's regexes as it is:
// letters, digits and underscores only.
func regexWord(s string) (string, error) {
	if !wordRe.MatchString(s) {
		return "", fmt.Errorf("%q is not a plain word", s)
	}
	return s, nil
}

// addrToken checks a listen or upstream address such as 127.0.0.1:8081,
// [::1]:8080 or unix:/run/mediagate.sock.
func addrToken(a string) (string, error) {
	if !addrRe.MatchString(a) {
		return "", fmt.Errorf("%q is not an address nginx can take", a)
	}
	return a, nil
}

// userToken checks the argument of the user directive: "user" or "user group".
func userToken(u string) (string, error) {
	if u != "" && !userRe.MatchString(u) {
		return "", fmt.Errorf("%q is not a user name (or user and group)", u)
	}
	return u, nil
}

// indent prefixes every non-empty line of s with pre.
func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString(pre)
		}
		b.WriteString(l)
	}
	return b.String()
}
