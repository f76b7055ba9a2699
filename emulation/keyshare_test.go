package emulation

import "testing"

// TestKeyShareX25519Reuse reads the built-in profiles' hellos, real captures:
// Firefox shares its X25519 key with its hybrid share, Chromium does not.
func TestKeyShareX25519Reuse(t *testing.T) {
	for name, want := range map[string]X25519Reuse{"firefox-153-linux": X25519Shared, "chromium-156-linux": X25519Separate} {
		p, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := KeyShareX25519Reuse(p.TLS.ClientHello); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	if got := KeyShareX25519Reuse([]byte{0x16, 3, 1}); got != X25519NotApplicable {
		t.Errorf("truncated hello: %d", got)
	}
}

// FuzzKeyShareX25519Reuse: any bytes are answered without a panic.
func FuzzKeyShareX25519Reuse(f *testing.F) {
	for _, name := range []string{"firefox-153-linux", "chromium-156-linux"} {
		p, err := Lookup(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.TLS.ClientHello)
	}
	f.Add([]byte{0x16, 3, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = KeyShareX25519Reuse(b)
		_ = keyShares(b)
	})
}

// TestCatalogueKeyShareReuse: every catalogue profile offering both shares
// follows its engine: Firefox and Tor (NSS) share the X25519 key (rama's
// captures show it; curl-impersonate's filler is made to), the Chromium
// family keeps two keys.
func TestCatalogueKeyShareReuse(t *testing.T) {
	ps, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, p := range ps {
		got := KeyShareX25519Reuse(p.TLS.ClientHello)
		if got == X25519NotApplicable {
			continue
		}
		nss := p.Browser == "firefox" || p.Browser == "tor"
		if want := map[bool]X25519Reuse{true: X25519Shared, false: X25519Separate}[nss]; got != want {
			t.Errorf("%s (%s): %d, want %d", p.Name, p.Browser, got, want)
		}
		counts[p.Browser]++
	}
	t.Logf("profiles offering X25519MLKEM768 and X25519, by browser: %v", counts)
	// Both engines must be represented, or the loop above checked nothing.
	if counts["firefox"] == 0 || counts["chromium"]+counts["chrome"] == 0 {
		t.Errorf("the catalogue has no Firefox or no Chromium-family profile offering both shares: %v", counts)
	}
}
