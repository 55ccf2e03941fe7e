package changelog_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

func installed(t *testing.T) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id INTEGER PRIMARY KEY, v)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// writeAt appends a local row as the triggers do, with a chosen wall-clock
// reading: the clock set back, or far ahead.
func writeAt(t *testing.T, db *sqlx.DB, wall time.Time) {
	t.Helper()
	julian := float64(wall.UnixMilli())/86400000 + 2440587.5
	db.MustExec(`INSERT INTO _trigsync_changelog(hlc, tbl, op, v0, v1) VALUES (?, 1, 'I', 1, 1)`, julian)
}

func stamps(t *testing.T, db *sqlx.DB) []hlc.Timestamp {
	var out []hlc.Timestamp
	for _, c := range testutil.Changes(t, db) {
		out = append(out, c.HLC)
	}
	return out
}

func TestStampsNeverDecrease(t *testing.T) {
	db := installed(t)
	now := time.Now()
	writeAt(t, db, now)
	writeAt(t, db, now.Add(-time.Hour))           // the wall clock stepped back
	writeAt(t, db, now)                           // the same millisecond again
	writeAt(t, db, now.Add(100*365*24*time.Hour)) // a stamp far in the future
	writeAt(t, db, now)                           // after the future stamp, and in a later stamping round
	got := stamps(t, db)
	want := []hlc.Timestamp{hlc.FromTime(now), hlc.FromTime(now) + 1, hlc.FromTime(now) + 2}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("stamp %d: got %v want %v", i, got[i], w)
		}
	}
	future := hlc.FromTime(now.Add(100 * 365 * 24 * time.Hour))
	if got[3] != future || got[4] != future+1 {
		t.Errorf("after a future stamp the clock must go on from it: %v %v", got[3], got[4])
	}
	// Now agrees with the last stamp, and goes past unstamped rows too.
	if n, _ := changelog.Now(t.Context(), db); n != got[4] {
		t.Errorf("Now %v, last stamp %v", n, got[4])
	}
	writeAt(t, db, now)
	if n, _ := changelog.Now(t.Context(), db); n != got[4]+1 {
		t.Errorf("Now must count unstamped rows: %v", n)
	}
}

func TestStampCounterCarries(t *testing.T) {
	db := installed(t)
	tx := db.MustBegin()
	for i := 0; i < 70000; i++ { // more rows than the counter holds, in one statement's millisecond
		tx.MustExec(`INSERT INTO _trigsync_changelog(hlc, tbl, op, v0, v1) VALUES (?, 1, 'I', 1, 1)`, 1000.0/86400000+2440587.5)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := stamps(t, db)
	if got[0] != hlc.New(1000, 0) || got[65535] != hlc.New(1000, 65535) || got[65536] != hlc.New(1001, 0) {
		t.Fatalf("counter must carry into the physical part: %v %v %v", got[0], got[65535], got[65536])
	}
}

func TestMultiRowStatementStamps(t *testing.T) {
	db := installed(t)
	db.MustExec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO t SELECT i, i FROM n`)
	got := stamps(t, db)
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("one statement's rows share 'now' and count on: %v then %v", got[i-1], got[i])
		}
	}
	if d := time.Since(got[0].Time()); d < 0 || d > time.Minute {
		t.Fatalf("stamp %v is not the wall clock", got[0])
	}
}

// TestEpochsAreWholeTransactions: rows stamped together share an epoch, and
// a transaction never spans two.
func TestEpochsAreWholeTransactions(t *testing.T) {
	db := installed(t)
	db.MustExec(`INSERT INTO t VALUES (1, 1); INSERT INTO t VALUES (2, 2)`)
	tx := db.MustBegin()
	tx.MustExec(`INSERT INTO t VALUES (3, 3)`)
	tx.MustExec(`UPDATE t SET v = 30 WHERE id = 3`)
	tx.Commit()
	first := testutil.Changes(t, db)
	db.MustExec(`DELETE FROM t`)
	all := testutil.Changes(t, db)
	for _, c := range first {
		if c.Epoch != 1 {
			t.Fatalf("first round: epoch %d", c.Epoch)
		}
	}
	for _, c := range all[len(first):] {
		if c.Epoch != 2 {
			t.Fatalf("second round: epoch %d", c.Epoch)
		}
	}
	if len(all) != 7 {
		t.Fatalf("want 7 changes, got %d", len(all))
	}
}
