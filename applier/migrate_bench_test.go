package applier_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// BenchmarkMigrateAddColumn times ADD COLUMN on a table of 100k and 1M rows:
// plain SQLite's ALTER TABLE against `trigsync migrate` of the same
// statement (which also integrates the log, logs the schema version and
// makes the triggers anew), alternating, on identical databases. Each
// iteration adds a column on both sides; run it with a small -benchtime
// (`make bench` uses 10x): a table holds at most 2,000 columns.
func BenchmarkMigrateAddColumn(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			ctx := context.Background()
			plain, trigsync := benchTable(b, rows, false), benchTable(b, rows, true)
			var plainTook, trigsyncTook time.Duration
			b.ResetTimer()
			for i := range b.N {
				stmt := fmt.Sprintf(`ALTER TABLE item ADD COLUMN c%d TEXT DEFAULT 'x'`, i)
				t0 := time.Now()
				plain.MustExec(stmt)
				t1 := time.Now()
				if _, err := applier.Migrate(ctx, trigsync, stmt, applier.MigrateOptions{}); err != nil {
					b.Fatal(err)
				}
				plainTook, trigsyncTook = plainTook+t1.Sub(t0), trigsyncTook+time.Since(t1)
			}
			b.StopTimer()
			b.ReportMetric(float64(plainTook.Nanoseconds())/float64(b.N), "plain-ns/op")
			b.ReportMetric(float64(trigsyncTook.Nanoseconds())/float64(b.N), "trigsync-ns/op")
			b.ReportMetric(float64(plainTook)/float64(trigsyncTook), "ratio")
		})
	}
}

// benchTable makes a database with rows rows in item; installed, it has
// trigsync's triggers and merge state for the 1% of rows updated since.
func benchTable(b *testing.B, rows int, installed bool) *sqlx.DB {
	b.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Create(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.MustExec(`PRAGMA journal_mode=WAL`)
	db.MustExec(itemDDL)
	db.MustExec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO item SELECT i, 'part ' || i, i FROM n`, rows)
	if installed {
		if _, err := triggers.Install(ctx, db, triggers.Options{}); err != nil {
			b.Fatal(err)
		}
		db.MustExec(`UPDATE item SET qty = qty + 1 WHERE id % 100 = 0`)
		if err := shipper.Prepare(ctx, db); err != nil {
			b.Fatal(err)
		}
	}
	return db
}
