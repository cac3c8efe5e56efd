package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/uploads"
)

// uploadsPrefix is where resumable uploads live; an upload's URL is this
// prefix and its id.
const uploadsPrefix = "/api/uploads/"

// The Upload-Metadata keys a client sends.
const (
	metaFilename = "filename"
	metaFolder   = "folder" // a folder id; empty or "root" is the root
)

// The headers that name the item a finished upload became.
const (
	headerItemID  = "Mediagate-Item-Id"
	headerItemURL = "Mediagate-Item-Url"
)

// resumable serves resumable uploads with the tus protocol (tusd under the
// hood) under uploadsPrefix. Package uploads keeps them: their bytes, their
// receipts in PostgreSQL and the lock every instance honours; a finished
// one becomes an item exactly as POST /api/media makes one.
type resumable struct {
	a    *App
	up   *uploads.Uploads
	tusd *tusd.UnroutedHandler

	// The routes' handlers.
	discover, create, head, patch, terminate http.HandlerFunc
}

func newResumable(a *App) (*resumable, error) {
	store, err := uploads.For(a.media.Blobs(), a.cfg.UploadsDir(), a.media.Spool().Dir())
	if err != nil {
		return nil, err
	}
	up, err := uploads.New(a.pool, a.media, uploads.Options{Store: store, Expiry: a.cfg.UploadExpiry, Log: a.log})
	if err != nil {
		return nil, err
	}
	rs := &resumable{a: a, up: up}
	composer := tusd.NewStoreComposer()
	up.UseIn(composer, rs.answer)
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		MaxSize:                   a.cfg.MaxUpload,       // also Tus-Max-Size
		NetworkTimeout:            a.cfg.BodyIdleTimeout, // as for every body; answer reports it
		BasePath:                  uploadsPrefix,
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &tusd.CorsConfig{Disable: true}, // same origin only
		Logger:                    uploads.TusdLogger(a.log.Handler()),
		PreUploadCreateCallback:   rs.preCreate,
		PreFinishResponseCallback: rs.preFinish,
	})
	if err != nil {
		up.Close()
		return nil, fmt.Errorf("tus handler: %w", err)
	}
	rs.tusd = h
	rs.discover = h.Middleware(http.NotFoundHandler()).ServeHTTP // it answers OPTIONS itself
	rs.create = rs.serve(h.PostFile)
	rs.head = rs.serve(h.HeadFile)
	rs.patch = rs.serve(h.PatchFile)
	rs.terminate = rs.serve(h.DelFile)
	return rs, nil
}

// Uploads returns the resumable uploads, whose janitor the serve command
// runs (uploads.Uploads.Run).
func (a *App) Uploads() *uploads.Uploads { return a.tus.up }

// Close lets go of what the app holds besides the pool it was given: the
// connections of the resumable uploads' locks. Call it once the server has
// stopped.
func (a *App) Close() { a.tus.up.Close() }

// tusCall is the request tusd serves, for its hooks, which see only a
// context.
type tusCall struct {
	w http.ResponseWriter
	r *http.Request
}

type tusCallKey struct{}

// serve adapts one of tusd's handlers. The caller must be signed in. An
// upload answers its creator only: to anyone else it is as missing as an id
// never used, so an upload's id is worth nothing to others, and their
// requests never reach tusd (whose lock would interrupt the creator's PATCH).
// Creating needs a role that may upload; preCreate checks the rest.
func (rs *resumable) serve(h http.HandlerFunc) http.HandlerFunc {
	inner := rs.tusd.Middleware(h)
	return rs.a.handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Tus-Resumable", "1.0.0")
		p, err := caller(r)
		if err != nil {
			return err
		}
		id := chi.URLParam(r, "id")
		if id == "" {
			if !p.Role.CanUpload() {
				return fmt.Errorf("%w: your role (%s) may not upload", errs.ErrForbidden, p.Role)
			}
			// tusd checks this too, but answers in its own words.
			if n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64); err == nil && n > rs.a.cfg.MaxUpload {
				return fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(rs.a.cfg.MaxUpload))
			}
		} else {
			receipt, err := rs.up.Owned(r.Context(), p, id)
			if err != nil {
				return err
			}
			if receipt.Finished() {
				setItemHeaders(w.Header(), receipt.Item)
			}
		}
		// tusd reads the id from a path stripped of the base path; the hooks
		// find the request itself in the context.
		r2 := r.WithContext(context.WithValue(r.Context(), tusCallKey{}, tusCall{w, r}))
		u := *r.URL
		u.Path, u.RawPath = id, ""
		r2.URL = &u
		// tusd sets the connection's deadlines, which are left as they are:
		// net/http reads what a handler left of a body with them, which for a
		// stalled client must fail, not wait forever, and it sets its own
		// before it reads the next request on the connection.
		rl := &relativeLocation{ResponseWriter: w}
		done := rs.a.countResumable(r2)
		inner.ServeHTTP(rl, r2)
		done(rl.status >= 400)
		return nil
	})
}

// preCreate runs before an upload is created, so a refused one stores
// nothing: the same rules as POST /api/media (a file name, not empty, the
// size limit, which tusd has checked already, and edit on the target folder).
// It names the upload and keeps the creator in its metadata.
func (rs *resumable) preCreate(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	refuse := func(err error) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, rs.tusError(ev.Context, err)
	}
	p, err := session.Caller(ev.Context)
	if err != nil {
		return refuse(err)
	}
	up := ev.Upload
	if up.Size > rs.a.cfg.MaxUpload {
		return refuse(fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(rs.a.cfg.MaxUpload)))
	}
	if up.Size <= 0 {
		return refuse(fmt.Errorf("%w: the file is empty", errs.ErrInvalid))
	}
	if up.MetaData[metaFilename] == "" {
		return refuse(fmt.Errorf("%w: Upload-Metadata must name the file (filename)", errs.ErrInvalid))
	}
	name, err := media.CleanFilename(up.MetaData[metaFilename])
	if err != nil {
		return refuse(err)
	}
	folder, err := folderParam(up.MetaData[metaFolder])
	if err != nil {
		return refuse(err)
	}
	if err := rs.a.media.CheckUpload(ev.Context, p, folder); err != nil {
		return refuse(err)
	}
	return tusd.HTTPResponse{}, uploads.Changes(p, name, folder), nil
}

// preFinish makes the upload whose last byte just arrived an item, and names
// it in the response.
func (rs *resumable) preFinish(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	p, err := session.Caller(ev.Context)
	if err != nil {
		return tusd.HTTPResponse{}, rs.tusError(ev.Context, err)
	}
	// Hashing a large file takes a while: the write deadline tusd set while
	// reading the body must not cut off the answer.
	if c, ok := ev.Context.Value(tusCallKey{}).(tusCall); ok {
		http.NewResponseController(c.w).SetWriteDeadline(time.Time{})
	}
	it, err := rs.up.Finish(ev.Context, p, ev.Upload.ID)
	if err != nil {
		return tusd.HTTPResponse{}, rs.tusError(ev.Context, err)
	}
	h := http.Header{}
	setItemHeaders(h, it.ID)
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{headerItemID: h.Get(headerItemID), headerItemURL: h.Get(headerItemURL)}}, nil
}

// item answers the item a finished upload became: GET /api/uploads/{id}/item,
// for a client that missed the final answer. A complete upload that could not
// be finished then (the database away) is finished now; an incomplete one is
// a 409 with its Upload-Offset.
func (rs *resumable) item(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	it, err := rs.up.Item(r.Context(), p, chi.URLParam(r, "id"))
	if inc := (*uploads.Incomplete)(nil); errors.As(err, &inc) {
		w.Header().Set("Upload-Offset", strconv.FormatInt(inc.Offset, 10))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJSON(it))
	return nil
}

// answer is how the store and the locker of package uploads answer through
// tusd: err as tusError makes it, or, for nil, the body's own failure if it
// stalled.
func (rs *resumable) answer(ctx context.Context, err error) error {
	if err == nil {
		err = stalled(ctx)
	}
	return rs.tusError(ctx, err)
}

// tusError turns err, from a hook or the store, into the response tusd
// sends: the same one, from the same mapping, as any other API error, so no
// path or system message reaches the client (fail logs them). tusd's own
// errors (a tusd.Error) pass as they are: they hold only tusd's words.
func (rs *resumable) tusError(ctx context.Context, err error) error {
	var own tusd.Error
	if err == nil || errors.As(err, &own) {
		return err
	}
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: uploadsPrefix}}
	if c, ok := ctx.Value(tusCallKey{}).(tusCall); ok {
		r = c.r
	}
	var c capture
	rs.a.fail(&c, r, err)
	header := tusd.HTTPHeader{}
	for k, v := range c.header {
		header[k] = v[0]
	}
	return tusd.Error{
		ErrorCode:    "ERR_" + strings.ReplaceAll(strings.ToUpper(http.StatusText(c.status)), " ", "_"),
		Message:      err.Error(),
		HTTPResponse: tusd.HTTPResponse{StatusCode: c.status, Body: c.body.String(), Header: header},
	}
}

// capture is a ResponseWriter that keeps what is written to it.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(b)
}

func setItemHeaders(h http.Header, item string) {
	h.Set(headerItemID, item)
	h.Set(headerItemURL, "/api/media/"+item)
}

// relativeLocation makes tusd's Location a path: tusd builds an absolute URL
// from the request's Host and scheme, and the scheme is wrong behind a proxy
// that terminates TLS. It keeps the status, for the metrics.
type relativeLocation struct {
	http.ResponseWriter
	status int
}

func (w *relativeLocation) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.IsAbs() {
			w.Header().Set("Location", u.EscapedPath())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets tusd set read deadlines through http.ResponseController.
func (w *relativeLocation) Unwrap() http.ResponseWriter { return w.ResponseWriter }
