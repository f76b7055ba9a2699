package model

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestAddCaptureMatchesNormalized: Split.AddCapture, which cleans a
// keep-alive request's fields but not its connection's, builds exactly the
// rows Normalized + Add build, for captures with invalid UTF-8 and NUL in
// every text field, header and document: a new connection, a second request
// on it in the same batch, a request on a connection the cache holds from an
// earlier batch, and one on another connection. The captures are not
// modified.
func TestAddCaptureMatchesNormalized(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	dirty := func(id, conn string, ns int) Capture {
		return Capture{
			ID: id, ConnID: conn, CreatedAt: time.Date(2026, 1, 1, 12, 0, 0, ns, loc), Initiator: InitiatorAPI,
			VisitKey: "v\xff", ClientIP: "1.2.3.4\x00", UserAgent: "ua\x00", Host: "h\xfe", Method: "G\xffT", Path: "/\xff",
			HTTPVersion: "2\x00", TLSVersion: "1.3\xff", SNI: "s\xff", ALPN: "h2\x00",
			ClientHello: []byte{0x16, 0x03, 0x01}, TLSSummary: json.RawMessage("{\"a\":\"\xff\"}"),
			Headers: []HeaderPair{{Name: "n\xff", Value: "v\x00"}, {Name: "accept", Value: "*/*"}},
			H2:      json.RawMessage("{\"b\":\"\xfe\"}"), StreamID: 3,
			JA3: "ja3\xff", JA3Hash: "h3\x00", JA3N: "ja3n\xff", JA3NHash: "h3n", JA4: "ja4\xff", JA4R: "ja4r\x00",
			JA4O: "ja4o\xff", JA4RO: "ja4ro\xff", PeetPrint: "pp\xff", PeetPrintHash: "pph\x00",
			Akamai: "ak\xff", AkamaiHash: "akh\x00", HeaderOrder: "ho\xff", HeaderOrderHash: "hoh\x00",
			QUICTP: "qtp", QUICTPHash: "qtph",
		}
	}
	batches := [][]Capture{
		{dirty("a", "c1", 123456789), dirty("b", "c1", 987654321)},
		{dirty("c", "c1", 5), dirty("d", "c2", 6)},
	}
	now := time.Now()
	viaAdd, viaCapture := NewSplit(NewDictCache(0)), NewSplit(NewDictCache(0))
	for bi, batch := range batches {
		viaAdd.Reset()
		viaCapture.Reset()
		for i := range batch {
			before := batch[i]
			before.Headers = append([]HeaderPair(nil), batch[i].Headers...)
			n := batch[i].Normalized()
			if err := viaAdd.Add(&n, now); err != nil {
				t.Fatal(err)
			}
			if err := viaCapture.AddCapture(&batch[i], now); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, batch[i]) {
				t.Fatalf("batch %d capture %d modified by AddCapture", bi, i)
			}
		}
		if !reflect.DeepEqual(viaAdd.Entries, viaCapture.Entries) {
			t.Errorf("batch %d entries differ:\nAdd        %+v\nAddCapture %+v", bi, viaAdd.Entries, viaCapture.Entries)
		}
		if !reflect.DeepEqual(viaAdd.Conns, viaCapture.Conns) {
			t.Errorf("batch %d connections differ:\nAdd        %+v\nAddCapture %+v", bi, viaAdd.Conns, viaCapture.Conns)
		}
		if !reflect.DeepEqual(viaAdd.Requests, viaCapture.Requests) {
			t.Errorf("batch %d requests differ:\nAdd        %+v\nAddCapture %+v", bi, viaAdd.Requests, viaCapture.Requests)
		}
		if want := map[int]int{0: 1, 1: 1}[bi]; len(viaCapture.Conns) != want {
			t.Errorf("batch %d: %d new connections, want %d", bi, len(viaCapture.Conns), want)
		}
		viaAdd.Commit(now)
		viaCapture.Commit(now)
	}
	// An invalid document is refused as by Add, on a known connection too.
	bad := dirty("e", "c1", 7)
	bad.H2 = json.RawMessage("{")
	if err := viaCapture.AddCapture(&bad, now); err == nil {
		t.Error("AddCapture accepted an invalid H2 document")
	}
}
