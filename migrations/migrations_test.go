package migrations_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/migrations"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

func TestMigrateFromNothing(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE app(id TEXT PRIMARY KEY)`)
	if v, err := migrations.Version(t.Context(), db); err != nil || v != 0 {
		t.Fatalf("fresh database: version %d, %v", v, err)
	}
	tx := db.MustBegin()
	from, err := migrations.Migrate(t.Context(), tx)
	if err != nil || from != 0 {
		t.Fatalf("migrate: from %d, %v", from, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if v, _ := migrations.Version(t.Context(), db); v != migrations.Latest {
		t.Fatalf("version %d after migrating, want %d", v, migrations.Latest)
	}
	tx = db.MustBegin()
	defer tx.Rollback()
	if from, err := migrations.Migrate(t.Context(), tx); err != nil || from != migrations.Latest {
		t.Fatalf("second migrate: from %d, %v", from, err)
	}
}

func TestRefusesNewerMetadata(t *testing.T) {
	db, _ := testutil.NewDB(t)
	tx := db.MustBegin()
	if _, err := migrations.Migrate(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	tx.MustExec(`UPDATE _trigsync_meta SET value = 99 WHERE key = 'metadata_version'`)
	tx.Commit()
	tx = db.MustBegin()
	defer tx.Rollback()
	_, err := migrations.Migrate(t.Context(), tx)
	if !errors.Is(err, migrations.ErrTooNew) {
		t.Fatalf("want ErrTooNew, got %v", err)
	}
}

// TestUpgradeMetadataV1 upgrades a database installed at metadata version 1
// in place: the install succeeds, the log written before still decodes and
// capture goes on.
func TestUpgradeMetadataV1(t *testing.T) {
	db := fixture(t, 1)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO note VALUES ('d', 'after upgrade', 4)`)
	cs := testutil.Changes(t, db)
	if len(cs) != 5 || cs[1].Set[0].Value.Text != "edited" || cs[2].Set[0].Value.Blob[0] != 0 ||
		cs[3].Key[0].Value.Text != "c" || cs[4].Key[0].Value.Text != "d" {
		t.Fatalf("changes after upgrade: %+v", cs)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].HLC <= cs[i-1].HLC {
			t.Fatalf("stamps after upgrade must go on increasing: %v then %v", cs[i-1].HLC, cs[i].HLC)
		}
	}
}

// TestUpgradeMetadataV3 upgrades a database of the transport release's
// layout in place: the log written before (stamped, received from a peer,
// and not stamped yet) still decodes, and a migration runs on it.
func TestUpgradeMetadataV3(t *testing.T) {
	db := fixture(t, 3)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := migrations.Version(t.Context(), db); v != migrations.Latest {
		t.Fatalf("metadata version %d after install", v)
	}
	cs := testutil.Changes(t, db)
	if len(cs) != 6 || cs[2].Origin == cs[0].Origin || cs[2].Set[0].Value.Blob[0] != 0 ||
		cs[4].Op != changelog.Delete || cs[5].Key[0].Value.Text != "d" || cs[5].SchemaVersion != 0 {
		t.Fatalf("changes after upgrade: %+v", cs)
	}
	if _, err := applier.Migrate(t.Context(), db, `ALTER TABLE note ADD COLUMN tag TEXT`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO note VALUES ('e', 'after migrate', 5, 'x')`)
	cs = testutil.Changes(t, db)
	if last := cs[len(cs)-1]; len(cs) != 8 || cs[6].Op != changelog.Schema || last.SchemaVersion != 1 || last.Set[2].Column != "tag" {
		t.Fatalf("changes after migrate: %+v", cs[6:])
	}
}

// TestMetadataV4 reads a database of the schema-migration release's
// layout: its log (a schema version, an old-schema insert relayed without
// the added column, rows not stamped yet) decodes, and it syncs with a
// copy that migrates further.
func TestMetadataV4(t *testing.T) {
	a := fixture(t, 4)
	if _, err := triggers.Install(t.Context(), a, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	cs := testutil.Changes(t, a)
	if len(cs) != 7 || cs[1].Op != changelog.Schema || cs[1].Migration.Version != 1 ||
		cs[3].Op != changelog.Insert || len(cs[3].Set) != 2 || cs[3].Set[0].Column != "text" ||
		cs[6].Set[2].Column != "tag" || cs[6].SchemaVersion != 1 {
		t.Fatalf("changes: %+v", cs)
	}
	b := copyNode(t, a)
	if _, err := applier.Migrate(t.Context(), b, `ALTER TABLE note ADD COLUMN due TEXT`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	b.MustExec(`UPDATE note SET due = 'monday', text = 'from b' WHERE id = 'a'`)
	a.MustExec(`UPDATE note SET n = 10 WHERE id = 'a'`)
	if _, err := shipper.Sync(t.Context(), a, b, applier.Options{}); err != nil {
		t.Fatal(err)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "'monday'") || !strings.Contains(da, "integer:10") {
		t.Fatalf("a:\n%s\nb:\n%s", da, db)
	}
}

// TestMetadataV5 reads a database of the real-deployments release's
// layout: its log (counter deltas, a fork of a restored node, the lost row
// back under the old id, rows not stamped yet) decodes, the fork and the
// stamps of cursors are there, and it syncs with a copy.
func TestMetadataV5(t *testing.T) {
	a := fixture(t, 5)
	cs := testutil.Changes(t, a)
	if len(cs) != 9 || cs[0].Op != changelog.Add || cs[5].Op != changelog.Forked || cs[5].Fork == nil ||
		cs[6].Origin != cs[5].Fork.Node || cs[4].Origin != cs[5].Fork.Successor || cs[7].Op != changelog.Delete {
		t.Fatalf("changes: %+v", cs)
	}
	var stamped, forks int
	a.Get(&stamped, `SELECT count(*) FROM _trigsync_peers WHERE pulled_hlc IS NOT NULL`)
	a.Get(&forks, `SELECT count(*) FROM _trigsync_forks`)
	if stamped != 1 || forks != 1 {
		t.Fatalf("%d cursors with a stamp, %d forks", stamped, forks)
	}
	b := copyNode(t, a)
	b.MustExec(`UPDATE note SET n = n + 1 WHERE id = 'a'`)
	a.MustExec(`UPDATE note SET n = n - 3 WHERE id = 'a'`)
	if _, err := shipper.Sync(t.Context(), a, b, applier.Options{}); err != nil {
		t.Fatal(err)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "integer:11") {
		t.Fatalf("a:\n%s\nb:\n%s", da, db)
	}
}

// TestMetadataV6 reads a database of the fleet release's layout: its
// device credentials (one bound by its first sync and seen, a hub
// credential bound with --node, one revoked) are found by their tokens'
// hashes, its log (a device's changes, rows not stamped yet) decodes, and
// it syncs with a copy.
func TestMetadataV6(t *testing.T) {
	a := fixture(t, 6)
	cs := testutil.Changes(t, a)
	if len(cs) != 4 || cs[0].Op != changelog.Insert || cs[1].Op != changelog.Update || cs[2].Op != changelog.Delete ||
		cs[0].Origin != "766e7c23c28d4cdf0ce2dcf56916b2ce" {
		t.Fatalf("changes: %+v", cs)
	}
	// The token `trigsync devices add phone` printed when the fixture was made.
	d, found, err := devices.Lookup(t.Context(), a, "tsd_lVd81_0M4uZSMeKL4X0ZVBeZRFke0TaHSWtZmwNLbG0")
	if err != nil || !found || d.Name != "phone" || d.Node != cs[0].Origin || d.LastSeen == nil || d.Version == "" || d.Revoked != nil {
		t.Fatalf("phone: %+v %v %v", d, found, err)
	}
	list, err := devices.Report(t.Context(), a, time.Now())
	if err != nil || len(list) != 3 || !list[0].Hub || list[0].Node == "" || list[1].Revoked == nil || list[2].Pending == nil {
		t.Fatalf("devices: %+v %v", list, err)
	}
	b := copyNode(t, a)
	b.MustExec(`UPDATE note SET n = 7 WHERE id = 'a'`)
	a.MustExec(`UPDATE note SET body = 'from a' WHERE id = 'a'`)
	if _, err := shipper.Sync(t.Context(), a, b, applier.Options{}); err != nil {
		t.Fatal(err)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "integer:7") || !strings.Contains(da, "'from a'") {
		t.Fatalf("a:\n%s\nb:\n%s", da, db)
	}
}

// fixture loads testdata/metadata-vN.sql, a frozen database of metadata
// version n.
func fixture(t *testing.T, n int) *sqlx.DB {
	t.Helper()
	dump, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", fmt.Sprintf("metadata-v%d.sql", n)))
	if err != nil {
		t.Fatal(err)
	}
	db, _ := testutil.NewDB(t, string(dump))
	if v, _ := migrations.Version(t.Context(), db); v != n {
		t.Fatalf("fixture has metadata version %d", v)
	}
	return db
}

// copyNode makes another node of db: a VACUUM INTO copy with its own id.
func copyNode(t *testing.T, db *sqlx.DB) *sqlx.DB {
	t.Helper()
	_, path := testutil.NewDB(t)
	db.MustExec(`VACUUM INTO ?`, path+".copy")
	b, err := sqlitedb.Open(t.Context(), path+".copy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tx := b.MustBegin()
	if _, _, err := changelog.ResetNodeID(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return b
}
