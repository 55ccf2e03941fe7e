package sqlitedb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache: the same SQL run again, inside a loop over its own
// rows, past the cache's size, across a schema change and in a
// transaction that rolls back gives what SQLite gives without a cache.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Create(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.MustExec(`CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	const q = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`
	// A query inside a loop over the same query's rows, on one connection.
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryxContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var outer, inner int
	for rows.Next() {
		outer++
		var n int
		if err := conn.GetContext(ctx, &n, `SELECT count(*) FROM (`+q+`)`, 2); err != nil {
			t.Fatal(err)
		}
		in, err := conn.QueryxContext(ctx, q, 3) // the busy statement's SQL: prepared afresh
		if err != nil {
			t.Fatal(err)
		}
		for in.Next() {
			inner++
		}
		in.Close()
	}
	rows.Close()
	conn.Close()
	if outer != 3 || inner != 3 {
		t.Fatalf("outer %d rows, inner %d; want 3 and 3", outer, inner)
	}
	// More distinct statements than the cache holds, each run twice.
	for round := range 2 {
		for i := range cachedStatements + 20 {
			var v string
			if err := db.GetContext(ctx, &v, fmt.Sprintf(`SELECT v FROM t WHERE id = ? AND %d = %d`, i, i), 1); err != nil || v != "a" {
				t.Fatalf("round %d, statement %d: %q, %v", round, i, v, err)
			}
		}
	}
	// A schema change: the cached statement sees the new column.
	db.MustExec(`ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'x'`)
	var cols []string
	r, err := db.QueryxContext(ctx, `SELECT * FROM t WHERE id = ?`, 1)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ = r.Columns()
	r.Close()
	if len(cols) != 3 {
		t.Fatalf("after ADD COLUMN: columns %v", cols)
	}
	// DDL in a transaction that rolls back, then a statement of the old schema.
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.MustExec(`ALTER TABLE t ADD COLUMN z TEXT`)
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pragma_table_info('t')`); err != nil || n != 4 {
		t.Fatalf("inside the transaction: %d columns, %v", n, err)
	}
	tx.Rollback()
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM pragma_table_info('t')`); err != nil || n != 3 {
		t.Fatalf("after the rollback: %d columns, %v", n, err)
	}
	// A prepared statement (database/sql's Prepare) and a failing one.
	st, err := db.PreparexContext(ctx, `SELECT v FROM t WHERE id = ?`)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{1: "a", 2: "b", 3: "c"} {
		var v string
		if err := st.GetContext(ctx, &v, id); err != nil || v != want {
			t.Fatalf("prepared, id %d: %q, %v", id, v, err)
		}
	}
	st.Close()
	if _, err := db.ExecContext(ctx, `SELECT nope FROM t`); err == nil {
		t.Fatal("a query of a missing column ran")
	}
}
