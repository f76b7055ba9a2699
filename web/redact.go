package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/guanaco-fp/guanaco/store"
)

// secretHeader reports whether a header's value is a credential of the
// visitor (its cookies, its authorization) that must not be stored.
func secretHeader(name string) bool {
	// By length first: most names are none of the three, and this runs for
	// every header of every stored request.
	switch len(name) {
	case len("cookie"):
		return strings.EqualFold(name, "cookie")
	case len("authorization"):
		return strings.EqualFold(name, "authorization")
	case len("proxy-authorization"):
		return strings.EqualFold(name, "proxy-authorization")
	}
	return false
}

// redactor replaces credential values by a stand-in that keeps what a
// fingerprint can use: the value's length and a keyed hash (equal values give
// equal stand-ins under one key, and nobody without the key can test a guess).
type redactor struct{ key []byte }

// newRedactor returns a redactor with key, or with a random 32-byte key when
// key is empty (stand-ins are then comparable only within one process).
func newRedactor(key []byte) redactor {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails (Go >= 1.24).
	}
	return redactor{key: key}
}

// value returns the stand-in of v: "[redacted len=N hmac=H]", H the first 12
// hex digits of HMAC-SHA-256(key, v).
func (r redactor) value(v string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(v))
	return "[redacted len=" + strconv.Itoa(len(v)) + " hmac=" + hex.EncodeToString(m.Sum(nil)[:6]) + "]"
}

// headers redacts the credential values of hs in place; names, casing and
// order (the fingerprint) are kept.
func (r redactor) headers(hs []store.HeaderPair) {
	for i := range hs {
		if secretHeader(hs[i].Name) {
			hs[i].Value = r.value(hs[i].Value)
		}
	}
}
