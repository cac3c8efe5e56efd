package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/video"
)

// derivedPrefix is the path segment under an item's URL where its derived
// files are: /smedia/{id}/-/poster. A file name is one escaped segment, so
// /smedia/{id}/{name} never has three.
const derivedPrefix = "-"

// derivedKind reads the kind of derived file the URL names.
func derivedKind(r *http.Request) (string, error) {
	kind := chi.URLParam(r, "kind")
	if !slices.Contains(media.DerivedKinds, kind) {
		return "", fmt.Errorf("%w: no such derived file", errs.ErrNotFound)
	}
	return kind, nil
}

// audited reports whether delivering kind is an "open" of the item for the
// read audit: the rendition is the video being played; a poster or a grid
// thumbnail is not.
func audited(kind string) bool { return kind == media.DerivedStream }

// serveDerived streams a derived file of an item under the item's own
// decision, by the same path as the item: a revoke, a move, a disabled user
// deny it at once, exactly like the original.
func (a *App) serveDerived(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	kind, err := derivedKind(r)
	if err != nil {
		return err
	}
	p, err := caller(r)
	if err != nil {
		if audited(kind) {
			a.record(r, id, acl.Principal{}, "", false, media.Item{})
		}
		return err
	}
	it, err := a.media.Get(r.Context(), p, id)
	if err != nil {
		if audited(kind) {
			a.record(r, id, p, "", false, media.Item{})
		}
		return err
	}
	d, err := a.media.Derived(r.Context(), it, kind)
	if audited(kind) {
		a.record(r, id, p, "", true, d) // d is zero when there is none
	}
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, d)
	return nil
}

// apiRetryPipeline starts the media pipeline again for an item whose
// preview failed: POST /api/media/{id}/pipeline. Managers only.
func (a *App) apiRetryPipeline(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	if err := a.decide.Require(r.Context(), p, id, acl.Manage); err != nil {
		return err
	}
	it, err := a.media.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	if a.pipeline == nil || !media.Processable(it.ContentType) {
		return fmt.Errorf("%w: this item has no preview to prepare", errs.ErrInvalid)
	}
	if in, err := a.media.BlobInfo(r.Context(), it.SHA256); err != nil {
		return err
	} else if in.State != media.InfoFailed {
		return fmt.Errorf("%w: the preview is %s, not failed", errs.ErrConflict, cmp.Or(in.State, "not prepared"))
	}
	if err := a.pipeline.RetryBlob(r.Context(), it.SHA256); err != nil {
		return fmt.Errorf("%w: %w", errs.ErrUnavailable, err)
	}
	infos, err := a.media.BlobInfos(r.Context(), []string{it.SHA256})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, withInfo(it, infos))
	return nil
}

// shareDerived is serveDerived through a share link that covers the item.
func (a *App) shareDerived(w http.ResponseWriter, r *http.Request) error {
	token, id := chi.URLParam(r, "token"), chi.URLParam(r, "item")
	kind, err := derivedKind(r)
	if err != nil {
		return err
	}
	if _, err := caller(r); errors.Is(err, errs.ErrUnavailable) {
		return err
	}
	l, it, err := a.links.Item(r.Context(), token, id, a.unlockedIn(r))
	if err != nil {
		if l.ID != "" && audited(kind) {
			a.record(r, it.ID, acl.Principal{}, l.ID, false, media.Item{})
		}
		return err
	}
	d, err := a.media.Derived(r.Context(), media.Item{ID: it.ID, Filename: it.Filename, SHA256: it.SHA256}, kind)
	if l.ID != "" && audited(kind) {
		a.record(r, it.ID, acl.Principal{}, l.ID, true, d) // d is zero when there is none
	}
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, d)
	return nil
}

// captionJSON is a caption as the API shows it.
type captionJSON struct {
	ID    string `json:"id"`
	Lang  string `json:"lang"`
	Label string `json:"label"`
	URL   string `json:"url"`
}

func captionURL(item, id string) string {
	return config.PrivatePrefix + item + "/" + derivedPrefix + "/captions/" + id
}

func captionsJSON(cs []media.Caption) []captionJSON {
	out := make([]captionJSON, len(cs))
	for i, c := range cs {
		out[i] = captionJSON{ID: c.ID, Lang: c.Lang, Label: c.Label, URL: captionURL(c.MediaID, c.ID)}
	}
	return out
}

// maxCaptionFile is the largest caption file accepted.
const maxCaptionFile = 1 << 20

// apiAddCaption attaches a WebVTT or SRT file to a video: POST
// /api/media/{id}/captions?lang=en&label=English with the file as the body
// (or a multipart form's "file", with lang and label fields before it).
func (a *App) apiAddCaption(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCaptionFile+config.UploadSlack)
	in, err := fileBody(r, "lang", "label")
	if err != nil {
		return err
	}
	vtt, err := video.ToWebVTT(io.LimitReader(in.body, maxCaptionFile+1))
	var ve *video.Error
	if errors.As(err, &ve) && errors.Is(err, video.ErrBadInput) {
		// Its reason names the line; the rest is for logs.
		return fmt.Errorf("%w: not captions we can read: %s", errs.ErrInvalid, ve.Reason)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errs.ErrInvalid, err)
	}
	c, err := a.media.AddCaption(r.Context(), p, chi.URLParam(r, "id"), in.fields.Get("lang"), in.fields.Get("label"), vtt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, captionsJSON([]media.Caption{c})[0])
	return nil
}

// apiDeleteCaption removes a caption: DELETE /api/media/{id}/captions/{caption}.
func (a *App) apiDeleteCaption(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.DeleteCaption(r.Context(), p, chi.URLParam(r, "id"), chi.URLParam(r, "caption")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serveCaption streams a caption of an item under the item's decision; a
// caption is no "open" of the item.
func (a *App) serveCaption(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	it, err := a.media.Get(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	c, err := a.media.CaptionFile(r.Context(), it, chi.URLParam(r, "caption"))
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, c)
	return nil
}

// shareCaption is serveCaption through a share link that covers the item.
func (a *App) shareCaption(w http.ResponseWriter, r *http.Request) error {
	if _, err := caller(r); errors.Is(err, errs.ErrUnavailable) {
		return err
	}
	_, it, err := a.links.Item(r.Context(), chi.URLParam(r, "token"), chi.URLParam(r, "item"), a.unlockedIn(r))
	if err != nil {
		return err
	}
	c, err := a.media.CaptionFile(r.Context(), media.Item{ID: it.ID, Filename: it.Filename}, chi.URLParam(r, "caption"))
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, c)
	return nil
}

// apiReplace replaces an item's file, keeping its id, URL, grants, links
// and public URL: PUT /api/media/{id}/file with the file as the body (or a
// multipart "file").
func (a *App) apiReplace(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if r.ContentLength > a.cfg.MaxUploadBody() {
		return fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(a.cfg.MaxUpload))
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxUploadBody())
	id := chi.URLParam(r, "id")
	// Permission first: nothing is read from a caller who may not.
	if err := a.media.CheckReplace(r.Context(), p, id); err != nil {
		return err
	}
	in, err := fileBody(r)
	if err != nil {
		return err
	}
	it, err := a.media.Replace(r.Context(), p, id, in.body)
	if err != nil {
		return err
	}
	infos, err := a.media.BlobInfos(r.Context(), []string{it.SHA256})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, withInfo(it, infos))
	return nil
}

// maxPosterImage is the largest image accepted as a poster.
const maxPosterImage = 20 << 20

// maxPosterAt is the latest time a poster frame may be asked for (a week
// of video); past the end, ffmpeg takes the first frame.
const maxPosterAt = 7 * 24 * 3600

// posterSlots bounds the ffmpeg runs that choosing a poster starts in
// requests, per process.
var posterSlots = make(chan struct{}, 2)

// apiSetPoster chooses an item's poster: PUT /api/media/{id}/poster?at=12.5
// takes the video's frame shown at that time; PUT with an image as the body (JPEG,
// PNG, WebP, GIF) takes that image. Either way the poster is made by ffmpeg
// (a JPEG within 1280x720), never the bytes as sent.
func (a *App) apiSetPoster(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	if err := a.decide.Require(r.Context(), p, id, acl.Edit); err != nil {
		return err
	}
	it, err := a.media.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var src, ct string
	at := 0.0
	if s := r.URL.Query().Get("at"); s != "" {
		if at, err = strconv.ParseFloat(s, 64); err != nil || at < 0 || at > maxPosterAt || math.IsInf(at, 0) || math.IsNaN(at) {
			return fmt.Errorf("%w: at must be a time in seconds, such as 12.5", errs.ErrInvalid)
		}
		if kindOf(it.ContentType) != "video" {
			return fmt.Errorf("%w: only a video has frames to pick from", errs.ErrInvalid)
		}
		release, err := posterSlot(ctx)
		if err != nil {
			return err
		}
		defer release()
		path, cleanup, err := a.media.LocalCopy(ctx, it.SHA256, it.Size)
		if err != nil {
			return err
		}
		defer cleanup()
		src, ct = path, it.ContentType
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxPosterImage)
		rec, err := a.media.Spool().Receive(r.Body, maxPosterImage)
		if err != nil {
			return err
		}
		defer rec.Discard()
		if kindOf(rec.ContentType) != "image" {
			return fmt.Errorf("%w: a poster must be a JPEG, PNG, WebP or GIF image (or pick a frame with ?at=)", errs.ErrInvalid)
		}
		release, err := posterSlot(ctx) // the body is all here: a slow client holds no slot
		if err != nil {
			return err
		}
		defer release()
		src, ct = rec.TempPath(), rec.ContentType
	}
	out := filepath.Join(a.media.Spool().Dir(), "poster-"+newUploadToken())
	defer os.Remove(out)
	if err := (video.Runner{Timeout: a.cfg.FFmpegTimeout}).FrameAt(ctx, src, ct, at, 1280, 720, out); err != nil {
		if errors.Is(err, video.ErrBadInput) {
			a.log.InfoContext(r.Context(), "poster refused", "item", it.ID, "err", err)
			return fmt.Errorf("%w: no poster could be made of this (is it a readable image or video, and the time within it?)", errs.ErrInvalid)
		}
		return err
	}
	if err := a.media.SetPoster(ctx, p, id, it.SHA256, out); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiClearPoster goes back to the pipeline's poster: DELETE /api/media/{id}/poster.
func (a *App) apiClearPoster(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.ClearPoster(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// posterSlot waits up to 5 s for one of posterSlots: ffmpeg runs in the
// request (and a copy of the video may be fetched first), so only a few at
// a time per instance; the others are told to come back.
func posterSlot(ctx context.Context) (release func(), err error) {
	select {
	case posterSlots <- struct{}{}:
		return func() { <-posterSlots }, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("%w: too many posters are being made at once", errs.ErrUnavailable)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newUploadToken is a random name part for temp files.
func newUploadToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
