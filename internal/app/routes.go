package app

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/reqid"
)

// Routes returns the whole HTTP interface: router's routes behind the
// guards every request passes.
func (a *App) Routes() http.Handler {
	r := a.router()

	// Browsers' cross-site state-changing requests are refused; API clients
	// send neither Origin nor Sec-Fetch-Site and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(shareHeaders(a.handle(func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: cross-origin request refused", errs.ErrForbidden)
	})))
	// Outermost, so that even a refusal never waits forever for a body, and
	// every log line of a request, a refusal's too, names it.
	return reqid.Middleware(a.limitBodyIdle(cop.Handler(r)))
}

// router holds every route; the API document (internal/apidoc) describes
// those under /api/, and a test checks that the two agree.
func (a *App) router() chi.Router {
	r := chi.NewRouter()
	r.Use(a.recoverPanics, a.logRequests, baseHeaders, shareHeaders)
	// HEAD on any GET route without a HEAD route of its own runs the GET
	// handler: same status and headers, and net/http sends no body.
	r.Use(middleware.GetHead)

	r.Get("/healthz", a.healthz)
	r.Get("/readyz", a.readyz)
	r.Handle("/static/*", a.pages.assets)

	// The private streaming path reads who the session belongs to and
	// nothing else of it: no session load or write, no response wrapping,
	// one decision (cached).
	r.Group(func(r chi.Router) {
		r.Use(a.auth.Peek)
		for _, p := range []string{config.PrivatePrefix + "{id}", config.PrivatePrefix + "{id}/{name}"} {
			r.Get(p, a.handle(a.servePrivate))
			r.Head(p, a.handle(a.servePrivate))
		}
		// Derived files (poster, thumbnail, rendition), under the item's decision.
		r.Get(config.PrivatePrefix+"{id}/"+derivedPrefix+"/{kind}", a.handle(a.serveDerived))
		r.Head(config.PrivatePrefix+"{id}/"+derivedPrefix+"/{kind}", a.handle(a.serveDerived))
		r.Get(config.PrivatePrefix+"{id}/"+derivedPrefix+"/captions/{caption}", a.handle(a.serveCaption))
		r.Head(config.PrivatePrefix+"{id}/"+derivedPrefix+"/captions/{caption}", a.handle(a.serveCaption))
		// nginx serves published files itself; the app only does when it runs alone.
		r.Get(config.PublicPrefix+"{name}", a.handle(a.servePublic))
		r.Head(config.PublicPrefix+"{name}", a.handle(a.servePublic))
	})

	// A share link's bytes: the session is loaded read-only, since the
	// links unlocked by password are read from it, never written.
	r.Group(func(r chi.Router) {
		r.Use(a.auth.IdentifyReadOnly)
		for _, p := range []string{sharePrefix + "{token}/download", sharePrefix + "{token}/download/{item}"} {
			r.Get(p, a.handle(a.shareDownload))
			r.Head(p, a.handle(a.shareDownload))
		}
		for _, p := range []string{sharePrefix + "{token}/" + derivedPrefix + "/{kind}", sharePrefix + "{token}/download/{item}/" + derivedPrefix + "/{kind}"} {
			r.Get(p, a.handle(a.shareDerived))
			r.Head(p, a.handle(a.shareDerived))
		}
		for _, p := range []string{sharePrefix + "{token}/" + derivedPrefix + "/captions/{caption}", sharePrefix + "{token}/download/{item}/" + derivedPrefix + "/captions/{caption}"} {
			r.Get(p, a.handle(a.shareCaption))
			r.Head(p, a.handle(a.shareCaption))
		}
	})

	// Share pages are anonymous: the session only remembers which links'
	// passwords were given in this browser.
	r.Group(func(r chi.Router) {
		r.Use(a.auth.Sessions.LoadAndSave)
		r.Get(sharePrefix+"{token}", a.handle(a.sharePage))
		r.Post(sharePrefix+"{token}", a.handle(a.shareUnlock))
		r.Get(sharePrefix+"{token}/item/{item}", a.handle(a.shareItemPage))
	})

	// Resumable uploads (tus, see tus.go) load the session read-only, as the
	// streaming path does: PATCH bodies stream through, never buffered by
	// LoadAndSave nor followed by a session write.
	r.Route("/api/uploads", func(r chi.Router) {
		r.Use(a.auth.IdentifyReadOnly)
		r.Options("/", a.tus.discover)
		r.Post("/", a.tus.create)
		r.Head("/{id}", a.tus.head)
		r.Patch("/{id}", a.tus.patch)
		r.Delete("/{id}", a.tus.terminate)
		r.Get("/{id}/item", a.handle(a.tus.item))
		r.NotFound(a.handle(apiNotFound))
		r.MethodNotAllowed(a.handle(apiMethodNotAllowed))
	})

	r.Group(func(r chi.Router) {
		r.Use(a.auth.Sessions.LoadAndSave, a.auth.Identify)

		r.Get("/", a.handle(a.libraryPage))
		r.Get("/login", a.handle(a.loginPage))
		r.Post("/login", a.handle(a.login))
		r.Post("/logout", a.handle(a.logout))
		r.Get("/m/{id}", a.handle(a.mediaPage))
		r.Post("/upload", a.handle(a.uploadForm))
		r.Get("/account", a.handle(a.accountPage))
		r.Get("/trash", a.handle(a.trashPage))
		r.Get("/admin/users", a.handle(a.adminUsersPage))
		r.Get("/admin/groups", a.handle(a.adminGroupsPage))

		r.Route("/api", func(r chi.Router) {
			r.Get("/openapi.json", apiDocument)
			r.Get("/me", a.handle(a.apiMe))
			r.Post("/me/password", a.handle(a.apiChangePassword))
			r.Get("/tokens", a.handle(a.apiListTokens))
			r.Post("/tokens", a.handle(a.apiCreateToken))
			r.Delete("/tokens/{id}", a.handle(a.apiDeleteToken))
			r.Get("/users", a.handle(a.apiListUsers))
			r.Post("/users", a.handle(a.apiCreateUser))
			r.Patch("/users/{email}", a.handle(a.apiUpdateUser))
			r.Delete("/users/{email}", a.handle(a.apiDeleteUser))
			r.Post("/users/{email}/password", a.handle(a.apiResetPassword))
			r.Get("/media", a.handle(a.apiListMedia))
			r.Post("/media", a.handle(a.apiUpload))
			r.Post("/media/batch", a.handle(a.apiBatch))
			r.Get("/media/{id}", a.handle(a.apiGetMedia))
			r.Patch("/media/{id}", a.handle(a.apiUpdateMedia))
			r.Delete("/media/{id}", a.handle(a.apiDeleteMedia))
			r.Get("/media/{id}/grants", a.handle(a.listGrants(false)))
			r.Put("/media/{id}/grants/{subject}", a.handle(a.setGrant(false)))
			r.Delete("/media/{id}/grants/{subject}", a.handle(a.removeGrant(false)))
			r.Get("/media/{id}/access", a.handle(a.apiAccessLog))
			r.Post("/media/{id}/pipeline", a.handle(a.apiRetryPipeline))
			r.Put("/media/{id}/file", a.handle(a.apiReplace))
			r.Put("/media/{id}/poster", a.handle(a.apiSetPoster))
			r.Delete("/media/{id}/poster", a.handle(a.apiClearPoster))
			r.Post("/media/{id}/captions", a.handle(a.apiAddCaption))
			r.Delete("/media/{id}/captions/{caption}", a.handle(a.apiDeleteCaption))
			r.Post("/media/{id}/publish", a.handle(a.apiPublish))
			r.Delete("/media/{id}/publish", a.handle(a.apiUnpublish))
			r.Get("/media/{id}/links", a.handle(a.listLinks(false)))
			r.Post("/media/{id}/links", a.handle(a.createLink(false)))

			r.Post("/folders", a.handle(a.apiCreateFolder))
			r.Get("/folders/{id}", a.handle(a.apiGetFolder))
			r.Patch("/folders/{id}", a.handle(a.apiUpdateFolder))
			r.Delete("/folders/{id}", a.handle(a.apiDeleteFolder))
			r.Get("/folders/{id}/grants", a.handle(a.listGrants(true)))
			r.Put("/folders/{id}/grants/{subject}", a.handle(a.setGrant(true)))
			r.Delete("/folders/{id}/grants/{subject}", a.handle(a.removeGrant(true)))
			r.Get("/folders/{id}/links", a.handle(a.listLinks(true)))
			r.Post("/folders/{id}/links", a.handle(a.createLink(true)))
			r.Delete("/links/{id}", a.handle(a.revokeLink))

			r.Get("/trash", a.handle(a.apiListTrash))
			r.Post("/trash/{id}/restore", a.handle(a.apiRestoreTrash))
			r.Delete("/trash/{id}", a.handle(a.apiPurgeTrash))

			r.Get("/groups", a.handle(a.apiListGroups))
			r.Post("/groups", a.handle(a.apiCreateGroup))
			r.Patch("/groups/{name}", a.handle(a.apiRenameGroup))
			r.Delete("/groups/{name}", a.handle(a.apiDeleteGroup))
			r.Put("/groups/{name}/members/{email}", a.handle(a.setMember(true)))
			r.Delete("/groups/{name}/members/{email}", a.handle(a.setMember(false)))
			r.NotFound(a.handle(apiNotFound))
			r.MethodNotAllowed(a.handle(apiMethodNotAllowed))
		})
	})
	r.NotFound(a.handle(notFound))
	return r
}
