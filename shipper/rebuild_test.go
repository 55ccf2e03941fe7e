package shipper_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// departed makes a hub served over HTTP and a device, at the path it
// returns, that synced once and then wrote two rows offline while another
// device's changes went through the hub and the hub pruned its log past
// the departed device's cursor, having expired it.
func departed(t *testing.T, hub *sqlx.DB, remote *shipper.Remote) (*sqlx.DB, string, *sqlx.DB) {
	t.Helper()
	a, path := testutil.NewDB(t, schemaSQL)
	if _, err := triggers.Install(t.Context(), a, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	b := node(t)
	a.MustExec(`INSERT INTO item VALUES ('a1', 'before', 1, NULL)`)
	syncHTTP(t, a, remote)
	syncHTTP(t, b, remote)
	a.MustExec(`INSERT INTO item VALUES ('a2', 'offline', 2, NULL)`)
	a.MustExec(`UPDATE item SET qty = 10 WHERE id = 'a1'`)
	b.MustExec(`INSERT INTO item VALUES ('b1', 'meanwhile', 3, NULL)`)
	b.MustExec(`INSERT INTO item VALUES ('b2', 'meanwhile', 4, NULL)`)
	syncHTTP(t, b, remote)
	syncHTTP(t, b, remote)
	aID, err := changelog.NodeID(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	hub.MustExec(`UPDATE _trigsync_peers SET last_success = ? WHERE node = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)`,
		time.Now().Add(-40*24*time.Hour).UnixMilli(), aID)
	tx := hub.MustBeginTx(t.Context(), nil)
	defer tx.Rollback()
	p, err := applier.Prune(t.Context(), tx, 0, 30*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if p.Expired != 1 || p.Rows == 0 {
		t.Fatalf("the hub pruned %+v", p)
	}
	return a, path, b
}

// noDuplicates fails when a node's log holds a change twice.
func noDuplicates(t *testing.T, db *sqlx.DB) {
	t.Helper()
	if n := count(t, db, `SELECT count(*) FROM (SELECT 1 FROM _trigsync_changelog WHERE origin IS NOT NULL
		GROUP BY origin, origin_seq HAVING count(*) > 1)`); n != 0 {
		t.Fatalf("%d changes are in the log more than once", n)
	}
}

// TestRebuildDeparted: a device back behind the hub's horizon pushes its
// offline changes, rebuilds from the hub's snapshot into its live file (a
// connection the application held open sees the new content), keeps the
// old file beside it, and goes on under a new node id: nothing lost,
// nothing twice.
func TestRebuildDeparted(t *testing.T) {
	hub := node(t)
	remote := serveHTTP(t, hub)
	a, path, b := departed(t, hub, remote)
	app, err := sqlitedb.Open(t.Context(), path) // the application's connection
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	oldID, _ := changelog.NodeID(t.Context(), a)
	if _, err := shipper.SyncRemote(t.Context(), a, remote, applier.Options{}); !errors.Is(err, shipper.ErrRecloneNeeded) {
		t.Fatalf("without rebuild: %v", err)
	}
	s, err := shipper.SyncRemoteRebuild(t.Context(), a, path, remote, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rebuilt
	if r == nil || r.OldNodeID != oldID || r.NodeID == oldID || r.Rows != 4 || !strings.Contains(r.String(), r.Backup) {
		t.Fatalf("rebuilt %+v", r)
	}
	if got := count(t, app, `SELECT count(*) FROM item WHERE id IN ('b1', 'b2')`); got != 2 {
		t.Fatalf("the application's connection sees %d of the rows from b", got)
	}
	var mode string
	if err := app.Get(&mode, `PRAGMA journal_mode`); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q after the rebuild (%v)", mode, err)
	}
	old, err := sqlitedb.OpenReadOnly(t.Context(), r.Backup)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if n := count(t, old, `SELECT count(*) FROM item WHERE id = 'a2' OR (id = 'a1' AND qty = 10)`); n != 2 {
		t.Fatalf("the kept file holds %d of the offline changes", n)
	}
	if _, err := os.Stat(path + ".rebuild"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the snapshot file stayed: %v", err)
	}
	a.MustExec(`INSERT INTO item VALUES ('a3', 'after', 5, NULL)`)
	syncHTTP(t, a, remote)
	syncHTTP(t, b, remote)
	syncHTTP(t, a, remote)
	if n := count(t, b, `SELECT count(*) FROM item WHERE id = 'a2' OR id = 'a3' OR (id = 'a1' AND qty = 10)`); n != 3 {
		t.Fatalf("b got %d of a's changes", n)
	}
	for _, db := range []*sqlx.DB{a, b, hub} {
		noDuplicates(t, db)
	}
	if da, db, dh := testutil.Dump(t, a), testutil.Dump(t, b), testutil.Dump(t, hub); da != db || da != dh {
		t.Fatalf("nodes differ:\n%s\n%s\n%s", da, db, dh)
	}
}

// TestRebuildKeepsUnsent: nothing is rebuilt while the device holds a
// change the hub lacks: not when the push fails, and not when Rebuild
// itself finds a change the snapshot lacks.
func TestRebuildKeepsUnsent(t *testing.T) {
	hub := node(t)
	srv, err := server.New(t.Context(), server.Config{DB: hub, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	refuse := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse && r.Method == http.MethodPost {
			http.Error(w, `{"error": "refused by the test"}`, http.StatusConflict)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer ts.Close()
	remote, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	a, path, _ := departed(t, hub, remote)
	before := testutil.Dump(t, a)
	unchanged := func(what string) {
		t.Helper()
		if got := testutil.Dump(t, a); got != before {
			t.Fatalf("%s: the device changed:\n%s\nwas\n%s", what, got, before)
		}
		if m, _ := filepath.Glob(path + ".pre-rebuild-*"); len(m) != 0 {
			t.Fatalf("%s: a rebuild kept %v", what, m)
		}
	}
	refuse = true
	if _, err := shipper.SyncRemoteRebuild(t.Context(), a, path, remote, applier.Options{}); !errors.Is(err, shipper.ErrPeerRefused) {
		t.Fatalf("a refused push: %v", err)
	}
	unchanged("push refused")
	if _, err := shipper.Rebuild(t.Context(), a, path, remote, 1); !errors.Is(err, shipper.ErrUnsent) {
		t.Fatalf("a rebuild before the push: %v", err)
	}
	unchanged("rebuild with unsent changes")
}
