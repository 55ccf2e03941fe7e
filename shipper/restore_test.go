package shipper_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

// restorable is a node whose file the test can copy and later put back,
// as a backup restore does.
type restorable struct {
	t    testing.TB
	path string
	db   *sqlx.DB
}

func newRestorable(t testing.TB) *restorable {
	t.Helper()
	db, path := testutil.NewDB(t, schemaSQL)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return &restorable{t: t, path: path, db: db}
}

// backup copies the file (VACUUM INTO: consistent while others write).
func (n *restorable) backup() string {
	n.t.Helper()
	p := filepath.Join(n.t.TempDir(), "backup.db")
	n.db.MustExec(`VACUUM INTO ?`, p)
	return p
}

// restore replaces the file with the backup, as a restore from it does.
func (n *restorable) restore(backup string) {
	n.t.Helper()
	n.db.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(n.path + suffix)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(n.path, b, 0o644); err != nil {
		n.t.Fatal(err)
	}
	if n.db, err = sqlitedb.Open(n.t.Context(), n.path); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { n.db.Close() })
}

func (n *restorable) id() string {
	n.t.Helper()
	id, err := changelog.NodeID(n.t.Context(), n.db)
	if err != nil {
		n.t.Fatal(err)
	}
	return id
}

func insertItems(db *sqlx.DB, prefix string, n int) {
	for i := range n {
		db.MustExec(`INSERT INTO item(id, name, qty) VALUES (?, ?, ?)`, fmt.Sprintf("%s-%d", prefix, i), prefix, i)
	}
}

func itemCount(t *testing.T, db *sqlx.DB) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM item`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHubRestored is the scenario: device D syncs; hub H is
// copied; H gets two writes and D syncs them; H is restored from the copy
// and writes three rows. D's next sync heals H (a new node id): D gets the
// three rows, H gets back the two it lost, and nothing is skipped.
func TestHubRestored(t *testing.T) {
	h, d := newRestorable(t), node(t)
	insertItems(d, "d", 2)
	sync(t, d, h.db)
	copyPath := h.backup()
	insertItems(h.db, "lost", 2)
	sync(t, d, h.db)
	old := h.id()
	h.restore(copyPath)
	insertItems(h.db, "new", 3)
	sync(t, d, h.db)
	if h.id() == old {
		t.Fatal("the restored hub kept its node id")
	}
	sync(t, d, h.db)
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || itemCount(t, d) != 7 {
		t.Fatalf("after the heal: device %d rows, hub %d rows:\n%s\n---\n%s", itemCount(t, d), itemCount(t, h.db), a, b)
	}
	// Writes after the heal travel both ways.
	insertItems(h.db, "after", 1)
	d.MustExec(`UPDATE item SET name = 'changed' WHERE id = 'new-0'`)
	sync(t, d, h.db)
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || !strings.Contains(a, "changed") || itemCount(t, d) != 8 {
		t.Fatalf("after more writes:\n%s\n---\n%s", a, b)
	}
}

// TestDeviceRestored: a device restored from an older copy of itself,
// which writes again before it syncs: its lost writes come back from the
// hub, its new ones reach the hub.
func TestDeviceRestored(t *testing.T) {
	h, d := node(t), newRestorable(t)
	insertItems(d.db, "d", 2)
	sync(t, d.db, h)
	copyPath := d.backup()
	insertItems(d.db, "lost", 2)
	d.db.MustExec(`UPDATE item SET name = 'lost update' WHERE id = 'd-0'`)
	sync(t, d.db, h)
	d.restore(copyPath)
	insertItems(d.db, "new", 3)
	d.db.MustExec(`UPDATE item SET qty = 99 WHERE id = 'd-1'`)
	sync(t, d.db, h)
	sync(t, d.db, h)
	a, b := testutil.Dump(t, d.db), testutil.Dump(t, h)
	if a != b || itemCount(t, h) != 7 || !strings.Contains(a, "lost update") || !strings.Contains(a, "integer:99") {
		t.Fatalf("device and hub after the restore:\n%s\n---\n%s", a, b)
	}
}

// TestRestoreWhileBothWrite: the hub is restored while two devices go on
// writing and syncing; every row written anywhere, before or after the
// restore, ends on every node except what the lost copy alone held.
func TestRestoreWhileBothWrite(t *testing.T) {
	h, d1, d2 := newRestorable(t), node(t), node(t)
	insertItems(d1, "d1", 3)
	sync(t, d1, h.db)
	sync(t, d2, h.db)
	copyPath := h.backup()
	insertItems(h.db, "h-lost", 2)
	insertItems(d1, "d1-b", 2)
	sync(t, d1, h.db)
	insertItems(h.db, "h-unshipped", 1) // only the lost copy ever holds it
	h.restore(copyPath)
	insertItems(h.db, "h-new", 2)
	insertItems(d2, "d2", 2)
	for range 2 {
		sync(t, d2, h.db)
		sync(t, d1, h.db)
	}
	want := testutil.Dump(t, h.db)
	for i, d := range []*sqlx.DB{d1, d2} {
		if got := testutil.Dump(t, d); got != want {
			t.Fatalf("device %d differs from the hub:\n%s\n---\n%s", i+1, got, want)
		}
	}
	if n := itemCount(t, h.db); n != 11 || strings.Contains(want, "h-unshipped") {
		t.Fatalf("%d rows (want 3+2+2+2+2, and not the row only the lost copy held):\n%s", n, want)
	}
}

// TestNoRestoreFalseAlarm: ordinary life — writes on both sides, syncs
// both ways, log GC pruning what both acknowledged, a copy given its own
// id — never looks like a restore: no node changes its id.
func TestNoRestoreFalseAlarm(t *testing.T) {
	a, b := node(t), node(t)
	ida, idb := mustID(t, a), mustID(t, b)
	for i := range 6 {
		insertItems(a, fmt.Sprintf("a%d", i), 3)
		b.MustExec(`UPDATE item SET qty = qty + 1`)
		sync(t, a, b)
		sync(t, b, a)
		if i%2 == 1 {
			prune(t, a, 0)
			prune(t, b, 0)
		}
	}
	if mustID(t, a) != ida || mustID(t, b) != idb {
		t.Fatal("a node took a new id with no restore")
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db {
		t.Fatalf("nodes differ:\n%s\n---\n%s", da, db)
	}
}

func mustID(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	id, err := changelog.NodeID(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestForkOnNarrowLog: a fork record fills four value slots; a peer whose
// log was made for a narrower table gets them when the fork arrives.
func TestForkOnNarrowLog(t *testing.T) {
	narrow := func() (*sqlx.DB, string) {
		db, path := testutil.NewDB(t, `CREATE TABLE kv(k TEXT PRIMARY KEY, v)`)
		if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
			t.Fatal(err)
		}
		return db, path
	}
	d, _ := narrow()
	hdb, hpath := narrow()
	h := &restorable{t: t, path: hpath, db: hdb}
	copyPath := h.backup()
	h.db.MustExec(`INSERT INTO kv VALUES ('lost', 1)`)
	sync(t, d, h.db)
	h.restore(copyPath)
	h.db.MustExec(`INSERT INTO kv VALUES ('new', 2)`)
	sync(t, d, h.db)
	sync(t, d, h.db)
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || !strings.Contains(a, "'lost'") || !strings.Contains(a, "'new'") {
		t.Fatalf("after the heal:\n%s\n---\n%s", a, b)
	}
}
