package verify_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
	"github.com/trigsync/trigsync/verify"
)

// node makes a database with ddl, trigsync installed on it.
func node(t *testing.T, ddl ...string) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, ddl...)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

const itemDDL = `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL, data BLOB, v)`

// fill inserts n rows into item.
func fill(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	db.MustExec(fmt.Sprintf(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)
		INSERT INTO item SELECT printf('k%%06d', i), 'name ' || i, i, i / 4.0, x'', i FROM c`, n))
}

func compare(t *testing.T, a, b *sqlx.DB, opts verify.Options) verify.Report {
	t.Helper()
	la, err := verify.NewDB(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := verify.NewDB(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := verify.Compare(t.Context(), la, lb, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// diffs renders the report's differences one a line.
func diffs(r verify.Report) string {
	var b strings.Builder
	for _, d := range r.Diffs {
		if d.Kind == "table" {
			fmt.Fprintf(&b, "%s: %s\n", d.Table, d.Problem)
			continue
		}
		key, _ := d.Key.MarshalJSON()
		local, _ := d.Local.MarshalJSON()
		peer, _ := d.Peer.MarshalJSON()
		fmt.Fprintf(&b, "%s %s %s %v %s %s\n", d.Table, key, d.Side, d.Columns, local, peer)
	}
	return b.String()
}

func TestEqualTables(t *testing.T) {
	a, b := node(t, itemDDL), node(t, itemDDL)
	fill(t, a, 5000)
	fill(t, b, 5000)
	r := compare(t, a, b, verify.Options{})
	if !r.Equal() || r.Tables != 1 || r.Rows != 5000 {
		t.Fatalf("report %+v\n%s", r, diffs(r))
	}
	// Only the table lists and the whole table's digests were asked for.
	if r.Requests != 2 {
		t.Errorf("%d requests, want 2", r.Requests)
	}
}

func TestOneChangedCell(t *testing.T) {
	a, b := node(t, itemDDL), node(t, itemDDL)
	fill(t, a, 20000)
	fill(t, b, 20000)
	b.MustExec(`UPDATE item SET qty = 7 WHERE id = 'k012345'`)
	r := compare(t, a, b, verify.Options{})
	want := `item {"id":"t:k012345"} both [qty] {"qty":"i:12345"} {"qty":"i:7"}` + "\n"
	if got := diffs(r); got != want || r.Differences != 1 {
		t.Fatalf("%d differences:\n%s\nwant\n%s", r.Differences, got, want)
	}
	if r.Requests > 12 {
		t.Errorf("%d requests for one difference in 20,000 rows", r.Requests)
	}
}

func TestTypesAndBits(t *testing.T) {
	a, b := node(t, itemDDL), node(t, itemDDL)
	for _, db := range []*sqlx.DB{a, b} {
		db.MustExec(`INSERT INTO item(id, v, price) VALUES ('int', 1, 0.0), ('real', 1, 0.0), ('text', 1, 0.0), ('neg0', 0.0, 0.0),
			('empty', NULL, 0.0), ('dt', '2024-01-01 00:00:00', 0.0)`)
	}
	b.MustExec(`UPDATE item SET v = 1.0 WHERE id = 'real'`)
	b.MustExec(`UPDATE item SET v = '1' WHERE id = 'text'`)
	b.MustExec(`UPDATE item SET v = -0.0 WHERE id = 'neg0'`)
	b.MustExec(`UPDATE item SET v = x'' WHERE id = 'empty'`)
	r := compare(t, a, b, verify.Options{})
	want := `item {"id":"t:empty"} both [v] {"v":null} {"v":"b:"}
item {"id":"t:neg0"} both [v] {"v":"r:0"} {"v":"r:-0"}
item {"id":"t:real"} both [v] {"v":"i:1"} {"v":"r:1"}
item {"id":"t:text"} both [v] {"v":"i:1"} {"v":"t:1"}
`
	if got := diffs(r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMissingRowEachSide(t *testing.T) {
	a, b := node(t, itemDDL), node(t, itemDDL)
	fill(t, a, 3000)
	fill(t, b, 3000)
	a.MustExec(`DELETE FROM item WHERE id = 'k000010'`)
	b.MustExec(`DELETE FROM item WHERE id IN ('k002999', 'k003000')`)
	b.MustExec(`INSERT INTO item(id) VALUES ('k000000')`)
	r := compare(t, a, b, verify.Options{})
	want := `item {"id":"t:k000000"} peer [] {} {}
item {"id":"t:k000010"} peer [] {} {}
item {"id":"t:k002999"} local [] {} {}
item {"id":"t:k003000"} local [] {} {}
`
	if got := diffs(sorted(r)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// sorted orders the report's differences by key, for comparison.
func sorted(r verify.Report) verify.Report {
	d := r.Diffs
	for i := 1; i < len(d); i++ {
		for j := i; j > 0; j-- {
			a, _ := d[j-1].Key.MarshalJSON()
			b, _ := d[j].Key.MarshalJSON()
			if string(a) <= string(b) {
				break
			}
			d[j-1], d[j] = d[j], d[j-1]
		}
	}
	return r
}

func TestTableOnOneSide(t *testing.T) {
	a := node(t, itemDDL, `CREATE TABLE extra(id TEXT PRIMARY KEY)`)
	b := node(t, itemDDL, `CREATE TABLE other(id TEXT PRIMARY KEY, x)`)
	r := compare(t, a, b, verify.Options{})
	want := "extra: replicated on the local side only\nother: replicated on the peer only\n"
	if got := diffs(r); got != want || r.Tables != 1 {
		t.Fatalf("tables compared %d; got\n%s\nwant\n%s", r.Tables, got, want)
	}
	// A table of different columns is a difference too.
	c := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT)`)
	if r := compare(t, a, c, verify.Options{Tables: []string{"item"}}); r.Differences != 1 || r.Diffs[0].Kind != "table" {
		t.Fatalf("%s", diffs(r))
	}
	if _, err := verify.Compare(t.Context(), mustDB(t, a), mustDB(t, b), verify.Options{Tables: []string{"nope"}}); err == nil {
		t.Fatal("an unknown table compared")
	}
}

func mustDB(t *testing.T, db *sqlx.DB) *verify.DB {
	t.Helper()
	d, err := verify.NewDB(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestColumnOrderDiffers(t *testing.T) {
	// Composite key, columns declared in another order, a DATETIME
	// column and a name that needs quoting.
	a := node(t, `CREATE TABLE "st""ock"(shop TEXT, product TEXT, "when" DATETIME, qty INTEGER, PRIMARY KEY (product, shop)) WITHOUT ROWID`)
	b := node(t, `CREATE TABLE "st""ock"(qty INTEGER, "when" DATETIME, product TEXT, shop TEXT, PRIMARY KEY (product, shop)) WITHOUT ROWID`)
	for _, db := range []*sqlx.DB{a, b} {
		db.MustExec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
			INSERT INTO "st""ock"(shop, product, "when", qty) SELECT 's' || (i % 7), 'p' || (i / 7), '2024-01-01 00:00:00', i FROM c`)
	}
	if r := compare(t, a, b, verify.Options{}); !r.Equal() {
		t.Fatalf("equal tables differ:\n%s", diffs(r))
	}
	b.MustExec(`UPDATE "st""ock" SET "when" = '2024-01-01 00:00:01' WHERE product = 'p100' AND shop = 's1'`)
	want := `st"ock {"product":"t:p100","shop":"t:s1"} both [when] {"when":"t:2024-01-01 00:00:00"} {"when":"t:2024-01-01 00:00:01"}` + "\n"
	if got := diffs(compare(t, a, b, verify.Options{})); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLimitCountsAll(t *testing.T) {
	a, b := node(t, itemDDL), node(t, itemDDL)
	fill(t, a, 5000)
	fill(t, b, 5000)
	b.MustExec(`UPDATE item SET name = 'changed' WHERE qty % 10 = 0`)
	r := compare(t, a, b, verify.Options{Limit: 5})
	if r.Differences != 500 || len(r.Diffs) != 5 {
		t.Fatalf("%d differences, %d listed; want 500 and 5", r.Differences, len(r.Diffs))
	}
	// Every row different: still exact.
	b.MustExec(`DELETE FROM item`)
	if r := compare(t, a, b, verify.Options{Limit: 1}); r.Differences != 5000 || r.Diffs[0].Side != "local" {
		t.Fatalf("%d differences; want 5000: %+v", r.Differences, r.Diffs)
	}
}
