package media_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// TestListFilters lists by type and by folder (with and without the folders
// below), and checks the folder paths a caller sees: whole for the owner,
// with the folders out of reach as "…" for a viewer granted a subfolder or
// a single item.
func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	owner, viewer := e.user(acl.RoleEditor), e.user(acl.RoleViewer)
	d := acl.NewDecider(e.pool)
	folder := func(name string, parent *string) *string {
		t.Helper()
		f, err := d.CreateFolder(ctx, owner, name, parent)
		if err != nil {
			t.Fatal(err)
		}
		return &f.ID
	}
	a := folder("A", nil)
	b := folder("B", a)
	c := folder("C", b)
	other := folder("Other", nil)
	put := func(name string, content []byte, in *string) media.Item {
		t.Helper()
		it, err := e.store.Create(ctx, owner, e.receive(content), name, in)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	video := put("v.mp4", sampleMP4(t), nil)
	image := put("i.png", append([]byte("\x89PNG\r\n\x1a\n"), content("png", 64)...), a)
	audio := put("a.wav", append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), content("wav", 64)...), b)
	pdf := put("d.pdf", append([]byte("%PDF-1.4\n"), content("pdf", 64)...), c)
	text := put("t.txt", []byte("plain words, nothing else\n"), other)
	for it, want := range map[string]string{video.ContentType: "video/", image.ContentType: "image/", audio.ContentType: "audio/", pdf.ContentType: "application/pdf"} {
		if len(it) < len(want) || it[:len(want)] != want {
			t.Fatalf("sniffed %q, want %q…: the fixture is wrong", it, want)
		}
	}

	ids := func(p acl.Principal, o media.ListOptions) []string {
		t.Helper()
		o.Sort = media.SortName
		page, err := e.store.List(ctx, p, o)
		if err != nil {
			t.Fatalf("List(%+v): %v", o, err)
		}
		var out []string
		for _, it := range page.Items {
			out = append(out, it.Filename)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		o    media.ListOptions
		want []string
	}{
		{"all", media.ListOptions{}, []string{"a.wav", "d.pdf", "i.png", "t.txt", "v.mp4"}},
		{"video", media.ListOptions{Type: media.TypeVideo}, []string{"v.mp4"}},
		{"audio", media.ListOptions{Type: media.TypeAudio}, []string{"a.wav"}},
		{"image", media.ListOptions{Type: media.TypeImage}, []string{"i.png"}},
		{"document", media.ListOptions{Type: media.TypeDocument}, []string{"d.pdf", "t.txt"}},
		{"root", media.ListOptions{InFolder: true}, []string{"v.mp4"}},
		{"root and below", media.ListOptions{InFolder: true, Subfolders: true}, []string{"a.wav", "d.pdf", "i.png", "t.txt", "v.mp4"}},
		{"A", media.ListOptions{InFolder: true, Folder: a}, []string{"i.png"}},
		{"A and below", media.ListOptions{InFolder: true, Folder: a, Subfolders: true}, []string{"a.wav", "d.pdf", "i.png"}},
		{"B and below", media.ListOptions{InFolder: true, Folder: b, Subfolders: true}, []string{"a.wav", "d.pdf"}},
		{"A and below, documents", media.ListOptions{InFolder: true, Folder: a, Subfolders: true, Type: media.TypeDocument}, []string{"d.pdf"}},
		{"C and below", media.ListOptions{InFolder: true, Folder: c, Subfolders: true}, []string{"d.pdf"}},
		{"A and below, one a page", media.ListOptions{InFolder: true, Folder: a, Subfolders: true, Limit: 1}, []string{"a.wav"}},
	} {
		if got := ids(owner, tc.o); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, o := range []media.ListOptions{{Type: "Video"}, {Type: "pdf"}, {Type: "video/"}, {Subfolders: true}} {
		if _, err := e.store.List(ctx, owner, o); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", o, err)
		}
	}

	// Paths. The viewer may see B (and so C), and the text file alone.
	if err := d.SetFolderGrant(ctx, owner, *b, viewer.Email, acl.View); err != nil {
		t.Fatal(err)
	}
	e.grant(text.ID, viewer, acl.View)
	paths := func(p acl.Principal) map[string]media.FolderPath {
		t.Helper()
		page, err := e.store.List(ctx, p, media.ListOptions{Paths: true})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]media.FolderPath{}
		for _, it := range page.Items {
			if it.Path == nil {
				t.Fatalf("%s has no path", it.Filename)
			}
			out[it.Filename] = *it.Path
		}
		return out
	}
	want := map[string]media.FolderPath{
		"v.mp4": {}, "i.png": {Path: "A"}, "a.wav": {Path: "A/B"}, "d.pdf": {Path: "A/B/C"}, "t.txt": {Path: "Other"},
	}
	if got := paths(owner); !mapsEqual(got, want) {
		t.Errorf("owner's paths %+v, want %+v", got, want)
	}
	want = map[string]media.FolderPath{
		"a.wav": {Path: "…/B", Hidden: true}, "d.pdf": {Path: "…/B/C", Hidden: true}, "t.txt": {Path: "…", Hidden: true},
	}
	if got := paths(viewer); !mapsEqual(got, want) {
		t.Errorf("viewer's paths %+v, want %+v", got, want)
	}
	// Without Paths, no extra work and no path.
	page, err := e.store.List(ctx, owner, media.ListOptions{})
	if err != nil || page.Items[0].Path != nil {
		t.Errorf("List without Paths: %+v, %v", page.Items[0].Path, err)
	}
	// One item, as GET /api/media/{id} does.
	got, err := e.store.Get(ctx, viewer, pdf.ID)
	if err != nil {
		t.Fatal(err)
	}
	items := []media.Item{got}
	if err := e.store.FolderPaths(ctx, viewer, items); err != nil || *items[0].Path != (media.FolderPath{Path: "…/B/C", Hidden: true}) {
		t.Errorf("FolderPaths = %+v, %v", items[0].Path, err)
	}
}

func mapsEqual(a, b map[string]media.FolderPath) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
