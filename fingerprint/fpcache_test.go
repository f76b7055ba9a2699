package fingerprint

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// outsideKey returns a copy of ch with every field that the fingerprint key
// leaves out replaced using fill: the random, session id, record version,
// compression methods, raw message, anomalies and the data of every
// extension whose data the key does not hold. Fingerprints must not see a
// difference.
func outsideKey(ch *ClientHello, fill []byte) *ClientHello {
	next := func(n int) []byte {
		out := make([]byte, n)
		for i := range out {
			if len(fill) > 0 {
				out[i] = fill[i%len(fill)] ^ byte(i)
			} else {
				out[i] = byte(i*7 + 1)
			}
		}
		return out
	}
	v := *ch
	v.RecordVersion ^= 0x0101
	v.Random = next(32)
	v.SessionID = next(len(fill) % 33)
	v.CompressionMethods = next(1 + len(fill)%3)
	v.Raw = next(len(fill))
	v.Anomalies = []Anomaly{{Extension: 0xfeed, Kind: "test", Offset: len(fill)}}
	v.CipherSuites = slices.Clone(ch.CipherSuites)
	v.Extensions = slices.Clone(ch.Extensions)
	for i := range v.Extensions {
		if !fingerprintKeyData(v.Extensions[i].Type) {
			v.Extensions[i].Data = next(len(fill) % 97)
		}
	}
	return &v
}

// checkFingerprintCache checks, for the hello in b (skipped when it does not
// parse), that the cache answers exactly as Fingerprints on a miss and on a
// hit, and that a hello differing only outside the key has the same key and
// the same fingerprints.
func checkFingerprintCache(t *testing.T, c *FingerprintCache, b, fill []byte) {
	t.Helper()
	ch, err := ParseClientHello(b)
	if err != nil {
		return
	}
	want := ch.Fingerprints()
	for range 2 { // a miss, then (if cacheable) a hit
		if got := c.Fingerprints(ch); got != want {
			t.Fatalf("cached fingerprints differ:\n got %+v\nwant %+v", got, want)
		}
	}
	v := outsideKey(ch, fill)
	k1, ok1 := ch.appendFingerprintKey(nil)
	k2, ok2 := v.appendFingerprintKey(nil)
	if ok1 != ok2 || !bytes.Equal(k1, k2) {
		t.Fatalf("the key changed with fields outside it: %x (%v) vs %x (%v)", k1, ok1, k2, ok2)
	}
	if ok1 && len(k1) > MaxFingerprintKey {
		t.Fatalf("key of %d bytes over the %d cap", len(k1), MaxFingerprintKey)
	}
	if got := v.Fingerprints(); got != want {
		t.Fatalf("Fingerprints depends on a field outside the key:\n got %+v\nwant %+v", got, want)
	}
	if got := c.Fingerprints(v); got != want {
		t.Fatalf("cache answer for the variant differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestFingerprintCacheMatchesDirect(t *testing.T) {
	c := NewFingerprintCache(4)
	names, err := filepath.Glob("testdata/golden/*.hello")
	if err != nil || len(names) == 0 {
		t.Fatalf("golden hellos: %v %v", names, err)
	}
	for i, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseClientHello(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkFingerprintCache(t, c, b, []byte{byte(i), 0x5a, 0xa5})
	}
	if n := c.Len(); n == 0 || n > 4 {
		t.Fatalf("cache holds %d entries, want 1..4", n)
	}
	// The builders' Chrome hello is cached: the second lookup must hit.
	ch, err := ParseClientHello(tChromeLike().rec())
	if err != nil {
		t.Fatal(err)
	}
	one := NewFingerprintCache(1)
	one.Fingerprints(ch)
	if one.Len() != 1 {
		t.Fatalf("Chrome hello not cached (len %d)", one.Len())
	}
}

// TestFingerprintKeySeesEveryInput changes each input of Fingerprints in
// turn: the key must change with it, else two hellos with different
// fingerprints would share a cache entry.
func TestFingerprintKeySeesEveryInput(t *testing.T) {
	base, err := ParseClientHello(tChromeLike().rec())
	if err != nil {
		t.Fatal(err)
	}
	key0, ok := base.appendFingerprintKey(nil)
	if !ok {
		t.Fatal("Chrome hello key over the cap")
	}
	clone := func() *ClientHello {
		v := *base
		v.CipherSuites = slices.Clone(base.CipherSuites)
		v.Extensions = slices.Clone(base.Extensions)
		return &v
	}
	mutations := map[string]func(*ClientHello){
		"transport":      func(v *ClientHello) { v.Transport = TransportQUIC },
		"legacy_version": func(v *ClientHello) { v.LegacyVersion = 0x0302 },
		"cipher":         func(v *ClientHello) { v.CipherSuites[1]++ },
		"cipher count":   func(v *ClientHello) { v.CipherSuites = v.CipherSuites[1:] },
		"extension type": func(v *ClientHello) { v.Extensions[1].Type = 0x4444 },
		"extension order": func(v *ClientHello) {
			v.Extensions[1], v.Extensions[2] = v.Extensions[2], v.Extensions[1]
		},
	}
	for _, typ := range []uint16{ExtALPN, ExtSupportedGroups, ExtECPointFormats, ExtSignatureAlgorithms,
		ExtSupportedVersions, ExtPSKKeyExchangeModes, ExtCompressCertificate} {
		mutations[ExtensionName(typ)] = func(v *ClientHello) {
			for i := range v.Extensions {
				if e := &v.Extensions[i]; e.Type == typ {
					e.Data = append(slices.Clone(e.Data), 0)
					return
				}
			}
			t.Fatalf("Chrome hello without extension %d", typ)
		}
	}
	for name, mutate := range mutations {
		v := clone()
		mutate(v)
		key, ok := v.appendFingerprintKey(nil)
		if ok && bytes.Equal(key, key0) {
			t.Errorf("%s: key unchanged", name)
		}
	}
}

func TestFingerprintCacheBounds(t *testing.T) {
	c := NewFingerprintCache(3)
	for i := range 20 {
		h := tHello{ciphers: []uint16{0x1301, uint16(0x2000 + i)}, exts: []tExt{tSNI("x"), tALPN("h2")}}
		ch, err := ParseClientHello(h.rec())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Fingerprints(ch), ch.Fingerprints(); got != want {
			t.Fatalf("hello %d: %+v, want %+v", i, got, want)
		}
		if c.Len() > 3 {
			t.Fatalf("cache grew to %d entries, cap 3", c.Len())
		}
	}
	// A hello whose key is over the cap is computed, not cached.
	big := make([]uint16, MaxFingerprintKey)
	for i := range big {
		big[i] = uint16(0x0100 + i)
	}
	ch, err := ParseClientHello(tHello{ciphers: big, noExts: true}.rec())
	if err != nil {
		t.Fatal(err)
	}
	empty := NewFingerprintCache(3)
	if got, want := empty.Fingerprints(ch), ch.Fingerprints(); got != want {
		t.Fatalf("large hello: %+v, want %+v", got, want)
	}
	if empty.Len() != 0 {
		t.Fatalf("a hello over the key cap was cached")
	}
	var none *FingerprintCache
	if got, want := none.Fingerprints(ch), ch.Fingerprints(); got != want {
		t.Fatal("nil cache differs from Fingerprints")
	}
}

// FuzzFingerprintCache feeds hellos from the network side to one small
// shared cache (so entries are evicted and keys of different hellos meet)
// and checks every answer against Fingerprints, with a variant of each
// hello changed outside its key.
func FuzzFingerprintCache(f *testing.F) {
	for i, s := range fuzzHelloSeeds(f) {
		f.Add(s, []byte{byte(i), 1, 2, 3})
	}
	c := NewFingerprintCache(8)
	f.Fuzz(func(t *testing.T, b, fill []byte) {
		checkFingerprintCache(t, c, b, fill)
	})
}

func BenchmarkFingerprintCacheHitChrome(b *testing.B) {
	ch, err := ParseClientHello(benchChromeHello())
	if err != nil {
		b.Fatal(err)
	}
	c := NewFingerprintCache(16)
	c.Fingerprints(ch)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Fingerprints(ch)
	}
}
