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
	// Requests repeating the previous request's cleaned headers (the fast
	// path of normalizedRequest), then one differing in a value, then the
	// dirty ones again.
	withHeaders := func(c Capture, hs ...HeaderPair) Capture {
		c.Headers = hs
		return c
	}
	cleaned := dirty("x", "c1", 0).Normalized().Headers
	batches := [][]Capture{
		{dirty("a", "c1", 123456789), dirty("b", "c1", 987654321),
			withHeaders(dirty("b2", "c1", 11), cleaned...), withHeaders(dirty("b3", "c1", 12), cleaned...),
			withHeaders(dirty("b4", "c1", 13), cleaned[0], HeaderPair{Name: "accept", Value: "text/html"}),
			dirty("b5", "c1", 14)},
		{dirty("c", "c1", 5), dirty("d", "c2", 6), withHeaders(dirty("d2", "c2", 7), cleaned...)},
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

// TestSplitRepeatedRefs: a request repeating the previous request's texts
// reuses their ids (Split remembers the last ones) and a changed text gets
// its own: every reference equals the id computed from the text, every
// needed entry is in Entries exactly once, and an entry of a batch that was
// reset without Commit (rolled back) is needed again by the next batch.
func TestSplitRepeatedRefs(t *testing.T) {
	base := Capture{
		ID: "r0", ConnID: "c", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Initiator: InitiatorAPI,
		UserAgent: "ua1", Host: "h1", Akamai: "ak1", AkamaiHash: "akh1", HeaderOrder: "ho1", HeaderOrderHash: "hoh1",
		Headers: []HeaderPair{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}}, H2: json.RawMessage(`{"s":1}`),
	}
	vary := []func(*Capture){
		func(*Capture) {},
		func(*Capture) {},
		func(c *Capture) { c.UserAgent, c.AkamaiHash = "ua2", "akh2" },
		func(c *Capture) { c.Headers = []HeaderPair{{Name: "a", Value: "1"}, {Name: "b", Value: "3"}} },
		func(c *Capture) { c.Headers = []HeaderPair{{Name: "a", Value: "1"}, {Name: "c", Value: "3"}} },
		func(c *Capture) { c.H2 = json.RawMessage(`{"s":2}`); c.Host = "" },
		func(*Capture) {},
	}
	var batch []Capture
	c := base
	for i, f := range vary {
		c.ID = "r" + string(rune('0'+i))
		f(&c)
		batch = append(batch, c)
	}
	sp := NewSplit(NewDictCache(0))
	now := time.Now()
	for round := 0; round < 2; round++ {
		sp.Reset() // round 1: round 0 was not committed
		for i := range batch {
			if err := sp.AddCapture(&batch[i], now); err != nil {
				t.Fatal(err)
			}
		}
		want := map[int64]bool{}
		for i, r := range sp.Requests {
			c := &batch[i]
			host := int64(0)
			if c.Host != "" {
				host = DictID(DictHost, c.Host)
			}
			exp := RequestRow{
				ID: c.ID, CreatedAt: c.CreatedAt, Conn: ConnIDOf(c), Initiator: c.Initiator,
				Host: host, UserAgent: DictID(DictUserAgent, c.UserAgent),
				HeaderNames: headerListID(c.Headers, false), HeaderValues: headerListID(c.Headers, true),
				H2:     DictID(DictH2, string(c.H2)),
				Akamai: HashedID(DictAkamai, c.AkamaiHash, c.Akamai), HeaderOrder: HashedID(DictHeaderOrder, c.HeaderOrderHash, c.HeaderOrder),
			}
			if !reflect.DeepEqual(r, exp) {
				t.Errorf("round %d request %d:\ngot  %+v\nwant %+v", round, i, r, exp)
			}
			for _, id := range []int64{exp.Host, exp.UserAgent, exp.HeaderNames, exp.HeaderValues, exp.H2, exp.Akamai, exp.HeaderOrder} {
				if id != 0 {
					want[id] = true
				}
			}
		}
		got := map[int64]bool{}
		for _, e := range sp.Entries {
			if got[e.ID] {
				t.Errorf("round %d: entry %d (%s %q) twice", round, e.ID, e.Kind, e.Value)
			}
			got[e.ID] = true
		}
		for _, cr := range sp.Conns {
			for _, id := range []int64{cr.JA3, cr.JA3N, cr.JA4, cr.JA4R, cr.JA4O, cr.JA4RO, cr.PeetPrint, cr.QUICTP, cr.TLSSummary} {
				if id != 0 {
					want[id] = true
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: entries %v, want %v", round, got, want)
		}
	}
	// Committed, the entries are known: a new batch repeating them needs none.
	sp.Commit(now)
	sp.Reset()
	if err := sp.AddCapture(&batch[len(batch)-1], now); err != nil {
		t.Fatal(err)
	}
	if len(sp.Entries) != 0 || len(sp.Conns) != 0 {
		t.Errorf("after Commit: %d entries, %d connections needed again", len(sp.Entries), len(sp.Conns))
	}
}
