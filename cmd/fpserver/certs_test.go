package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/internal/testenv"
)

func TestSelfSignedChain(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	cert, err := selfSigned(dir, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.IsCA {
		t.Error("the server certificate is a CA certificate; browsers refuse those")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, h := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("verifying for %s with ca.pem: %v", h, err)
		}
	}
	for name, want := range map[string]os.FileMode{"ca-key.pem": 0o600, "key.pem": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, "tls", name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v mode %v, want %v", name, err, fi.Mode().Perm(), want)
		}
	}
	// A second start reuses both; new hosts reissue the leaf from the same CA.
	again, err := selfSigned(dir, hosts, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificate[0]) != string(cert.Certificate[0]) {
		t.Error("certificate reissued although still valid")
	}
	other, err := selfSigned(dir, []string{"fp.example"}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ol, _ := x509.ParseCertificate(other.Certificate[0])
	if _, err := ol.Verify(x509.VerifyOptions{DNSName: "fp.example", Roots: roots, CurrentTime: now.Add(time.Hour)}); err != nil {
		t.Errorf("reissued certificate: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")); err != nil {
		t.Errorf("cert.pem/key.pem: %v", err)
	}
}

// TestCertKeyFlags serves a certificate given with -cert/-key and checks a
// client that trusts only its CA verifies the connection.
func TestCertKeyFlags(t *testing.T) {
	caFile, certFile, keyFile := testenv.WritePKI(t, t.TempDir())
	s := startServer(t, "-cert", certFile, "-key", keyFile)
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	c, err := tls.Dial("tcp", s.addr(t, lnHTTPS), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("verifying the -cert certificate with its CA: %v", err)
	}
	defer c.Close()
	want, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].Raw; string(got) != string(want.Certificate[0]) {
		t.Error("the server did not present the -cert certificate")
	}
}

// Replicas sharing one data/tls directory (a shared volume) start at the same
// moment: every one of them must end up with a leaf issued by the one CA on
// disk, or clients trusting ca.pem fail on some replicas.
func TestSelfSignedConcurrentReplicasShareOneCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	const replicas = 8
	errs := make(chan error, replicas)
	leaves := make(chan *x509.Certificate, replicas)
	for range replicas {
		go func() {
			cert, err := selfSigned(dir, []string{"localhost"}, now)
			if err != nil {
				errs <- err
				return
			}
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			errs <- err
			leaves <- leaf
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(leaves)
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for leaf := range leaves {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: now}); err != nil {
			t.Errorf("a replica's leaf is not issued by the CA on disk: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "ca.lock")); !os.IsNotExist(err) {
		t.Errorf("ca.lock left behind: %v", err)
	}
}
