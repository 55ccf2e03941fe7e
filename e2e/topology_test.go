package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHubAndTwoDevices: a hub runs serve and two devices sync with it from
// cron (one `trigsync sync` per round, the token in TRIGSYNC_TOKEN). A
// device's insert and update reach the other device through the hub;
// concurrent edits of different columns of one row on the two devices
// both survive; and nothing comes back to where it came from: after many
// rounds every log (hub's and devices') holds each change exactly once,
// so a device's own changes are never echoed into its log.
func TestHubAndTwoDevices(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "device-a", "device-b")
	hub, devA, devB := nodes[0], nodes[1], nodes[2]
	url := startServe(t, hub, "hub-token")
	syncDevice := func(dev string) string {
		t.Helper()
		r := run(t, []string{"TRIGSYNC_TOKEN=hub-token"}, binary, "sync", dev, "--peer", url)
		if r.code != 0 {
			t.Fatalf("sync %s: exit %d\n%s%s", filepath.Base(dev), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	round := func() {
		t.Helper()
		syncDevice(devA)
		syncDevice(devB)
	}

	shell(t, devA, `INSERT INTO note VALUES ('a1', 'written on A', 1)`)
	round()
	if got := noteDump(t, devB); got != "'a1'|'written on A'|1\n" {
		t.Fatalf("A's insert on B: %q", got)
	}
	shell(t, devA, `UPDATE note SET body = 'edited on A' WHERE id = 'a1'`)
	round()
	if got := noteDump(t, devB); got != "'a1'|'edited on A'|1\n" {
		t.Fatalf("A's update on B: %q", got)
	}

	// The hub's own write reaches both; then both devices edit its row
	// while apart, each a different column.
	shell(t, hub, `INSERT INTO note VALUES ('shared', 'from the hub', 0)`)
	round()
	shell(t, devA, `UPDATE note SET body = 'body from A' WHERE id = 'shared'`)
	shell(t, devB, `UPDATE note SET n = 42 WHERE id = 'shared'; INSERT INTO note VALUES ('b1', 'written on B', 2);`)
	for i := 0; i < 4; i++ {
		round()
	}
	for _, dev := range []string{devA, devB} {
		if out := syncDevice(dev); out != "sent 0, received 0, conflicts 0, held 0\n" {
			t.Errorf("sync %s after convergence moved changes: %q", filepath.Base(dev), out)
		}
	}

	want := "'a1'|'edited on A'|1\n'b1'|'written on B'|2\n'shared'|'body from A'|42\n"
	for _, db := range nodes {
		if got := noteDump(t, db); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", filepath.Base(db), got, want)
		}
	}

	// Every log holds the 6 changes, each once: 3 made on A, 2 on B, 1 on
	// the hub. Each writer touched each key with each operation at most
	// once, so (origin, key, op) identifies a change too.
	perOrigin := checkEachChangeOnce(t, hub, devA, devB)
	for db, want := range map[string]int{devA: 3, devB: 2, hub: 1} {
		if got := perOrigin[nodeID(t, db)]; got != want {
			t.Errorf("changes made on %s: %d in the logs, want %d", filepath.Base(db), got, want)
		}
	}
	for _, db := range nodes {
		log := readLog(t, db)
		count := map[string]int{}
		for _, c := range log {
			count[c.Origin+" "+c.Op+" "+keyString(c.Key)]++
		}
		for k, n := range count {
			if n != 1 {
				t.Errorf("%s's log holds (origin, op, key) %s %d times", filepath.Base(db), k, n)
			}
		}
		if len(log) != 6 {
			t.Errorf("%s's log has %d rows, want 6", filepath.Base(db), len(log))
		}
	}
}

// TestMeshOfThreeServes: three nodes run serve, each with the two others
// as --peer (A↔B↔C↔A). Writes made by the sqlite3 shell on every node,
// some at the same moment and some to the same row, reach every node and
// the nodes agree. Changes relayed around the triangle do not loop: once
// the nodes agree their logs stop growing, and no log holds a change twice.
func TestMeshOfThreeServes(t *testing.T) {
	names := []string{"a", "b", "c"}
	nodes := newReplicas(t, noteTable, names...)
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	for i, db := range nodes {
		args := []string{"--pull-interval", "1s"}
		for j := range nodes {
			if j != i {
				args = append(args, "--peer", "http://"+addrs[j])
			}
		}
		newServeProcess(t, db, "mesh-token", addrs[i], args...)
	}
	agree := func(rows int) func() bool {
		return func() bool {
			first := noteDump(t, nodes[0])
			if strings.Count(first, "\n") != rows {
				return false
			}
			for _, db := range nodes[1:] {
				if noteDump(t, db) != first {
					return false
				}
			}
			return true
		}
	}

	for i, db := range nodes {
		shell(t, db, fmt.Sprintf(`INSERT INTO note VALUES ('first-%s', 'written on %s', %d)`, names[i], names[i], i))
	}
	shell(t, nodes[0], `INSERT INTO note VALUES ('shared', 'from a', 0)`)
	waitFor(t, "4 rows on every node", agree(4))

	// All three write at once: 20 inserts each, and every fifth step an
	// update of the shared row (a and c the same column, b another).
	column := map[string]string{"a": "body", "b": "n", "c": "body"}
	var wg sync.WaitGroup
	errs := make(chan error, 3*20)
	for i, db := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				sql := fmt.Sprintf(`INSERT INTO note VALUES ('%s-%02d', 'x', %d);`, names[i], k, k)
				if k%5 == 0 {
					sql += fmt.Sprintf(`UPDATE note SET %s = '%s-%d' WHERE id = 'shared';`, column[names[i]], names[i], k)
				}
				if err := shellErr(db, sql); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "64 rows, the same on every node", agree(64))

	// Every log ends with every change: 3 + 1 inserts, then 60 inserts
	// and 12 updates. Once there, the logs must not grow: wait a few pull
	// intervals and pushes, and look again.
	const changes = 3 + 1 + 60 + 12
	waitFor(t, fmt.Sprintf("%d changes in every log", changes), func() bool {
		for _, db := range nodes {
			if logRows(t, db) != changes {
				return false
			}
		}
		return true
	})
	time.Sleep(3500 * time.Millisecond) // three pull intervals, dozens of push polls
	for _, db := range nodes {
		if n := logRows(t, db); n != changes {
			t.Errorf("%s's log grew to %d rows after the nodes agreed, want %d", filepath.Base(db), n, changes)
		}
	}
	perOrigin := checkEachChangeOnce(t, nodes...)
	for i, db := range nodes {
		want := 1 + 20 + 4
		if i == 0 {
			want++ // the shared row's insert
		}
		if got := perOrigin[nodeID(t, db)]; got != want {
			t.Errorf("changes made on %s: %d in the logs, want %d", names[i], got, want)
		}
	}
	if got := strings.Count(noteDump(t, nodes[0]), "\n"); got != 64 {
		t.Errorf("%d rows, want 64", got)
	}
}

// TestReleasedHeldChangeReachesOtherDevices: device A writes a column
// the hub does not have yet (the hub holds that change) and then another
// row; device B gets the other row through the hub. Once the hub adds the
// column and retries, the held change reaches B too, and all three agree.
//
// Until 50f5c53 the hub logged (and so relayed) A's later change while it
// held the earlier one, and appended the earlier one after it when
// released: B's version vector (one high-water origin seq per origin)
// then counted it a duplicate, and B disagreed for good while every sync
// reported nothing to do.
func TestReleasedHeldChangeReachesOtherDevices(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "device-a", "device-b")
	hub, devA, devB := nodes[0], nodes[1], nodes[2]
	shell(t, hub, `INSERT INTO note VALUES ('shared', 'from the hub', 0); INSERT INTO note VALUES ('other', 'from the hub', 0);`)
	trigsync(t, "sync", devA, "--peer", hub)
	trigsync(t, "sync", devB, "--peer", hub)
	for _, dev := range []string{devA, devB} {
		shell(t, dev, `ALTER TABLE note ADD COLUMN tag TEXT`)
		trigsync(t, "install", dev)
	}
	shell(t, devA, `UPDATE note SET tag = 'from a' WHERE id = 'shared'`)
	shell(t, devA, `UPDATE note SET body = 'edited on a' WHERE id = 'other'`)
	if out := trigsync(t, "sync", devA, "--peer", hub); out != "sent 0, received 0, conflicts 0, held 2\n" {
		t.Fatalf("the hub should hold the change of the column it lacks: %q", out)
	}
	trigsync(t, "sync", devB, "--peer", hub)

	shell(t, hub, `ALTER TABLE note ADD COLUMN tag TEXT`)
	trigsync(t, "install", hub)
	trigsync(t, "conflicts", "--retry", hub)
	for range 2 {
		trigsync(t, "sync", devA, "--peer", hub)
		trigsync(t, "sync", devB, "--peer", hub)
	}
	dump := `SELECT quote(id), quote(body), quote(n), quote(tag) FROM note ORDER BY id`
	want := "'other'|'edited on a'|0|NULL\n'shared'|'from the hub'|0|'from a'\n"
	for _, db := range nodes {
		if got := shell(t, db, dump); got != want {
			t.Errorf("%s:\n%swant:\n%s", filepath.Base(db), got, want)
		}
	}
}
