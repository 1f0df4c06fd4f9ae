package slapd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// newCA makes a CA and a certificate it signs for 127.0.0.1, written as PEM
// files into dir; it returns the CA's pool and the files.
func newCA(t *testing.T, dir, name string) (pool *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, certFile, keyFile
}

// The store talks to slapd over StartTLS, trusting only the directory's CA:
// a certificate from another CA is refused, never skipped.
func TestStartTLSWithACAFile(t *testing.T) {
	t.Parallel()
	if !slapd.Installed() {
		t.Fatalf("slapd is not installed: run `make deps`")
	}
	ctx := context.Background()
	dir := t.TempDir()
	pool, certFile, keyFile := newCA(t, dir, "apex-test-ca")
	otherPool, _, _ := newCA(t, dir, "other-ca")
	srv, err := slapd.Start(ctx, slapd.Config{Dir: filepath.Join(dir, "slapd"), Suffix: slapdtest.Suffix, ServicePassword: slapdtest.ServicePassword,
		TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("slapd log:\n%s", srv.LogTail(4000))
		}
		srv.Stop()
	})

	cfg := slapdtest.StoreConfig(srv, srv.Suffix)
	cfg.StartTLS, cfg.TLS = true, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	store, err := directory.NewStore(ctx, cfg)
	if err != nil {
		t.Fatalf("store over StartTLS: %v", err)
	}
	defer store.Close()
	if err := store.CheckSchema(ctx); err != nil {
		t.Errorf("check schema over StartTLS: %v", err)
	}

	cfg.TLS = &tls.Config{RootCAs: otherPool, MinVersion: tls.VersionTLS12}
	s, err := directory.NewStore(ctx, cfg)
	switch {
	case err == nil:
		s.Close()
		t.Error("a certificate signed by another CA was accepted")
	// go-ldap keeps the handshake's error as text only.
	case !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "signed by unknown authority"):
		t.Errorf("refused as %v, want an unknown authority", err)
	}
}
