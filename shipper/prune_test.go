package shipper_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
)

func prune(t *testing.T, db *sqlx.DB, retention time.Duration) applier.Pruned {
	t.Helper()
	tx := db.MustBeginTx(t.Context(), nil)
	defer tx.Rollback()
	p, err := applier.Prune(t.Context(), tx, retention, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return p
}

func count(t testing.TB, db *sqlx.DB, query string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, query); err != nil {
		t.Fatal(err)
	}
	return n
}

// copyNode makes a new node from a consistent copy of db.
func copyNode(t *testing.T, db *sqlx.DB) *sqlx.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	db.MustExec(`VACUUM INTO ?`, path)
	c, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tx := c.MustBeginTx(t.Context(), nil)
	if _, _, err := changelog.ResetNodeID(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPrune: the log keeps what a known peer has not acknowledged and what
// is younger than the retention; pruning removes the tombstones of pruned
// deletes; a node lacking pruned history is told to re-clone, one that has
// it goes on; seqs are never given twice.
func TestPrune(t *testing.T) {
	a := node(t)
	a.MustExec(`INSERT INTO item VALUES ('1', 'apple', 1, NULL), ('2', 'pear', 2, NULL), ('3', 'plum', 3, NULL)`)
	a.MustExec(`DELETE FROM item WHERE id = '3'`)
	a.MustExec(`INSERT INTO item VALUES ('5', 'lime', 5, NULL)`) // the last row stays: not the delete
	if p := prune(t, a, 0); p.Rows != 0 {
		t.Fatalf("pruned %d rows with no peer known", p.Rows)
	}
	b := node(t)
	sync(t, a, b)
	sync(t, a, b) // a now knows b holds all of its log
	if p := prune(t, a, time.Hour); p.Rows != 0 {
		t.Fatalf("pruned %d rows younger than the retention", p.Rows)
	}
	tombstones := `SELECT count(*) FROM _trigsync_rows WHERE tomb_hlc IS NOT NULL`
	if n := count(t, a, tombstones); n != 1 {
		t.Fatalf("%d tombstones before pruning", n)
	}
	last := count(t, a, `SELECT max(seq) FROM _trigsync_changelog`)
	p := prune(t, a, 0)
	if p.Rows != int64(last-1) || p.Tombstones != 1 || p.Through != int64(last-1) {
		t.Fatalf("pruned %+v of %d rows", p, last)
	}
	if n := count(t, a, tombstones); n != 0 {
		t.Fatalf("%d tombstones after pruning", n)
	}
	a.MustExec(`INSERT INTO item VALUES ('4', 'fig', 4, NULL)`)
	if seq := count(t, a, `SELECT max(seq) FROM _trigsync_changelog`); seq != last+1 {
		t.Fatalf("new row got seq %d after %d", seq, last)
	}

	// b goes on from its cursor; a node made before the pruning, whose
	// cursor is behind it but which holds everything, goes on too.
	early := copyNode(t, b)
	early.MustExec(`DELETE FROM _trigsync_peers`)
	sync(t, a, b)
	sync(t, early, a)
	// A new node lacks the pruned history: it must be cloned.
	c := node(t)
	_, err := shipper.Sync(t.Context(), c, a, applier.Options{})
	if !errors.Is(err, shipper.ErrRecloneNeeded) || !strings.Contains(err.Error(), "trigsync clone") {
		t.Fatalf("a new node pulled pruned history: %v", err)
	}
	if da, db, de := testutil.Dump(t, a), testutil.Dump(t, b), testutil.Dump(t, early); da != db || da != de {
		t.Fatalf("nodes differ:\n%s\n%s\n%s", da, db, de)
	}
}

// failingSource fails its reads after the first n.
type failingSource struct {
	*shipper.File
	n int
}

func (f *failingSource) ReadChunk(ctx context.Context, peer string, after, acked int64, limit int) (shipper.Chunk, error) {
	if f.n--; f.n < 0 {
		return shipper.Chunk{Through: after}, errors.New("the network went away")
	}
	return f.File.ReadChunk(ctx, peer, after, acked, limit)
}

// TestAcknowledgesOnlyWhatIsCommitted: a reader that reads ahead within an
// epoch acknowledges only what it committed, so that GC never prunes what a
// failed pull did not keep.
func TestAcknowledgesOnlyWhatIsCommitted(t *testing.T) {
	a, b := node(t), node(t)
	a.MustExec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
		INSERT INTO item SELECT i, 'one epoch', i, NULL FROM n`)
	_, err := shipper.Pull(t.Context(), b, &failingSource{File: &shipper.File{DB: a}, n: 3}, 2, applier.Options{})
	if err == nil {
		t.Fatal("the pull did not fail")
	}
	if n := count(t, a, `SELECT ifnull(max(acked_seq), 0) FROM _trigsync_peers`); n != 0 {
		t.Fatalf("a failed pull acknowledged seq %d", n)
	}
	if _, err := shipper.Pull(t.Context(), b, &shipper.File{DB: a}, 2, applier.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, `SELECT max(acked_seq) FROM _trigsync_peers`); n != 10 {
		t.Fatalf("acknowledged seq %d after a full pull of 10", n)
	}
}

// TestPruneDeviceExpiry: a device not seen for longer than the expiry no
// longer holds back GC, one seen since does, and a peer this node dials
// (a URL) never expires; the departed device, back, meets the pruned
// history.
func TestPruneDeviceExpiry(t *testing.T) {
	hub, fresh, gone := node(t), node(t), node(t)
	hub.MustExec(`INSERT INTO item VALUES ('1', 'apple', 1, NULL)`)
	sync(t, hub, fresh)
	sync(t, hub, gone)
	sync(t, hub, gone) // the hub knows gone holds its log
	held := int64(count(t, hub, `SELECT max(seq) FROM _trigsync_changelog`))
	goneID, err := changelog.NodeID(t.Context(), gone)
	if err != nil {
		t.Fatal(err)
	}
	// gone was last seen 40 days ago; the hub moves on with fresh.
	hub.MustExec(`UPDATE _trigsync_peers SET last_success = ?
		WHERE node = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)`, time.Now().Add(-40*24*time.Hour).UnixMilli(), goneID)
	hub.MustExec(`INSERT INTO item VALUES ('2', 'pear', 2, NULL), ('3', 'plum', 3, NULL)`)
	fresh.MustExec(`INSERT INTO item VALUES ('4', 'fig', 4, NULL)`)
	sync(t, hub, fresh)
	sync(t, hub, fresh)
	pruneWith := func(expiry time.Duration) applier.Pruned {
		t.Helper()
		tx := hub.MustBeginTx(t.Context(), nil)
		defer tx.Rollback()
		p, err := applier.Prune(t.Context(), tx, 0, expiry, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := pruneWith(0); p.Through > held || p.Expired != 0 {
		t.Fatalf("without expiry, pruned %+v past the departed device's %d", p, held)
	}
	// A peer this node dials is held however long it stays away.
	hub.MustExec(`UPDATE _trigsync_peers SET url = 'http://127.0.0.1:1'
		WHERE node = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)`, goneID)
	if p := pruneWith(30 * 24 * time.Hour); p.Through > held || p.Expired != 0 {
		t.Fatalf("pruned %+v past a dialled peer's %d", p, held)
	}
	hub.MustExec(`UPDATE _trigsync_peers SET url = NULL`)
	last := int64(count(t, hub, `SELECT max(seq) FROM _trigsync_changelog`))
	if p := pruneWith(30 * 24 * time.Hour); p.Through != last-1 || p.Expired != 1 {
		t.Fatalf("with the device expired: pruned %+v, want through %d with 1 expired", p, last-1)
	}
	// Still known, shown as expired; back, it lacks the pruned history.
	if n := count(t, hub, `SELECT count(*) FROM _trigsync_peers`); n != 2 {
		t.Fatalf("%d peers known after GC", n)
	}
	if _, err := shipper.Sync(t.Context(), gone, hub, applier.Options{}); !errors.Is(err, shipper.ErrRecloneNeeded) {
		t.Fatalf("the departed device synced past the horizon: %v", err)
	}
}
