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
