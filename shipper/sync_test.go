package shipper_test

import (
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

const schemaSQL = `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, qty INTEGER, data BLOB)`

func node(t *testing.T) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, schemaSQL)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

func sync(t *testing.T, a, b *sqlx.DB) shipper.Summary {
	t.Helper()
	s, err := shipper.Sync(t.Context(), a, b, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTwoNodes(t *testing.T) {
	a, b := node(t), node(t)
	a.MustExec(`INSERT INTO item VALUES ('1', 'apple', 1, x''), ('2', 'pear', 2, NULL)`)
	b.MustExec(`INSERT INTO item VALUES ('3', 'plum', 3, x'00')`)
	s := sync(t, a, b)
	if s.Sent.Applied != 2 || s.Received.Applied != 1 {
		t.Fatalf("summary %+v", s)
	}
	// Concurrent edits of different columns both survive; a delete wins.
	a.MustExec(`UPDATE item SET name = 'green apple' WHERE id = '1'`)
	b.MustExec(`UPDATE item SET qty = 10 WHERE id = '1'`)
	a.MustExec(`DELETE FROM item WHERE id = '3'`)
	b.MustExec(`UPDATE item SET qty = 30 WHERE id = '3'`)
	sync(t, a, b)
	sync(t, a, b) // nothing left: a no-op
	da, db := testutil.Dump(t, a), testutil.Dump(t, b)
	if da != db {
		t.Fatalf("nodes differ:\n%s\n---\n%s", da, db)
	}
	want := "== item (2 rows)\n" +
		"text:'1',text:'green apple',integer:10,blob:X''\n" +
		"text:'2',text:'pear',integer:2,null:NULL\n"
	if da != want {
		t.Fatalf("got\n%s\nwant\n%s", da, want)
	}
	// Nothing applied came back as a new local change.
	if s := sync(t, a, b); s.Sent.Applied+s.Received.Applied != 0 {
		t.Fatalf("changes ping-pong: %+v", s)
	}
}

// Two writers insert one primary key: the greater stamp holds the row on
// both nodes, and both record a notice.
func TestConcurrentInsertsOfOneKey(t *testing.T) {
	a, b := node(t), node(t)
	a.MustExec(`INSERT INTO item VALUES ('k', 'from a', 1, NULL)`)
	b.MustExec(`INSERT INTO item VALUES ('k', 'from b', 2, NULL)`)
	s := sync(t, a, b)
	if s.Sent.Conflicts != 1 || s.Received.Conflicts != 1 {
		t.Fatalf("want a notice on each node: %+v", s)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db {
		t.Fatalf("nodes differ:\n%s\n%s", da, db)
	}
}

// A delete racing an update wins; a re-insert made after seeing the delete
// brings the row back with its own values, and the racing update stays lost.
func TestDeleteRaceAndReinsert(t *testing.T) {
	a, b, c := node(t), node(t), node(t)
	a.MustExec(`INSERT INTO item VALUES ('k', 'original', 1, NULL)`)
	sync(t, a, b)
	sync(t, a, c)
	a.MustExec(`DELETE FROM item WHERE id = 'k'`)
	b.MustExec(`UPDATE item SET qty = 99 WHERE id = 'k'`)          // b has not seen the delete
	sync(t, a, c)                                                  // c sees the delete...
	c.MustExec(`INSERT INTO item VALUES ('k', 'reborn', 5, NULL)`) // ...and re-inserts
	for i := 0; i < 2; i++ {
		sync(t, a, b)
		sync(t, b, c)
		sync(t, c, a)
	}
	want := "== item (1 rows)\ntext:'k',text:'reborn',integer:5,null:NULL\n"
	for _, n := range []*sqlx.DB{a, b, c} {
		if got := testutil.Dump(t, n); got != want {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	}
}

// TestChunksBoundedByBytes: a chunk stops after the row whose values pass
// changelog.ReadBytes, without claiming an epoch ends there, and large
// blobs still arrive whole, in one transaction.
func TestChunksBoundedByBytes(t *testing.T) {
	a, b := node(t), node(t)
	a.MustExec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5)
		INSERT INTO item SELECT i, 'big', i, randomblob(5 << 20) FROM n`)
	if err := shipper.Prepare(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	ch, err := shipper.ReadChunk(t.Context(), a, "", 0, shipper.DefaultChunkRows)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changes) != 2 || ch.EpochEnd {
		t.Fatalf("chunk of %d changes, epoch end %v", len(ch.Changes), ch.EpochEnd)
	}
	if s := sync(t, a, b); s.Sent.Applied != 5 {
		t.Fatalf("summary %+v", s)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db {
		t.Fatal("nodes differ")
	}
}
