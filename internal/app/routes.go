package app

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
)

// Routes returns the whole HTTP interface; every route is in this function.
func (a *App) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(a.recoverPanics, a.logRequests, securityHeaders)

	r.Get("/healthz", a.healthz)
	r.Get("/readyz", a.readyz)
	r.Handle("/static/*", staticHandler())

	// The streaming path loads the session read-only: no session writes, no
	// response wrapping, one decision query.
	r.Group(func(r chi.Router) {
		r.Use(a.auth.IdentifyReadOnly)
		for _, p := range []string{config.PrivatePrefix + "{id}", config.PrivatePrefix + "{id}/{name}"} {
			r.Get(p, a.handle(a.servePrivate))
			r.Head(p, a.handle(a.servePrivate))
		}
		// nginx serves published files itself; the app only does when it runs alone.
		r.Get(config.PublicPrefix+"{name}", a.handle(a.servePublic))
		r.Head(config.PublicPrefix+"{name}", a.handle(a.servePublic))
	})

	r.Group(func(r chi.Router) {
		r.Use(a.auth.Sessions.LoadAndSave, a.auth.Identify)

		r.Get("/", a.handle(a.libraryPage))
		r.Get("/login", a.handle(a.loginPage))
		r.Post("/login", a.handle(a.login))
		r.Post("/logout", a.handle(a.logout))
		r.Get("/m/{id}", a.handle(a.mediaPage))
		r.Post("/upload", a.handle(a.uploadForm))

		r.Route("/api", func(r chi.Router) {
			r.Get("/me", a.handle(a.apiMe))
			r.Post("/me/password", a.handle(a.apiChangePassword))
			r.Get("/tokens", a.handle(a.apiListTokens))
			r.Post("/tokens", a.handle(a.apiCreateToken))
			r.Delete("/tokens/{id}", a.handle(a.apiDeleteToken))
			r.Get("/users", a.handle(a.apiListUsers))
			r.Patch("/users/{email}", a.handle(a.apiUpdateUser))
			r.Get("/media", a.handle(a.apiListMedia))
			r.Post("/media", a.handle(a.apiUpload))
			r.Get("/media/{id}", a.handle(a.apiGetMedia))
			r.Patch("/media/{id}", a.handle(a.apiUpdateMedia))
			r.Delete("/media/{id}", a.handle(a.apiDeleteMedia))
			r.Get("/media/{id}/grants", a.handle(a.listGrants(false)))
			r.Put("/media/{id}/grants/{subject}", a.handle(a.setGrant(false)))
			r.Delete("/media/{id}/grants/{subject}", a.handle(a.removeGrant(false)))
			r.Get("/media/{id}/access", a.handle(a.apiAccessLog))
			r.Post("/media/{id}/publish", a.handle(a.apiPublish))
			r.Delete("/media/{id}/publish", a.handle(a.apiUnpublish))

			r.Post("/folders", a.handle(a.apiCreateFolder))
			r.Get("/folders/{id}", a.handle(a.apiGetFolder))
			r.Patch("/folders/{id}", a.handle(a.apiUpdateFolder))
			r.Delete("/folders/{id}", a.handle(a.apiDeleteFolder))
			r.Get("/folders/{id}/grants", a.handle(a.listGrants(true)))
			r.Put("/folders/{id}/grants/{subject}", a.handle(a.setGrant(true)))
			r.Delete("/folders/{id}/grants/{subject}", a.handle(a.removeGrant(true)))

			r.Get("/groups", a.handle(a.apiListGroups))
			r.Post("/groups", a.handle(a.apiCreateGroup))
			r.Put("/groups/{name}/members/{email}", a.handle(a.setMember(true)))
			r.Delete("/groups/{name}/members/{email}", a.handle(a.setMember(false)))
			r.NotFound(a.handle(apiNotFound))
			r.MethodNotAllowed(a.handle(apiMethodNotAllowed))
		})
	})
	r.NotFound(a.handle(notFound))

	// Browsers' cross-site state-changing requests are refused; API clients
	// send neither Origin nor Sec-Fetch-Site and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(a.handle(func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: cross-origin request refused", errs.ErrForbidden)
	}))
	return cop.Handler(r)
}
