package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeConfigFile: serve reads its settings, peers among them, from a
// YAML or TOML file; a flag given too wins; a misspelt key is an error
// that names it (exit 2), not a silent default.
func TestServeConfigFile(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub1", "hub2", "device")
	hub1, hub2, device := nodes[0], nodes[1], nodes[2]
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url2 := startServe(t, hub2, "s3cret", "--listen", "127.0.0.1:0", "--gc-interval", "0")
	yml := filepath.Join(dir, "hub1.yaml")
	if err := os.WriteFile(yml, []byte(`# the hub's settings
listen: 127.0.0.1:1
token-file: `+tokenFile+`
peer:
  - `+url2+`
pull-interval: 500ms
gc-interval: 0s
max-concurrent: 8
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// --listen on the command line wins over the file's (a port serve may
	// not bind).
	url1 := startServe(t, hub1, "", "--config", yml, "--listen", "127.0.0.1:0")
	shell(t, device, `INSERT INTO note VALUES ('d', 'from the device', 1);`)
	if r := run(t, []string{"TRIGSYNC_TOKEN=s3cret"}, binary, "sync", device, "--peer", url1); r.code != 0 {
		t.Fatalf("sync with the hub configured by file: exit %d\n%s", r.code, r.stderr)
	}
	// hub1 pushes to its peer from the file.
	waitFor(t, "the device's row on hub2, through hub1's peer from the config file", func() bool {
		return strings.Contains(shell(t, hub2, `SELECT body FROM note WHERE id = 'd'`), "from the device")
	})

	toml := filepath.Join(dir, "hub1.toml")
	if err := os.WriteFile(toml, []byte("listne = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, binary, "serve", "--config", toml, hub1)
	if r.code != 2 || !strings.Contains(r.stderr, `unknown setting "listne"`) {
		t.Fatalf("a misspelt key: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.WriteFile(toml, []byte("max-concurrent = \"many\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, binary, "serve", "--config", toml, hub1); r.code != 2 || !strings.Contains(r.stderr, "max-concurrent") {
		t.Fatalf("a value of the wrong type: exit %d\n%s", r.code, r.stderr)
	}
}
