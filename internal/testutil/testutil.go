// Package testutil holds helpers shared by trigsync's tests: temporary
// databases, deterministic dumps and reading the decoded changelog.
package testutil

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/schema"
)

// NewDB creates a database file in a temporary directory, in WAL mode so
// that other processes can write beside the test, runs ddl on it and
// returns it with its path.
func NewDB(t testing.TB, ddl ...string) (*sqlx.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlitedb.Create(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`PRAGMA journal_mode=WAL`); err != nil {
		t.Fatal(err)
	}
	for _, s := range ddl {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%.80s: %v", s, err)
		}
	}
	return db, path
}

// Dump returns every row of the application's tables, sorted, with values
// rendered by quote() and typeof(): equal dumps mean equal data.
func Dump(t testing.TB, db sqlx.QueryerContext) string {
	t.Helper()
	ctx := context.Background()
	tables, err := schema.Tables(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		if tb.Kind != schema.KindTable || tb.Internal() || strings.HasPrefix(tb.Name, changelog.Prefix) {
			continue
		}
		var cols []string
		for _, c := range tb.Columns {
			q := schema.Quote(c.Name)
			cols = append(cols, "typeof("+q+")||':'||quote("+q+")")
		}
		var rows []string
		err := sqlx.SelectContext(ctx, db, &rows, "SELECT "+strings.Join(cols, "||','||")+
			" FROM "+schema.Quote(tb.Name)+" ORDER BY 1")
		if err != nil {
			t.Fatalf("dump %s: %v", tb.Name, err)
		}
		fmt.Fprintf(&b, "== %s (%d rows)\n%s\n", tb.Name, len(rows), strings.Join(rows, "\n"))
	}
	return b.String()
}

// Changes stamps the log and returns every change in it, decoded.
func Changes(t testing.TB, db *sqlx.DB) []changelog.Change {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := changelog.Stamp(ctx, tx); err != nil {
		t.Fatal(err)
	}
	r, err := changelog.NewReader(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	var cs []changelog.Change
	for after := int64(0); ; {
		more, err := r.Read(ctx, tx, after, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(more) == 0 {
			break
		}
		cs = append(cs, more...)
		after = more[len(more)-1].Seq
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return cs
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
