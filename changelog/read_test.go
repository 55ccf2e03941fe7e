package changelog_test

import (
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

// readCached stamps db's log and reads all of it through c.
func readCached(t *testing.T, db *sqlx.DB, c *changelog.ReaderCache) []changelog.Change {
	t.Helper()
	testutil.Changes(t, db) // stamps
	tx, err := db.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	r, err := c.Reader(t.Context(), tx)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.Read(t.Context(), tx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestReaderCache: a cached reader decodes what the log holds after the
// schema changed under it (a new table, whose columns widen the log) and
// after the node took a new id, as a fresh reader does.
func TestReaderCache(t *testing.T) {
	db := installed(t)
	var cache changelog.ReaderCache
	db.MustExec(`INSERT INTO t VALUES (1, 'a')`)
	if cs := readCached(t, db, &cache); len(cs) != 1 || cs[0].Table != "t" {
		t.Fatalf("first read: %+v", cs)
	}
	db.MustExec(`CREATE TABLE wide(id TEXT PRIMARY KEY, a, b, c, d, e)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO wide VALUES ('w', 1, 2, 3, 4, 5)`)
	cs := readCached(t, db, &cache)
	if len(cs) != 2 || cs[1].Table != "wide" || len(cs[1].Set) != 5 {
		t.Fatalf("after a wider table: %+v", cs)
	}
	tx := db.MustBegin()
	old, fresh, err := changelog.ResetNodeID(t.Context(), tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO t VALUES (2, 'b')`)
	cs = readCached(t, db, &cache)
	if len(cs) != 3 || cs[0].Origin != old || cs[2].Origin != fresh {
		t.Fatalf("after a new node id %s (was %s): %+v", fresh, old, cs)
	}
	for i, c := range testutil.Changes(t, db) {
		if c.Origin != cs[i].Origin || c.Table != cs[i].Table || len(c.Set) != len(cs[i].Set) {
			t.Fatalf("change %d: cached %+v, fresh %+v", i, cs[i], c)
		}
	}
}
