package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Credential is one proxy user name and password.
type Credential struct {
	User     string
	Password string
}

// ParseCredential parses "user:pass". The user name may not contain '+'
// (it starts the label suffix, see ParseProxyUser) or ':'.
func ParseCredential(s string) (Credential, error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok || user == "" || pass == "" {
		return Credential{}, errors.New("proxy: credential: want user:password")
	}
	if strings.ContainsAny(user, "+ \t\r\n") {
		return Credential{}, fmt.Errorf("proxy: credential %q: the user name may not contain '+' or white space", user)
	}
	return Credential{User: user, Password: pass}, nil
}

// ProxyUser is what a Proxy-Authorization header carried.
type ProxyUser struct {
	User     string
	Password string
	// Profile is the profile named by a "+profile=NAME" label on the user
	// name (DESIGN §4.5 step 2); "" when none.
	Profile string
	// Upstream is the named upstream proxy of a "+upstream=LABEL" label
	// (Options.Upstreams; "direct" for none); "" when none.
	Upstream string
	// Present reports whether the request had Basic proxy credentials.
	Present bool
}

// ParseProxyUser reads Basic credentials from r's Proxy-Authorization
// header and splits labels off the user name (see ParseUserLabels).
func ParseProxyUser(r *http.Request) ProxyUser {
	v := r.Header.Get("Proxy-Authorization")
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return ProxyUser{}
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return ProxyUser{}
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return ProxyUser{}
	}
	return ParseUserLabels(user, pass)
}

// ParseUserLabels returns the ProxyUser of a user name and password
// (HTTP Basic or SOCKS5 user/password), with the labels split off the
// user name: "alice+profile=NAME+upstream=LABEL" becomes user "alice"
// with profile NAME and upstream LABEL. Unknown labels are ignored.
func ParseUserLabels(user, pass string) ProxyUser {
	u := ProxyUser{Password: pass, Present: true}
	parts := strings.Split(user, "+")
	u.User = parts[0]
	for _, label := range parts[1:] {
		if name, ok := strings.CutPrefix(label, "profile="); ok {
			u.Profile = name
		} else if name, ok := strings.CutPrefix(label, "upstream="); ok {
			u.Upstream = name
		}
	}
	return u
}

// authenticator checks proxy credentials in constant time.
type authenticator struct {
	users []credHash
}

type credHash struct{ user, pass [sha256.Size]byte }

func newAuthenticator(creds []Credential) *authenticator {
	a := &authenticator{}
	for _, c := range creds {
		a.users = append(a.users, credHash{sha256.Sum256([]byte(c.User)), sha256.Sum256([]byte(c.Password))})
	}
	return a
}

// enabled reports whether credentials are required.
func (a *authenticator) enabled() bool { return len(a.users) > 0 }

// check reports whether u matches a configured credential. It compares
// hashes of the user and the password against every credential, without
// stopping at the first match, so timing tells nothing about which part
// or which entry differed.
func (a *authenticator) check(u ProxyUser) bool {
	if !u.Present {
		return false
	}
	uh, ph := sha256.Sum256([]byte(u.User)), sha256.Sum256([]byte(u.Password))
	match := 0
	for _, c := range a.users {
		match |= subtle.ConstantTimeCompare(uh[:], c.user[:]) & subtle.ConstantTimeCompare(ph[:], c.pass[:])
	}
	return match == 1
}
