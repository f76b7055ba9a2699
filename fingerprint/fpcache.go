package fingerprint

import (
	"encoding/binary"
	"sync"
)

// FingerprintCache memoises ClientHello.Fingerprints across hellos. Clients
// repeat the same hello apart from its random, session id, key shares,
// server name and the like, none of which a fingerprint reads, so a
// server sees few distinct fingerprint inputs and can compute each once.
//
// The cache key is every input of Fingerprints, byte for byte (see
// appendFingerprintKey), so a hit returns exactly what Fingerprints would.
// The cache is bounded for bytes from the network: hellos whose key is over
// MaxFingerprintKey bytes are computed without it, and when it holds its
// maximum of entries an arbitrary one is evicted, so a client sending many
// shapes only costs itself misses. A nil *FingerprintCache computes
// directly. It is safe for concurrent use.
type FingerprintCache struct {
	mu  sync.Mutex
	m   map[string]TLSFingerprints
	max int
}

// MaxFingerprintKey bounds the key of a cached hello (real hellos need a
// few hundred bytes).
const MaxFingerprintKey = 512

// NewFingerprintCache returns a cache holding at most entries fingerprint
// sets (at least 1).
func NewFingerprintCache(entries int) *FingerprintCache {
	entries = max(entries, 1)
	return &FingerprintCache{m: make(map[string]TLSFingerprints, min(entries, 64)), max: entries}
}

// Fingerprints returns ch.Fingerprints(), from the cache when a hello with
// the same fingerprint inputs was seen.
func (c *FingerprintCache) Fingerprints(ch *ClientHello) TLSFingerprints {
	if c == nil {
		return ch.Fingerprints()
	}
	var arr [MaxFingerprintKey]byte
	key, ok := ch.appendFingerprintKey(arr[:0])
	if !ok {
		return ch.Fingerprints()
	}
	c.mu.Lock()
	fp, hit := c.m[string(key)]
	c.mu.Unlock()
	if hit {
		return fp
	}
	fp = ch.Fingerprints()
	c.mu.Lock()
	if _, there := c.m[string(key)]; !there && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[string(key)] = fp
	c.mu.Unlock()
	return fp
}

// Len is the number of cached fingerprint sets.
func (c *FingerprintCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// fingerprintKeyData reports the extension types whose data Fingerprints
// reads (gatherLists); for every other extension it reads the type only.
func fingerprintKeyData(t uint16) bool {
	switch t {
	case ExtALPN, ExtSupportedGroups, ExtECPointFormats, ExtSignatureAlgorithms,
		ExtSupportedVersions, ExtPSKKeyExchangeModes, ExtCompressCertificate:
		return true
	}
	return false
}

// appendFingerprintKey appends to dst an unambiguous encoding of every
// field of ch that Fingerprints reads: the transport, legacy_version, the
// cipher suites, the extension types in wire order and the data of each
// extension whose type fingerprintKeyData lists. ok is false (and the
// result unusable) when the key would exceed MaxFingerprintKey bytes.
//
// Fingerprints must stay a function of these fields alone; the tests
// check it by changing everything else.
func (ch *ClientHello) appendFingerprintKey(dst []byte) (key []byte, ok bool) {
	size := 1 + len(ch.Transport) + 2 + 3 + 2*len(ch.CipherSuites) + 3 + 2*len(ch.Extensions)
	if size > MaxFingerprintKey {
		return dst, false
	}
	dst = append(dst, byte(len(ch.Transport)))
	dst = append(dst, ch.Transport...)
	dst = binary.BigEndian.AppendUint16(dst, ch.LegacyVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ch.CipherSuites)))
	for _, c := range ch.CipherSuites {
		dst = binary.BigEndian.AppendUint16(dst, c)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ch.Extensions)))
	for i := range ch.Extensions {
		dst = binary.BigEndian.AppendUint16(dst, ch.Extensions[i].Type)
	}
	// The data of the listed types follows in wire order: the type list
	// above says which extension each length-prefixed body belongs to.
	for i := range ch.Extensions {
		e := &ch.Extensions[i]
		if !fingerprintKeyData(e.Type) {
			continue
		}
		size += 3 + len(e.Data)
		if size > MaxFingerprintKey {
			return dst, false
		}
		dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
		dst = append(dst, e.Data...)
	}
	return dst, len(dst) <= MaxFingerprintKey
}
