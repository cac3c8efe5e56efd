package app

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	xslog "golang.org/x/exp/slog"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
)

// uploadsPrefix is where resumable uploads live; an upload's URL is this
// prefix and its id.
const uploadsPrefix = "/api/uploads/"

// Upload-Metadata keys. The client names the file and the folder; the rest
// is the server's, and whatever else a client sends is dropped.
const (
	metaFilename = "filename"
	metaFolder   = "folder"          // a folder id; empty or "root" is the root
	metaOwner    = "mediagate-owner" // the creator's user id
	metaItem     = "mediagate-item"  // the item the upload became, once finished
)

// The headers that name the item a finished upload became.
const (
	headerItemID  = "Mediagate-Item-Id"
	headerItemURL = "Mediagate-Item-Url"
)

// uploadIDRE matches the ids preCreate gives uploads. Nothing else is ever
// turned into a path.
var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// resumable serves resumable uploads with the tus protocol (tusd under the
// hood) under uploadsPrefix. Uploads are files in cfg.UploadsDir(); a
// finished one becomes an item exactly as POST /api/media makes one, and its
// .info file stays behind as a receipt naming the item until it expires.
type resumable struct {
	a      *App
	dir    string
	tusd   *tusd.UnroutedHandler
	locker *memorylocker.MemoryLocker

	// The routes' handlers.
	discover, create, head, patch, terminate http.HandlerFunc
}

func newResumable(a *App) (*resumable, error) {
	dir := a.cfg.UploadsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("uploads dir: %w", err)
	}
	files := filestore.New(dir)
	files.DirModePerm, files.FileModePerm = 0o700, 0o600
	rs := &resumable{a: a, dir: dir, locker: memorylocker.New()}
	store := tusStore{FileStore: files, fail: rs.tusError}
	composer := tusd.NewStoreComposer()
	composer.UseCore(store)
	composer.UseTerminater(store)
	rs.locker.UseIn(composer)
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		MaxSize:                   a.cfg.MaxUpload,       // also Tus-Max-Size
		NetworkTimeout:            a.cfg.BodyIdleTimeout, // as for every body; tusUpload.WriteChunk answers it
		BasePath:                  uploadsPrefix,
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &tusd.CorsConfig{Disable: true}, // same origin only
		Logger:                    xslog.New(tusdLog{h: a.log.Handler()}),
		PreUploadCreateCallback:   rs.preCreate,
		PreFinishResponseCallback: rs.preFinish,
	})
	if err != nil {
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
				return fmt.Errorf("%w: uploads are limited to %d bytes", errs.ErrTooLarge, rs.a.cfg.MaxUpload)
			}
		} else {
			info, err := rs.owned(p, id)
			if err != nil {
				return err
			}
			if item := info.MetaData[metaItem]; item != "" {
				setItemHeaders(w.Header(), item)
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
		inner.ServeHTTP(relativeLocation{w}, r2)
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
		return refuse(fmt.Errorf("%w: uploads are limited to %d bytes", errs.ErrTooLarge, rs.a.cfg.MaxUpload))
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
	meta := tusd.MetaData{metaFilename: name, metaOwner: p.UserID}
	if folder != nil {
		meta[metaFolder] = *folder
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: newUploadID(), MetaData: meta}, nil
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
	it, err := rs.finish(ev.Context, p, ev.Upload)
	if err != nil {
		return tusd.HTTPResponse{}, rs.tusError(ev.Context, err)
	}
	h := http.Header{}
	setItemHeaders(h, it.ID)
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{headerItemID: h.Get(headerItemID), headerItemURL: h.Get(headerItemURL)}}, nil
}

// finish makes the complete upload info an item owned by p, exactly as
// POST /api/media would (sniffed, hashed, deduplicated, edit on the folder
// checked again), and keeps the info as a receipt naming the item; for a
// finished upload it returns that item. It runs under the upload's lock. A
// refusal (the folder gone or edit revoked meanwhile) ends the upload; a
// passing failure before the data is moved (the database away) leaves it
// complete, for GET …/item to finish later.
func (rs *resumable) finish(ctx context.Context, p acl.Principal, info tusd.FileInfo) (media.Item, error) {
	ctx = detach(ctx) // the bytes are all here: finish even if the client goes
	meta := info.MetaData
	if meta[metaOwner] != p.UserID || !uploadIDRE.MatchString(info.ID) {
		return media.Item{}, fmt.Errorf("%w: no such upload", errs.ErrNotFound)
	}
	if id := meta[metaItem]; id != "" {
		return rs.a.media.Get(ctx, p, id)
	}
	folder, err := folderParam(meta[metaFolder])
	if err == nil {
		err = rs.a.media.CheckUpload(ctx, p, folder)
	}
	if err != nil {
		if refused(err) {
			rs.remove(info.ID)
		}
		return media.Item{}, err
	}
	f, err := os.Open(filepath.Join(rs.dir, info.ID))
	if err != nil {
		return media.Item{}, fmt.Errorf("open upload %s: %w", info.ID, err)
	}
	it, err := rs.a.media.Upload(ctx, p, &exactReader{r: f, want: info.Size}, meta[metaFilename], folder)
	f.Close()
	if err != nil {
		if refused(err) {
			rs.remove(info.ID)
		}
		return media.Item{}, err
	}
	// The data is an item now; the info stays as the receipt.
	if err := os.Remove(filepath.Join(rs.dir, info.ID)); err != nil {
		rs.a.log.Error("remove the data of a finished upload", "upload", info.ID, "err", err)
	}
	meta[metaItem] = it.ID
	info.Offset = info.Size
	if err := rs.writeReceipt(info); err != nil {
		// The item is made; only a client that missed this answer loses.
		rs.a.log.Error("keep the receipt of a finished upload", "upload", info.ID, "item", it.ID, "err", err)
	}
	return it, nil
}

// exactReader reads r, which must hold exactly want bytes: a file that
// turns out shorter or longer than its upload announced is refused.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want || (errors.Is(err, io.EOF) && e.n != e.want) {
		return n, fmt.Errorf("%w: the upload holds %d bytes, %d were announced", errs.ErrInvalid, e.n, e.want)
	}
	return n, err
}

// refused reports the errors that will not pass by themselves.
func refused(err error) bool {
	for _, e := range []error{errs.ErrForbidden, errs.ErrNotFound, errs.ErrInvalid, errs.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
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
	id := chi.URLParam(r, "id")
	info, err := rs.owned(p, id)
	if err != nil {
		return err
	}
	if info.MetaData[metaItem] == "" {
		// Checked before taking the lock, which would interrupt a running PATCH.
		if err := rs.complete(w, info); err != nil {
			return err
		}
		lock, err := rs.locker.NewLock(id)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		if err := lock.Lock(ctx, func() {}); err != nil {
			return fmt.Errorf("%w: the upload is busy, try again", errs.ErrConflict)
		}
		defer lock.Unlock()
		if info, err = rs.owned(p, id); err != nil {
			return err
		}
		if info.MetaData[metaItem] == "" {
			if err := rs.complete(w, info); err != nil {
				return err
			}
		}
	}
	it, err := rs.finish(r.Context(), p, info)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJSON(it))
	return nil
}

// complete says whether all of the upload's bytes are on disk: a 409 with
// Upload-Offset when they are not.
func (rs *resumable) complete(w http.ResponseWriter, info tusd.FileInfo) error {
	fi, err := os.Stat(filepath.Join(rs.dir, info.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no such upload", errs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", info.ID, err)
	}
	if fi.Size() < info.Size {
		w.Header().Set("Upload-Offset", strconv.FormatInt(fi.Size(), 10))
		return fmt.Errorf("%w: the upload is not complete: %d of %d bytes received", errs.ErrConflict, fi.Size(), info.Size)
	}
	return nil
}

// owned returns the info of the upload id if p created it. For anyone else,
// as for an id never used, it is ErrNotFound.
func (rs *resumable) owned(p acl.Principal, id string) (tusd.FileInfo, error) {
	notFound := fmt.Errorf("%w: no such upload", errs.ErrNotFound)
	if !uploadIDRE.MatchString(id) {
		return tusd.FileInfo{}, notFound
	}
	info, err := readInfo(rs.dir, id)
	var syntax *json.SyntaxError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &syntax) || (err == nil && info.MetaData[metaOwner] != p.UserID) {
		return tusd.FileInfo{}, notFound
	}
	if err != nil {
		return tusd.FileInfo{}, fmt.Errorf("read upload: %w", err)
	}
	return info, nil
}

func readInfo(dir, id string) (tusd.FileInfo, error) {
	var info tusd.FileInfo
	b, err := os.ReadFile(filepath.Join(dir, id+".info"))
	if err != nil {
		return info, err
	}
	err = json.Unmarshal(b, &info)
	return info, err
}

// writeReceipt replaces the upload's info, atomically.
func (rs *resumable) writeReceipt(info tusd.FileInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(rs.dir, info.ID+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(rs.dir, info.ID+".info"))
}

// remove ends an upload: its data first, so that a half-removed upload reads
// as gone.
func (rs *resumable) remove(id string) {
	for _, name := range []string{id, id + ".info"} {
		if err := os.Remove(filepath.Join(rs.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rs.a.log.Error("remove upload", "upload", id, "err", err)
		}
	}
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

// newUploadID returns 128 random bits in the form uploadIDRE takes.
func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// relativeLocation makes tusd's Location a path: tusd builds an absolute URL
// from the request's Host and scheme, and the scheme is wrong behind a proxy
// that terminates TLS.
type relativeLocation struct{ http.ResponseWriter }

func (w relativeLocation) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.IsAbs() {
			w.Header().Set("Location", u.EscapedPath())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets tusd set read deadlines through http.ResponseController.
func (w relativeLocation) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tusStore is tusd's filestore, except that every error it returns is
// answered by fail (rs.tusError), as the app's errors are (a full disk is a
// 507, not a 500 naming the file), and that a finished upload, whose data
// became an item and whose info stays as a receipt, reads as complete: a
// client that missed the final answer sees Upload-Offset equal to
// Upload-Length, not a 404 that would make it upload again.
type tusStore struct {
	filestore.FileStore
	fail func(context.Context, error) error
}

func (s tusStore) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	up, err := s.FileStore.NewUpload(ctx, info)
	if err != nil {
		return nil, s.fail(ctx, media.StorageError("create upload", err))
	}
	return tusUpload{up, s}, nil
}

func (s tusStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	up, err := s.FileStore.GetUpload(ctx, id)
	if err == nil {
		return tusUpload{up, s}, nil
	}
	if !errors.Is(err, tusd.ErrNotFound) {
		return nil, s.fail(ctx, fmt.Errorf("read upload: %w", err))
	}
	info, rerr := readInfo(s.Path, id)
	if rerr != nil || info.MetaData[metaItem] == "" {
		return nil, err
	}
	info.Offset = info.Size
	return tusUpload{finishedUpload{info: info, infoPath: filepath.Join(s.Path, id+".info")}, s}, nil
}

// AsTerminatableUpload takes the uploads NewUpload and GetUpload return, as
// the filestore's does its own.
func (s tusStore) AsTerminatableUpload(up tusd.Upload) tusd.TerminatableUpload { return up.(tusUpload) }

// tusUpload is an upload of tusStore's, the filestore's or a finishedUpload.
type tusUpload struct {
	tusd.Upload
	s tusStore
}

// WriteChunk appends src to the upload. tusd's reader hides a failed read of
// the body from stores (it answers it itself, a stalled body as a 500), so a
// body that stalled is answered here, as everywhere else: 408. What was
// written stays, for the client to resume from.
func (u tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := u.Upload.WriteChunk(ctx, offset, src)
	if err != nil {
		return n, u.s.fail(ctx, media.StorageError("write upload", err))
	}
	if err := stalled(ctx); err != nil {
		return n, u.s.fail(ctx, err)
	}
	return n, nil
}

func (u tusUpload) GetInfo(ctx context.Context) (tusd.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	return info, u.s.fail(ctx, err)
}

func (u tusUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	rc, err := u.Upload.GetReader(ctx)
	return rc, u.s.fail(ctx, err)
}

func (u tusUpload) FinishUpload(ctx context.Context) error {
	return u.s.fail(ctx, u.Upload.FinishUpload(ctx))
}

func (u tusUpload) Terminate(ctx context.Context) error {
	var err error
	if f, ok := u.Upload.(finishedUpload); ok {
		err = f.Terminate(ctx)
	} else {
		err = u.s.FileStore.AsTerminatableUpload(u.Upload).Terminate(ctx)
	}
	if err != nil {
		return u.s.fail(ctx, fmt.Errorf("remove upload: %w", err))
	}
	return nil
}

// finishedUpload is the receipt of an upload that became an item. Deleting
// it forgets the upload; the item stays.
type finishedUpload struct {
	info     tusd.FileInfo
	infoPath string
}

var errFinished = tusd.NewError("ERR_UPLOAD_FINISHED", "the upload is finished", http.StatusConflict)

func (u finishedUpload) WriteChunk(context.Context, int64, io.Reader) (int64, error) {
	return 0, errFinished
}
func (u finishedUpload) GetInfo(context.Context) (tusd.FileInfo, error)   { return u.info, nil }
func (u finishedUpload) GetReader(context.Context) (io.ReadCloser, error) { return nil, errFinished }
func (u finishedUpload) FinishUpload(context.Context) error               { return nil }
func (u finishedUpload) Terminate(context.Context) error {
	if err := os.Remove(u.infoPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// CleanUploads removes the resumable uploads, finished or not, that saw no
// activity for the configured upload expiry: once at once, then every so
// often until ctx is done.
func (a *App) CleanUploads(ctx context.Context) {
	t := time.NewTicker(min(max(a.cfg.UploadExpiry/4, time.Second), time.Hour))
	defer t.Stop()
	for {
		n, err := cleanUploads(a.cfg.UploadsDir(), a.cfg.UploadExpiry, time.Now())
		if err != nil {
			a.log.Warn("clean uploads", "err", err)
		}
		if n > 0 {
			a.log.Info("removed expired uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanUploads removes from dir the uploads whose files were all last
// modified more than expiry before now, and returns how many it removed. An
// upload's files are those whose names start with its id and a dot, and the
// data file named by the id alone; the data goes first.
func cleanUploads(dir string, expiry time.Duration, now time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	last := map[string]time.Time{}
	files := map[string][]string{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, _, _ := strings.Cut(e.Name(), ".")
		files[id] = append(files[id], e.Name())
		if fi.ModTime().After(last[id]) {
			last[id] = fi.ModTime()
		}
	}
	var n int
	var errList []error
	for id, names := range files {
		if now.Sub(last[id]) <= expiry {
			continue
		}
		// The data file, named by the id alone, sorts first.
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(len(a), len(b)) })
		for _, name := range names {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errList = append(errList, err)
			}
		}
		n++
	}
	return n, errors.Join(errList...)
}

// tusdLog passes tusd's warnings and errors to the app's log as warnings;
// its per-request info lines are dropped (the app logs every request).
type tusdLog struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (l tusdLog) Enabled(_ context.Context, level xslog.Level) bool { return level >= xslog.LevelWarn }

func (l tusdLog) Handle(ctx context.Context, r xslog.Record) error {
	rec := slog.NewRecord(r.Time, slog.LevelWarn, "tus: "+r.Message, r.PC)
	rec.AddAttrs(l.attrs...)
	r.Attrs(func(a xslog.Attr) bool {
		rec.AddAttrs(slog.Any(a.Key, a.Value.Any()))
		return true
	})
	return l.h.Handle(ctx, rec)
}

func (l tusdLog) WithAttrs(attrs []xslog.Attr) xslog.Handler {
	out := tusdLog{h: l.h, attrs: append([]slog.Attr(nil), l.attrs...)}
	for _, a := range attrs {
		out.attrs = append(out.attrs, slog.Any(a.Key, a.Value.Any()))
	}
	return out
}

func (l tusdLog) WithGroup(string) xslog.Handler { return l }
