package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

type batchAnswer struct {
	Results   []batchResult `json:"results"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
}

// TestBatch runs each action over items the caller may and may not touch:
// every id gets the status and code its single-item request answers (asked
// afterwards, for the refusals, which change nothing), the others go through.
func TestBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ownerEmail, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	_, stranger := h.user(acl.RoleEditor)
	mine1 := h.upload(owner, "1.txt", []byte("one\n"))
	mine2 := h.upload(owner, "2.txt", []byte("two\n"))
	theirs := h.upload(stranger, "3.txt", []byte("three\n"))
	shared := h.upload(stranger, "4.txt", []byte("four\n")) // the owner may edit it, not manage it
	wantStatus(t, h.do("PUT", "/api/media/"+shared.ID+"/grants/user:"+ownerEmail, stranger, jsonBody(`{"permission":"edit"}`)), 200)
	folder := h.folder(owner, "F", nil)
	const missing = "7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d"
	ids := []string{mine1.ID, theirs.ID, shared.ID, missing, "not-an-id", mine2.ID}

	batch := func(token, body string) batchAnswer {
		t.Helper()
		resp := h.do("POST", "/api/media/batch", token, jsonBody(body))
		wantStatus(t, resp, 200)
		return decode[batchAnswer](t, resp)
	}
	body := func(action, extra string) string {
		b, _ := json.Marshal(ids)
		return `{"action":"` + action + `","ids":` + string(b) + extra + `}`
	}
	// single asks the single-item endpoint what it answers for id now.
	single := func(method, path, body string) (int, string) {
		t.Helper()
		var resp *http.Response
		if body == "" {
			resp = h.do(method, path, owner, nil)
		} else {
			resp = h.do(method, path, owner, jsonBody(body))
		}
		if resp.StatusCode < 300 {
			return resp.StatusCode, ""
		}
		return resp.StatusCode, decode[errorJSON](t, resp).Code
	}
	check := func(action string, got batchAnswer, okIDs []string, refusal func(id string) (string, string, string)) {
		t.Helper()
		if len(got.Results) != len(ids) || got.Succeeded != len(okIDs) || got.Failed != len(ids)-len(okIDs) {
			t.Fatalf("%s: %+v", action, got)
		}
		for i, res := range got.Results {
			if res.ID != ids[i] {
				t.Errorf("%s: result %d is for %s, want %s", action, i, res.ID, ids[i])
			}
			if slices.Contains(okIDs, res.ID) {
				if !res.OK || res.Code != "" {
					t.Errorf("%s %s: %+v, want ok", action, res.ID, res)
				}
				continue
			}
			status, code := single(refusal(res.ID))
			if res.OK || res.Status != status || res.Code != code || res.Error == "" {
				t.Errorf("%s %s: %+v; the single request answers %d %s", action, res.ID, res, status, code)
			}
		}
	}

	got := batch(owner, body("move", `,"folder":"`+folder.ID+`"`))
	check("move", got, []string{mine1.ID, mine2.ID}, func(id string) (string, string, string) {
		return "PATCH", "/api/media/" + id, `{"folder":"` + folder.ID + `"}`
	})
	if got.Results[0].Status != 200 {
		t.Errorf("move's success status %d, want 200", got.Results[0].Status)
	}
	if it := decode[itemJSON](t, h.do("GET", "/api/media/"+mine2.ID, owner, nil)); it.Folder == nil || *it.Folder != folder.ID {
		t.Errorf("moved item's folder %v", it.Folder)
	}
	got = batch(owner, body("move", `,"folder":""`))
	if got.Succeeded != 2 {
		t.Errorf("move to the root: %+v", got)
	}
	got = batch(owner, body("move", `,"folder":"../x"`))
	check("move to a bad folder", got, nil, func(id string) (string, string, string) {
		return "PATCH", "/api/media/" + id, `{"folder":"../x"}`
	})

	got = batch(owner, body("grant", `,"subject":"user:`+viewerEmail+`","level":"view"`))
	check("grant", got, []string{mine1.ID, mine2.ID}, func(id string) (string, string, string) {
		return "PUT", "/api/media/" + id + "/grants/user:" + viewerEmail, `{"permission":"view"}`
	})
	wantStatus(t, h.do("GET", mine2.URL, viewer, nil), 200)
	got = batch(owner, body("ungrant", `,"subject":"user:`+viewerEmail+`"`))
	check("ungrant", got, []string{mine1.ID, mine2.ID}, func(id string) (string, string, string) {
		return "DELETE", "/api/media/" + id + "/grants/user:" + viewerEmail, ""
	})
	if got.Results[0].Status != 204 {
		t.Errorf("ungrant's success status %d, want 204", got.Results[0].Status)
	}
	wantStatus(t, h.do("GET", mine2.URL, viewer, nil), 404)

	got = batch(owner, body("delete", ""))
	check("delete", got, []string{mine1.ID, mine2.ID}, func(id string) (string, string, string) {
		return "DELETE", "/api/media/" + id, ""
	})
	wantStatus(t, h.do("GET", "/api/media/"+mine1.ID, owner, nil), 404)
	wantStatus(t, h.do("GET", "/api/media/"+theirs.ID, stranger, nil), 200)
	wantStatus(t, h.do("GET", "/api/media/"+shared.ID, stranger, nil), 200)

	// What is wrong with the request as a whole is a 400, and nothing is done.
	many := make([]string, maxBatch+1)
	for i := range many {
		many[i] = `"` + theirs.ID + `"`
	}
	for _, b := range []string{
		`{"action":"erase","ids":["` + theirs.ID + `"]}`,
		`{"ids":["` + theirs.ID + `"]}`,
		`{"action":"delete","ids":[]}`,
		`{"action":"delete"}`,
		`{"action":"delete","ids":[` + strings.Join(many, ",") + `]}`,
		`{"action":"grant","ids":["` + theirs.ID + `"],"subject":"user:` + viewerEmail + `","level":"own"}`,
		`{"action":"grant","ids":["` + theirs.ID + `"],"subject":"nobody","level":"view"}`,
		`{"action":"ungrant","ids":["` + theirs.ID + `"],"subject":""}`,
		`{"action":"delete","ids":["` + theirs.ID + `"],"extra":1}`,
	} {
		wantStatus(t, h.do("POST", "/api/media/batch", stranger, jsonBody(b)), 400)
	}
	wantStatus(t, h.do("GET", "/api/media/"+theirs.ID, stranger, nil), 200)
	wantStatus(t, h.do("POST", "/api/media/batch", "", jsonBody(`{"action":"delete","ids":["`+theirs.ID+`"]}`)), 401)

	// 500 ids are taken.
	max := make([]string, maxBatch)
	for i := range max {
		max[i] = fmt.Sprintf(`"%s"`, missing)
	}
	if got := batch(owner, `{"action":"delete","ids":[`+strings.Join(max, ",")+`]}`); got.Failed != maxBatch || got.Results[0].Status != 404 {
		t.Errorf("500 missing ids: %d failed, first %+v", got.Failed, got.Results[0])
	}
}
