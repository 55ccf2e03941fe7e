package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shopSchema is a point-of-sale schema with the application's triggers:
// a stock decrement, an updated_at stamp and an audit row (effects that
// replicate) and a local sales cache (kept by each node itself).
const shopSchema = `
CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL);
CREATE TABLE sale(id TEXT PRIMARY KEY, sku TEXT NOT NULL, n INTEGER NOT NULL);
CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, updated_at TEXT);
CREATE TABLE audit(id TEXT PRIMARY KEY, what TEXT);
CREATE TABLE sku_sales(sku TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n WHERE sku = NEW.sku; END;
CREATE TRIGGER touch AFTER UPDATE OF name ON item BEGIN
  UPDATE item SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || ' ' || hex(randomblob(4)) WHERE id = NEW.id; END;
CREATE TRIGGER audit_sale AFTER INSERT ON sale BEGIN
  INSERT INTO audit VALUES (lower(hex(randomblob(8))), 'sold ' || NEW.n || ' of ' || NEW.sku); END;
CREATE TRIGGER count_sale AFTER INSERT ON sale BEGIN
  INSERT INTO sku_sales VALUES (NEW.sku, NEW.n) ON CONFLICT (sku) DO UPDATE SET n = n + excluded.n; END;
INSERT INTO stock VALUES ('apple', 100);
INSERT INTO item VALUES ('i1', 'apple', NULL);`

// shopDump is what must be equal on every node: the replicated tables and
// the cache every node keeps from them.
const shopDump = `SELECT 'stock', quote(sku), quote(qty) FROM stock;
SELECT 'sale', quote(id), quote(n) FROM sale ORDER BY id;
SELECT 'item', quote(name), quote(updated_at) FROM item;
SELECT 'audit', quote(id), quote(what) FROM audit ORDER BY id;
SELECT 'cache', quote(sku), quote(n) FROM sku_sales;`

// TestApplicationTriggersProcesses: three shops, a hub serving and two
// devices syncing with it and with each other, one sale and one rename on
// each before any sync — by the sqlite3 shell and by Python's sqlite3.
// Every pair syncs twice; then every node holds the same stock, one audit
// row per sale, one updated_at, and a local cache that counts all sales.
func TestApplicationTriggersProcesses(t *testing.T) {
	python := need(t, "python3")
	dir := t.TempDir()
	hub, d1, d2 := filepath.Join(dir, "hub.db"), filepath.Join(dir, "d1.db"), filepath.Join(dir, "d2.db")
	shell(t, hub, "PRAGMA journal_mode=WAL;"+shopSchema)
	out := trigsync(t, "install", "--exclude", "sku_sales", hub)
	for _, want := range []string{"dec", "touch", "audit_sale", "count_sale"} {
		if !strings.Contains(out, want) {
			t.Fatalf("install does not list trigger %s:\n%s", want, out)
		}
	}
	for _, d := range []string{d1, d2} {
		shell(t, hub, "VACUUM INTO '"+d+"'")
		trigsync(t, "reset-node-id", d)
	}
	before := shell(t, hub, `SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name NOT LIKE '\_trigsync\_%' ESCAPE '\' ORDER BY name`)

	shell(t, hub, `INSERT INTO sale VALUES ('s0', 'apple', 1); UPDATE item SET name = 'hub apple'`)
	py := `import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
with db:
    db.execute("INSERT INTO sale VALUES ('s1', 'apple', 2)")
    db.execute("UPDATE item SET name = 'device apple'")
`
	if b, err := exec.Command(python, "-c", py, d1).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, b)
	}
	shell(t, d2, `INSERT INTO sale VALUES ('s2', 'apple', 3); UPDATE item SET name = 'other apple'`)

	srv := newServeProcess(t, hub, "secret", freeAddr(t))
	env := []string{"TRIGSYNC_TOKEN=secret"}
	syncWith := func(db, peer string) {
		t.Helper()
		if r := run(t, env, binary, "sync", db, "--peer", peer); r.code != 0 {
			t.Fatalf("sync %s with %s: exit %d\n%s", filepath.Base(db), peer, r.code, r.stderr)
		}
	}
	for range 2 {
		syncWith(d1, srv.url())
		syncWith(d2, srv.url())
		syncWith(d1, d2)
	}
	want := shell(t, hub, shopDump)
	for _, d := range []string{d1, d2} {
		if got := shell(t, d, shopDump); got != want {
			t.Fatalf("%s differs from the hub:\n%s\n--- hub\n%s", filepath.Base(d), got, want)
		}
	}
	if n := strings.Count(want, "audit|"); n != 3 {
		t.Errorf("%d audit rows, want one per sale:\n%s", n, want)
	}
	if !strings.Contains(want, "cache|'apple'|6") {
		t.Errorf("the local cache does not count every sale:\n%s", want)
	}
	for _, d := range []string{hub, d1, d2} {
		if got := shell(t, d, `SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name NOT LIKE '\_trigsync\_%' ESCAPE '\' ORDER BY name`); got != before {
			t.Errorf("%s: the application's triggers changed:\n%s", filepath.Base(d), got)
		}
	}
	status := trigsync(t, "status", d1)
	if !strings.Contains(status, "dec") || !strings.Contains(status, "skip") || !strings.Contains(status, "fire") {
		t.Errorf("status does not say what the triggers do on apply:\n%s", status)
	}
	// uninstall leaves the application's triggers exactly as written.
	trigsync(t, "uninstall", d2)
	if got := shell(t, d2, `SELECT sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY name`); got != before {
		t.Errorf("uninstall changed the application's triggers:\n%s", got)
	}
}

// TestUndecidedTriggerProcesses: a trigger the application adds after
// install that writes a replicated table and a local one stops the
// apply — exit 3, naming the trigger and the choice — and loses nothing;
// after install --trigger the same sync applies everything.
func TestUndecidedTriggerProcesses(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	shell(t, a, "PRAGMA journal_mode=WAL;"+shopSchema)
	trigsync(t, "install", "--exclude", "sku_sales", a)
	shell(t, a, "VACUUM INTO '"+b+"'")
	trigsync(t, "reset-node-id", b)
	shell(t, b, `CREATE TRIGGER mixed AFTER INSERT ON sale BEGIN
		INSERT INTO audit VALUES ('m-' || NEW.id, 'mixed'); DELETE FROM sku_sales WHERE n < 0; END`)
	shell(t, a, `INSERT INTO sale VALUES ('s1', 'apple', 4)`)

	r := run(t, nil, binary, "sync", b, "--peer", a)
	if r.code != 3 || !strings.Contains(r.stderr, `"mixed"`) || !strings.Contains(r.stderr, "--trigger NAME=skip") {
		t.Fatalf("sync beside an undecided trigger: exit %d, want 3 naming it and the choice:\n%s", r.code, r.stderr)
	}
	if got := shell(t, b, `SELECT count(*) FROM sale`); got != "0\n" {
		t.Fatalf("applied beside an undecided trigger: %s sales", got)
	}
	if st := trigsync(t, "status", b); !strings.Contains(st, "UNDECIDED") {
		t.Errorf("status does not flag the trigger:\n%s", st)
	}
	dry := trigsync(t, "install", "--dry-run", "--trigger", "mixed=skip", b)
	if !strings.Contains(dry, "mixed on sale: skip") {
		t.Errorf("install --dry-run does not list the choice:\n%s", dry)
	}
	if got := shell(t, b, `SELECT count(*) FROM _trigsync_meta WHERE key = 'trigger_choices'`); got != "0\n" {
		t.Errorf("a dry run stored the choice")
	}
	trigsync(t, "install", "--trigger", "mixed=skip", b)
	trigsync(t, "sync", b, "--peer", a)
	if got, want := shell(t, b, shopDump), shell(t, a, shopDump); got != want {
		t.Fatalf("after the choice the nodes differ:\n%s\n---\n%s", got, want)
	}
	if r := run(t, nil, binary, "install", "--trigger", "mixed=maybe", b); r.code != 2 || !strings.Contains(r.stderr, "maybe") {
		t.Errorf("a bad choice: exit %d: %s", r.code, r.stderr)
	}
}
