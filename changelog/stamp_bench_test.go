package changelog_test

import (
	"testing"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

// BenchmarkStamp measures the work capture leaves for later: stamping the
// rows the triggers wrote, 10,000 at a time. One op is one row.
func BenchmarkStamp(b *testing.B) {
	db, _ := testutil.NewDB(b, `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)`)
	if _, err := triggers.Install(b.Context(), db, triggers.Options{}); err != nil {
		b.Fatal(err)
	}
	const batch = 10_000
	id := 0
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		tx := db.MustBegin()
		for i := 0; i < batch; i++ {
			id++
			tx.MustExec(`INSERT INTO t VALUES (?, 'value')`, id)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tx = db.MustBegin()
		if _, err := changelog.Stamp(b.Context(), tx); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
