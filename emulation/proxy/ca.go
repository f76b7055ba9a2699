package proxy

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File names of the local CA inside its directory.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// Validity periods.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 30 * 24 * time.Hour
	// leafBackdate moves a leaf's NotBefore into the past so clients
	// with a slow clock accept it.
	leafBackdate = 24 * time.Hour
	// leafRenewBefore drops a cached leaf this long before it expires.
	leafRenewBefore = 24 * time.Hour
)

// CA is the proxy's local certificate authority: it issues the leaf
// certificates presented to clients inside CONNECT tunnels.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	// CertPath is the certificate file, "" for a CA built in memory.
	CertPath string
	key      *ecdsa.PrivateKey
}

// NewCA builds a fresh CA in memory (ECDSA P-256, valid ten years from
// one hour ago).
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("proxy: generating CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"guanaco emuproxy"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("proxy: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("proxy: parsing CA certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// LoadOrCreateCA loads the CA kept in dir, or creates one there on first
// use: the directory with mode 0700, ca.pem with 0644 and ca-key.pem with
// 0600. It refuses a key file that grants any permission to group or
// others, and a directory writable by them.
func LoadOrCreateCA(dir string) (*CA, error) {
	if dir == "" {
		return nil, errors.New("proxy: no CA directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("proxy: creating CA directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: CA directory: %w", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("proxy: CA directory %s is writable by group or others (mode %04o); chmod 700 it", dir, st.Mode().Perm())
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	kst, err := os.Stat(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createCA(certPath, keyPath)
	case err != nil:
		return nil, fmt.Errorf("proxy: CA key: %w", err)
	}
	if kst.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("proxy: CA key %s is accessible by group or others (mode %04o); chmod 600 it", keyPath, kst.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("proxy: reading CA key: %w", err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("proxy: reading CA certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("proxy: %s holds no PEM block", keyPath)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("proxy: parsing CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, fmt.Errorf("proxy: %s holds no PEM block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("proxy: parsing CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("proxy: %s is not a CA certificate", certPath)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("proxy: %s does not match the key in %s", certPath, keyPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, CertPath: certPath, key: key}, nil
}

func createCA(certPath, keyPath string) (*CA, error) {
	host, _ := os.Hostname()
	name := "guanaco emuproxy local CA"
	if host != "" {
		name += " (" + host + ")"
	}
	ca, err := NewCA(name)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("proxy: encoding CA key: %w", err)
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	// A certificate left without its key is stale: replace it.
	if err := os.Remove(certPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("proxy: replacing %s: %w", certPath, err)
	}
	if err := writeNew(certPath, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	ca.CertPath = certPath
	return ca, nil
}

// writeNew creates path exclusively with mode perm and writes b.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("proxy: writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("proxy: writing %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("proxy: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("proxy: writing %s: %w", path, err)
	}
	return nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("proxy: crypto/rand: %v", err))
	}
	return n.Add(n, big.NewInt(1))
}

// Issue creates a leaf certificate for host (a DNS name or an IP
// literal): ECDSA P-256, backdated by a day, valid for 30 days but never
// past the CA, for server authentication.
func (ca *CA) Issue(host string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("proxy: generating leaf key: %w", err)
	}
	now := time.Now()
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-leafBackdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if a, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, a.AsSlice())
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("proxy: issuing leaf for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("proxy: parsing leaf for %s: %w", host, err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// LeafCache issues leaf certificates through a CA and keeps the most
// recently used ones (a bounded LRU). Concurrent requests for the same
// host wait for one issuance. It is safe for concurrent use.
type LeafCache struct {
	ca  *CA
	max int
	// onLookup, when set, is told whether each Get was a cache hit.
	onLookup func(hit bool)

	mu       sync.Mutex
	lru      *list.List // of *leafEntry, most recent first
	byHost   map[string]*list.Element
	inflight map[string]*leafCall
}

type leafEntry struct {
	host string
	cert *tls.Certificate
}

type leafCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// NewLeafCache returns a cache of at most max leaves (default 1024 when
// max <= 0). onLookup may be nil.
func NewLeafCache(ca *CA, max int, onLookup func(hit bool)) *LeafCache {
	if max <= 0 {
		max = 1024
	}
	return &LeafCache{ca: ca, max: max, onLookup: onLookup, lru: list.New(), byHost: map[string]*list.Element{}, inflight: map[string]*leafCall{}}
}

// Len returns the number of cached leaves.
func (c *LeafCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Get returns the leaf for host (case-insensitive, a trailing dot
// ignored), issuing it when it is not cached or expires within a day.
func (c *LeafCache) Get(host string) (*tls.Certificate, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return nil, errors.New("proxy: leaf certificate for an empty host name")
	}
	c.mu.Lock()
	if el, ok := c.byHost[host]; ok {
		e := el.Value.(*leafEntry)
		if time.Until(e.cert.Leaf.NotAfter) > leafRenewBefore {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.report(true)
			return e.cert, nil
		}
		c.lru.Remove(el)
		delete(c.byHost, host)
	}
	if call, ok := c.inflight[host]; ok {
		c.mu.Unlock()
		<-call.done
		c.report(true)
		return call.cert, call.err
	}
	call := &leafCall{done: make(chan struct{})}
	c.inflight[host] = call
	c.mu.Unlock()
	c.report(false)

	call.cert, call.err = c.ca.Issue(host)

	c.mu.Lock()
	delete(c.inflight, host)
	if call.err == nil {
		c.byHost[host] = c.lru.PushFront(&leafEntry{host: host, cert: call.cert})
		for c.lru.Len() > c.max {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.byHost, old.Value.(*leafEntry).host)
		}
	}
	c.mu.Unlock()
	close(call.done)
	return call.cert, call.err
}

func (c *LeafCache) report(hit bool) {
	if c.onLookup != nil {
		c.onLookup(hit)
	}
}
