package restore_test

import (
	"errors"
	"testing"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/triggers"
)

// TestCheck: what a peer saw either is in the log, or the node was
// restored; pruned history and knowledge without stamps are no evidence.
func TestCheck(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE kv(k TEXT PRIMARY KEY, v)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO kv VALUES ('a', 1), ('b', 2)`)
	tx := db.MustBeginTx(t.Context(), nil)
	if err := applier.Integrate(t.Context(), tx, nil); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	db.MustExec(`INSERT INTO kv VALUES ('c', 3)`) // not stamped yet
	var s1, s2 int64
	db.Get(&s1, `SELECT hlc FROM _trigsync_changelog WHERE seq = 1`)
	db.Get(&s2, `SELECT hlc FROM _trigsync_changelog WHERE seq = 2`)
	for _, tc := range []struct {
		name     string
		k        restore.Knowledge
		restored bool
	}{
		{"nothing known", restore.Knowledge{}, false},
		{"the row at the cursor, its stamp", restore.Knowledge{LogSeq: 2, LogHLC: hlc.Timestamp(s2)}, false},
		{"a cursor without a stamp (an older peer)", restore.Knowledge{LogSeq: 2}, false},
		{"own change with its stamp", restore.Knowledge{OwnSeq: 1, OwnHLC: hlc.Timestamp(s1)}, false},
		{"a cursor past the log's end", restore.Knowledge{LogSeq: 9}, true},
		{"another stamp at the cursor", restore.Knowledge{LogSeq: 2, LogHLC: hlc.Timestamp(s2 + 1)}, true},
		{"a row the peer read stamped, unstamped here", restore.Knowledge{LogSeq: 3, LogHLC: hlc.Timestamp(s2 + 5)}, true},
		{"an own change past the node's own", restore.Knowledge{OwnSeq: 7, OwnHLC: hlc.Timestamp(s2 + 9)}, true},
	} {
		err := restore.Check(t.Context(), db, "ffffffffffffffffffffffffffffffff", tc.k)
		if got := errors.Is(err, restore.ErrRestored); got != tc.restored || (err != nil && !got) {
			t.Errorf("%s: %v, want restored=%v", tc.name, err, tc.restored)
		}
	}
	// Pruned history holds no evidence either way.
	db.MustExec(`UPDATE _trigsync_meta SET value = 5 WHERE key = 'pruned_seq'`)
	if err := restore.Check(t.Context(), db, "ffffffffffffffffffffffffffffffff", restore.Knowledge{LogSeq: 4, OwnSeq: 4}); err != nil {
		t.Errorf("knowledge within pruned history: %v", err)
	}
}
