package frontconf

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"text/template"

	"github.com/mediagate/mediagate/internal/config"
)

// apacheMaxBody is the largest LimitRequestBody Apache takes; 0 lifts the
// limit (and the app enforces its own).
const apacheMaxBody = math.MaxInt32

// apacheTmpl is a whole, self-contained Apache config: it reads nothing of
// /etc/apache2.
var apacheTmpl = template.Must(template.New("apache").Parse(`# Apache httpd config for Mediagate, written by "mediagate apache-config".
# Regenerate it rather than edit it: its paths, prefixes and headers come
# from Mediagate's configuration. Run it in the foreground with
#   apache2 -f THIS_FILE -DFOREGROUND
# (the prefix directory must exist). Nothing of /etc/apache2 is read.
ServerRoot "{{.Prefix}}"
DefaultRuntimeDir "{{.Prefix}}"
PidFile "{{.Prefix}}/apache2.pid"
ErrorLog "{{.Prefix}}/error.log"
LogLevel warn
Listen {{.Listen}}
ServerName localhost
{{- if .User}}
User {{.User}}
Group {{.Group}}
{{- end}}

LoadModule mpm_event_module "{{.Modules}}/mod_mpm_event.so"
<IfModule !unixd_module>
    LoadModule unixd_module "{{.Modules}}/mod_unixd.so"
</IfModule>
<IfModule !log_config_module>
    LoadModule log_config_module "{{.Modules}}/mod_log_config.so"
</IfModule>
LoadModule authz_core_module "{{.Modules}}/mod_authz_core.so"
LoadModule alias_module "{{.Modules}}/mod_alias.so"
LoadModule allowmethods_module "{{.Modules}}/mod_allowmethods.so"
LoadModule mime_module "{{.Modules}}/mod_mime.so"
LoadModule headers_module "{{.Modules}}/mod_headers.so"
LoadModule setenvif_module "{{.Modules}}/mod_setenvif.so"
LoadModule reqtimeout_module "{{.Modules}}/mod_reqtimeout.so"
LoadModule proxy_module "{{.Modules}}/mod_proxy.so"
LoadModule proxy_http_module "{{.Modules}}/mod_proxy_http.so"
LoadModule xsendfile_module "{{.Modules}}/mod_xsendfile.so"

ServerTokens Prod
ServerSignature Off
TraceEnable Off
EnableSendfile On
# No system type map: published files get exactly the types below.
TypesConfig /dev/null

# Uploads stream to the app, which enforces the same limit{{if eq .MaxBody 0}} (over 2 GiB,
# more than Apache can count here, so Apache leaves it to the app){{end}}, and end
# when no byte arrived for as long as the app waits
# (MEDIAGATE_BODY_IDLE_TIMEOUT); slow request heads are cut off too.
LimitRequestBody {{.MaxBody}}
Timeout {{.Timeout}}
RequestReadTimeout header=20-40,MinRate=500 body=0
KeepAlive On

# Share-link tokens are credentials: the access log shows /s/<redacted>/...
# %U is the path as Apache cleaned it (slashes merged, dot segments and
# escapes resolved), which the <Location> rules see; the server's rules see
# it as sent, for a request refused before that. Either way the segment
# after /s/ is redacted however many slashes come around the s (//s/, /s//),
# and a request with anything else shaped like a token ({{.TokenPrefix}}...) in
# its path or query is logged with <redacted> for both.
{{- define "apacheshare"}}
SetEnvIf Request_URI "^/+{{.ShareName}}/+[^/]+(.*)$" mediagate_share=1 mediagate_share_rest=$1
SetEnvIf mediagate_share_rest "{{.TokenPrefix}}" mediagate_token=1
SetEnvIf Request_URI "^(?!/+{{.ShareName}}/+[^/]).*{{.TokenPrefix}}" mediagate_token=1
SetEnvIfExpr "%{QUERY_STRING} =~ /{{.TokenPrefix}}/" mediagate_token=1
{{- end}}
{{- template "apacheshare" .}}
<Location "/">
{{- template "apacheshare" .}}
</Location>
LogFormat "%a - %u %t \"%m %U%q %H\" %>s %B \"%{Referer}i\" \"%{User-Agent}i\" %D" mediagate
LogFormat "%a - %u %t \"%m /{{.ShareName}}/<redacted>%{mediagate_share_rest}e%q %H\" %>s %B \"%{Referer}i\" \"%{User-Agent}i\" %D" mediagate_share
LogFormat "%a - %u %t \"%m <redacted> %H\" %>s %B \"%{Referer}i\" \"%{User-Agent}i\" %D" mediagate_token
CustomLog "{{.Prefix}}/access.log" mediagate "expr=-z reqenv('mediagate_share') && -z reqenv('mediagate_token')"
CustomLog "{{.Prefix}}/access.log" mediagate_share "expr=-n reqenv('mediagate_share') && -z reqenv('mediagate_token')"
CustomLog "{{.Prefix}}/access.log" mediagate_token env=mediagate_token

# Nothing on disk is served but the published files.
DocumentRoot "{{.Prefix}}"
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>

# Published media, straight from disk, with no app hop. Only types a
# browser cannot run; anything else is a download.
Alias {{.PublicPrefix}} "{{.PublicDir}}/"
<Directory "{{.PublicDir}}">
    Options None
    AllowOverride None
    Require all granted
    AllowMethods GET HEAD
    XSendFile Off
    ForceType application/octet-stream
{{- range .Types}}
    <FilesMatch "\.{{.Ext}}$">
        ForceType {{.Type}}
        Header always set Content-Security-Policy "{{.CSP}}"
    </FilesMatch>
{{- end}}
    Header always set X-Content-Type-Options nosniff
    Header always set Content-Security-Policy "{{.CSP}}"
    Header always set Referrer-Policy "{{.Referrer}}"
    Header set Cache-Control "{{.PublicCache}}"
</Directory>

# Private media: the app answers an authorized request with an empty body
# and X-Sendfile: the blob's absolute path under the private dir, the only
# directory mod_xsendfile may send from (proxied requests have no directory
# of their own for it to allow). Apache sends the file with Range, HEAD and
# the conditionals, and keeps the app's headers: type, disposition,
# Cache-Control, Vary, nosniff, the CSP, Referrer-Policy.
XSendFile On
XSendFilePath "{{.PrivateDir}}"

# Everything else goes to the app. X-Sendfile-Type tells it that it may
# answer with X-Sendfile (Rack::Sendfile's convention); a client's own
# value is replaced, and a client's {{.FrontHeader}} (meant for nginx's
# config) removed. A request body goes to the app only once it asked for
# it (ping: Expect: 100-continue), so that an upload the app refuses at
# once, too large or unauthorized, gets the app's answer, not a 502 for the
# body Apache could not send. retry=0: an app that was down is tried again
# at the next request.
ProxyRequests Off
ProxyPreserveHost On
ProxyTimeout 3600
RequestHeader set X-Sendfile-Type X-Sendfile
RequestHeader unset {{.FrontHeader}}
ProxyPass {{.PublicPrefix}} !
ProxyPass / "http://{{.Upstream}}/" retry=0 ping={{.Timeout}}
ProxyPassReverse / "http://{{.Upstream}}/"
`))

// RenderApache writes a complete Apache config for cfg, to be run with
// `apache2 -f FILE -DFOREGROUND`. Apache refuses to run its workers as root:
// when it is started as root, Options.User and Group must name another user,
// one that can read the data dir.
func RenderApache(w io.Writer, cfg config.Config, opt Options) error {
	s, err := newSite(cfg, opt, DefaultApachePrefix)
	if err != nil {
		return err
	}
	if s.User == "root" {
		return fmt.Errorf("frontconf: Apache does not run its workers as root: name another user, one that can read %s", cfg.DataDir)
	}
	if s.MaxBody > apacheMaxBody {
		s.MaxBody = 0
	}
	var buf bytes.Buffer
	if err := apacheTmpl.Execute(&buf, s); err != nil {
		return fmt.Errorf("frontconf: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}
