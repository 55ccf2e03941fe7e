package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStatusDoesNotWaitForWriters: while another client holds a write
// transaction open, `trigsync status` answers at once, as a reader in WAL
// mode does. Until 50f5c53 its "read" transaction was a BEGIN IMMEDIATE
// (every connection is opened with _txlock=immediate): status waited for
// any writer — an application's transaction, serve applying a large push —
// and failed with "database is locked" after the 10 s busy timeout.
func TestStatusDoesNotWaitForWriters(t *testing.T) {
	db := newReplicas(t, noteTable, "a")[0]
	writer := exec.Command(need(t, "sqlite3"), db, "BEGIN IMMEDIATE; INSERT INTO note VALUES ('w', 'held open', 1);", ".system sleep 5", "COMMIT;")
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	defer writer.Wait()
	defer writer.Process.Kill()
	waitFor(t, "the writer to hold the write lock", func() bool {
		out, err := exec.Command("sqlite3", db, "BEGIN IMMEDIATE; ROLLBACK;").CombinedOutput()
		return err != nil && strings.Contains(string(out), "locked")
	})
	start := time.Now()
	r := run(t, nil, binary, "status", "--json", db)
	if took := time.Since(start); r.code != 0 || took > 2*time.Second {
		t.Fatalf("status beside an open write transaction: exit %d after %v: %s", r.code, took.Round(time.Millisecond), r.stderr)
	}
}

// TestChangesPrintsUpToLimit: `trigsync changes --limit N` prints N
// changes when the log has that many, however large their values.
func TestChangesPrintsUpToLimit(t *testing.T) {
	db := newReplicas(t, noteTable, "a")[0]
	const rows = 10000 // 1 KB of text each: 10 MB
	shell(t, db, fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
		INSERT INTO note SELECT 'r-' || x, hex(randomblob(500)), x FROM i;`, rows))
	out := trigsync(t, "changes", "--json", "--limit", fmt.Sprint(rows), db)
	if n := strings.Count(out, "\n"); n != rows {
		t.Fatalf("changes --limit %d printed %d of the log's %d changes", rows, n, rows)
	}
}

// TestHandMadeDDLStopsShipping: after an ALTER TABLE made by hand, whose
// new column the triggers do not capture, sync refuses to ship (exit 3,
// naming the table and the way out) instead of shipping part of the
// writes; `trigsync install` records the new layout and the column
// replicates.
func TestHandMadeDDLStopsShipping(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, a, `ALTER TABLE note ADD COLUMN tag TEXT; INSERT INTO note VALUES ('1', 'x', 1, 'tagged by hand')`)
	shell(t, b, `ALTER TABLE note ADD COLUMN tag TEXT`)
	trigsync(t, "install", b)
	r := run(t, nil, binary, "sync", a, "--peer", b)
	if r.code != 3 || !strings.Contains(r.stderr, `"note" changed since install`) || !strings.Contains(r.stderr, "trigsync install") {
		t.Fatalf("sync after a hand-made ALTER: exit %d: %s", r.code, r.stderr)
	}
	if got := shell(t, b, `SELECT count(*) FROM note`); got != "0\n" {
		t.Fatalf("b got %s rows from a drifted node", got)
	}
	trigsync(t, "install", a)
	shell(t, a, `UPDATE note SET tag = 'captured' WHERE id = '1'`)
	trigsync(t, "sync", a, "--peer", b)
	if got := shell(t, b, `SELECT id, tag FROM note`); got != "1|captured\n" {
		t.Fatalf("b has %q", got)
	}
}
