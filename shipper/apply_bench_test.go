package shipper_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

const benchSchema = `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL, note TEXT)`

func fillItems(b *testing.B, db *sqlx.DB, n int) {
	b.Helper()
	for start := 0; start < n; start += 10_000 {
		tx := db.MustBegin()
		stmt, err := tx.Prepare(`INSERT INTO item VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for i := start; i < min(start+10_000, n); i++ {
			stmt.Exec(fmt.Sprintf("01JD%022d", i), "a name", i, float64(i)/4, "a note")
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// peakHeap samples the heap while f runs and returns the greatest value.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	f()
	close(done)
	return peak.Load()
}

// BenchmarkApply pulls b.N row changes (inserts of 5-column rows, written
// in transactions of 10,000) from one node to another, and inserts the same
// rows into a plain table in the same run. One op is one row change.
func BenchmarkApply(b *testing.B) { benchApply(b) }

// BenchmarkApplyAppTrigger is BenchmarkApply on a table that carries an
// application trigger the applier skips (a check: on the plain table it
// runs): what keeping it from running on apply costs.
func BenchmarkApplyAppTrigger(b *testing.B) {
	benchApply(b, `CREATE TRIGGER item_check BEFORE INSERT ON item WHEN NEW.qty < 0 BEGIN SELECT RAISE(ABORT, 'qty < 0'); END`)
}

func benchApply(b *testing.B, ddl ...string) {
	src, _ := testutil.NewDB(b, append([]string{benchSchema}, ddl...)...)
	dst, _ := testutil.NewDB(b, append([]string{benchSchema}, ddl...)...)
	plain, _ := testutil.NewDB(b, append([]string{benchSchema}, ddl...)...)
	for _, db := range []*sqlx.DB{src, dst} {
		if _, err := triggers.Install(b.Context(), db, triggers.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, db := range []*sqlx.DB{src, dst, plain} {
		db.MustExec(`PRAGMA synchronous = NORMAL`)
	}
	fillItems(b, src, b.N)
	if err := shipper.Prepare(b.Context(), src); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	t0 := time.Now()
	fillItems(b, plain, b.N)
	plainTook := time.Since(t0)
	var res applier.Result
	var err error
	t1 := time.Now()
	peak := peakHeap(func() {
		res, err = shipper.Pull(b.Context(), dst, &shipper.File{DB: src}, shipper.DefaultChunkRows, applier.Options{})
	})
	applyTook := time.Since(t1)
	b.StopTimer()
	if err != nil || res.Applied != b.N {
		b.Fatalf("applied %d of %d: %v", res.Applied, b.N, err)
	}
	b.ReportMetric(float64(plainTook.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(applyTook.Nanoseconds())/float64(b.N), "trigsync-ns/op")
	b.ReportMetric(float64(plainTook)/float64(applyTook), "ratio")
	b.ReportMetric(float64(b.N)/applyTook.Seconds(), "changes/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkApplyCounter pulls b.N deltas of a counter column (install
// --counter item.qty; sales decrementing 1,000 rows that both nodes held
// before install) and runs the same UPDATEs on a plain table in the same
// run. One op is one delta.
func BenchmarkApplyCounter(b *testing.B) {
	var dbs []*sqlx.DB
	for range 3 {
		db, _ := testutil.NewDB(b, benchSchema)
		db.MustExec(`PRAGMA synchronous = NORMAL`)
		fillItems(b, db, 1000)
		dbs = append(dbs, db)
	}
	src, dst, plain := dbs[0], dbs[1], dbs[2]
	for _, db := range []*sqlx.DB{src, dst} {
		if _, err := triggers.Install(b.Context(), db, triggers.Options{Counters: map[string][]string{"item": {"qty"}}}); err != nil {
			b.Fatal(err)
		}
	}
	sell := func(db *sqlx.DB) {
		for start := 0; start < b.N; start += 10_000 {
			tx := db.MustBegin()
			stmt, err := tx.Prepare(`UPDATE item SET qty = qty - 1 WHERE id = ?`)
			if err != nil {
				b.Fatal(err)
			}
			for i := start; i < min(start+10_000, b.N); i++ {
				stmt.Exec(fmt.Sprintf("01JD%022d", i%1000))
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	sell(src)
	if err := shipper.Prepare(b.Context(), src); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	t0 := time.Now()
	sell(plain)
	plainTook := time.Since(t0)
	t1 := time.Now()
	res, err := shipper.Pull(b.Context(), dst, &shipper.File{DB: src}, shipper.DefaultChunkRows, applier.Options{})
	applyTook := time.Since(t1)
	b.StopTimer()
	if err != nil || res.Applied != b.N {
		b.Fatalf("applied %d of %d: %v", res.Applied, b.N, err)
	}
	var a, p int64
	dst.Get(&a, `SELECT sum(qty) FROM item`)
	plain.Get(&p, `SELECT sum(qty) FROM item`)
	if a != p {
		b.Fatalf("sum of qty %d after apply, %d on the plain table", a, p)
	}
	b.ReportMetric(float64(plainTook.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(applyTook.Nanoseconds())/float64(b.N), "trigsync-ns/op")
	b.ReportMetric(float64(plainTook)/float64(applyTook), "ratio")
	b.ReportMetric(float64(b.N)/applyTook.Seconds(), "changes/s")
}
