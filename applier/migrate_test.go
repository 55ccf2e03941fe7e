package applier_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/ddl"
	"github.com/trigsync/trigsync/evolve"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

const itemDDL = `CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)`

// peer makes a copy of a database with a node id of its own, as clone does.
func peer(t *testing.T, from *sqlx.DB) *sqlx.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peer.db")
	from.MustExec(`VACUUM INTO ?`, path)
	db, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.MustExec(`PRAGMA journal_mode=WAL`)
	tx := db.MustBegin()
	if _, _, err := changelog.ResetNodeID(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

func migrate(t *testing.T, db *sqlx.DB, script string) applier.Migration {
	t.Helper()
	m, err := applier.Migrate(t.Context(), db, script, applier.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func schemaVersion(t *testing.T, db *sqlx.DB) int64 {
	t.Helper()
	v, err := changelog.CurrentSchema(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rows returns a table's rows as text, ordered by the first column.
func rows(t *testing.T, db *sqlx.DB, table string) string {
	t.Helper()
	var out []string
	r, err := db.Queryx(`SELECT * FROM ` + table + ` ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		vals, err := r.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		var cells []string
		for _, v := range vals {
			cells = append(cells, fmtValue(v))
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return strings.Join(out, "\n")
}

func fmtValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

// A migration made on one node reaches its peer before the changes made on
// it, and a change using the new column applies there.
func TestMigrationReachesPeer(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 10)`)
	b := peer(t, a)
	m := migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT DEFAULT 'grey'; CREATE INDEX item_colour ON item(colour)`)
	if m.Version != 1 || len(m.Statements) != 2 {
		t.Fatalf("migration %+v", m)
	}
	a.MustExec(`INSERT INTO item VALUES (2, 'nut', 5, 'red')`)
	a.MustExec(`UPDATE item SET colour = 'blue' WHERE id = 1`)
	s := syncBoth(t, a, b)
	if s.Received.Held != 0 || s.Sent.Held != 0 {
		t.Fatalf("summary %+v", s)
	}
	if v := schemaVersion(t, b); v != 1 {
		t.Fatalf("b is at schema version %d", v)
	}
	if ra, rb := rows(t, a, "item"), rows(t, b, "item"); ra != rb || !strings.Contains(rb, "1|bolt|10|blue") {
		t.Fatalf("a:\n%s\nb:\n%s", ra, rb)
	}
	var idx int
	b.Get(&idx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'item_colour'`)
	if idx != 1 {
		t.Fatal("the index did not reach b")
	}
	// b captures the new column too.
	b.MustExec(`UPDATE item SET colour = 'green' WHERE id = 2`)
	syncBoth(t, a, b)
	if ra := rows(t, a, "item"); !strings.Contains(ra, "2|nut|5|green") {
		t.Fatalf("a:\n%s", ra)
	}
}

// Changes made on an older schema version are translated on arrival: a
// renamed column takes its new name, a renamed table too.
func TestOlderChangesAreTranslated(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 10)`)
	b := peer(t, a)
	migrate(t, a, `ALTER TABLE item RENAME COLUMN qty TO stock; ALTER TABLE item RENAME TO part`)
	b.MustExec(`UPDATE item SET qty = 7 WHERE id = 1`)
	b.MustExec(`INSERT INTO item VALUES (2, 'nut', 3)`)
	// b sends its old-schema changes first, then receives the migration.
	if _, err := shipper.Sync(t.Context(), b, a, applier.Options{}); err != nil {
		t.Fatal(err)
	}
	if ra := rows(t, a, "part"); ra != "1|bolt|7\n2|nut|3" {
		t.Fatalf("a:\n%s", ra)
	}
	if rb := rows(t, b, "part"); rb != "1|bolt|7\n2|nut|3" {
		t.Fatalf("b:\n%s", rb)
	}
	if len(conflicts(t, a))+len(conflicts(t, b)) != 0 {
		t.Fatalf("conflicts: %+v %+v", conflicts(t, a), conflicts(t, b))
	}
	// The merge state followed the rename: a later concurrent edit merges
	// by column as before.
	a.MustExec(`UPDATE part SET name = 'bolt M6' WHERE id = 1`)
	b.MustExec(`UPDATE part SET stock = 8 WHERE id = 1`)
	syncBoth(t, a, b)
	if ra, rb := rows(t, a, "part"), rows(t, b, "part"); ra != rb || !strings.HasPrefix(ra, "1|bolt M6|8") {
		t.Fatalf("a:\n%s\nb:\n%s", ra, rb)
	}
}

// DROP COLUMN while a peer still writes that column: the column's cells
// are dropped wherever the drop applied, the rest of each change applies.
func TestDropColumnWhileAPeerWritesIt(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 10)`)
	b := peer(t, a)
	migrate(t, a, `ALTER TABLE item DROP COLUMN qty`)
	b.MustExec(`UPDATE item SET qty = 11, name = 'bolt M6' WHERE id = 1`)
	b.MustExec(`UPDATE item SET qty = 12 WHERE id = 1`)
	b.MustExec(`INSERT INTO item VALUES (2, 'nut', 3)`)
	s := syncBoth(t, a, b)
	if s.Received.Dropped != 3 || s.Received.Held != 0 { // qty of both updates and of the insert
		t.Fatalf("summary %+v", s)
	}
	if ra, rb := rows(t, a, "item"), rows(t, b, "item"); ra != rb || ra != "1|bolt M6\n2|nut" {
		t.Fatalf("a:\n%s\nb:\n%s", ra, rb)
	}
}

// A DROP TABLE drops the older changes of that table on arrival.
func TestDropTableDropsOlderChanges(t *testing.T) {
	a := node(t, itemDDL, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`)
	b := peer(t, a)
	migrate(t, a, `DROP TABLE note`)
	b.MustExec(`INSERT INTO note VALUES ('n', 'hello')`)
	b.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1)`)
	s := syncBoth(t, a, b)
	if s.Received.Dropped != 1 {
		t.Fatalf("summary %+v", s)
	}
	var n int
	b.Get(&n, `SELECT count(*) FROM sqlite_schema WHERE name = 'note'`)
	if n != 0 || rows(t, a, "item") != "1|bolt|1" {
		t.Fatalf("note still on b (%d) or item missing on a: %s", n, rows(t, a, "item"))
	}
}

// A migration this node refuses is held, with the changes its origin made
// after it; a change another node made on that version waits too. Once the
// cause is mended, a retry applies the version and then the changes.
func TestRefusedMigrationHoldsWhatNeedsIt(t *testing.T) {
	a := node(t, itemDDL)
	b, c := peer(t, a), peer(t, a)
	b.MustExec(`CREATE TABLE extra(id INTEGER PRIMARY KEY)`) // b's own, in the way
	migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT; CREATE TABLE extra(id INTEGER PRIMARY KEY, v TEXT)`)
	a.MustExec(`INSERT INTO extra VALUES (1, 'from a')`)
	if _, err := shipper.Sync(t.Context(), c, a, applier.Options{}); err != nil { // c is at version 1
		t.Fatal(err)
	}
	c.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1, 'red')`)
	s, err := shipper.Sync(t.Context(), b, c, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	list := conflicts(t, b)
	if s.Received.Held != 3 || len(list) != 3 || !strings.Contains(list[0].Error, `table "extra" exists`) ||
		!strings.Contains(list[1].Error, "made on schema version 1") || !strings.Contains(list[2].Error, "made on schema version 1") {
		t.Fatalf("summary %+v, conflicts %+v", s, list)
	}
	if v := schemaVersion(t, b); v != 0 {
		t.Fatalf("b is at version %d: the refused migration applied in part", v)
	}
	if _, err := applier.Migrate(t.Context(), b, `CREATE INDEX i ON item(name)`, applier.MigrateOptions{}); !errors.Is(err, evolve.ErrRefused) ||
		!strings.Contains(err.Error(), "schema version 1 is held here") {
		t.Fatalf("a local migration beside a held version: want a refusal, got %v", err)
	}
	b.MustExec(`DROP TABLE extra`)
	n, err := applier.Resolve(t.Context(), b, applier.Retry, nil, applier.Options{})
	if err != nil || n != 3 {
		t.Fatalf("retry resolved %d: %v (conflicts %+v)", n, err, conflicts(t, b))
	}
	if rb, re := rows(t, b, "item"), rows(t, b, "extra"); rb != "1|bolt|1|red" || re != "1|from a" {
		t.Fatalf("b: item %q, extra %q", rb, re)
	}
}

// Two nodes make schema version 1 concurrently: the one stamped first wins
// everywhere; the loser gets a clear error and applies nothing; the winner
// holds the loser's version and the changes made after it.
func TestConcurrentMigrations(t *testing.T) {
	a := node(t, itemDDL)
	b := peer(t, a)
	early := time.Now().Add(-time.Minute)
	if _, err := applier.Migrate(t.Context(), b, `ALTER TABLE item ADD COLUMN colour TEXT`, applier.MigrateOptions{Now: early}); err != nil {
		t.Fatal(err)
	}
	migrate(t, a, `ALTER TABLE item ADD COLUMN size INTEGER`)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1, 6)`)
	b.MustExec(`INSERT INTO item VALUES (2, 'nut', 2, 'red')`)
	// b's version is first: a is the loser.
	_, err := shipper.Sync(t.Context(), a, b, applier.Options{})
	if !errors.Is(err, applier.ErrSchemaConflict) || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("want a schema conflict naming b's version, got %v", err)
	}
	if rows(t, a, "item") != "1|bolt|1|6" {
		t.Fatalf("a applied part of the exchange: %s", rows(t, a, "item"))
	}
	// The winner, pulling from the loser, holds the loser's version and
	// what came after it.
	s, err := shipper.Sync(t.Context(), b, a, applier.Options{})
	if err == nil {
		t.Fatalf("a still refuses the exchange's other direction, got %+v", s)
	}
	list := conflicts(t, b)
	if len(list) == 0 || !strings.Contains(list[0].Error, "schema conflict") {
		t.Fatalf("conflicts on b: %+v", list)
	}
	if rows(t, b, "item") != "2|nut|2|red" {
		t.Fatalf("b applied the loser's changes: %s", rows(t, b, "item"))
	}
	// The loser held on the winner is no obstacle to its next version.
	if m := migrate(t, b, `CREATE INDEX item_colour ON item(colour)`); m.Version != 2 {
		t.Fatalf("b's next migration: %+v", m)
	}
}

// Statements outside the supported set are refused before anything runs.
func TestUnsupportedMigrationRefused(t *testing.T) {
	a := node(t, itemDDL)
	dump := func() string {
		var schemaSQL []string
		a.Select(&schemaSQL, `SELECT ifnull(sql, name) FROM sqlite_schema ORDER BY name`)
		return testutil.Dump(t, a) + strings.Join(schemaSQL, "\n")
	}
	before := dump()
	for _, script := range []string{
		`CREATE VIEW v AS SELECT * FROM item`,
		`ALTER TABLE item ADD COLUMN colour TEXT; DELETE FROM item`,
		`CREATE TABLE IF NOT EXISTS x(id INTEGER PRIMARY KEY)`,
	} {
		_, err := applier.Migrate(t.Context(), a, script, applier.MigrateOptions{})
		if !errors.Is(err, ddl.ErrUnsupported) {
			t.Errorf("%s: want ErrUnsupported, got %v", script, err)
		}
	}
	for _, script := range []string{
		`ALTER TABLE nope ADD COLUMN x`,
		`ALTER TABLE item ADD COLUMN name TEXT`,
		`ALTER TABLE item DROP COLUMN id`,
		`CREATE TABLE keyless(a, b)`,
		`ALTER TABLE item ADD COLUMN colour TEXT; ALTER TABLE item ADD COLUMN colour TEXT`,
	} {
		_, err := applier.Migrate(t.Context(), a, script, applier.MigrateOptions{})
		if !errors.Is(err, evolve.ErrRefused) {
			t.Errorf("%s: want ErrRefused, got %v", script, err)
		}
	}
	if after := dump(); after != before {
		t.Fatalf("a refused migration changed the database:\n%s", after)
	}
}

// ADD COLUMN costs O(1) in the table's size: one log row, one schema row,
// a description; nothing per row of the table.
func TestAddColumnWritesNothingPerRow(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO item SELECT i, 'part ' || i, i FROM n`)
	count := func() (n int) {
		a.Get(&n, `SELECT (SELECT count(*) FROM _trigsync_changelog) + (SELECT count(*) FROM _trigsync_rows)
			+ (SELECT count(*) FROM _trigsync_cells)`)
		return n
	}
	if err := shipper.Prepare(t.Context(), a); err != nil { // integrate the inserts first
		t.Fatal(err)
	}
	before := count()
	migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT`)
	if after := count(); after != before+1 {
		t.Fatalf("ADD COLUMN wrote %d metadata rows, want 1 (the log row)", after-before)
	}
}

// A hand-made ALTER stops shipping; migrate --adopt records it as a schema
// version, which peers apply.
func TestHandMadeAlterAdopted(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 10)`)
	b := peer(t, a)
	a.MustExec(`ALTER TABLE item ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey' CHECK (colour <> '')`)
	if _, err := shipper.Sync(t.Context(), a, b, applier.Options{}); !errors.Is(err, triggers.ErrSchemaDrift) {
		t.Fatalf("want ErrSchemaDrift, got %v", err)
	}
	if _, err := applier.Migrate(t.Context(), a, `CREATE INDEX i ON item(name)`, applier.MigrateOptions{}); !errors.Is(err, triggers.ErrSchemaDrift) {
		t.Fatalf("migrate over a drifted schema: want ErrSchemaDrift, got %v", err)
	}
	m, err := applier.Adopt(t.Context(), a, applier.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || !strings.Contains(m.SQL, `ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey' CHECK (colour <> '')`) {
		t.Fatalf("adopted %+v", m)
	}
	a.MustExec(`UPDATE item SET colour = 'red' WHERE id = 1`)
	syncBoth(t, a, b)
	if rb := rows(t, b, "item"); rb != "1|bolt|10|red" {
		t.Fatalf("b:\n%s", rb)
	}
	if _, err := applier.Adopt(t.Context(), a, applier.MigrateOptions{}); !errors.Is(err, evolve.ErrNothingToAdopt) {
		t.Fatalf("second adopt: want ErrNothingToAdopt, got %v", err)
	}
}

// An insert made before ADD COLUMN, relayed by a node that translated it,
// takes the column's default on every node: the relay does not send the
// column it lacks as NULL.
func TestRelayedOldInsertTakesTheDefault(t *testing.T) {
	a := node(t, itemDDL)
	b, c := peer(t, a), peer(t, a)
	migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT DEFAULT 'grey'`)
	b.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1)`)
	for _, pair := range [][2]*sqlx.DB{{b, a}, {c, a}, {c, b}} {
		syncBoth(t, pair[0], pair[1])
	}
	for i, db := range []*sqlx.DB{a, b, c} {
		if r := rows(t, db, "item"); r != "1|bolt|1|grey" {
			t.Fatalf("node %d: %q", i, r)
		}
	}
}

// An insert made before ADD COLUMN that replaces an existing row (a newer
// incarnation of its key) gives the row the column's default, as on a
// node where the row did not exist: nodes agree.
func TestOldInsertReplacingARowTakesTheDefault(t *testing.T) {
	a := node(t, itemDDL)
	b := peer(t, a)
	migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT DEFAULT 'grey'`)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1, 'red')`)
	time.Sleep(2 * time.Millisecond)
	b.MustExec(`INSERT INTO item VALUES (1, 'nut', 2)`) // made later, on the old schema
	syncBoth(t, a, b)
	if ra, rb := rows(t, a, "item"), rows(t, b, "item"); ra != rb || ra != "1|nut|2|grey" {
		t.Fatalf("a: %q, b: %q", ra, rb)
	}
}

// A column added NOT NULL without a default is refused even on an empty
// table, where SQLite would take it: a node holding rows would not.
func TestNotNullColumnNeedsADefault(t *testing.T) {
	a := node(t, itemDDL)
	_, err := applier.Migrate(t.Context(), a, `ALTER TABLE item ADD COLUMN sku TEXT NOT NULL`, applier.MigrateOptions{})
	if !errors.Is(err, evolve.ErrRefused) || !strings.Contains(err.Error(), "give it a DEFAULT") {
		t.Fatalf("want a refusal asking for a DEFAULT, got %v", err)
	}
	migrate(t, a, `ALTER TABLE item ADD COLUMN sku TEXT NOT NULL DEFAULT ''`)
}

// Log rows written before a schema change still decode after it, with the
// names and the schema version they were made with.
func TestOlderLogRowsDecodeAfterMigration(t *testing.T) {
	a := node(t, itemDDL)
	a.MustExec(`INSERT INTO item VALUES (1, 'bolt', 10)`)
	migrate(t, a, `ALTER TABLE item RENAME COLUMN qty TO stock; ALTER TABLE item DROP COLUMN name`)
	a.MustExec(`UPDATE item SET stock = 11 WHERE id = 1`)
	cs := testutil.Changes(t, a)
	if len(cs) != 3 || cs[0].SchemaVersion != 0 || cs[0].Set[0].Column != "name" || cs[0].Set[1].Column != "qty" ||
		cs[1].Op != changelog.Schema || cs[1].Migration.Version != 1 ||
		cs[2].SchemaVersion != 1 || cs[2].Set[0].Column != "stock" {
		t.Fatalf("log: %+v", cs)
	}
}

// A migration changes replicated tables only: a table a node keeps to
// itself is out of reach, of its own migrate and of its peers'.
func TestMigrationTouchesReplicatedTablesOnly(t *testing.T) {
	a := node(t, itemDDL, `CREATE TABLE secret(id TEXT PRIMARY KEY, v TEXT)`)
	b := peer(t, a)
	if _, err := triggers.Install(t.Context(), b, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"secret"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := applier.Migrate(t.Context(), b, `ALTER TABLE secret ADD COLUMN x TEXT`, applier.MigrateOptions{})
	if !errors.Is(err, evolve.ErrRefused) || !strings.Contains(err.Error(), "not replicated") {
		t.Fatalf("local migrate of a local table: want a refusal, got %v", err)
	}
	migrate(t, a, `DROP TABLE secret`)
	s := syncBoth(t, a, b)
	if list := conflicts(t, b); s.Sent.Held != 1 || len(list) != 1 || !strings.Contains(list[0].Error, `table "secret" is not replicated on this node`) {
		t.Fatalf("summary %+v, conflicts %+v", s, list)
	}
	var n int
	b.Get(&n, `SELECT count(*) FROM sqlite_schema WHERE name = 'secret'`)
	if n != 1 {
		t.Fatal("a peer dropped b's local table")
	}
}

// A node holding the losing version of a fork goes on with the winning
// history: the next versions apply.
func TestHeldLoserDoesNotBlockTheWinningHistory(t *testing.T) {
	a := node(t, itemDDL)
	b, c := peer(t, a), peer(t, a)
	if _, err := applier.Migrate(t.Context(), b, `ALTER TABLE item ADD COLUMN colour TEXT`, applier.MigrateOptions{Now: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	migrate(t, a, `ALTER TABLE item ADD COLUMN size INTEGER`) // loses: made later
	pull := func(dst, src *sqlx.DB) applier.Result {
		t.Helper()
		res, err := shipper.Pull(t.Context(), dst, &shipper.File{DB: src}, 100, applier.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	pull(c, b)
	if res := pull(c, a); res.Held != 1 {
		t.Fatalf("c should hold a's version: %+v", res)
	}
	if _, err := applier.Migrate(t.Context(), b, `CREATE INDEX item_colour ON item(colour)`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	b.MustExec(`INSERT INTO item VALUES (1, 'bolt', 1, 'red')`)
	if res := pull(c, b); res.Held != 0 || schemaVersion(t, c) != 2 || rows(t, c, "item") != "1|bolt|1|red" {
		t.Fatalf("c after b's version 2: %+v, version %d, rows %q, conflicts %+v", res, schemaVersion(t, c), rows(t, c, "item"), conflicts(t, c))
	}
}

// A table named by install's --include keeps being replicated when a
// migration renames it; one dropped leaves the selection.
func TestRenamedTableStaysSelected(t *testing.T) {
	a := node(t, itemDDL, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`, `CREATE TABLE local(id TEXT PRIMARY KEY)`)
	if _, err := triggers.Install(t.Context(), a, triggers.Options{Selection: &triggers.Selection{Include: []string{"item", "note"}}}); err != nil {
		t.Fatal(err)
	}
	b := peer(t, a)
	migrate(t, a, `ALTER TABLE item RENAME TO part; DROP TABLE note`)
	a.MustExec(`INSERT INTO part VALUES (1, 'bolt', 1)`)
	syncBoth(t, a, b)
	if rb := rows(t, b, "part"); rb != "1|bolt|1" {
		t.Fatalf("b: %q", rb)
	}
	sel, err := triggers.StoredSelection(t.Context(), b)
	if err != nil || strings.Join(sel.Include, ",") != "part" {
		t.Fatalf("b's selection: %+v, %v", sel, err)
	}
}

// A dry run checks and runs everything, then changes nothing.
func TestMigrateDryRun(t *testing.T) {
	a := node(t, itemDDL)
	m, err := applier.Migrate(t.Context(), a, `ALTER TABLE item ADD COLUMN colour TEXT`, applier.MigrateOptions{DryRun: true})
	if err != nil || m.Version != 1 || m.SQL != "ALTER TABLE item ADD COLUMN colour TEXT;\n" {
		t.Fatalf("dry run: %+v, %v", m, err)
	}
	if _, err := applier.Migrate(t.Context(), a, `ALTER TABLE nope ADD COLUMN x`, applier.MigrateOptions{DryRun: true}); !errors.Is(err, evolve.ErrRefused) {
		t.Fatalf("a dry run checks: got %v", err)
	}
	var cols int
	a.Get(&cols, `SELECT count(*) FROM pragma_table_info('item')`)
	if schemaVersion(t, a) != 0 || cols != 3 || len(testutil.Changes(t, a)) != 0 {
		t.Fatal("a dry run changed the database")
	}
}

// A table an earlier migration created is shared schema: a node whose
// selection leaves its rows out still takes the next migrations of it.
func TestExcludedMigratedTableStillMigrates(t *testing.T) {
	a := node(t, itemDDL)
	b := peer(t, a)
	if _, err := triggers.Install(t.Context(), b, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"item"}}}); err != nil {
		t.Fatal(err)
	}
	migrate(t, a, `CREATE TABLE extra(id INTEGER PRIMARY KEY, v TEXT)`)
	syncBoth(t, a, b)
	if _, err := triggers.Install(t.Context(), b, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"item", "extra"}}}); err != nil {
		t.Fatal(err)
	}
	migrate(t, a, `ALTER TABLE extra ADD COLUMN w TEXT; CREATE INDEX extra_w ON extra(w)`)
	s := syncBoth(t, a, b)
	if s.Sent.Held != 0 || schemaVersion(t, b) != 2 {
		t.Fatalf("summary %+v, b at version %d, conflicts %+v", s, schemaVersion(t, b), conflicts(t, b))
	}
	// item, excluded on b and never made by a migration, stays out of reach.
	migrate(t, a, `ALTER TABLE item ADD COLUMN colour TEXT`)
	if s := syncBoth(t, a, b); s.Sent.Held != 1 {
		t.Fatalf("summary %+v", s)
	}
}
