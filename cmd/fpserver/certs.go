package main

import (
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
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// certSource describes where fpserver's certificate comes from; exactly one
// mode applies: ACME (acmeDomains set), files (certFile and keyFile), or a
// certificate issued by a local CA, both kept in dataDir (see selfSigned).
type certSource struct {
	certFile, keyFile string
	acmeDomains       []string
	acmeEmail         string
	dataDir           string
	hosts             []string // names and IPs for the locally issued certificate
}

// tlsConfig builds the server tls.Config for src. nextProtos is what the
// listener offers in ALPN. For ACME the returned autocert.Manager must also
// serve HTTP-01 challenges on the plain HTTP listener (nil otherwise).
func (src certSource) tlsConfig(nextProtos []string) (*tls.Config, *autocert.Manager, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS10, // a fingerprinting service must see old clients too
		NextProtos: nextProtos,
	}
	switch {
	case len(src.acmeDomains) > 0:
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(src.acmeDomains...),
			Cache:      autocert.DirCache(filepath.Join(src.dataDir, "acme")),
			Email:      src.acmeEmail,
		}
		cfg.GetCertificate = m.GetCertificate
		cfg.NextProtos = append(cfg.NextProtos, "acme-tls/1")
		return cfg, m, nil
	case src.certFile != "" || src.keyFile != "":
		if src.certFile == "" || src.keyFile == "" {
			return nil, nil, errors.New("fpserver: -cert and -key go together")
		}
		cert, err := tls.LoadX509KeyPair(src.certFile, src.keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("fpserver: loading certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		return cfg, nil, nil
	default:
		cert, err := selfSigned(src.dataDir, src.hosts, time.Now())
		if err != nil {
			return nil, nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
		return cfg, nil, nil
	}
}

// selfSigned returns fpserver's own certificate from dataDir/tls: a local
// CA (ca.pem, ca-key.pem; ECDSA P-256, ten years) made on first run, and a
// server certificate it issued for hosts (cert.pem holding the chain
// server+CA, key.pem; one year, backdated one hour), reissued when it
// expires within a week or does not cover hosts. Browsers refuse a CA
// certificate used as a server certificate, hence the two. Trust ca.pem to
// verify fpserver (curl --cacert, SSL_CERT_FILE, NSS certutil). Keys are
// written 0600 in a 0700 directory.
func selfSigned(dataDir string, hosts []string, now time.Time) (tls.Certificate, error) {
	dir := filepath.Join(dataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: creating %s: %w", dir, err)
	}
	ca, caKey, err := loadOrCreateCA(dir, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if leaf, perr := x509.ParseCertificate(cert.Certificate[0]); perr == nil &&
			leaf.NotAfter.After(now.Add(7*24*time.Hour)) && coversHosts(leaf, hosts) && leaf.CheckSignatureFrom(ca) == nil {
			return cert, nil
		}
	} else if pe := (*fs.PathError)(nil); errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("fpserver: loading certificate from %s: %w", dir, err)
	}
	// Missing, expiring, for other hosts, from another CA or not a pair
	// (replicas starting together write key and certificate concurrently,
	// so one may read another's key with its own certificate): a new leaf
	// from the shared CA. Each replica serves the pair it made.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: generating key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "guanaco fpserver", Organization: []string{"guanaco"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: creating certificate: %w", err)
	}
	keyPEM, err := ecKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, chain, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(chain, keyPEM)
}

// caLockWait bounds how long a replica waits for another one that is creating
// the shared local CA.
const caLockWait = 10 * time.Second

// loadOrCreateCA returns the local CA in dir, creating it when missing.
// Replicas sharing dir (a shared volume) agree on one CA: the creator holds
// dir/ca.lock (created exclusively) while it writes the pair, the others
// wait for the lock to go and load what it wrote. A lock older than
// caLockWait is left by a creator that died; it is an error naming the file.
func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	caPath, caKeyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	load := func() (*x509.Certificate, *ecdsa.PrivateKey, bool, error) {
		pair, err := tls.LoadX509KeyPair(caPath, caKeyPath)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, false, nil
			}
			return nil, nil, false, fmt.Errorf("fpserver: loading local CA from %s: %w", dir, err)
		}
		ca, perr := x509.ParseCertificate(pair.Certificate[0])
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if perr == nil && ok && ca.IsCA && ca.NotAfter.After(now.Add(30*24*time.Hour)) {
			return ca, key, true, nil
		}
		return nil, nil, false, nil
	}
	lockPath := filepath.Join(dir, "ca.lock")
	for waited := time.Duration(0); ; waited += 50 * time.Millisecond {
		if ca, key, ok, err := load(); err != nil || ok {
			return ca, key, err
		}
		lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			lock.Close()
			defer os.Remove(lockPath)
			// Another replica may have finished between the load and the lock.
			if ca, key, ok, err := load(); err != nil || ok {
				return ca, key, err
			}
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("fpserver: locking %s: %w", lockPath, err)
		}
		if waited >= caLockWait {
			return nil, nil, fmt.Errorf("fpserver: %s is held for over %v (a process creating the local CA died?): remove it", lockPath, caLockWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("fpserver: generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "guanaco fpserver local CA", Organization: []string{"guanaco"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("fpserver: creating CA certificate: %w", err)
	}
	keyPEM, err := ecKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(caKeyPath, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("fpserver: parsing new CA certificate: %w", err)
	}
	return ca, key, nil
}

func coversHosts(leaf *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if h != "" && leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("fpserver: crypto/rand: %v", err))
	}
	return serial
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("fpserver: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic writes data to a temporary file in the same directory and
// renames it over path, so a crash never leaves a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("fpserver: writing %s: %w", path, err)
	}
	return nil
}
