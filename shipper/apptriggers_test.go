package shipper_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// shopTables is a point-of-sale schema as applications write them.
const shopTables = `
CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL);
CREATE TABLE sale(id TEXT PRIMARY KEY, sku TEXT NOT NULL, n INTEGER NOT NULL);
CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, updated_at TEXT);
CREATE TABLE audit(id TEXT PRIMARY KEY, what TEXT);
CREATE TABLE sku_sales(sku TEXT PRIMARY KEY, n INTEGER NOT NULL); -- a local cache, not replicated
CREATE TABLE doc(id TEXT PRIMARY KEY, body TEXT);
CREATE VIRTUAL TABLE doc_fts USING fts5(body, content='doc', content_rowid='rowid');`

// shopTriggers are the application's triggers: three whose effects
// replicate, and four that keep local data (the cache, the FTS5 index of
// sqlite.org/fts5.html) in step.
const shopTriggers = `
CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n WHERE sku = NEW.sku; END;
CREATE TRIGGER touch AFTER UPDATE OF name ON item BEGIN
  UPDATE item SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || ' ' || hex(randomblob(4)) WHERE id = NEW.id; END;
CREATE TRIGGER audit_sale AFTER INSERT ON sale BEGIN
  INSERT INTO audit VALUES (lower(hex(randomblob(8))), 'sold ' || NEW.n || ' of ' || NEW.sku); END;
CREATE TRIGGER count_sale AFTER INSERT ON sale BEGIN
  INSERT INTO sku_sales VALUES (NEW.sku, NEW.n) ON CONFLICT (sku) DO UPDATE SET n = n + excluded.n; END;
CREATE TRIGGER doc_ai AFTER INSERT ON doc BEGIN INSERT INTO doc_fts(rowid, body) VALUES (new.rowid, new.body); END;
CREATE TRIGGER doc_ad AFTER DELETE ON doc BEGIN INSERT INTO doc_fts(doc_fts, rowid, body) VALUES ('delete', old.rowid, old.body); END;
CREATE TRIGGER doc_au AFTER UPDATE ON doc BEGIN
  INSERT INTO doc_fts(doc_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
  INSERT INTO doc_fts(rowid, body) VALUES (new.rowid, new.body); END;`

// shopNode makes a node of the shop schema; with lateTriggers the
// application creates its triggers after install, so only the applier
// sees them.
func shopNode(t *testing.T, lateTriggers bool) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, shopTables)
	if !lateTriggers {
		db.MustExec(shopTriggers)
	}
	sel := triggers.Selection{Exclude: []string{"sku_sales"}}
	r, err := triggers.Install(t.Context(), db, triggers.Options{Selection: &sel})
	if err != nil {
		t.Fatal(err)
	}
	if !lateTriggers {
		want := "audit_sale:skip count_sale:fire dec:skip doc_ad:fire doc_ai:fire doc_au:fire touch:skip"
		if got := actions(r.AppTriggers); got != want {
			t.Fatalf("install classified %s, want %s", got, want)
		}
	}
	if lateTriggers {
		db.MustExec(shopTriggers)
	}
	return db
}

func actions(p apptriggers.Plan) string {
	var out []string
	for _, t := range p {
		out = append(out, t.Name+":"+string(t.Action))
	}
	return strings.Join(out, " ")
}

// triggerText is every trigger's text, per table in the order SQLite runs
// them (creation order): what applying must leave exactly as it was.
func triggerText(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var sqls []string
	if err := db.Select(&sqls, `SELECT sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY tbl_name, rowid`); err != nil {
		t.Fatal(err)
	}
	return strings.Join(sqls, "\n")
}

// TestApplicationTriggers: three nodes of a shop, one sale, a renamed item
// and a document edit on each before any sync. Triggers whose effects
// replicate (stock, updated_at, audit rows) must not run again on apply;
// those keeping local data (a cache, an FTS5 index) must, on every node.
func TestApplicationTriggers(t *testing.T) {
	nodes := []*sqlx.DB{shopNode(t, false), shopNode(t, false), shopNode(t, true)}
	var before []string
	for _, db := range nodes {
		before = append(before, triggerText(t, db))
	}
	nodes[0].MustExec(`INSERT INTO stock VALUES ('apple', 100);
		INSERT INTO item VALUES ('i1', 'apple', NULL);
		INSERT INTO doc VALUES ('d1', 'red apples'), ('d2', 'green pears'), ('d3', 'yellow plums')`)
	for _, other := range nodes[1:] {
		sync(t, nodes[0], other)
	}
	for i, db := range nodes {
		db.MustExec(fmt.Sprintf(`INSERT INTO sale VALUES ('s%d', 'apple', %d)`, i, i+1))
		db.MustExec(fmt.Sprintf(`UPDATE item SET name = 'apple %d' WHERE id = 'i1'`, i))
		db.MustExec(fmt.Sprintf(`INSERT INTO doc VALUES ('n%d', 'node%d quinces')`, i, i))
	}
	nodes[1].MustExec(`UPDATE doc SET body = 'ripe red apples' WHERE id = 'd1'`)
	nodes[2].MustExec(`DELETE FROM doc WHERE id = 'd2'`)
	for range 2 {
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				sync(t, nodes[i], nodes[j])
			}
		}
	}
	want := testutil.Dump(t, nodes[0])
	for i, db := range nodes[1:] {
		if got := testutil.Dump(t, db); got != want {
			t.Fatalf("node %d differs from node 0:\n%s\n---\n%s", i+1, got, want)
		}
	}
	for i, db := range nodes {
		var audits, sold int
		db.Get(&audits, `SELECT count(*) FROM audit`)
		db.Get(&sold, `SELECT n FROM sku_sales WHERE sku = 'apple'`)
		if audits != 3 || sold != 6 {
			t.Errorf("node %d: %d audit rows (want one per sale, 3), local cache counts %d sold (want 6)", i, audits, sold)
		}
		checkFTS(t, db)
		if got := triggerText(t, db); got != before[i] {
			t.Errorf("node %d: the triggers or their order changed:\n%s\nwant\n%s", i, got, before[i])
		}
	}
}

// checkFTS: the index answers for every row, and for no row deleted.
func checkFTS(t *testing.T, db *sqlx.DB) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO doc_fts(doc_fts) VALUES ('integrity-check')`); err != nil {
		t.Errorf("FTS integrity-check: %v", err)
	}
	var bodies []string
	db.Select(&bodies, `SELECT body FROM doc ORDER BY id`)
	for _, body := range bodies {
		for _, word := range strings.Fields(body) {
			var n int
			db.Get(&n, `SELECT count(*) FROM doc_fts WHERE doc_fts MATCH ?`, word)
			var want int
			db.Get(&want, `SELECT count(*) FROM doc WHERE ' ' || body || ' ' LIKE '% ' || ? || ' %'`, word)
			if n != want {
				t.Errorf("FTS: MATCH %q finds %d rows, the table holds %d", word, n, want)
			}
		}
	}
	var stale int
	db.Get(&stale, `SELECT count(*) FROM doc_fts WHERE doc_fts MATCH 'green'`)
	if stale != 0 {
		t.Errorf("FTS: a deleted row still matches")
	}
}

// TestUndecidedTrigger: a trigger writing a replicated table and a local
// one stops the apply, naming itself and the choice, and loses nothing;
// the choice lets the changes through.
func TestUndecidedTrigger(t *testing.T) {
	a, b := shopNode(t, false), shopNode(t, false)
	b.MustExec(`CREATE TRIGGER both_kinds AFTER INSERT ON sale BEGIN
		INSERT INTO audit VALUES ('b-' || NEW.id, 'x'); UPDATE sku_sales SET n = n WHERE sku = NEW.sku; END`)
	a.MustExec(`INSERT INTO stock VALUES ('apple', 10); INSERT INTO sale VALUES ('s1', 'apple', 1)`)
	_, err := shipper.Sync(t.Context(), a, b, applier.Options{})
	if !errors.Is(err, apptriggers.ErrUndecided) || !strings.Contains(err.Error(), `"both_kinds"`) ||
		!strings.Contains(err.Error(), "--trigger NAME=skip") {
		t.Fatalf("sync: %v, want ErrUndecided naming the trigger and the way out", err)
	}
	var n int
	b.Get(&n, `SELECT count(*) FROM sale`)
	if n != 0 {
		t.Fatalf("applied %d sales beside an undecided trigger", n)
	}
	if _, err := triggers.Install(t.Context(), b, triggers.Options{Triggers: map[string]apptriggers.Action{"BOTH_KINDS": apptriggers.Skip}}); err != nil {
		t.Fatal(err)
	}
	sync(t, a, b)
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db {
		t.Fatalf("nodes differ after the choice:\n%s\n---\n%s", da, db)
	}
	_, err = triggers.Install(t.Context(), b, triggers.Options{Triggers: map[string]apptriggers.Action{"nosuch": apptriggers.Fire}})
	if err == nil || !strings.Contains(err.Error(), `no trigger "nosuch"`) {
		t.Fatalf("a choice for a missing trigger: %v", err)
	}
}

// TestTriggersThroughMigrate: `migrate` creates and drops the
// application's triggers on every node, in order; each node classifies
// them by the same rule; a trigger the rule cannot decide is refused.
func TestTriggersThroughMigrate(t *testing.T) {
	a, _ := testutil.NewDB(t, shopTables)
	bdb, _ := testutil.NewDB(t, shopTables)
	for _, db := range []*sqlx.DB{a, bdb} {
		sel := triggers.Selection{Exclude: []string{"sku_sales"}}
		if _, err := triggers.Install(t.Context(), db, triggers.Options{Selection: &sel}); err != nil {
			t.Fatal(err)
		}
	}
	a.MustExec(`INSERT INTO stock VALUES ('apple', 100)`)
	sync(t, a, bdb)
	script := `CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n WHERE sku = NEW.sku; END;
CREATE TRIGGER count_sale AFTER INSERT ON sale BEGIN
  INSERT INTO sku_sales VALUES (NEW.sku, NEW.n) ON CONFLICT (sku) DO UPDATE SET n = n + excluded.n; END;`
	if _, err := applier.Migrate(t.Context(), a, script, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	sync(t, a, bdb)
	if ta, tb := triggerText(t, a), triggerText(t, bdb); ta != tb || !strings.Contains(tb, "CREATE TRIGGER dec") {
		t.Fatalf("the triggers differ after the migration:\n%s\n---\n%s", ta, tb)
	}
	a.MustExec(`INSERT INTO sale VALUES ('s1', 'apple', 1)`)
	bdb.MustExec(`INSERT INTO sale VALUES ('s2', 'apple', 2)`)
	sync(t, a, bdb)
	sync(t, a, bdb)
	if da, db := testutil.Dump(t, a), testutil.Dump(t, bdb); da != db || !strings.Contains(da, "text:'apple',integer:3") {
		t.Fatalf("after sales on both (the cache counts both, 3):\n%s\n---\n%s", da, db)
	}
	_, err := applier.Migrate(t.Context(), a, `CREATE TRIGGER mixed AFTER INSERT ON sale BEGIN
		INSERT INTO audit VALUES (NEW.id, 'x'); DELETE FROM sku_sales WHERE n < 0; END;`, applier.MigrateOptions{})
	if err == nil || !strings.Contains(err.Error(), `"mixed"`) || !strings.Contains(err.Error(), "split it") {
		t.Fatalf("an undecided trigger through migrate: %v", err)
	}
	if _, err := applier.Migrate(t.Context(), a, `DROP TRIGGER dec`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	sync(t, a, bdb)
	if tb := triggerText(t, bdb); strings.Contains(tb, "CREATE TRIGGER dec") {
		t.Fatalf("DROP TRIGGER did not reach the peer:\n%s", tb)
	}
}
