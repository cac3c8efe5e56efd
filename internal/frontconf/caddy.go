package frontconf

import (
	"bytes"
	"fmt"
	"io"
	"text/template"

	"github.com/mediagate/mediagate/internal/config"
)

// caddyTmpl is a whole Caddyfile, for Caddy 2.6 and later.
var caddyTmpl = template.Must(template.New("caddy").Parse(`
{{- define "caddyuri"}}request>uri regexp "^(/+{{.ShareName}}/+)[^/?]+|{{.TokenPrefix}}[A-Za-z0-9_-]*" "$1<redacted>"{{end -}}
# Caddyfile for Mediagate, written by "mediagate caddy-config".
# Regenerate it rather than edit it: its paths, prefixes and headers come
# from Mediagate's configuration. Run it with
#   caddy run --config THIS_FILE --adapter caddyfile
# and check it, offline, with "caddy validate" and the same flags.
{
	admin off
	auto_https off
	# Caddy's own log (stderr) quotes a failed request's URI, share token
	# and all (the app down is a 502 for it): the same filter as the access
	# log's, below.
	log {
		format filter {
			wrap json
			fields {
				{{template "caddyuri" .}}
			}
		}
	}
	storage file_system "{{.Prefix}}/data"
	# A client has a minute to send its request head, as with nginx.
	servers {
		timeouts {
			read_header 60s
		}
	}
}

http://:{{.ListenPort}} {
{{- if .ListenHost}}
	bind {{.ListenHost}}
{{- end}}

	# Share-link tokens are credentials: the access log shows /s/<redacted>/...
	# (Caddy itself leaves out cookies and Authorization). The URI is the one
	# sent: the segment after /s/ is redacted however many slashes come
	# around the s (//s/, /s//), and so is anything shaped like a token
	# ({{.TokenPrefix}}...) anywhere else in the URI.
	log {
		output file "{{.Prefix}}/access.log"
		format filter {
			wrap json
			fields {
				{{template "caddyuri" .}}
				request>headers>Referer delete
			}
		}
	}

	# Uploads stream to the app, which enforces the same limit and ends a
	# body that sends nothing for MEDIAGATE_BODY_IDLE_TIMEOUT. A body that
	# says it is over the limit is refused before any of it is sent on, API
	# clients getting JSON like the app's.
	request_body {
		max_size {{.MaxBody}}
	}
	@too_large expression ` + "`" + `{http.request.header.Content-Length} != "" && int({http.request.header.Content-Length}) > {{.MaxBody}}` + "`" + `
	handle @too_large {
		@api path /api/*
		header @api Content-Type application/json
		respond @api ` + "`" + `{"error":"too large: uploads are limited to {{.MaxUploadText}}","code":"too_large"}` + "`" + ` 413
		respond "too large: uploads are limited to {{.MaxUploadText}}" 413
	}

	# Published media, straight from disk, with no app hop. Only types a
	# browser cannot run; anything else is a download.
	handle_path {{.PublicPrefix}}* {
		root * "{{.PublicDir}}"
		map {path} {mediagate_type} {
{{- range .Types}}
			~\.{{.Ext}}$ {{.Type}}
{{- end}}
			default application/octet-stream
		}
		map {path} {mediagate_csp} {
{{- range .Types}}
			~\.{{.Ext}}$ "{{.CSP}}"
{{- end}}
			default "{{.CSP}}"
		}
		header X-Content-Type-Options nosniff
		header Content-Security-Policy {mediagate_csp}
		header Referrer-Policy "{{.Referrer}}"
		@published file
		header @published Content-Type {mediagate_type}
		header @published Cache-Control "{{.PublicCache}}"
		@write not method GET HEAD
		respond @write 405
		file_server
	}

	# Everything else goes to the app. X-Sendfile-Type tells it that it may
	# answer with X-Accel-Redirect (Rack::Sendfile's convention); a client's
	# own value is replaced. A client's {{.FrontHeader}} is removed: it would
	# tell the app that nginx, which sets the security headers itself, is in
	# front.
	#
	# Private media: to an authorized request the app answers with an empty
	# body and X-Accel-Redirect: {{.AccelPrefix}}/ab/cd/<sha256>, which Caddy
	# sends from the private dir, with Range, HEAD and the conditionals. Caddy
	# drops the app's headers on such an answer unless told to copy them:
	# they carry the type, disposition, Cache-Control, Vary, nosniff, the CSP
	# and Referrer-Policy; the redirect itself and the empty body's length
	# stay behind. Nothing else reaches the private dir.
	handle {
		reverse_proxy {{.Upstream}} {
			header_up X-Sendfile-Type X-Accel-Redirect
			header_up -{{.FrontHeader}}
			@accel header X-Accel-Redirect *
			handle_response @accel {
				root * "{{.PrivateDir}}"
				copy_response_headers {
					exclude X-Accel-Redirect Content-Length
				}
				rewrite * {rp.header.X-Accel-Redirect}
				uri strip_prefix {{.AccelPrefix}}
				file_server
			}
		}
	}
}
`))

// RenderCaddy writes a Caddyfile for cfg, to be run with
// `caddy run --config FILE --adapter caddyfile`.
func RenderCaddy(w io.Writer, cfg config.Config, opt Options) error {
	if opt.User != "" || opt.Group != "" {
		return fmt.Errorf("frontconf: Caddy runs as the user that starts it; it takes no user")
	}
	s, err := newSite(cfg, opt, DefaultCaddyPrefix)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := caddyTmpl.Execute(&buf, s); err != nil {
		return fmt.Errorf("frontconf: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}
