package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// TLSConfig trusts the system's roots plus the PEM certificates in caFile, for a server whose
// certificate a private CA signed. An empty caFile means the system's roots only.
func TLSConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificate %s: %w", caFile, errNoPEM)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// caHint adds what to do to a certificate that no trusted CA signed, the usual first error with a
// server whose certificate a private CA signed: Go's own message names no remedy.
func caHint(err error) error {
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return fmt.Errorf("%w; if a private CA signed the server's certificate, give its PEM file with SLIPWAY_CA_CERT (slipway-agent: --ca-cert)", err)
	}
	return err
}

var errNoPEM = errors.New("no PEM certificate found; give the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)")

// WithCA makes the client trust caFile's certificates too (see TLSConfig).
func (c *Client) WithCA(caFile string) error {
	if caFile == "" {
		return nil
	}
	cfg, err := TLSConfig(caFile)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.HTTP != nil {
		if t, ok := c.HTTP.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
	}
	tr.TLSClientConfig = cfg
	hc := &http.Client{Transport: tr}
	if c.HTTP != nil {
		hc.Timeout = c.HTTP.Timeout
	}
	c.HTTP = hc
	return nil
}
