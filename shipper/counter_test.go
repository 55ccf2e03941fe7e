package shipper_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// counterShop makes n shop nodes (shopTables, shopTriggers) counting
// stock.qty, with the stock row of node 0 delivered to every other.
func counterShop(t *testing.T, n int) []*sqlx.DB {
	t.Helper()
	var nodes []*sqlx.DB
	for range n {
		db, _ := testutil.NewDB(t, shopTables, shopTriggers)
		sel := triggers.Selection{Exclude: []string{"sku_sales"}}
		r, err := triggers.Install(t.Context(), db, triggers.Options{Selection: &sel, Counters: map[string][]string{"stock": {"qty"}}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Tables[len(r.Tables)-1].Name != "stock" || strings.Join(r.Tables[len(r.Tables)-1].Counters, ",") != "qty" {
			t.Fatalf("install does not report the counter: %+v", r.Tables)
		}
		nodes = append(nodes, db)
	}
	nodes[0].MustExec(`INSERT INTO stock VALUES ('apple', 100)`)
	for _, other := range nodes[1:] {
		sync(t, nodes[0], other)
	}
	return nodes
}

func qty(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var q string
	if err := db.Get(&q, `SELECT quote(qty) FROM stock WHERE sku = 'apple'`); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestCounterSales is the point-of-sale case: three nodes each sell 1, 2
// and 3 apples from 100 through the application's trigger (skipped on
// apply: its origin logged the decrement), and every pair syncs twice:
// every node has 94, and one audit row per sale.
func TestCounterSales(t *testing.T) {
	nodes := counterShop(t, 3)
	for i, db := range nodes {
		db.MustExec(fmt.Sprintf(`INSERT INTO sale VALUES ('s%d', 'apple', %d)`, i, i+1))
	}
	var ops []string
	for _, c := range testutil.Changes(t, nodes[1]) {
		if c.Table == "stock" && c.Origin != c.IncarnationNode {
			ops = append(ops, string(c.Op)+" "+fmt.Sprint(c.Set))
		}
	}
	if got := strings.Join(ops, "; "); got != `A [{qty i:-2}]` {
		t.Errorf("node 1 logged %s for its sale, want one delta (op A) of -2", got)
	}
	for range 2 {
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				sync(t, nodes[i], nodes[j])
			}
		}
	}
	for i, db := range nodes {
		var audits int
		db.Get(&audits, `SELECT count(*) FROM audit`)
		if q := qty(t, db); q != "94" || audits != 3 {
			t.Errorf("node %d: qty %s, %d audit rows; want 94 and 3", i, q, audits)
		}
	}
}

// TestCounterDeliveryOrders: node 0 learns the three nodes' deltas in
// every order, in batches of one, with everything delivered again.
func TestCounterDeliveryOrders(t *testing.T) {
	for _, order := range [][]int{{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}} {
		nodes := counterShop(t, 4)
		nodes[1].MustExec(`UPDATE stock SET qty = qty - 3`)
		nodes[2].MustExec(`UPDATE stock SET qty = qty - 2; UPDATE stock SET qty = qty + 5`)
		nodes[3].MustExec(`UPDATE stock SET qty = 50`) // set outright: -50 from the 100 it saw
		for range 2 {
			for _, i := range order {
				if _, err := shipper.Pull(t.Context(), nodes[0], &shipper.File{DB: nodes[i]}, 1, applier.Options{}); err != nil {
					t.Fatal(err)
				}
			}
			nodes[0].MustExec(`UPDATE _trigsync_peers SET pulled_seq = 0`) // redeliver everything
		}
		if q := qty(t, nodes[0]); q != "50" {
			t.Fatalf("order %v: qty %s, want 100-3-2+5-50 = 50", order, q)
		}
	}
}

// TestCounterMixedUpdate: an UPDATE of a counter and another column logs
// a delta (A) and an update (U); the other column stays last-write-wins.
func TestCounterMixedUpdate(t *testing.T) {
	a, b := counterNotes(t, nil), counterNotes(t, nil)
	a.MustExec(`INSERT INTO note VALUES ('n', 'x', 10)`)
	sync(t, a, b)
	a.MustExec(`UPDATE note SET n = n + 1, body = 'from a'`)
	b.MustExec(`UPDATE note SET n = n + 2, body = 'from b'`)
	var ops []string
	for _, c := range testutil.Changes(t, b) {
		ops = append(ops, string(c.Op))
	}
	if got := strings.Join(ops, ""); got != "IUA" && got != "IAU" {
		t.Errorf("b logged %s, want the insert, then an update and a delta", got)
	}
	sync(t, a, b)
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "integer:13") {
		t.Fatalf("after sync:\n%s\n---\n%s", da, db)
	}
	if _, err := a.Exec(`UPDATE note SET n = NULL`); err == nil || !strings.Contains(err.Error(), `"note"."n" is a counter column`) {
		t.Errorf("setting a counter to NULL: %v, want it refused naming the column", err)
	}
	if _, err := a.Exec(`UPDATE note SET n = 'many'`); err == nil {
		t.Errorf("setting a counter to text was not refused")
	}
}

// counterNotes makes a node of a note table, counting note.n when
// counters is nil.
func counterNotes(t *testing.T, counters map[string][]string) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER)`)
	if counters == nil {
		counters = map[string][]string{"note": {"n"}}
	}
	if _, err := triggers.Install(t.Context(), db, triggers.Options{Counters: counters}); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestCounterRefusals: a column that cannot count is refused, naming it
// and why; install remembers the counters it was given.
func TestCounterRefusals(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER, r REAL, x NUMERIC, blob)`)
	for _, tc := range []struct{ table, column, want string }{
		{"note", "body", `"note"."body" is declared "TEXT" (TEXT affinity); a counter needs a numeric column`},
		{"note", "blob", `"note"."blob" is declared "" (BLOB affinity)`},
		{"note", "id", `"note"."id" is part of the primary key`},
		{"note", "nosuch", `"note" has no column "nosuch"`},
		{"other", "n", `"other" is not a replicated table`},
	} {
		_, err := triggers.Install(t.Context(), db, triggers.Options{Counters: map[string][]string{tc.table: {tc.column}}})
		if !errors.Is(err, triggers.ErrCounter) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--counter %s.%s: %v, want ErrCounter saying %s", tc.table, tc.column, err, tc.want)
		}
	}
	if _, err := triggers.Install(t.Context(), db, triggers.Options{Counters: map[string][]string{"NOTE": {"N", "r"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := triggers.Install(t.Context(), db, triggers.Options{Counters: map[string][]string{"note": {"x"}}})
	if err != nil || strings.Join(r.Tables[0].Counters, ",") != "n,r,x" {
		t.Fatalf("counters after two installs: %v %v, want n,r,x remembered", r.Tables, err)
	}
	if r, _ := triggers.Install(t.Context(), db, triggers.Options{}); len(r.Statements) != 0 {
		t.Errorf("an install with nothing new regenerated %d statements", len(r.Statements))
	}
}

// TestCounterAbsoluteUpdateHeld: a node that does not count note.n (an
// older trigsync, or install --counter missing there) sends an absolute
// update of it: a counting node holds it, naming the column, the origin
// and the fix, and applies nothing of it; its deltas wait on the other
// node until that one counts too.
func TestCounterAbsoluteUpdateHeld(t *testing.T) {
	a, b := counterNotes(t, nil), counterNotes(t, map[string][]string{})
	a.MustExec(`INSERT INTO note VALUES ('n', 'x', 10)`)
	sync(t, a, b)
	bID, _ := changelog.NodeID(t.Context(), b)
	b.MustExec(`UPDATE note SET n = 7, body = 'y'`) // one U row: b does not count n
	a.MustExec(`UPDATE note SET n = n - 1`)
	s := sync(t, a, b)
	if s.Received.Held != 1 || s.Sent.Held != 1 {
		t.Fatalf("sync: %+v, want one change held each way", s)
	}
	cs, err := applier.Conflicts(t.Context(), a)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts on a: %v %v", cs, err)
	}
	for _, want := range []string{`absolute update of "note"."n"`, "from node " + bID, "install --counter note.n", "SET COUNTER", "--discard"} {
		if !strings.Contains(cs[0].Error, want) {
			t.Errorf("conflict on a says %q; want it to name %q", cs[0].Error, want)
		}
	}
	if !strings.Contains(string(cs[0].Change), `"n":"i:7"`) {
		t.Errorf("the held change lost its value: %s", cs[0].Change)
	}
	if got := testutil.Dump(t, a); !strings.Contains(got, "9") || strings.Contains(got, "'y'") {
		t.Errorf("a applied part of the held change:\n%s", got)
	}
	cs, _ = applier.Conflicts(t.Context(), b)
	if len(cs) != 1 || !strings.Contains(cs[0].Error, "install --counter note.n") {
		t.Fatalf("conflicts on b: %+v", cs)
	}
	// b counts from now on: a's delta applies there at the next exchange.
	if _, err := triggers.Install(t.Context(), b, triggers.Options{Counters: map[string][]string{"note": {"n"}}}); err != nil {
		t.Fatal(err)
	}
	sync(t, a, b)
	if q := testutil.Dump(t, b); !strings.Contains(q, "6") {
		t.Errorf("b after counting: %s, want 7-1 = 6", q)
	}
}

// TestCounterThroughMigrate: a counter declared by a migration on one
// node reaches the others in order; deltas made after it count on all.
func TestCounterThroughMigrate(t *testing.T) {
	a, b := counterNotes(t, map[string][]string{}), counterNotes(t, map[string][]string{})
	a.MustExec(`INSERT INTO note VALUES ('n', 'x', 10)`)
	sync(t, a, b)
	if _, err := applier.Migrate(t.Context(), a, `ALTER TABLE note ALTER COLUMN body SET COUNTER`, applier.MigrateOptions{}); err == nil ||
		!strings.Contains(err.Error(), "numeric") {
		t.Fatalf("a migration making a TEXT column a counter: %v", err)
	}
	if _, err := applier.Migrate(t.Context(), a, `ALTER TABLE note ALTER COLUMN n SET COUNTER`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.MustExec(`UPDATE note SET n = n - 3`)
	sync(t, a, b)
	b.MustExec(`UPDATE note SET n = n - 2`)
	a.MustExec(`UPDATE note SET n = n - 1`)
	sync(t, a, b)
	for _, db := range []*sqlx.DB{a, b} {
		st, err := triggers.Inspect(t.Context(), db)
		if err != nil || strings.Join(st.Tables[0].Counters, ",") != "n" {
			t.Fatalf("inspect: %+v %v", st.Tables, err)
		}
		if got := testutil.Dump(t, db); !strings.Contains(got, "4") {
			t.Errorf("after the migration: %s, want 10-3-2-1 = 4", got)
		}
	}
	// A rename keeps the column a counter.
	if _, err := applier.Migrate(t.Context(), a, `ALTER TABLE note RENAME COLUMN n TO stock`, applier.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	sync(t, a, b)
	b.MustExec(`UPDATE note SET stock = stock + 6`)
	a.MustExec(`UPDATE note SET stock = stock + 10`)
	sync(t, a, b)
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "20") {
		t.Errorf("after the rename:\n%s\n---\n%s", da, db)
	}
}
