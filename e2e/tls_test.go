package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM, into dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trigsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kb)
	}
	p := pki{ca: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, x509.ExtKeyUsageServerAuth, "hub")
	p.clientCert, p.clientKey = leaf(3, x509.ExtKeyUsageClientAuth, "device")
	return p
}

// TestSyncOverTLS: serve over HTTPS verifying client certificates; a
// device with the CA and its certificate syncs; one without a client
// certificate, one that does not trust the CA, and one speaking plain
// HTTP are refused and change nothing.
func TestSyncOverTLS(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	hub, device := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db")
	shell(t, hub, `PRAGMA journal_mode=WAL; CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT);`)
	trigsync(t, "install", hub)
	shell(t, hub, "VACUUM INTO '"+device+"'")
	trigsync(t, "reset-node-id", device)
	shell(t, device, `INSERT INTO note VALUES ('d', 'from the device')`)
	url := strings.Replace(startServe(t, hub, "tok", "--listen", "127.0.0.1:0",
		"--tls-cert", p.serverCert, "--tls-key", p.serverKey, "--tls-client-ca", p.ca), "http://", "https://", 1)
	env := []string{"TRIGSYNC_TOKEN=tok"}

	before := shell(t, hub, `SELECT count(*) FROM note`)
	for name, args := range map[string][]string{
		"no client certificate": {"--tls-ca", p.ca},
		"an unknown CA":         {"--tls-cert", p.clientCert, "--tls-key", p.clientKey},
		"plain HTTP":            {"--peer", strings.Replace(url, "https://", "http://", 1)},
	} {
		r := run(t, env, binary, append([]string{"sync", device, "--peer", url}, args...)...)
		if r.code != 1 {
			t.Fatalf("%s: exit %d: %s", name, r.code, r.stderr)
		}
	}
	if after := shell(t, hub, `SELECT count(*) FROM note`); after != before {
		t.Fatal("a refused sync changed the hub")
	}
	r := run(t, env, binary, "sync", device, "--peer", url, "--tls-ca", p.ca, "--tls-cert", p.clientCert, "--tls-key", p.clientKey)
	if r.code != 0 || r.stdout != "sent 1, received 0, conflicts 0, held 0\n" {
		t.Fatalf("sync over TLS: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	if got := shell(t, hub, `SELECT body FROM note`); got != "from the device\n" {
		t.Fatalf("hub has %q", got)
	}
}
