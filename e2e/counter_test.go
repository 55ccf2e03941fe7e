package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCounterProcesses: three shops count stock.qty (install --counter);
// each sells apples before any sync — the sqlite3 shell on two, Python's
// sqlite3 on the third — through the application's decrement trigger.
// Every pair syncs twice with `trigsync sync`: 100 − 1 − 2 − 3 = 94 on
// every node. Then the refusals: a TEXT column and a key column cannot
// count, and an absolute update from a node that does not count qty is
// held, shown by `trigsync conflicts`, and nothing of it is applied.
func TestCounterProcesses(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db")
	shell(t, a, "PRAGMA journal_mode=WAL;"+shopSchema)
	out := trigsync(t, "install", "--exclude", "sku_sales", "--counter", "stock.qty", a)
	if !strings.Contains(out, "counters") || !strings.Contains(out, "stock: qty") {
		t.Errorf("install does not list the counter:\n%s", out)
	}
	for _, d := range []string{b, c} {
		shell(t, a, "VACUUM INTO '"+d+"'")
		trigsync(t, "reset-node-id", d)
	}
	shell(t, a, `INSERT INTO sale VALUES ('s1', 'apple', 1)`)
	shell(t, b, `INSERT INTO sale VALUES ('s2', 'apple', 2)`)
	if python, err := exec.LookPath("python3"); err == nil {
		py := "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], timeout=10)\nwith db:\n    db.execute(\"INSERT INTO sale VALUES ('s3', 'apple', 3)\")\n"
		if b, err := exec.Command(python, "-c", py, c).CombinedOutput(); err != nil {
			t.Fatalf("python: %v\n%s", err, b)
		}
	} else {
		shell(t, c, `INSERT INTO sale VALUES ('s3', 'apple', 3)`)
	}
	for range 2 {
		trigsync(t, "sync", a, "--peer", b)
		trigsync(t, "sync", b, "--peer", c)
		trigsync(t, "sync", a, "--peer", c)
	}
	for _, d := range []string{a, b, c} {
		if got := shell(t, d, `SELECT qty FROM stock WHERE sku = 'apple'`); got != "94\n" {
			t.Errorf("%s: qty %s, want 94", filepath.Base(d), strings.TrimSpace(got))
		}
	}
	if st := trigsync(t, "status", "--json", a); !strings.Contains(st, `"counters": [`) || !strings.Contains(st, `"qty"`) {
		t.Errorf("status --json does not list the counter:\n%s", st)
	}

	for arg, want := range map[string]string{"stock.sku": "part of the primary key", "item.name": "a counter needs a numeric column"} {
		if r := run(t, nil, binary, "install", "--counter", arg, a); r.code != 3 || !strings.Contains(r.stderr, want) {
			t.Errorf("install --counter %s: exit %d, want 3 saying %q:\n%s", arg, r.code, want, r.stderr)
		}
	}
	if r := run(t, nil, binary, "install", "--counter", "qty", a); r.code != 2 {
		t.Errorf("install --counter qty: exit %d, want 2 (usage)", r.code)
	}

	// A node that does not count qty (installed without --counter).
	old := filepath.Join(dir, "old.db")
	shell(t, old, "PRAGMA journal_mode=WAL;"+shopSchema)
	trigsync(t, "install", "--exclude", "sku_sales", old)
	shell(t, old, `UPDATE stock SET qty = 50`)
	out = trigsync(t, "sync", a, "--peer", old)
	if !strings.Contains(out, "held 4") {
		t.Errorf("sync with a node that does not count: %s, want held 4: the absolute update here, the three sales' deltas there", out)
	}
	conf := trigsync(t, "conflicts", a)
	for _, want := range []string{"held", `absolute update of "stock"."qty"`, "install --counter stock.qty"} {
		if !strings.Contains(conf, want) {
			t.Errorf("trigsync conflicts does not say %q:\n%s", want, conf)
		}
	}
	if got := shell(t, a, `SELECT qty FROM stock`); got != "94\n" {
		t.Errorf("the held update changed qty to %s", got)
	}
	if conf := trigsync(t, "conflicts", "--json", a); !strings.Contains(conf, `"qty":"i:50"`) {
		t.Errorf("the held change lost its value:\n%s", conf)
	}
}
