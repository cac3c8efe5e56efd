package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// uiFuncs are the template functions of the pages, besides "size" and "asset".
var uiFuncs = template.FuncMap{
	"kind":      kindOf,
	"typeLabel": typeLabel,
	"itemURL":   privateURL,
	"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"date":      func(t time.Time) string { return t.Format("2 Jan 2006") },
	"sentence":  sentence,
}

// errorKinds are the sentinels' texts that start an error message.
var errorKinds = []error{errs.ErrInvalid, errs.ErrUnauthenticated, errs.ErrForbidden, errs.ErrNotFound,
	errs.ErrMethod, errs.ErrConflict, errs.ErrGone, errs.ErrTooLarge, errs.ErrThrottled, errs.ErrUnavailable}

// sentence turns an error message ("not found: there is no page at /x")
// into what a person reads: what follows its kind, capitalized.
func sentence(msg string) string {
	for _, k := range errorKinds {
		if i := strings.Index(msg, k.Error()+": "); i >= 0 && (i == 0 || strings.HasSuffix(msg[:i], ": ")) {
			msg = msg[i+len(k.Error())+2:]
			break
		}
	}
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}

// kindOf sorts a content type into what the pages show for it: video, audio
// and image (played or shown inline), pdf (a sandboxed frame) or file.
func kindOf(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/pdf":
		return "pdf"
	case !media.Inline(mt):
		return "file"
	case strings.HasPrefix(mt, "video/"):
		return "video"
	case strings.HasPrefix(mt, "audio/"):
		return "audio"
	case strings.HasPrefix(mt, "image/"):
		return "image"
	}
	return "file"
}

// typeLabel is a short name for a content type: "MP4 video", "PNG image".
func typeLabel(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "" {
		return "File"
	}
	top, sub, _ := strings.Cut(mt, "/")
	sub = strings.TrimPrefix(sub, "x-")
	if i := strings.IndexAny(sub, "+;"); i > 0 {
		sub = sub[:i]
	}
	switch top {
	case "video", "audio", "image":
		return strings.ToUpper(sub) + " " + top
	}
	switch mt {
	case "application/pdf":
		return "PDF"
	case "application/zip":
		return "ZIP archive"
	case "application/octet-stream":
		return "File"
	case "text/plain":
		return "Text"
	}
	return strings.ToUpper(sub)
}

// mediaView is what the pages show of the media pipeline's work on an
// item: its state, what probing found, and the URLs of its derived files
// ("" when there is none). The zero value is an item the pipeline does not
// handle (or that predates it): the pages then show what they always did.
type mediaView struct {
	State, Reason, Kind    string
	Duration               float64
	Width, Height          int
	VideoCodec, AudioCodec string
	Bitrate                int64
	Poster, Thumb, Stream  string
}

// newMediaView is what infos says of sha; derived names the URL of a kind
// of derived file.
func newMediaView(infos map[string]media.Info, sha string, derived func(kind string) string) mediaView {
	in, ok := infos[sha]
	if !ok {
		return mediaView{}
	}
	v := mediaView{State: in.State, Reason: in.Reason, Kind: in.Kind, Duration: in.Duration, Width: in.Width,
		Height: in.Height, VideoCodec: in.VideoCodec, AudioCodec: in.AudioCodec, Bitrate: in.Bitrate}
	for kind, dst := range map[string]*string{media.DerivedPoster: &v.Poster, media.DerivedThumb: &v.Thumb, media.DerivedStream: &v.Stream} {
		if in.Derived[kind] {
			*dst = derived(kind)
		}
	}
	return v
}

// Pending, Ready and Failed report the pipeline's state.
func (v mediaView) Pending() bool { return v.State == media.InfoPending }
func (v mediaView) Ready() bool   { return v.State == media.InfoReady }
func (v mediaView) Failed() bool  { return v.State == media.InfoFailed }

// Length is the duration as players show it, "m:ss" or "h:mm:ss"; "" when
// unknown. library.js's clock() writes the same.
func (v mediaView) Length() string {
	if v.Duration <= 0 || v.Kind == "image" {
		return ""
	}
	s := int64(math.Round(v.Duration))
	if s == 0 {
		s = 1 // shorter than half a second, but not nothing
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// LengthISO is the duration for a <time datetime>: "PT1M5S".
func (v mediaView) LengthISO() string {
	if v.Length() == "" {
		return ""
	}
	s := max(int64(math.Round(v.Duration)), 1)
	out := "PT"
	if s >= 3600 {
		out += fmt.Sprintf("%dH", s/3600)
	}
	if s >= 60 {
		out += fmt.Sprintf("%dM", s/60%60)
	}
	return out + fmt.Sprintf("%dS", s%60)
}

// Dimensions is the display size, "1280×720"; "" when unknown or audio.
func (v mediaView) Dimensions() string {
	if v.Width <= 0 || v.Height <= 0 || v.Kind == "audio" {
		return ""
	}
	return fmt.Sprintf("%d×%d", v.Width, v.Height)
}

// codecNames are how people write the codecs ffprobe names.
var codecNames = map[string]string{
	"h264": "H.264", "hevc": "HEVC (H.265)", "vp8": "VP8", "vp9": "VP9", "av1": "AV1", "mpeg4": "MPEG-4 Part 2",
	"mpeg2video": "MPEG-2", "prores": "ProRes", "theora": "Theora", "aac": "AAC", "mp3": "MP3", "opus": "Opus",
	"vorbis": "Vorbis", "flac": "FLAC", "alac": "ALAC", "ac3": "AC-3", "eac3": "E-AC-3",
}

func codecName(c string) string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	if strings.HasPrefix(c, "pcm_") {
		return "PCM"
	}
	return strings.ToUpper(c)
}

// Codecs names the video and audio codecs: "H.264 video, AAC audio". An
// image's codec is its type, which the page shows already.
func (v mediaView) Codecs() string {
	if v.Kind == "image" {
		return ""
	}
	var parts []string
	if v.VideoCodec != "" {
		parts = append(parts, codecName(v.VideoCodec)+" video")
	}
	if v.AudioCodec != "" {
		parts = append(parts, codecName(v.AudioCodec)+" audio")
	}
	return strings.Join(parts, ", ")
}

// BitrateLabel is the overall bitrate: "1.2 Mbit/s", "96 kbit/s".
func (v mediaView) BitrateLabel() string {
	switch {
	case v.Bitrate <= 0 || v.Kind == "image":
		return ""
	case v.Bitrate >= 1_000_000:
		return fmt.Sprintf("%.1f Mbit/s", float64(v.Bitrate)/1e6)
	}
	return fmt.Sprintf("%d kbit/s", (v.Bitrate+500)/1000)
}

// itemView is an item of the library with what the pipeline knows of it.
type itemView struct {
	media.Item
	Media mediaView
}

// itemViews pairs items with infos, from BlobInfos of their blobs.
func itemViews(items []media.Item, infos map[string]media.Info) []itemView {
	out := make([]itemView, len(items))
	for i, it := range items {
		out[i] = itemView{Item: it, Media: newMediaView(infos, it.SHA256, func(kind string) string { return derivedURL(it.ID, kind) })}
	}
	return out
}

// sortOption is one choice of the library's sort menu.
type sortOption struct{ Value, Label string }

// typeOptions are the choices of the library's type filter (?type=).
var typeOptions = []sortOption{
	{"", "All types"},
	{media.TypeVideo, "Video"},
	{media.TypeAudio, "Audio"},
	{media.TypeImage, "Image"},
	{media.TypeDocument, "Document"},
}

var sortOptions = []sortOption{
	{media.SortNewest, "Newest first"},
	{media.SortOldest, "Oldest first"},
	{media.SortName, "Name (A–Z)"},
	{media.SortSize, "Largest first"},
}

// treeNode is a folder of the side tree; the path to the current folder is
// open, the rest is loaded by the script when opened.
type treeNode struct {
	Folder   acl.Folder
	Children []treeNode
	Open     bool
	Current  bool
}

// maxDepth bounds the walk up a folder's parents.
const maxDepth = 64

// trail returns the folders from the highest one p may see down to id.
func (a *App) trail(ctx context.Context, p acl.Principal, id string) ([]acl.Folder, error) {
	f, err := a.decide.Folder(ctx, p, id)
	if err != nil {
		return nil, err
	}
	out := []acl.Folder{f}
	for f.Parent != nil && len(out) < maxDepth {
		f, err = a.decide.Folder(ctx, p, *f.Parent)
		if errors.Is(err, errs.ErrNotFound) {
			break // shared below a folder p can't see: the trail starts here
		}
		if err != nil {
			return nil, err
		}
		out = append([]acl.Folder{f}, out...)
	}
	return out, nil
}

// tree returns the root folders p sees, the path along trail open: one
// query per level.
func (a *App) tree(ctx context.Context, p acl.Principal, trail []acl.Folder) ([]treeNode, error) {
	roots, err := a.decide.Children(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	return a.branch(ctx, p, roots, trail)
}

func (a *App) branch(ctx context.Context, p acl.Principal, folders []acl.Folder, trail []acl.Folder) ([]treeNode, error) {
	nodes := make([]treeNode, len(folders))
	for i, f := range folders {
		nodes[i].Folder = f
		if len(trail) == 0 || trail[0].ID != f.ID {
			continue
		}
		nodes[i].Open = true
		nodes[i].Current = len(trail) == 1
		children, err := a.decide.Children(ctx, p, &f.ID)
		if err != nil {
			return nil, err
		}
		if nodes[i].Children, err = a.branch(ctx, p, children, trail[1:]); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// libraryData is what the library page shows for its query: a folder
// (?folder=), everything (?view=all) or a search (?q=), of one type
// (?type=), in an order (?sort=). In a folder, ?subfolders=1 lists (or
// searches) that folder and every folder below it.
func (a *App) libraryData(r *http.Request, p acl.Principal) (map[string]any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	search := strings.TrimSpace(q.Get("q"))
	sort := q.Get("sort")
	if _, ok := optionLabel(sortOptions, sort); !ok {
		sort = media.SortNewest
	}
	typ := q.Get("type")
	if _, ok := optionLabel(typeOptions, typ); !ok {
		typ = ""
	}
	all := q.Get("view") == "all" && search == ""
	folderID := q.Get("folder")
	if folderID == "root" {
		folderID = ""
	}
	within := q.Get("subfolders") == "1" && folderID != "" && !all
	if (search != "" && !within) || all {
		folderID = ""
	}
	data := map[string]any{
		"User": p, "Nav": "library", "Q": search, "Sort": sort, "Sorts": sortOptions, "All": all,
		"Type": typ, "Types": typeOptions, "Subfolders": within,
		"MaxUpload": config.HumanSize(a.cfg.MaxUpload), "FolderID": folderID, "ParentID": "",
	}
	var trail []acl.Folder
	var current *acl.Folder
	if folderID != "" {
		t, err := a.trail(ctx, p, folderID)
		if err != nil {
			return nil, err
		}
		trail, current = t, &t[len(t)-1]
		data["Folder"] = current
		data["Trail"] = trail
		if len(t) > 1 {
			data["ParentID"] = t[len(t)-2].ID
		}
	}
	roots, err := a.tree(ctx, p, trail)
	if err != nil {
		return nil, err
	}
	// Root folders, then the ones shared from inside a folder p can't see.
	var mine, shared []treeNode
	for _, n := range roots {
		if n.Folder.Parent == nil {
			mine = append(mine, n)
		} else {
			shared = append(shared, n)
		}
	}
	data["Tree"], data["Shared"] = mine, shared

	opts := media.ListOptions{Cursor: q.Get("cursor"), Limit: 60, Search: search, Sort: sort, Type: typ, Paths: all || search != "" || within}
	if within {
		opts.InFolder, opts.Folder, opts.Subfolders = true, &current.ID, true
	}
	if search == "" && !all && !within {
		opts.InFolder = true
		var parent *string
		if current != nil {
			parent = &current.ID
		}
		opts.Folder = parent
		// Folders first, as in a file manager; only on the first page.
		if opts.Cursor == "" {
			var children []acl.Folder
			if current != nil {
				children, err = a.decide.Children(ctx, p, parent)
			} else {
				children = make([]acl.Folder, len(roots))
				for i, n := range roots {
					children[i] = n.Folder
				}
			}
			if err != nil {
				return nil, err
			}
			data["Folders"] = children
		}
	}
	page, err := a.media.List(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	sharedView := false
	// A caller with nothing at the root (a viewer, typically) sees on the
	// first page what is shared with them, as All media lists it, rather
	// than an empty library.
	if opts.InFolder && current == nil && opts.Cursor == "" && len(roots) == 0 && len(page.Items) == 0 {
		opts.InFolder, opts.Folder, opts.Paths = false, nil, true
		if page, err = a.media.List(ctx, p, opts); err != nil {
			return nil, err
		}
		sharedView = len(page.Items) > 0
		data["SharedWithMe"] = sharedView
	}
	infos, err := a.media.BlobInfos(ctx, blobsOf(page.Items))
	if err != nil {
		return nil, err
	}
	data["Items"] = itemViews(page.Items, infos)
	if page.Next != "" {
		next := url.Values{"cursor": {page.Next}}
		if folderID != "" {
			next.Set("folder", folderID)
		}
		if search != "" {
			next.Set("q", search)
		}
		if typ != "" {
			next.Set("type", typ)
		}
		if within {
			next.Set("subfolders", "1")
		}
		if all || sharedView {
			next.Set("view", "all")
		}
		if sort != media.SortNewest {
			next.Set("sort", sort)
		}
		data["NextURL"] = "/?" + next.Encode()
	}
	// Uploads and new folders go into the folder shown, when p may put
	// things there and the view is that folder (not all media, not a search).
	canPlace := a.decide.RequirePlace(ctx, p, opts.Folder) == nil && !all && search == "" && !within
	data["CanUpload"], data["CanCreateFolder"] = canPlace, canPlace
	data["CanManageFolder"] = current != nil && current.Permission == acl.Manage.String()
	return data, nil
}

// optionLabel is the label of value among options.
func optionLabel(options []sortOption, value string) (string, bool) {
	for _, o := range options {
		if o.Value == value {
			return o.Label, true
		}
	}
	return "", false
}

// mediaData is what the media page shows of it and what the caller may do.
func (a *App) mediaData(ctx context.Context, p acl.Principal, it media.Item) (map[string]any, error) {
	infos, err := a.media.BlobInfos(ctx, []string{it.SHA256})
	if err != nil {
		return nil, err
	}
	mv := newMediaView(infos, it.SHA256, func(kind string) string { return derivedURL(it.ID, kind) })
	captions, err := a.media.Captions(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	kind := kindOf(it.ContentType)
	chosen := false
	if kind == "video" {
		if chosen, err = a.media.PosterChosen(ctx, it.ID); err != nil {
			return nil, err
		}
		if chosen {
			// An editor's poster shows even when the pipeline made none.
			mv.Poster = derivedURL(it.ID, media.DerivedPoster)
		}
	}
	data := map[string]any{
		"User": p, "Nav": "library", "Item": it, "URL": privateURL(it), "Kind": kind,
		"PublicURL": publicURL(it), "Media": mv, "Captions": captionsJSON(captions),
		// The player gets the faststart rendition when there is one;
		// Download keeps the original.
		"PlayURL": cmp.Or(mv.Stream, privateURL(it)),
		// Retrying needs manage, a pipeline to retry in, and an item it handles.
		"CanRetry": it.Permission >= acl.Manage && a.pipeline != nil && mv.State != "",
		// A PDF is inline, sandboxed by its own CSP: the frame shows it.
		"PDFPreview": media.Previewable(it.ContentType),
		"PreviewURL": privateURL(it),
		"CanEdit":    it.Permission >= acl.Edit,
		// Editors of a video choose its poster and attach its captions.
		"EditVideo":    it.Permission >= acl.Edit && kind == "video",
		"PosterChosen": chosen,
		"PosterURL":    derivedURL(it.ID, media.DerivedPoster),
		"CanManage":    it.Permission >= acl.Manage,
		// Moving needs manage here and a role that may place things.
		"CanMove": it.Permission >= acl.Manage && p.Role.CanUpload(),
	}
	if it.Folder != nil {
		t, err := a.trail(ctx, p, *it.Folder)
		switch {
		case errors.Is(err, errs.ErrNotFound): // shared alone, from a folder p can't see
		case err != nil:
			return nil, err
		default:
			data["Trail"], data["Parent"] = t, t[len(t)-1]
		}
	}
	return data, nil
}

func publicURL(it media.Item) string {
	if it.PublicName == "" {
		return ""
	}
	return config.PublicPrefix + it.PublicName
}

// adminUsersPage lists every account, for admins.
func (a *App) adminUsersPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	users, err := a.auth.Users.List(r.Context(), p)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "admin_users", map[string]any{
		"User": p, "Nav": "users", "Users": users,
		"Roles": []acl.Role{acl.RoleViewer, acl.RoleEditor, acl.RoleAdmin},
	})
	return nil
}

// adminGroupsPage lists the groups with their members, for admins.
func (a *App) adminGroupsPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	// Users.List refuses non-admins; groups alone would show to anyone.
	users, err := a.auth.Users.List(r.Context(), p)
	if err != nil {
		return err
	}
	groups, err := a.decide.Groups(r.Context(), p)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "admin_groups", map[string]any{
		"User": p, "Nav": "groups", "Groups": groups, "Users": users,
	})
	return nil
}

// accountPage is the caller's password and API tokens.
func (a *App) accountPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	tokens, err := a.auth.Users.Tokens(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "account", map[string]any{"User": p, "Nav": "account", "Tokens": tokens})
	return nil
}

// trashPage lists what the caller may restore or purge (admins: all).
func (a *App) trashPage(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	page, err := a.media.ListTrash(r.Context(), p, media.TrashOptions{Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		return err
	}
	var next string
	if page.Next != "" {
		next = "/trash?" + url.Values{"cursor": {page.Next}}.Encode()
	}
	a.render(w, http.StatusOK, "trash", map[string]any{"User": p, "Nav": "trash", "Entries": page.Entries, "NextURL": next,
		"Retention": retentionLabel(a.cfg.TrashRetention)})
	return nil
}

// retentionLabel says how long the trash keeps things: "30 days", "12 hours".
func retentionLabel(d time.Duration) string {
	switch h := int64(d / time.Hour); {
	case h >= 48 && h%24 == 0:
		return fmt.Sprintf("%d days", h/24)
	case h >= 2:
		return fmt.Sprintf("%d hours", h)
	}
	return d.Round(time.Minute).String()
}
