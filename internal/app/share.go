package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// sharePrefix is where share links live: /s/<token>, its pages and downloads.
const sharePrefix = config.SharePrefix

// unlockedKey is the session key holding the ids of the links whose
// password was given in this browser.
const unlockedKey = "share_links"

// maxUnlocked bounds that list; the oldest unlock is forgotten first.
const maxUnlocked = 100

// shareListLimit is how many items a folder link's page lists.
const shareListLimit = 500

// shareHeaders marks every response under /s/: the token is in the path, so
// no Referer may carry it anywhere, and share pages are not for indexing.
func shareHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, sharePrefix) {
			w.Header().Set("Referrer-Policy", "no-referrer")
			w.Header().Set("X-Robots-Tag", "noindex, nofollow")
		}
		next.ServeHTTP(w, r)
	})
}

func shareURL(token string) string { return sharePrefix + token }

// logPath is path as logs may keep it. A share token is a secret stored
// only as its SHA-256, so logs get "#" and the first 8 hex digits of that
// instead (enough to find the link: encode(token_hash, 'hex') LIKE
// '<digits>%'): /s/<token>/download is logged as /s/#<digits>/download. The
// segment after /s/ is the token however the path reaches it (//s/, /s//,
// /./s/, /x/../s/: the path as sent, which a front end may not have
// cleaned), and so is anything shaped like a token anywhere else in it.
func logPath(path string) string {
	segs := strings.Split(path, "/")
	// cleaned is the path as path.Clean would have it so far, which tells
	// whether a segment is the one after /s/.
	var cleaned []string
	for i, seg := range segs {
		switch seg {
		case "", ".":
		case "..":
			if len(cleaned) > 0 {
				cleaned = cleaned[:len(cleaned)-1]
			}
		default:
			if len(cleaned) == 1 && cleaned[0] == strings.Trim(sharePrefix, "/") {
				segs[i] = logToken(seg)
			}
			cleaned = append(cleaned, seg)
		}
	}
	return tokenLike.ReplaceAllStringFunc(strings.Join(segs, "/"), logToken)
}

// tokenLike matches a share token, or a part or a longer run of one: the
// prefix and any base64url characters.
var tokenLike = regexp.MustCompile(regexp.QuoteMeta(acl.LinkTokenPrefix) + `[A-Za-z0-9_-]+`)

// logToken is token as logs may keep it: "#" and 8 hex digits of its SHA-256.
func logToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "#" + hex.EncodeToString(sum[:4])
}

// linkJSON is a link as its creator gets it, the only time the token is shown.
type linkJSON struct {
	ID        string     `json:"id"`
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func linkTarget(r *http.Request, folder bool) acl.LinkTarget {
	return acl.LinkTarget{Folder: folder, ID: chi.URLParam(r, "id")}
}

func (a *App) createLink(folder bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		var body struct {
			ExpiresIn *int64  `json:"expires_in"`
			Password  *string `json:"password"`
		}
		// No body at all is a link without expiry or password.
		if err := decodeJSON(r, &body); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		l, token, err := a.links.Create(r.Context(), p, linkTarget(r, folder), acl.LinkOptions{
			ExpiresIn: body.ExpiresIn, Password: body.Password,
		})
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusCreated, linkJSON{ID: l.ID, URL: shareURL(token), ExpiresAt: l.ExpiresAt})
		return nil
	}
}

func (a *App) listLinks(folder bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		links, err := a.links.List(r.Context(), p, linkTarget(r, folder))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"links": links})
		return nil
	}
}

func (a *App) revokeLink(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.links.Revoke(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unlockedIn reports the links unlocked in r's session. The session must
// have been loaded (LoadAndSave, or IdentifyReadOnly without an error).
func (a *App) unlockedIn(r *http.Request) func(string) bool {
	return func(id string) bool {
		ids, _ := a.auth.Sessions.Get(r.Context(), unlockedKey).([]string)
		return slices.Contains(ids, id)
	}
}

// sharePage shows what a link opens: a player for an item, the list of a
// folder's items, or the password form.
func (a *App) sharePage(w http.ResponseWriter, r *http.Request) error {
	token := chi.URLParam(r, "token")
	sh, err := a.links.Open(r.Context(), token, a.unlockedIn(r))
	if errors.Is(err, acl.ErrLinkLocked) {
		a.renderShare(w, http.StatusOK, lockedPage(token, ""))
		return nil
	}
	if err != nil {
		return err
	}
	if sh.Item != nil {
		data, err := a.playerPage(r.Context(), token, *sh.Item, shareURL(token)+"/download", shareURL(token), "")
		if err != nil {
			return err
		}
		a.renderShare(w, http.StatusOK, data)
		return nil
	}
	items, more, err := a.links.Items(r.Context(), sh.Link, shareListLimit)
	if err != nil {
		return err
	}
	a.renderShare(w, http.StatusOK, map[string]any{
		"Title": sh.Folder, "Base": shareURL(token), "Folder": sh.Folder, "Items": items, "More": more,
	})
	return nil
}

// shareItemPage is the player for one item of a folder link.
func (a *App) shareItemPage(w http.ResponseWriter, r *http.Request) error {
	token, id := chi.URLParam(r, "token"), chi.URLParam(r, "item")
	_, it, err := a.links.Item(r.Context(), token, id, a.unlockedIn(r))
	if errors.Is(err, acl.ErrLinkLocked) {
		http.Redirect(w, r, shareURL(token), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	src := shareURL(token) + "/download/" + it.ID
	data, err := a.playerPage(r.Context(), token, it, src, src, shareURL(token))
	if err != nil {
		return err
	}
	a.renderShare(w, http.StatusOK, data)
	return nil
}

// shareUnlock checks a link's password, under the throttle, and on success
// unlocks the link for this browser's session only.
func (a *App) shareUnlock(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: malformed form", errs.ErrInvalid)
	}
	token := chi.URLParam(r, "token")
	ctx := r.Context()
	// Nothing counts as unlocked here: a link with a password answers
	// ErrLinkLocked, along with the link.
	sh, err := a.links.Open(ctx, token, nil)
	if err == nil { // no password: nothing to unlock
		http.Redirect(w, r, shareURL(token), http.StatusSeeOther)
		return nil
	}
	if !errors.Is(err, acl.ErrLinkLocked) {
		return err
	}
	client := a.clientIP(r)
	attempt, err := a.auth.Throttle.Begin(ctx, "link:"+sh.Link.ID, client)
	if err != nil {
		if !errors.Is(err, errs.ErrThrottled) {
			return fmt.Errorf("%w: %w", errs.ErrUnavailable, err)
		}
		w.Header().Set("Retry-After", "900")
		a.renderShare(w, http.StatusTooManyRequests, lockedPage(token, err.Error()))
		return nil
	}
	ok, err := a.links.CheckPassword(ctx, sh.Link, r.PostForm.Get("password"))
	if err != nil {
		attempt.Abort()
		return err
	}
	if !ok { // the attempt stays counted
		a.log.InfoContext(r.Context(), "wrong share link password", "link", sh.Link.ID, "client", client)
		a.renderShare(w, http.StatusUnauthorized, lockedPage(token, "Wrong password."))
		return nil
	}
	if err := attempt.Succeed(ctx); err != nil {
		return fmt.Errorf("%w: %w", errs.ErrUnavailable, err)
	}
	// More access, so a new session token: a planted cookie gains nothing.
	if err := a.auth.Sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("%w: renew session: %w", errs.ErrUnavailable, err)
	}
	ids, _ := a.auth.Sessions.Get(ctx, unlockedKey).([]string)
	if !slices.Contains(ids, sh.Link.ID) {
		ids = append(slices.Clone(ids), sh.Link.ID)
		if len(ids) > maxUnlocked {
			ids = ids[len(ids)-maxUnlocked:]
		}
		a.auth.Sessions.Put(ctx, unlockedKey, ids)
	}
	http.Redirect(w, r, shareURL(token), http.StatusSeeOther)
	return nil
}

// shareDownload streams an item through a link, by the same path as every
// private file, and audits the decision as link:<id>. The unlocked links
// are read from the session, which this path never writes.
func (a *App) shareDownload(w http.ResponseWriter, r *http.Request) error {
	token, id := chi.URLParam(r, "token"), chi.URLParam(r, "item")
	// Identification failing means the session could not be loaded: there
	// is then no knowing what was unlocked.
	if _, err := caller(r); errors.Is(err, errs.ErrUnavailable) {
		return err
	}
	l, it, err := a.links.Item(r.Context(), token, id, a.unlockedIn(r))
	if l.ID != "" {
		audited := it.ID
		if audited == "" {
			audited = id
		}
		if audited == "" && l.MediaID != nil {
			audited = *l.MediaID
		}
		a.record(r, audited, acl.Principal{}, l.ID, err == nil, media.Item{SHA256: it.SHA256, Size: it.Size})
	}
	if err != nil {
		return err
	}
	a.send.SendPrivate(w, r, media.Item{
		ID: it.ID, Filename: it.Filename, SHA256: it.SHA256, Size: it.Size,
		ContentType: it.ContentType, CreatedAt: it.CreatedAt, StoredAt: it.StoredAt,
	})
	return nil
}

func lockedPage(token, msg string) map[string]any {
	return map[string]any{"Title": "Password required", "Locked": true, "Action": shareURL(token), "Error": msg}
}

// playerPage is the page of one item through a link: src is its download
// URL, and its derived files are under derived (/-/poster…).
func (a *App) playerPage(ctx context.Context, token string, it acl.SharedItem, src, derived, back string) (map[string]any, error) {
	infos, err := a.media.BlobInfos(ctx, []string{it.SHA256})
	if err != nil {
		return nil, err
	}
	mv := newMediaView(infos, it.SHA256, func(kind string) string { return derived + "/" + derivedPrefix + "/" + kind })
	captions, err := a.media.Captions(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	tracks := captionsJSON(captions)
	for i := range tracks {
		tracks[i].URL = derived + "/" + derivedPrefix + "/captions/" + tracks[i].ID
	}
	inline := media.Inline(it.ContentType)
	return map[string]any{
		"Title": it.Filename, "Base": shareURL(token), "Item": it, "Src": src, "Back": back,
		"Media": mv, "PlaySrc": cmp.Or(mv.Stream, src), "Captions": tracks,
		"Video": inline && strings.HasPrefix(it.ContentType, "video/"),
		"Audio": inline && strings.HasPrefix(it.ContentType, "audio/"),
		"Image": inline && strings.HasPrefix(it.ContentType, "image/"),
	}, nil
}

// renderShare renders the share page; what a link shows must not linger in
// caches once it is revoked.
func (a *App) renderShare(w http.ResponseWriter, status int, data map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, status, "share", data)
}
