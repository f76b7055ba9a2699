package writer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

func sample(n int) []model.Capture {
	return storetest.NewGenerator(42, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), time.Millisecond).Batch(n)
}

func TestCodecRoundTrip(t *testing.T) {
	cs := append(sample(20), smallCaptures()...)
	for _, c := range cs {
		b := appendCapture(nil, &c)
		got, err := decodeCapture(b)
		if err != nil {
			t.Fatalf("decode %s: %v", c.ID, err)
		}
		if d := storetest.DiffCapture(c, got); d != "" {
			t.Fatalf("round trip %s: %s", c.ID, d)
		}
		// Every strict prefix is rejected, never mis-decoded.
		for _, cut := range []int{0, 1, len(b) / 2, len(b) - 1} {
			if _, err := decodeCapture(b[:cut]); err == nil {
				t.Fatalf("decode of %d/%d bytes succeeded", cut, len(b))
			}
		}
		if _, err := decodeCapture(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("decode with a trailing byte succeeded")
		}
	}
}

// smallCaptures are compact but complete captures (every field kind present)
// used as fuzz seeds: small seeds keep the fuzzer's input minimisation short.
func smallCaptures() []model.Capture {
	return []model.Capture{
		{ID: "a", CreatedAt: time.Unix(1, 2).UTC(), Initiator: model.InitiatorAPI},
		{
			ID: "0123abcd", CreatedAt: time.Unix(1767225600, 123).UTC(), VisitKey: "v1", Initiator: model.InitiatorFetch,
			ClientIP: "192.0.2.0", UserAgent: "UA/1", Host: "h", Method: "GET", Path: "/p", HTTPVersion: "2",
			TLSVersion: "1.3", SNI: "s", ALPN: "h2", ClientHello: []byte{0x16, 3, 1, 0, 1, 1},
			TLSSummary: []byte(`{"v":771}`), H2: []byte(`{"s":[[1,2]]}`),
			Headers: []model.HeaderPair{{Name: ":method", Value: "GET"}, {Name: "X-A", Value: "b"}},
			JA3:     "771,1-2,0,29,0", JA3Hash: "h3", JA3N: "771,1-2,0,29,0", JA3NHash: "h3n", JA4: "t13d0101h2_a_b",
			JA4R: "r", JA4O: "o", JA4RO: "ro", PeetPrint: "p", PeetPrintHash: "ph", Akamai: "1:2|3|0|m,a,s,p",
			AkamaiHash: "ah", HeaderOrder: ":method,X-A", HeaderOrderHash: "hoh",
		},
	}
}

// FuzzDecodeCapture: arbitrary bytes never panic or over-allocate, and whatever
// decodes re-encodes to the same capture.
func FuzzDecodeCapture(f *testing.F) {
	for _, c := range smallCaptures() {
		f.Add(appendCapture(nil, &c))
	}
	f.Add([]byte{codecVersion, 0})
	f.Add([]byte{codecVersion, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCapture(b)
		if err != nil {
			return
		}
		again := appendCapture(nil, &c)
		c2, err := decodeCapture(again)
		if err != nil {
			t.Fatalf("re-encoded capture does not decode: %v", err)
		}
		if d := storetest.DiffCapture(c, c2); d != "" {
			t.Fatalf("re-encode changed the capture: %s", d)
		}
	})
}

// FuzzSpoolScan: for arbitrary spool bytes after the header, the record scanner
// used on open and during replay never panics, stops at or before the end, and is
// stable: rescanning the accepted prefix accepts all of it, with the same records,
// and reports a clean end.
func FuzzSpoolScan(f *testing.F) {
	var body []byte
	for _, c := range smallCaptures() {
		start := len(body)
		body = append(body, make([]byte, recHeaderLen)...)
		body = appendCapture(body, &c)
		frameRecord(body, start)
	}
	f.Add(body)
	f.Add(body[:len(body)-3])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		var n1 int
		end, err := scanRecords(bytes.NewReader(body), func(p []byte, next int64) error {
			n1++
			if next > int64(len(body)) {
				t.Fatalf("record ends at %d past %d", next, len(body))
			}
			_, _ = decodeCapture(p)
			return nil
		})
		if end < 0 || end > int64(len(body)) {
			t.Fatalf("end %d outside 0..%d", end, len(body))
		}
		if err == nil && end != int64(len(body)) {
			t.Fatalf("clean end at %d of %d", end, len(body))
		}
		if err != nil && !errors.Is(err, errTorn) {
			t.Fatalf("unexpected error %v", err)
		}
		var n2 int
		end2, err2 := scanRecords(bytes.NewReader(body[:end]), func([]byte, int64) error { n2++; return nil })
		if err2 != nil || end2 != end || n2 != n1 {
			t.Fatalf("rescan of the accepted prefix: end %d (want %d), %d records (want %d), err %v", end2, end, n2, n1, err2)
		}
	})
}

func TestSpoolAppendReadReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	s, cut, err := openSpool(path, 1<<30)
	if err != nil || cut != 0 {
		t.Fatalf("open: %v cut %d", err, cut)
	}
	defer s.close()
	cs := sample(25)
	if n, err := s.append(cs[:10]); n != 10 || err != nil {
		t.Fatalf("append = %d, %v", n, err)
	}
	if n, err := s.append(cs[10:]); n != 15 || err != nil {
		t.Fatalf("append = %d, %v", n, err)
	}
	var got []model.Capture
	for s.pending() {
		b, next, err := s.readBatch(s.readOff, s.size, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b) > 7 {
			t.Fatalf("batch of %d", len(b))
		}
		got = append(got, b...)
		s.readOff = next
	}
	if len(got) != 25 {
		t.Fatalf("read %d records, want 25", len(got))
	}
	for i := range cs {
		if d := storetest.DiffCapture(cs[i], got[i]); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
	}
	if err := s.reset(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != spoolHeaderLen {
		t.Errorf("after reset the file has %d bytes", fi.Size())
	}
}

// TestSpoolTornTail cuts a spool file inside its last record (every byte of the
// framing and payload start, then every 97th byte) and checks that reopening
// keeps exactly the complete records.
func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool")
	s, _, err := openSpool(path, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(3)
	s.append(cs[:2])
	twoEnd := s.size
	s.append(cs[2:])
	s.close()
	full, _ := os.ReadFile(path)
	for cut := twoEnd; cut < int64(len(full)); cut++ {
		if cut > twoEnd+32 && (cut-twoEnd)%97 != 0 {
			continue
		}
		p := filepath.Join(dir, "torn")
		os.WriteFile(p, full[:cut], 0o600)
		s, n, err := openSpool(p, 1<<30)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if s.size != twoEnd || n != cut-twoEnd {
			t.Fatalf("cut at %d: size %d (want %d), discarded %d", cut, s.size, twoEnd, n)
		}
		b, _, err := s.readBatch(s.readOff, s.size, 10)
		if err != nil || len(b) != 2 {
			t.Fatalf("cut at %d: read %d records, %v", cut, len(b), err)
		}
		s.close()
	}
	// A flipped byte inside the second record invalidates it and what follows.
	bad := bytes.Clone(full)
	first := spoolHeaderLen + recHeaderLen + int64(len(appendCapture(nil, &cs[0])))
	bad[first+recHeaderLen+3] ^= 0xff
	p := filepath.Join(dir, "flipped")
	os.WriteFile(p, bad, 0o600)
	s, n, err := openSpool(p, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.size != first || n != int64(len(full))-first {
		t.Fatalf("flipped byte: kept %d bytes (want %d), discarded %d", s.size, first, n)
	}
}

func TestSpoolCapAndHeader(t *testing.T) {
	dir := t.TempDir()
	cs := sample(10)
	one := int64(recHeaderLen + len(appendCapture(nil, &cs[0])))
	path := filepath.Join(dir, "spool")
	s, _, err := openSpool(path, spoolHeaderLen+3*one+one/2)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.append(cs[:1])
	if n != 1 || err != nil {
		t.Fatalf("append = %d, %v", n, err)
	}
	// Records are about the same size: two more fit, the rest do not.
	n, err = s.append(cs[1:])
	if !errors.Is(err, errSpoolFull) || n < 1 || n > 3 {
		t.Fatalf("append over cap = %d, %v; want a few and errSpoolFull", n, err)
	}
	if s.size > s.max {
		t.Fatalf("size %d above cap %d", s.size, s.max)
	}
	// A second open of a locked spool fails.
	if _, _, err := openSpool(path, 1<<30); err == nil {
		t.Fatal("second open of a locked spool succeeded")
	}
	s.close()
	// A file that is not a spool is never overwritten.
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("precious data, not a spool"), 0o600)
	if _, _, err := openSpool(other, 1<<30); err == nil {
		t.Fatal("openSpool accepted a foreign file")
	}
	if b, _ := os.ReadFile(other); string(b) != "precious data, not a spool" {
		t.Fatal("foreign file was modified")
	}
	// A crash while writing a new file's header leaves a prefix: accepted.
	partial := filepath.Join(dir, "partial")
	os.WriteFile(partial, []byte(spoolMagic[:3]), 0o600)
	s, _, err = openSpool(partial, 1<<30)
	if err != nil {
		t.Fatalf("partial header: %v", err)
	}
	s.close()
}
