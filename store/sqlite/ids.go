package sqlite

// Capture ids in requests.id (migration 0009): an id of idLen lowercase hex
// characters (model.NewCaptureID makes them) is stored as its idLen/2 bytes,
// any other id as its text. The captures view turns the bytes back into the
// same text (id) and gives the stored form (id_key) for lookups.

// idLen is the length of the ids stored as bytes.
const idLen = 32

// hexVal is the value of a lowercase hex digit, or -1.
func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// packedID reports whether id is stored as bytes.
func packedID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if hexVal(id[i]) < 0 {
			return false
		}
	}
	return true
}

// packID writes the bytes of id, which packedID accepts, to dst
// (idLen/2 bytes).
func packID(dst []byte, id string) {
	for i := range idLen / 2 {
		dst[i] = byte(hexVal(id[2*i])<<4 | hexVal(id[2*i+1]))
	}
}

// idKey is the stored form of id: its bytes or its text.
func idKey(id string) any {
	if !packedID(id) {
		return id
	}
	b := make([]byte, idLen/2)
	packID(b, id)
	return b
}

// idKeys holds the stored forms of a batch's ids (one buffer for the packed
// ones, reused from batch to batch).
type idKeys struct{ buf []byte }

// reset makes room for n ids.
func (k *idKeys) reset(n int) {
	if cap(k.buf) < n*idLen/2 {
		k.buf = make([]byte, n*idLen/2)
	}
	k.buf = k.buf[:n*idLen/2]
}

// key is idKey(id) for the batch's i-th id, its bytes in the buffer.
func (k *idKeys) key(i int, id string) any {
	if !packedID(id) {
		return id
	}
	b := k.buf[i*idLen/2 : (i+1)*idLen/2 : (i+1)*idLen/2]
	packID(b, id)
	return b
}
