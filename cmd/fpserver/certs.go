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
// self-signed certificate kept in dataDir.
type certSource struct {
	certFile, keyFile string
	acmeDomains       []string
	acmeEmail         string
	dataDir           string
	hosts             []string // names and IPs for the self-signed certificate
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

// selfSigned loads dataDir/tls/cert.pem and key.pem, creating an ECDSA P-256
// self-signed certificate for hosts (valid one year, backdated one hour) on
// first run or when the stored one expires within a week. The key file is
// written 0600 in a 0700 directory.
func selfSigned(dataDir string, hosts []string, now time.Time) (tls.Certificate, error) {
	dir := filepath.Join(dataDir, "tls")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if leaf, perr := x509.ParseCertificate(cert.Certificate[0]); perr == nil && leaf.NotAfter.After(now.Add(7*24*time.Hour)) {
			return cert, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("fpserver: loading self-signed certificate from %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: creating %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "guanaco fpserver", Organization: []string{"guanaco"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fpserver: encoding key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
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
