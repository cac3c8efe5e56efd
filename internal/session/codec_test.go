package session

import (
	"reflect"
	"testing"
	"time"
)

func TestMemoCodecDecodesOnceAndHandsOutCopies(t *testing.T) {
	c := newMemoCodec()
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := c.Encode(deadline, map[string]any{"user_id": "u1", "epoch": 3, "share_links": []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	d1, v1, err := c.Decode(b)
	if err != nil || !d1.Equal(deadline) || v1["user_id"] != "u1" || v1["epoch"] != 3 {
		t.Fatalf("decode: %v %v %v", d1, v1, err)
	}
	if len(c.m) != 1 {
		t.Fatalf("%d remembered decodings, want 1", len(c.m))
	}
	// What one caller does to its copy never reaches the next caller.
	v1["user_id"] = "someone else"
	v1["share_links"].([]string)[0] = "changed"
	delete(v1, "epoch")
	_, v2, _ := c.Decode(b)
	want := map[string]any{"user_id": "u1", "epoch": 3, "share_links": []string{"a", "b"}}
	if !reflect.DeepEqual(v2, want) {
		t.Fatalf("second decode = %v, want %v", v2, want)
	}
	if _, _, err := c.Decode([]byte("not gob")); err == nil {
		t.Fatal("garbage decoded")
	}
	if len(c.m) != 1 {
		t.Fatal("a failed decoding was remembered")
	}
}
