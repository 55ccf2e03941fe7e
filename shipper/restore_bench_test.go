package shipper_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// healChanges is how far back the hub of BenchmarkHealRestore is restored.
const healChanges = 10_000

// BenchmarkHealRestore: a hub restored from a copy 10,000 of its own
// changes back (a device holds them); the device's next sync finds the
// restore, heals the hub and brings the 10,000 back. The baseline,
// measured in the same run, is a sync that brings 10,000 changes to a hub
// that never had them. One op is one of each.
func BenchmarkHealRestore(b *testing.B) {
	var healTook, plainTook time.Duration
	for range b.N {
		plainTook += timeSync(b, false)
		healTook += timeSync(b, true)
	}
	b.ReportMetric(float64(plainTook.Milliseconds())/float64(b.N), "baseline-ms")
	b.ReportMetric(float64(healTook.Milliseconds())/float64(b.N), "heal-ms")
	b.ReportMetric(float64(plainTook)/float64(healTook), "ratio")
}

// timeSync times the device's sync that brings healChanges changes to the
// hub: after a restore lost them, or to a hub that never had them.
func timeSync(b *testing.B, restored bool) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	hub := newRestorable(b)
	dev, _ := testutil.NewDB(b, schemaSQL)
	if _, err := triggers.Install(b.Context(), dev, triggers.Options{}); err != nil {
		b.Fatal(err)
	}
	write := hub.db
	if !restored {
		write = dev
	}
	copyPath := hub.backup()
	fill(b, write, healChanges)
	if _, err := shipper.Sync(b.Context(), dev, hub.db, applier.Options{}); err != nil {
		b.Fatal(err)
	}
	if restored {
		hub.restore(copyPath)
	} else {
		hub = newRestorable(b) // a hub without them
	}
	b.StartTimer()
	t0 := time.Now()
	_, err := shipper.Sync(b.Context(), dev, hub.db, applier.Options{})
	took := time.Since(t0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n := count(b, hub.db, `SELECT count(*) FROM item`); n != healChanges {
		b.Fatalf("the hub holds %d rows after the sync, want %d", n, healChanges)
	}
	return took
}

func fill(b *testing.B, db *sqlx.DB, n int) {
	tx := db.MustBegin()
	for i := range n {
		tx.MustExec(`INSERT INTO item(id, name, qty) VALUES (?, 'x', ?)`, fmt.Sprintf("r%06d", i), i)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
