package triggers_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/triggers"
)

// The capture benchmarks run every operation against two databases, one
// plain and one with trigsync installed, alternating in chunks within one
// run so that both see the same machine. They report the installed/plain
// throughput ratio; `make bench` collects it.

const (
	benchTable = `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL, note TEXT)`
	chunk      = 500 // operations per side before switching, and per transaction
)

type benchDB struct {
	name string
	db   *sqlx.DB
	took time.Duration
}

func benchDBs(b *testing.B, ddl ...string) []*benchDB {
	b.Helper()
	return benchDBsWith(b, triggers.Options{}, ddl...)
}

// benchDBsWith is benchDBs installing with opts.
func benchDBsWith(b *testing.B, opts triggers.Options, ddl ...string) []*benchDB {
	b.Helper()
	ctx := context.Background()
	var out []*benchDB
	for _, name := range []string{"plain", "trigsync"} {
		db, err := sqlitedb.Create(ctx, filepath.Join(b.TempDir(), name+".db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		db.MustExec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;`)
		db.MustExec(benchTable)
		for _, s := range ddl {
			db.MustExec(s)
		}
		if name == "trigsync" {
			if _, err := triggers.Install(ctx, db, opts); err != nil {
				b.Fatal(err)
			}
		}
		out = append(out, &benchDB{name: name, db: db})
	}
	return out
}

// run calls op(tx, i) for i in [0, n) on each database, a chunk at a time,
// and reports the ratio of their throughputs.
func run(b *testing.B, dbs []*benchDB, n int, op func(tx *sql.Tx, stmt *sql.Stmt, i int) error, prep string) {
	b.Helper()
	ctx := context.Background()
	b.ResetTimer()
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		for _, d := range dbs {
			t0 := time.Now()
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			var stmt *sql.Stmt
			if prep != "" {
				if stmt, err = tx.Prepare(prep); err != nil {
					b.Fatal(err)
				}
			}
			for i := start; i < end; i++ {
				if err := op(tx, stmt, i); err != nil {
					b.Fatalf("%s: %v", d.name, err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			d.took += time.Since(t0)
		}
	}
	b.StopTimer()
	plain, installed := dbs[0].took, dbs[1].took
	b.ReportMetric(float64(plain.Nanoseconds())/float64(n), "plain-ns/op")
	b.ReportMetric(float64(installed.Nanoseconds())/float64(n), "trigsync-ns/op")
	b.ReportMetric(float64(plain)/float64(installed), "ratio")
}

func fill(b *testing.B, dbs []*benchDB, n int) {
	b.Helper()
	for _, d := range dbs {
		tx := d.db.MustBegin()
		for i := 0; i < n; i++ {
			tx.MustExec(`INSERT INTO item VALUES (?, ?, ?, ?, ?)`, key(i), "name", i, 1.5, "note")
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func key(i int) string { return fmt.Sprintf("01JD%022d", i) }

func BenchmarkCaptureInsert(b *testing.B) {
	dbs := benchDBs(b)
	run(b, dbs, b.N, func(_ *sql.Tx, s *sql.Stmt, i int) error {
		_, err := s.Exec(key(i), "a name", i, float64(i)/3, "a note")
		return err
	}, `INSERT INTO item(id, name, qty, price, note) VALUES (?, ?, ?, ?, ?)`)
}

// BenchmarkCaptureInsertAppTrigger is BenchmarkCaptureInsert on a table
// that carries an application trigger (a stock decrement into a second
// table, on both sides): what making it skip on apply costs local writes.
func BenchmarkCaptureInsertAppTrigger(b *testing.B) {
	dbs := benchDBs(b, `CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL)`,
		`INSERT INTO stock VALUES ('name', 1000000000)`,
		`CREATE TRIGGER dec AFTER INSERT ON item BEGIN UPDATE stock SET qty = qty - NEW.qty WHERE sku = NEW.name; END`)
	run(b, dbs, b.N, func(_ *sql.Tx, s *sql.Stmt, i int) error {
		_, err := s.Exec(key(i), "name", i%7, float64(i)/3, "a note")
		return err
	}, `INSERT INTO item(id, name, qty, price, note) VALUES (?, ?, ?, ?, ?)`)
}

func BenchmarkCaptureUpdate(b *testing.B) {
	dbs := benchDBs(b)
	fill(b, dbs, b.N)
	run(b, dbs, b.N, func(_ *sql.Tx, s *sql.Stmt, i int) error {
		_, err := s.Exec(i+1, "changed", key(i))
		return err
	}, `UPDATE item SET qty = ?, note = ? WHERE id = ?`)
}

// BenchmarkCaptureUpdateCounter updates a counter column (install
// --counter item.qty): a sale's decrement, logged as a delta (op A).
func BenchmarkCaptureUpdateCounter(b *testing.B) {
	dbs := benchDBsWith(b, triggers.Options{Counters: map[string][]string{"item": {"qty"}}})
	fill(b, dbs, b.N)
	run(b, dbs, b.N, func(_ *sql.Tx, s *sql.Stmt, i int) error {
		_, err := s.Exec(1+i%3, key(i))
		return err
	}, `UPDATE item SET qty = qty - ? WHERE id = ?`)
}

func BenchmarkCaptureDelete(b *testing.B) {
	dbs := benchDBs(b)
	fill(b, dbs, b.N)
	run(b, dbs, b.N, func(_ *sql.Tx, s *sql.Stmt, i int) error {
		_, err := s.Exec(key(i))
		return err
	}, `DELETE FROM item WHERE id = ?`)
}

// BenchmarkCaptureScript runs unprepared SQL text, as a shell script or an
// ORM without a statement cache does: every statement, and so every trigger
// it fires, is compiled again. One op is one statement.
func BenchmarkCaptureScript(b *testing.B) {
	dbs := benchDBs(b)
	run(b, dbs, b.N, func(tx *sql.Tx, _ *sql.Stmt, i int) error {
		var s strings.Builder
		fmt.Fprintf(&s, "INSERT INTO item VALUES ('%s', 'name %d', %d, %d.5, 'note');", key(i), i, i, i)
		if i%2 == 1 {
			fmt.Fprintf(&s, "UPDATE item SET qty = qty + 1, note = 'x' WHERE id = '%s';", key(i-1))
		}
		_, err := tx.Exec(s.String())
		return err
	}, "")
}
