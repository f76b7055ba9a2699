package curate

import (
	"encoding/json"
	"testing"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

func TestVisitCaptures(t *testing.T) {
	h2doc := `{"stream_id":1,"settings":[[1,65536],[2,0],[4,6291456]],"window_update":15663105,"priority_frames":[],
		"headers_priority":{"stream_id":1,"exclusive":true,"depends_on":0,"weight":256},"pseudo_order":[":method"],"akamai":"x"}`
	rows := []store.Capture{
		{ID: "a", Initiator: "navigate", HTTPVersion: "2", UserAgent: "UA", H2: json.RawMessage(h2doc),
			Headers: []store.HeaderPair{{Name: ":method", Value: "GET"}, {Name: "accept", Value: "*/*"}}},
		{ID: "b", Initiator: "fetch", HTTPVersion: "1.1", Headers: []store.HeaderPair{{Name: "Host", Value: "h"}}},
	}
	caps, err := VisitCaptures(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 2 || caps[0].H2 == nil || caps[1].H2 != nil {
		t.Fatalf("captures %+v", caps)
	}
	h2 := caps[0].H2
	if len(h2.Settings) != 3 || h2.Settings[2].ID != 4 || h2.Settings[2].Value != 6291456 || h2.WindowUpdate != 15663105 ||
		h2.HeadersPriority == nil || h2.HeadersPriority.Weight != 256 || !h2.HeadersPriority.Exclusive {
		t.Errorf("HTTP/2 summary %+v", h2)
	}
	if len(caps[0].Headers) != 2 || caps[0].Headers[1] != (fingerprint.Header{Name: "accept", Value: "*/*"}) || caps[1].Headers[0].Name != "Host" {
		t.Errorf("headers %v %v", caps[0].Headers, caps[1].Headers)
	}
	rows[0].H2 = json.RawMessage(`{"settings":"nope"}`)
	if _, err := VisitCaptures(rows); err == nil {
		t.Error("a broken HTTP/2 summary was accepted")
	}
}
