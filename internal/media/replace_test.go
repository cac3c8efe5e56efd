package media_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/s3store"
)

// publicBytes reads what the store serves under the public name.
func publicBytes(t *testing.T, e *env, name string) []byte {
	t.Helper()
	if st, ok := e.store.Blobs().(*s3store.Store); ok {
		out, err := st.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(st.Prefix() + "public/" + name)})
		if err != nil {
			t.Fatalf("reading public %s: %v", name, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := os.ReadFile(e.disk.PublicPath(name))
	if err != nil {
		t.Fatalf("reading public %s: %v", name, err)
	}
	return b
}

// TestReplaceFailurePublic makes a replace of a published item fail before
// the public file switches (the old blob's row can't go) and after it (at
// the commit), on disk and in S3: either way the public URL still serves
// the content the database holds, at once and after Recover.
func TestReplaceFailurePublic(t *testing.T) {
	t.Parallel()
	const fail = `CREATE FUNCTION replace_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;`
	failures := map[string]struct{ table, trigger string }{
		"before the switch": {"blobs", `CREATE TRIGGER replace_fail BEFORE DELETE ON blobs FOR EACH ROW EXECUTE FUNCTION replace_fail()`},
		"at the commit": {"media", `CREATE CONSTRAINT TRIGGER replace_fail AFTER UPDATE ON media DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW WHEN (OLD.blob IS DISTINCT FROM NEW.blob) EXECUTE FUNCTION replace_fail()`},
	}
	for _, useS3 := range []bool{false, true} {
		for when, f := range failures {
			t.Run(map[bool]string{false: "disk", true: "s3"}[useS3]+"/"+when, func(t *testing.T) {
				t.Parallel()
				e, _ := newFsckEnv(t, useS3)
				ctx := context.Background()
				ed := e.user(acl.RoleEditor)
				approved := content("approved press release", 2048)
				it := e.upload(ed, approved, "release.txt")
				name, err := e.store.Publish(ctx, ed, it.ID)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.pool.Exec(ctx, fail+f.trigger); err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.Replace(ctx, ed, it.ID, bytes.NewReader(content("embargoed draft", 2048))); err == nil {
					t.Fatal("the replace succeeded; the trigger should have failed it")
				}
				if got := publicBytes(t, e, name); !bytes.Equal(got, approved) {
					t.Errorf("after the failed replace the public file is not the item's content (%d bytes)", len(got))
				}
				if _, err := e.pool.Exec(ctx, `DROP TRIGGER replace_fail ON `+f.table); err != nil {
					t.Fatal(err)
				}
				if err := e.store.Recover(ctx); err != nil {
					t.Fatal(err)
				}
				if got := publicBytes(t, e, name); !bytes.Equal(got, approved) {
					t.Errorf("after Recover the public file is not the item's content (%d bytes)", len(got))
				}
				if got := e.blobRows(); len(got) != 1 || got[0] != it.SHA256 {
					t.Errorf("blob rows %v, want only the approved content's", got)
				}
			})
		}
	}
}

// TestRecoverMendsPublicContent puts another blob's file under a published
// name, as a crash between a replace's switch and its commit leaves it:
// Recover serves the item's own content there again (local disk, which can
// tell which blob a public file is).
func TestRecoverMendsPublicContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ed := e.user(acl.RoleEditor)
	approved := content("approved", 4096)
	it := e.upload(ed, approved, "a.txt")
	other := e.upload(ed, content("the other one", 4096), "b.txt")
	name, err := e.store.Publish(ctx, ed, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.disk.PublicPath(name)); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(e.disk.BlobPath(other.SHA256), e.disk.PublicPath(name)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if got := publicBytes(t, e, name); !bytes.Equal(got, approved) {
		t.Errorf("after Recover /media/%s serves %d bytes that are not its item's", name, len(got))
	}
}

// TestReplaceRights: replacing needs edit, and manage once the item is
// published (it changes what the public URL serves); a right lost while
// the body was on its way refuses the replace when the body is in, and
// nothing changes.
func TestReplaceRights(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	owner := e.user(acl.RoleEditor)
	editor := e.user(acl.RoleEditor)
	it := e.upload(owner, content("original", 1024), "o.txt")
	e.grant(it.ID, editor, acl.Edit)
	if err := e.store.CheckReplace(ctx, editor, it.ID); err != nil {
		t.Fatalf("an editor of an unpublished item may replace it: %v", err)
	}

	// A body that arrives only once the grant is gone.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := e.store.Replace(ctx, editor, it.ID, pr)
		done <- err
	}()
	if _, err := pw.Write([]byte("first half, ")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `DELETE FROM grants WHERE media_id = $1 AND subject_id = $2`, it.ID, editor.UserID); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("REPLACED BY A REVOKED EDITOR"))
	pw.Close()
	if err := <-done; !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("a replace whose right was revoked mid-body = %v, want ErrNotFound", err)
	}
	if got, err := e.store.Get(ctx, owner, it.ID); err != nil || got.SHA256 != it.SHA256 {
		t.Errorf("after the refused replace the item holds %s (%v), want %s", got.SHA256, err, it.SHA256)
	}

	// Published: edit is not enough, before the body or after it.
	e.grant(it.ID, editor, acl.Edit)
	name, err := e.store.Publish(ctx, owner, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CheckReplace(ctx, editor, it.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("CheckReplace of a published item with edit = %v, want ErrForbidden", err)
	}
	if _, err := e.store.Replace(ctx, editor, it.ID, strings.NewReader("defaced")); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("Replace of a published item with edit = %v, want ErrForbidden", err)
	}
	if got := publicBytes(t, e, name); !bytes.Equal(got, content("original", 1024)) {
		t.Errorf("the public file changed: %q", got)
	}
	if _, err := e.store.Replace(ctx, owner, it.ID, strings.NewReader("the owner's new version")); err != nil {
		t.Errorf("the owner (manage) replacing a published item: %v", err)
	}
	if got := publicBytes(t, e, name); string(got) != "the owner's new version" {
		t.Errorf("the public file after the owner's replace: %q", got)
	}
}

// TestPosterOfReplacedContent chooses a poster made for the item's content
// after a replace landed while it was made (as ffmpeg takes seconds): a
// conflict, and the item keeps no poster of the old content; made for the
// content the item holds, it is taken.
func TestPosterOfReplacedContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ed := e.user(acl.RoleEditor)
	it := e.upload(ed, content("the wrong video", 4096), "v.mp4")
	frame := func(seed string) string {
		path := filepath.Join(e.store.Spool().Dir(), "poster-"+seed)
		if err := os.WriteFile(path, content(seed, 1024), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	old := frame("a frame of the wrong video")
	now, err := e.store.Replace(ctx, ed, it.ID, bytes.NewReader(content("the right video", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPoster(ctx, ed, it.ID, it.SHA256, old); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("a poster made for the replaced content = %v, want ErrConflict", err)
	}
	if chosen, err := e.store.PosterChosen(ctx, it.ID); err != nil || chosen {
		t.Errorf("after the refused poster: chosen %v (%v), want none", chosen, err)
	}
	if err := e.store.SetPoster(ctx, ed, it.ID, now.SHA256, frame("a frame of the right video")); err != nil {
		t.Errorf("a poster made for the item's content: %v", err)
	}
	if chosen, err := e.store.PosterChosen(ctx, it.ID); err != nil || !chosen {
		t.Errorf("after the poster for the current content: chosen %v (%v), want it", chosen, err)
	}
}
