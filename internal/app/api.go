package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/apidoc"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// itemJSON is an item as the API shows it.
type itemJSON struct {
	ID          string        `json:"id"`
	Filename    string        `json:"filename"`
	Size        int64         `json:"size"`
	SHA256      string        `json:"sha256"`
	ContentType string        `json:"content_type"`
	CreatedAt   time.Time     `json:"created_at"`
	URL         string        `json:"url"`
	Owner       string        `json:"owner,omitempty"`
	Folder      *string       `json:"folder"`
	FolderPath  *string       `json:"folder_path,omitempty"`        // in listings and GET /api/media/{id}
	PathHidden  bool          `json:"folder_path_hidden,omitempty"` // some folders of the path are "…"
	PublicURL   string        `json:"public_url,omitempty"`
	Permission  string        `json:"permission"`
	Media       *mediaJSON    `json:"media,omitempty"`    // what the pipeline found, for video, audio and images
	Captions    []captionJSON `json:"captions,omitempty"` // GET /api/media/{id} only
}

// mediaJSON is what the media pipeline knows of an item's content.
type mediaJSON struct {
	State      string  `json:"state"`            // pending, ready or failed
	Reason     string  `json:"reason,omitempty"` // why it failed
	Kind       string  `json:"kind,omitempty"`   // video, audio, image
	Duration   float64 `json:"duration,omitempty"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	Rotation   int     `json:"rotation,omitempty"`
	VideoCodec string  `json:"video_codec,omitempty"`
	AudioCodec string  `json:"audio_codec,omitempty"`
	Bitrate    int64   `json:"bitrate,omitempty"`
	PosterURL  string  `json:"poster_url,omitempty"`
	ThumbURL   string  `json:"thumb_url,omitempty"`
	StreamURL  string  `json:"stream_url,omitempty"` // the faststart rendition a player should get, when there is one
}

// withInfo is toJSON with what the pipeline knows.
func withInfo(it media.Item, infos map[string]media.Info) itemJSON {
	j := toJSON(it)
	in, ok := infos[it.SHA256]
	if !ok {
		return j
	}
	m := &mediaJSON{State: in.State, Reason: in.Reason, Kind: in.Kind, Duration: in.Duration, Width: in.Width,
		Height: in.Height, Rotation: in.Rotation, VideoCodec: in.VideoCodec, AudioCodec: in.AudioCodec, Bitrate: in.Bitrate}
	for kind, dst := range map[string]*string{media.DerivedPoster: &m.PosterURL, media.DerivedThumb: &m.ThumbURL, media.DerivedStream: &m.StreamURL} {
		if in.Derived[kind] {
			*dst = derivedURL(it.ID, kind)
		}
	}
	j.Media = m
	return j
}

// derivedURL is where an item's derived file of kind is.
func derivedURL(id, kind string) string {
	return config.PrivatePrefix + id + "/" + derivedPrefix + "/" + kind
}

func toJSON(it media.Item) itemJSON {
	j := itemJSON{
		ID: it.ID, Filename: it.Filename, Size: it.Size, SHA256: it.SHA256, ContentType: it.ContentType,
		CreatedAt: it.CreatedAt, URL: privateURL(it), Owner: it.Owner, Folder: it.Folder,
		Permission: it.Permission.String(),
	}
	if it.PublicName != "" {
		j.PublicURL = config.PublicPrefix + it.PublicName
	}
	if it.Path != nil {
		j.FolderPath, j.PathHidden = &it.Path.Path, it.Path.Hidden
	}
	return j
}

// privateURL is the item's streaming URL; the name in it is only decoration.
func privateURL(it media.Item) string {
	return config.PrivatePrefix + it.ID + "/" + url.PathEscape(it.Filename)
}

// apiDocument serves the API's OpenAPI document to anyone: it describes the
// interface and holds no data.
func apiDocument(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", apidoc.ETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(apidoc.JSON))
}

func (a *App) apiMe(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": p.UserID, "email": p.Email, "role": string(p.Role)})
	return nil
}

func (a *App) apiListMedia(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	o := media.ListOptions{Cursor: q.Get("cursor"), Limit: limit, Search: q.Get("q"), Sort: q.Get("sort"),
		Type: q.Get("type"), Paths: true}
	if f := q.Get("folder"); f != "" {
		if o.Folder, err = folderParam(f); err != nil {
			return err
		}
		o.InFolder = true
	}
	switch q.Get("subfolders") {
	case "", "0":
	case "1":
		o.Subfolders = true
	default:
		return fmt.Errorf("%w: subfolders must be 1 or 0", errs.ErrInvalid)
	}
	page, err := a.media.List(r.Context(), p, o)
	if err != nil {
		return err
	}
	infos, err := a.media.BlobInfos(r.Context(), blobsOf(page.Items))
	if err != nil {
		return err
	}
	items := make([]itemJSON, len(page.Items))
	for i, it := range page.Items {
		items[i] = withInfo(it, infos)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": page.Next})
	return nil
}

// limitParam reads ?limit=; 0 means the default.
func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	limit, err := strconv.Atoi(s)
	if err != nil || limit < 1 {
		return 0, fmt.Errorf("%w: limit must be a positive number", errs.ErrInvalid)
	}
	return limit, nil
}

func (a *App) apiGetMedia(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	it, err := a.media.Get(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	infos, err := a.media.BlobInfos(r.Context(), []string{it.SHA256})
	if err != nil {
		return err
	}
	captions, err := a.media.Captions(r.Context(), it.ID)
	if err != nil {
		return err
	}
	items := []media.Item{it}
	if err := a.media.FolderPaths(r.Context(), p, items); err != nil {
		return err
	}
	it = items[0]
	j := withInfo(it, infos)
	j.Captions = captionsJSON(captions)
	writeJSON(w, http.StatusOK, j)
	return nil
}

// blobsOf lists the items' blobs.
func blobsOf(items []media.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.SHA256
	}
	return out
}

func (a *App) apiUpload(w http.ResponseWriter, r *http.Request) error {
	it, err := a.upload(w, r)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/media/"+it.ID)
	writeJSON(w, http.StatusCreated, toJSON(it))
	return nil
}

// upload takes a multipart field "file" or a raw body named by ?filename=,
// streams it to disk and stores it. The caller is checked before a byte is read.
func (a *App) upload(w http.ResponseWriter, r *http.Request) (_ media.Item, err error) {
	p, err := caller(r)
	if err != nil {
		return media.Item{}, err
	}
	if !p.Role.CanUpload() {
		return media.Item{}, fmt.Errorf("%w: your role (%s) may not upload", errs.ErrForbidden, p.Role)
	}
	done := a.countUpload(r)
	defer func() { done(err != nil) }()
	if r.ContentLength > a.cfg.MaxUploadBody() {
		return media.Item{}, fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(a.cfg.MaxUpload))
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxUploadBody())
	up, err := uploadBody(r)
	if err != nil {
		return media.Item{}, err
	}
	folder, err := folderParam(up.fields.Get("folder"))
	if err != nil {
		return media.Item{}, err
	}
	// Permission for the target folder is checked before a byte is stored.
	return a.media.Upload(r.Context(), p, up.body, up.filename, folder)
}

// incoming is a file found in a request, its body not yet read, with the
// small fields that came with it.
type incoming struct {
	body      io.Reader
	multipart bool       // the body is a form's "file" part
	filename  string     // ?filename=, else the file part's own name
	fields    url.Values // each asked-for field: the form's, else the query's
}

// fileBody finds the file in r without buffering it: the "file" part of a
// multipart form, whose small fields named in fields must come before it
// (other parts are skipped), or else the raw body. The query's filename and
// fields apply to both.
func fileBody(r *http.Request, fields ...string) (incoming, error) {
	q := r.URL.Query()
	in := incoming{filename: q.Get("filename"), fields: url.Values{}}
	for _, f := range fields {
		in.fields.Set(f, q.Get(f))
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		in.body = r.Body
		return in, nil
	}
	in.multipart = true
	mr, err := r.MultipartReader()
	if err != nil {
		return in, fmt.Errorf("%w: malformed multipart body: %w", errs.ErrInvalid, err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return in, fmt.Errorf("%w: the form has no \"file\" field", errs.ErrInvalid)
		}
		if err != nil {
			return in, fmt.Errorf("%w: malformed multipart body: %w", errs.ErrInvalid, err)
		}
		name := part.FormName()
		if name == "file" {
			if in.filename == "" {
				in.filename = part.FileName()
			}
			in.body = part
			return in, nil
		}
		if slices.Contains(fields, name) {
			b, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				return in, fmt.Errorf("%w: malformed multipart body: %w", errs.ErrInvalid, err)
			}
			in.fields.Set(name, strings.TrimSpace(string(b)))
		}
		// Other parts are skipped: NextPart discards what was not read.
	}
}

// uploadBody is fileBody for a new item: a "folder" field may come with
// it, and a raw body needs ?filename=.
func uploadBody(r *http.Request) (incoming, error) {
	up, err := fileBody(r, "folder")
	if err == nil && !up.multipart && up.filename == "" {
		err = fmt.Errorf("%w: send a multipart form with a \"file\" field, or the raw file with ?filename=", errs.ErrInvalid)
	}
	return up, err
}

// folderParam reads a folder id; empty or "root" is the root (nil).
func folderParam(s string) (*string, error) {
	if s == "" || s == "root" {
		return nil, nil
	}
	if !acl.ValidID(s) {
		return nil, fmt.Errorf("%w: no such folder", errs.ErrNotFound)
	}
	return &s, nil
}

// apiDeleteMedia moves an item to the trash: DELETE /api/media/{id}.
func (a *App) apiDeleteMedia(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.Delete(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) apiPublish(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		NewURL bool `json:"new_url"`
	}
	if err := decodeOptionalJSON(r, &body); err != nil {
		return err
	}
	publish := a.media.Publish
	if body.NewURL {
		publish = a.media.PublishNewURL
	}
	name, err := publish(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_url": config.PublicPrefix + name})
	return nil
}

func (a *App) apiUnpublish(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.Unpublish(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func apiNotFound(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("%w %s", errNoEndpoint, r.URL.Path)
}

func apiMethodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("%w: %s is not allowed on %s", errs.ErrMethod, r.Method, r.URL.Path)
}

func notFound(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("%w: there is no page at %s", errs.ErrNotFound, r.URL.Path)
}

// servePrivate streams a private item to a caller who may view it, and
// audits the decision either way.
func (a *App) servePrivate(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, err := caller(r)
	if err != nil {
		a.record(r, id, acl.Principal{}, "", false, media.Item{})
		return err
	}
	it, err := a.media.Get(r.Context(), p, id)
	a.record(r, id, p, "", err == nil, it)
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, it)
	return nil
}

// apiAccessLog is the read audit of one item, for its managers: grouped
// into viewings, or one entry per request with ?raw=1.
func (a *App) apiAccessLog(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	if err := a.decide.Require(r.Context(), p, id, acl.Manage); err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("raw") == "1" { // one entry per request
		page, err := a.audit.List(r.Context(), id, q.Get("cursor"), limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	}
	views, err := a.audit.ListViews(r.Context(), id, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

// servePublic serves a published item when no nginx is in front.
func (a *App) servePublic(w http.ResponseWriter, r *http.Request) error {
	it, err := a.media.ByPublicName(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	a.send.SendPublic(w, r, it)
	return nil
}
