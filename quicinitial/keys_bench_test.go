package quicinitial

import "testing"

// BenchmarkNewClientKeys: the key derivation every Initial with an unknown
// connection ID costs (a flood of Initials costs one each).
func BenchmarkNewClientKeys(b *testing.B) {
	dcid := []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewClientKeys(V1, dcid); err != nil {
			b.Fatal(err)
		}
	}
}
