package transport

import "golang.org/x/net/http2/hpack"

// hpackEncoder is an HPACK encoder (RFC 7541) that lets the caller choose
// each field's representation, which x/net's hpack.Encoder does not (it
// indexes every field that fits, or never indexes a sensitive one):
// browsers send some fields as literals without indexing (:path) and index
// the rest. It keeps the dynamic table the peer's decoder keeps. Not safe
// for concurrent use (h2Conn.wmu serialises header blocks).
type hpackEncoder struct {
	dyn     []hpack.HeaderField // oldest first (the newest has index 62)
	size    uint32              // RFC 7541 §4.1 size of dyn
	maxSize uint32              // the table's current maximum size
	// update is a table size update to emit at the start of the next block
	// (RFC 7541 §4.2), updateSet whether one is due.
	update    uint32
	updateSet bool
	// huffmanAlways Huffman-codes every string (Firefox), not only when
	// shorter.
	huffmanAlways bool
}

// newHPACKEncoder returns an encoder with the default 4096-byte table.
func newHPACKEncoder() *hpackEncoder { return &hpackEncoder{maxSize: h2DefaultTableSize} }

// setMaxSize changes the table's maximum size (the peer's
// SETTINGS_HEADER_TABLE_SIZE, capped by the caller) and schedules the size
// update RFC 7541 §4.2 requires; entries beyond it are evicted.
func (e *hpackEncoder) setMaxSize(n uint32) {
	if n == e.maxSize {
		return
	}
	e.maxSize = n
	e.update, e.updateSet = n, true
	e.evict(0)
}

// announceSize schedules a size update with the current maximum, as
// Firefox opens a connection's first block with one.
func (e *hpackEncoder) announceSize() { e.update, e.updateSet = e.maxSize, true }

// beginBlock appends a due table size update; call it before a block's
// first field.
func (e *hpackEncoder) beginBlock(b []byte) []byte {
	if e.updateSet {
		e.updateSet = false
		b = appendHPACKInt(b, 5, 0x20, uint64(e.update))
	}
	return b
}

// appendField appends f: indexed when the static or dynamic table holds
// its name and value, else a literal of kind 'l' (added to the table), 'w'
// (without indexing) or 'v' (never indexed), the name by index when a
// table holds it, strings Huffman-coded when that is shorter.
func (e *hpackEncoder) appendField(b []byte, f hpack.HeaderField, kind byte) []byte {
	full, name := e.search(f.Name, f.Value)
	if full > 0 {
		return appendHPACKInt(b, 7, 0x80, uint64(full))
	}
	switch kind {
	case 'w':
		b = appendHPACKInt(b, 4, 0x00, uint64(name))
	case 'v':
		b = appendHPACKInt(b, 4, 0x10, uint64(name))
	default:
		b = appendHPACKInt(b, 6, 0x40, uint64(name))
	}
	if name == 0 {
		b = appendHPACKString(b, f.Name, e.huffmanAlways)
	}
	b = appendHPACKString(b, f.Value, e.huffmanAlways)
	if kind != 'w' && kind != 'v' {
		e.add(f)
	}
	return b
}

// search returns the index of an entry matching name and value (0 if
// none) and of one matching the name (0 if none): static table first.
func (e *hpackEncoder) search(name, value string) (full, nameOnly int) {
	for _, i := range hpackStaticByName[name] {
		if hpackStatic[i][1] == value {
			return int(i) + 1, int(i) + 1
		}
		if nameOnly == 0 {
			nameOnly = int(i) + 1
		}
	}
	for i := len(e.dyn) - 1; i >= 0; i-- {
		df := &e.dyn[i]
		if df.Name != name {
			continue
		}
		idx := len(hpackStatic) + len(e.dyn) - i
		if df.Value == value {
			return idx, idx
		}
		if nameOnly == 0 {
			nameOnly = idx
		}
	}
	return 0, nameOnly
}

func entrySize(f hpack.HeaderField) uint32 { return uint32(len(f.Name) + len(f.Value) + 32) }

// add inserts f as the newest dynamic table entry, evicting the oldest
// entries to make room (an entry larger than the table empties it).
func (e *hpackEncoder) add(f hpack.HeaderField) {
	n := entrySize(f)
	if n > e.maxSize {
		e.dyn, e.size = e.dyn[:0], 0
		return
	}
	e.evict(n)
	e.dyn = append(e.dyn, hpack.HeaderField{Name: f.Name, Value: f.Value})
	e.size += n
}

// evict drops the oldest entries until room more bytes fit.
func (e *hpackEncoder) evict(room uint32) {
	k := 0
	for k < len(e.dyn) && e.size+room > e.maxSize {
		e.size -= entrySize(e.dyn[k])
		k++
	}
	if k > 0 {
		e.dyn = append(e.dyn[:0], e.dyn[k:]...)
	}
}

// appendHPACKString appends an HPACK string literal (§5.2), Huffman-coded
// when that is shorter (Chromium) or always (Firefox: huffman).
func appendHPACKString(b []byte, s string, huffman bool) []byte {
	if n := hpack.HuffmanEncodeLength(s); n < uint64(len(s)) || huffman && len(s) > 0 {
		b = appendHPACKInt(b, 7, 0x80, n)
		return hpack.AppendHuffmanString(b, s)
	}
	b = appendHPACKInt(b, 7, 0x00, uint64(len(s)))
	return append(b, s...)
}

// hpackStaticByName maps a name to its positions in hpackStatic, in order
// (read-only).
var hpackStaticByName = func() map[string][]uint8 {
	m := map[string][]uint8{}
	for i, f := range hpackStatic {
		m[f[0]] = append(m[f[0]], uint8(i))
	}
	return m
}()

// hpackStatic is RFC 7541 Appendix A, index i+1 at position i.
var hpackStatic = [61][2]string{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""}, {"accept-encoding", "gzip, deflate"},
	{"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""}, {"access-control-allow-origin", ""},
	{"age", ""}, {"allow", ""}, {"authorization", ""}, {"cache-control", ""},
	{"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""},
	{"from", ""}, {"host", ""}, {"if-match", ""}, {"if-modified-since", ""},
	{"if-none-match", ""}, {"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
	{"link", ""}, {"location", ""}, {"max-forwards", ""}, {"proxy-authenticate", ""},
	{"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
	{"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
	{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""},
	{"www-authenticate", ""},
}
