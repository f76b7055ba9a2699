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
