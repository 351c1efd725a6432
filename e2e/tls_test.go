package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA writes a private CA and a server certificate for 127.0.0.1 signed by it, as an
// operator with an internal PKI would have: ca.pem for the clients, cert.pem and key.pem for
// the server.
func writeCA(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Slipway test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "slipway-server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), 0o644)
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), 0o600)
	return caFile, certFile, keyFile
}

// The whole path — CLI upload, agent enrollment, long poll, bundle download, reports — works
// over HTTPS with a certificate from a private CA that the CLI and the agent are told to trust.
func TestTLS_DeployOverHTTPSWithAPrivateCA(t *testing.T) {
	caFile, certFile, keyFile := writeCA(t)
	s := startServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("server URL %s, want https", s.URL)
	}
	t.Setenv("SLIPWAY_CA_CERT", caFile) // read by the CLI and the agents cli and start run
	a := startAgent(t, s, "web-1", "role=web")
	waitInstances(t, s, 1)
	mustCLI(t, s, "app", "create", "shop")
	mustCLI(t, s, "group", "create", "shop", "prod", "--tag", "role=web")
	d := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "tls"}))
	if d.Status != "Succeeded" {
		t.Fatalf("deployment over https: %s, want Succeeded", d.Status)
	}
	if got := serves(t, a); got != "tls" {
		t.Errorf("web-1 serves %q, want tls", got)
	}
}

// Without the CA, the CLI refuses the server's certificate and says so; nothing is sent.
func TestTLS_UntrustedCertificateIsRefused(t *testing.T) {
	caFile, certFile, keyFile := writeCA(t)
	s := startServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	t.Setenv("SLIPWAY_CA_CERT", "")
	_, errOut, code := cli(t, s, "app", "create", "shop")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("untrusted server: exit %d, stderr %q; want a certificate error", code, errOut)
	}
	t.Setenv("SLIPWAY_CA_CERT", caFile)
	apps, err := s.client().ListApplications(context.Background())
	if err != nil || len(apps) != 0 {
		t.Errorf("applications after the refused call: %v, %v; want none", apps, err)
	}
}
