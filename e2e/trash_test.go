package e2e

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"slices"
	"testing"
	"time"
)

// testTrash deletes a published and shared item: its /smedia URL, its share
// link and its /media/ public URL (served by the front end alone in accel
// mode) stop answering, it shows in the trash, and a restore brings all
// three back with the same bytes at the same URLs. A purge then removes its
// blob.
func (s *suite) testTrash(t *testing.T, f *servingFixture) {
	data := append(slices.Clone(f.data), []byte(rand.Text())...) // a blob of its own
	it := s.mustUpload(t, s.owner.token, "trashed.mp4", data)
	defer s.deleteItem(t, s.owner.token, it.ID)
	a := s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/publish"), token: s.owner.token})
	mustStatus(t, "publish", a, http.StatusOK)
	pub := decodeJSON[struct {
		PublicURL string `json:"public_url"`
	}](t, "publish", a).PublicURL
	a = s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/links"), token: s.owner.token})
	mustStatus(t, "share", a, http.StatusCreated)
	link := decodeJSON[struct {
		URL string `json:"url"`
	}](t, "share", a).URL + "/download"

	urls := []struct{ what, path, token string }{
		{"smedia", it.URL, s.owner.token},
		{"share link", link, ""},
		{"public URL", pub, ""},
	}
	serving := func(when string, want int) {
		t.Helper()
		for _, u := range urls {
			a := s.get(t, u.path, u.token)
			if expectStatus(t, when+": GET "+u.what, a, want) && want == http.StatusOK && !bytes.Equal(a.Body, data) {
				t.Errorf("%s: GET %s: %d bytes that are not the item's", when, u.what, len(a.Body))
			}
			s.keep(t, when+": GET "+u.what, a, cmpStatus)
		}
	}
	serving("before the delete", http.StatusOK)

	mustStatus(t, "delete", s.do(t, call{method: http.MethodDelete, path: itemPath(it.ID, ""), token: s.owner.token}), http.StatusNoContent)
	serving("in the trash", http.StatusNotFound)
	expectAPIError(t, "GET /api/media/{id} in the trash", s.get(t, itemPath(it.ID, ""), s.owner.token), http.StatusNotFound)
	if n := s.blobsHolding(t, data); n != 1 {
		t.Errorf("in the trash, %d files hold the content, want 1 (kept for a restore)", n)
	}
	a = s.get(t, "/api/trash", s.owner.token)
	mustStatus(t, "GET /api/trash", a, http.StatusOK)
	entries := decodeJSON[struct {
		Entries []struct{ ID, Kind string }
	}](t, "GET /api/trash", a).Entries
	if !slices.ContainsFunc(entries, func(e struct{ ID, Kind string }) bool { return e.ID == string(it.ID) && e.Kind == "item" }) {
		t.Errorf("the trash lacks the item: %+v", entries)
	}

	a = s.do(t, call{method: http.MethodPost, path: "/api/trash/" + string(it.ID) + "/restore", token: s.owner.token})
	mustStatus(t, "restore", a, http.StatusOK)
	serving("after the restore", http.StatusOK)

	mustStatus(t, "delete again", s.do(t, call{method: http.MethodDelete, path: itemPath(it.ID, ""), token: s.owner.token}), http.StatusNoContent)
	mustStatus(t, "purge", s.do(t, call{method: http.MethodDelete, path: "/api/trash/" + string(it.ID), token: s.owner.token}), http.StatusNoContent)
	serving("purged", http.StatusNotFound)
	if !eventually(5*time.Second, func() bool { return s.blobsHolding(t, data) == 0 }) {
		t.Errorf("after the purge, %d files still hold the content", s.blobsHolding(t, data))
	}
}
