package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"
)

// tlsClientFlags: how this node checks the peers it dials over https://,
// and the certificate it shows them.
func tlsClientFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "tls-ca", Usage: "trust peers whose certificate this PEM `FILE` of CAs signed (default: the system's CAs)", EnvVars: env("tls-ca")},
		&ucli.StringFlag{Name: "tls-cert", Usage: "this node's certificate, a PEM `FILE` (served by serve, shown to peers that verify clients)", EnvVars: env("tls-cert")},
		&ucli.StringFlag{Name: "tls-key", Usage: "the private key of --tls-cert, a PEM `FILE`", EnvVars: env("tls-key")},
	}
}

// tlsServerFlags: serve over HTTPS, optionally verifying client certificates.
func tlsServerFlags() []ucli.Flag {
	return append(tlsClientFlags(),
		&ucli.StringFlag{Name: "tls-client-ca", Usage: "require client certificates signed by a CA of this PEM `FILE`", EnvVars: env("tls-client-ca")})
}

// certificate loads --tls-cert and --tls-key: nil when neither is set.
func certificate(c *ucli.Context) ([]tls.Certificate, error) {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, usageError("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("load the TLS certificate %s: %w", cert, err)
	}
	return []tls.Certificate{pair}, nil
}

// certPool reads a PEM file of CA certificates.
func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// clientTLS is the TLS configuration for dialing peers: nil when no flag
// asks for more than the system's defaults.
func clientTLS(c *ucli.Context) (*tls.Config, error) {
	certs, err := certificate(c)
	if err != nil {
		return nil, err
	}
	ca := c.String("tls-ca")
	if certs == nil && ca == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if ca != "" {
		if cfg.RootCAs, err = certPool(ca); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// serverTLS is serve's TLS configuration: nil without --tls-cert.
func serverTLS(c *ucli.Context) (*tls.Config, error) {
	certs, err := certificate(c)
	if err != nil || certs == nil {
		if err == nil && c.String("tls-client-ca") != "" {
			err = usageError("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if ca := c.String("tls-client-ca"); ca != "" {
		if cfg.ClientCAs, err = certPool(ca); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
