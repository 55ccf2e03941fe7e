package shipper_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
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
	return newRestorableOf(t, schemaSQL)
}

// newRestorableOf is a restorable node of schema ddl.
func newRestorableOf(t testing.TB, ddl string) *restorable {
	t.Helper()
	db, path := testutil.NewDB(t, ddl)
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

// serveHTTP serves db as a node does (server.New on an httptest server)
// and returns a Remote of it; the server stops when the test ends.
func serveHTTP(t *testing.T, db *sqlx.DB) *shipper.Remote {
	t.Helper()
	srv, err := server.New(t.Context(), server.Config{DB: db, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	remote, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return remote
}

func syncHTTP(t *testing.T, d *sqlx.DB, hub *shipper.Remote) shipper.Summary {
	t.Helper()
	s, err := shipper.SyncRemote(t.Context(), d, hub, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHubRestoredOverHTTP is TestHubRestored with the hub serving over
// HTTP (restarted on the restored file): the device's pull finds the hub
// restored, the hub answers 409 with what the device sends back to heal
// it (GET /v1/changes, then POST /v1/restore).
func TestHubRestoredOverHTTP(t *testing.T) {
	h, d := newRestorable(t), node(t)
	insertItems(d, "d", 2)
	syncHTTP(t, d, serveHTTP(t, h.db))
	copyPath := h.backup()
	insertItems(h.db, "lost", 2)
	syncHTTP(t, d, serveHTTP(t, h.db))
	old := h.id()
	h.restore(copyPath)
	insertItems(h.db, "new", 3)
	hub := serveHTTP(t, h.db) // serve restarted on the restored file
	for range 3 {
		syncHTTP(t, d, hub)
	}
	if h.id() == old {
		t.Fatal("the restored hub kept its node id")
	}
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || itemCount(t, d) != 7 {
		t.Fatalf("after the heal: device %d rows, hub %d rows:\n%s\n---\n%s", itemCount(t, d), itemCount(t, h.db), a, b)
	}
}

// TestForkReachesANarrowLog: the fork record takes four value slots (node,
// seq, stamp, successor); a peer whose replicated tables have fewer
// columns has fewer slots in its log, and must widen it to log the fork
// it applies, as the restored node does when it logs it.
func TestForkReachesANarrowLog(t *testing.T) {
	const narrow = `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`
	h := newRestorableOf(t, narrow)
	d, _ := testutil.NewDB(t, narrow)
	if _, err := triggers.Install(t.Context(), d, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	d.MustExec(`INSERT INTO note VALUES ('d', 'from d')`)
	sync(t, d, h.db)
	copyPath := h.backup()
	h.db.MustExec(`INSERT INTO note VALUES ('lost', 'after the copy')`)
	sync(t, d, h.db)
	h.restore(copyPath)
	h.db.MustExec(`INSERT INTO note VALUES ('new', 'after the restore')`)
	sync(t, d, h.db) // the hub heals and logs the fork; d applies it
	sync(t, d, h.db)
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || !strings.Contains(a, "lost") || !strings.Contains(a, "new") {
		t.Fatalf("device and hub after the heal:\n%s\n---\n%s", a, b)
	}
}

// TestHubRestoredDevicePushesFirst: as TestHubRestoredOverHTTP, but the
// device has a change of its own to send when it first syncs with the
// restored hub, so its push (before the pull that finds the hub
// restored) moves the hub's cursor into its log past the hub's lost
// changes, which the unhealed hub took for its own. Once healed, the hub
// must still get them back.
func TestHubRestoredDevicePushesFirst(t *testing.T) {
	h, d := newRestorable(t), node(t)
	insertItems(d, "d", 2)
	syncHTTP(t, d, serveHTTP(t, h.db))
	copyPath := h.backup()
	insertItems(h.db, "lost", 2)
	syncHTTP(t, d, serveHTTP(t, h.db))
	h.restore(copyPath)
	insertItems(h.db, "new", 3)
	insertItems(d, "d-after", 1)
	hub := serveHTTP(t, h.db)
	for range 3 {
		syncHTTP(t, d, hub)
	}
	if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || itemCount(t, h.db) != 8 {
		t.Fatalf("after the heal: device %d rows, hub %d rows:\n%s\n---\n%s", itemCount(t, d), itemCount(t, h.db), a, b)
	}
}

// TestHubRestoredTwoDevicesHealAtOnce: two devices find the restored hub
// at once (both pulls answered 409); the other's heal request arrives
// first, so this device's finds the hub healed already. The hub has a
// new id: the sync goes on with it instead of failing ("nothing to
// heal") or healing the hub a second time.
func TestHubRestoredTwoDevicesHealAtOnce(t *testing.T) {
	testOtherHealsFirst(t, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/v1/restore" })
}

// TestHubRestoredHealedBeforeRead: the other device heals the hub between
// this device's first look at it (its node id, the old one) and the
// pull's first read, which the healed hub answers 409 as its new self.
func TestHubRestoredHealedBeforeRead(t *testing.T) {
	testOtherHealsFirst(t, func(r *http.Request) bool { return r.URL.Path == "/v1/changes" && r.URL.Query().Has("after_hlc") })
}

// testOtherHealsFirst restores the hub of devices d1 and d2, then syncs
// d1 with it; the first request of d1's that first matches runs d2's
// whole sync (which heals the hub) before the hub answers it.
func testOtherHealsFirst(t *testing.T, first func(*http.Request) bool) {
	h, d1, d2 := newRestorable(t), node(t), node(t)
	insertItems(d1, "d1", 2)
	syncHTTP(t, d1, serveHTTP(t, h.db))
	syncHTTP(t, d2, serveHTTP(t, h.db))
	copyPath := h.backup()
	insertItems(h.db, "lost", 2)
	syncHTTP(t, d1, serveHTTP(t, h.db))
	syncHTTP(t, d2, serveHTTP(t, h.db))
	h.restore(copyPath)
	insertItems(h.db, "new", 3)

	srv, err := server.New(t.Context(), server.Config{DB: h.db, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(srv.Handler())
	t.Cleanup(plain.Close)
	var done atomic.Bool
	var otherErr error
	racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first(r) && !done.Swap(true) {
			other, err := shipper.NewRemote(plain.URL, shipper.RemoteConfig{Token: "tok"})
			if err == nil {
				_, err = shipper.SyncRemote(t.Context(), d2, other, applier.Options{})
			}
			otherErr = err
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(racing.Close)
	hub, err := shipper.NewRemote(racing.URL, shipper.RemoteConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	syncHTTP(t, d1, hub)
	if !done.Load() || otherErr != nil {
		t.Fatalf("d2's sync did not run first: %v", otherErr)
	}
	for _, d := range []*sqlx.DB{d1, d2, d1} {
		syncHTTP(t, d, hub)
	}
	var forks int
	if err := h.db.Get(&forks, `SELECT count(*) FROM _trigsync_forks`); err != nil || forks != 1 {
		t.Fatalf("the hub healed %d times (%v), want once", forks, err)
	}
	for i, d := range []*sqlx.DB{d1, d2} {
		if a, b := testutil.Dump(t, d), testutil.Dump(t, h.db); a != b || itemCount(t, h.db) != 7 {
			t.Fatalf("device %d and the hub after the heal:\n%s\n---\n%s", i+1, a, b)
		}
	}
}

// TestHealCountsLostBelowTheFork: a peer's change fills, in the restored
// hub's log, a seq where the lost copy had one of its own changes; the
// heal's count of lost changes that return includes it, though its seq
// is below the fork (the first of the restored copy's own changes).
func TestHealCountsLostBelowTheFork(t *testing.T) {
	h, d1, d2 := newRestorable(t), node(t), node(t)
	insertItems(d1, "d1", 1)
	sync(t, d1, h.db)
	sync(t, d2, h.db)
	copyPath := h.backup()
	insertItems(h.db, "lost", 2)
	sync(t, d1, h.db)
	h.restore(copyPath)
	insertItems(d2, "d2", 2) // d2 knows nothing past the copy: no heal yet
	sync(t, d2, h.db)
	insertItems(h.db, "new", 1)
	var logged strings.Builder
	if _, err := shipper.Sync(t.Context(), d1, h.db, applier.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "reissued=1 lost_returning=2 ") {
		t.Fatalf("the heal's figures, want 1 re-issued and 2 lost returning:\n%s", logged.String())
	}
	sync(t, d2, h.db)
	if a, b := testutil.Dump(t, d1), testutil.Dump(t, h.db); a != b || itemCount(t, h.db) != 6 {
		t.Fatalf("device and hub after the heal:\n%s\n---\n%s", a, b)
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

// TestForkReachesANodeThatNeverSawTheOldID: a fork travels to a node that
// never exchanged with the restored node's old id (it learns both ids from
// the fork itself).
func TestForkReachesANodeThatNeverSawTheOldID(t *testing.T) {
	h, d, far := newRestorable(t), node(t), node(t)
	copyPath := h.backup()
	insertItems(h.db, "lost", 1)
	sync(t, d, h.db)
	h.restore(copyPath)
	insertItems(h.db, "new", 1)
	sync(t, d, h.db) // the heal; d logs the fork
	sync(t, far, d)  // far meets neither id but through d's log
	sync(t, far, d)
	if a, b := testutil.Dump(t, far), testutil.Dump(t, d); a != b || itemCount(t, far) != 2 {
		t.Fatalf("far:\n%s\n---\nd:\n%s", a, b)
	}
}
