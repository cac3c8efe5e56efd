// Package app is Mediagate's HTTP interface: routes, thin handlers, the one
// place errors become status codes, and page rendering.
package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/metrics"
	"github.com/mediagate/mediagate/internal/session"
)

// App holds what the handlers need.
type App struct {
	cfg    config.Config
	pool   *pgxpool.Pool
	auth   *session.Auth
	decide *acl.Decider
	links  *acl.Links
	media  *media.Store
	send   *media.Sender
	pages  *pages
	audit  *audit.Log
	log    *slog.Logger
	tus    *resumable
	// metrics are this app's alone (a registry of its own).
	metrics *metrics.Metrics
	// pipeline starts the media pipeline again for a blob; nil without one.
	pipeline Retrier
}

// Retrier starts the media pipeline again for a blob whose job failed
// (package jobs).
type Retrier interface {
	RetryBlob(ctx context.Context, blob string) error
}

// SetPipeline lets managers retry the media pipeline through the API. When
// r can tell its queue (package jobs), the metrics report it.
func (a *App) SetPipeline(r Retrier) {
	a.pipeline = r
	if q, ok := r.(metrics.JobQueue); ok {
		a.metrics.WatchJobs(q)
	}
}

// New returns an App. It parses the templates, so a broken one fails start-up.
// decide must be the decider store uses, so that a change made through one
// drops what the other cached.
func New(cfg config.Config, pool *pgxpool.Pool, auth *session.Auth, decide *acl.Decider, store *media.Store, audit *audit.Log, log *slog.Logger) (*App, error) {
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg:    cfg,
		pool:   pool,
		auth:   auth,
		decide: decide,
		links:  acl.NewLinks(decide, auth.Hasher),
		media:  store,
		send:   media.NewSender(store.Blobs(), cfg, log),
		pages:  p,
		audit:  audit,
		log:    log,
		// Metrics read the caches, the listener and the audit buffer when
		// scraped.
		metrics: metrics.New(log),
	}
	if hub := decide.Hub(); hub != nil {
		a.metrics.WatchHub(hub)
	}
	a.metrics.WatchAudit(audit)
	if a.tus, err = newResumable(a); err != nil {
		return nil, err
	}
	// A session store that fails under LoadAndSave is answered as any other
	// error is: JSON with its code under /api/, a page elsewhere.
	auth.Sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		a.fail(w, r, fmt.Errorf("%w: session store: %w", errs.ErrUnavailable, err))
	}
	return a, nil
}

// clientIP is the address failed logins are counted against: the peer, or
// the nearest untrusted address in X-Forwarded-For when the peer is a
// trusted proxy.
func (a *App) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !a.send.Trusted(r) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !trusted(a.cfg.TrustedProxies, addr) {
			return addr.String()
		}
		host = addr.String()
	}
	return host
}

func trusted(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if err := a.pool.Ping(r.Context()); err != nil {
		a.log.WarnContext(r.Context(), "not ready", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	a.healthz(w, r)
}

// caller returns the signed-in principal or the reason there is none.
func caller(r *http.Request) (acl.Principal, error) { return session.Caller(r.Context()) }

// record puts one streaming decision on item in the read audit: the reader
// is p, or the share link link when it is set; an allowed read counts the
// bytes that the answer carries of file (a zero file: none).
func (a *App) record(r *http.Request, item string, p acl.Principal, link string, allowed bool, file media.Item) {
	a.metrics.Decision(allowed)
	if !acl.ValidID(item) {
		return
	}
	e := audit.Entry{MediaID: item, Actor: cmp.Or(p.Email, "anonymous"), Allowed: allowed, Range: r.Header.Get("Range"),
		UserID: p.UserID, Role: string(p.Role)}
	if link != "" {
		e.Actor, e.Via, e.UserID, e.Role = "link:"+link, audit.ViaLink, "", ""
	}
	if allowed && file.SHA256 != "" {
		e.Bytes = media.Served(r, `"`+file.SHA256+`"`, file.Size)
	}
	a.audit.Record(e)
}
