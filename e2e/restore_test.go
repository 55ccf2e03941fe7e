package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trigsync/trigsync/hlc"
)

// Restored nodes (package restore) with real processes: a hub running
// serve, devices running sync as cron does, the sqlite3 shell and
// Python's sqlite3 as the application, and files put back from copies the
// way an operator restores a backup.

const restoreToken = "restore-token"

var withRestoreToken = []string{"TRIGSYNC_TOKEN=" + restoreToken}

// syncHub runs `trigsync sync DB --peer URL` and fails the test unless it
// exits 0; it returns stdout and stderr.
func syncHub(t *testing.T, db, url string) (string, string) {
	t.Helper()
	r := run(t, withRestoreToken, binary, "sync", db, "--peer", url)
	if r.code != 0 {
		t.Fatalf("sync %s --peer %s: exit %d\n%s%s", filepath.Base(db), url, r.code, r.stdout, r.stderr)
	}
	return r.stdout, r.stderr
}

// copyFile copies src to dst (a file no one writes).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// restoreFrom puts the copy back in place of db, as restoring a backup
// does: the copy's bytes, and no -wal or -shm of the file it replaces.
// No process may have db open.
func restoreFrom(t *testing.T, copyPath, db string) {
	t.Helper()
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	copyFile(t, copyPath, db)
}

// backupTo copies db to a new file in dir with the sqlite3 shell's
// .backup (the backup API: consistent while serve writes).
func backupTo(t *testing.T, db, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "copy-of-"+filepath.Base(db))
	shell(t, db, ".backup '"+p+"'")
	return p
}

// pythonWrite runs SQL statements through Python's sqlite3 module in one
// transaction (the sqlite3 shell when python3 is missing).
func pythonWrite(t *testing.T, db string, stmts ...string) {
	t.Helper()
	if _, err := lookPython(); err != nil {
		shell(t, db, strings.Join(stmts, ";\n")+";")
		return
	}
	b, _ := json.Marshal(stmts)
	r := run(t, nil, "python3", "-c", `
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
for s in json.loads(sys.argv[2]):
    c.execute(s)
c.commit()
`, db, string(b))
	if r.code != 0 {
		t.Fatalf("python3: exit %d: %s", r.code, r.stderr)
	}
}

func lookPython() (string, error) {
	r, err := runQuiet(nil, "python3", "-c", "import sqlite3")
	if err != nil {
		return "", err
	}
	if r.code != 0 {
		return "", fmt.Errorf("python3 without sqlite3: %s", r.stderr)
	}
	return "python3", nil
}

// nodeIDOf is a node's id, from `trigsync status --json` (it only reads).
func nodeIDOf(t *testing.T, db string) string {
	t.Helper()
	var st struct {
		NodeID string `json:"node_id"`
	}
	if err := json.Unmarshal([]byte(trigsync(t, "status", "--json", db)), &st); err != nil || st.NodeID == "" {
		t.Fatalf("status --json %s: %v", filepath.Base(db), err)
	}
	return st.NodeID
}

// healReport is what one heal logged at WARN.
type healReport struct {
	old, new                      string
	fork, kept, reissued, lostRet int64
}

var healLine = regexp.MustCompile(`level=WARN msg="this node was restored from an older copy of itself: it takes a new node id" ` +
	`old=([0-9a-f]+) new=([0-9a-f]+) fork_seq=(\d+) kept=(\d+) reissued=(\d+) lost_returning=(\d+) unrecoverable=`)

// heals returns the heals a log (serve's or sync's stderr) reports.
func heals(log string) []healReport {
	var out []healReport
	for _, m := range healLine.FindAllStringSubmatch(log, -1) {
		n := func(i int) int64 { v, _ := strconv.ParseInt(m[i], 10, 64); return v }
		out = append(out, healReport{old: m[1], new: m[2], fork: n(3), kept: n(4), reissued: n(5), lostRet: n(6)})
	}
	return out
}

// theHeal returns the one heal log reports, and fails unless there is
// exactly one.
func theHeal(t *testing.T, what, log string) healReport {
	t.Helper()
	hs := heals(log)
	if len(hs) != 1 {
		t.Fatalf("%s reports %d heals, want 1:\n%s", what, len(hs), log)
	}
	return hs[0]
}

// oneHeal fails unless log reports exactly one heal, from old to new,
// with the figures want (old and new are filled in).
func oneHeal(t *testing.T, what, log string, want healReport) {
	t.Helper()
	if h := theHeal(t, what, log); h != want {
		t.Fatalf("%s reports the heal %+v, want %+v:\n%s", what, h, want, log)
	}
}

// healedID returns db's node id, and fails when it is still old: the
// restored node (who) did not heal.
func healedID(t *testing.T, db, who, old string) string {
	t.Helper()
	id := nodeIDOf(t, db)
	if id == old {
		t.Fatalf("the restored %s kept its node id %s", who, old)
	}
	return id
}

// verifyEqual fails unless `trigsync verify DB --peer PEER` finds them equal.
func verifyEqual(t *testing.T, db, peer string) {
	t.Helper()
	r := run(t, withRestoreToken, binary, "verify", db, "--peer", peer)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "equal: ") {
		t.Fatalf("verify %s --peer %s: exit %d\n%s%s", filepath.Base(db), peer, r.code, r.stdout, r.stderr)
	}
}

// noteIDs is the set of note ids of a node.
func noteIDs(t *testing.T, db string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, id := range strings.Fields(shell(t, db, `SELECT id FROM note ORDER BY id`)) {
		out[id] = true
	}
	return out
}

// checkHealed fails unless the hub (serving at url) and every device
// hold the same rows — verify exits 0, equal dumps — namely the ids
// want and none of absent (rows only a lost copy held), and SQLite finds
// every file sound. It returns the hub's dump.
func checkHealed(t *testing.T, hub, url string, devices []string, want, absent []string) string {
	t.Helper()
	for _, d := range devices {
		verifyEqual(t, d, url)
	}
	dump := noteDump(t, hub)
	for _, d := range devices {
		if got := noteDump(t, d); got != dump {
			t.Fatalf("%s differs from the hub:\n%s\n--- hub\n%s", filepath.Base(d), got, dump)
		}
	}
	ids := noteIDs(t, hub)
	for _, id := range want {
		if !ids[id] {
			t.Errorf("row %s, written before or after the restore, is missing", id)
		}
	}
	for _, id := range absent {
		if ids[id] {
			t.Errorf("row %s existed only on the lost copy, yet it is back", id)
		}
	}
	if len(ids) != len(want) {
		t.Errorf("%d rows, want %d:\n%s", len(ids), len(want), dump)
	}
	for _, db := range append([]string{hub}, devices...) {
		checkIntegrity(t, db)
	}
	if t.Failed() {
		t.FailNow()
	}
	return dump
}

// forkOf is the fork a heal recorded, read from a node that holds it.
type forkOf struct {
	node, successor string
	seq             int64
	hlc             hlc.Timestamp
}

func readForks(t *testing.T, db string) []forkOf {
	t.Helper()
	var out []forkOf
	for _, line := range strings.Split(strings.TrimSpace(shell(t, db, `SELECT node, seq, hlc, successor FROM _trigsync_forks ORDER BY node`)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		seq, _ := strconv.ParseInt(f[1], 10, 64)
		stamp, _ := strconv.ParseUint(f[2], 10, 64)
		out = append(out, forkOf{node: f[0], seq: seq, hlc: hlc.Timestamp(stamp), successor: f[3]})
	}
	return out
}

// checkEachChangeOnceAfterForks is checkEachChangeOnce across heals.
// A heal renames nothing that peers saw: the restored node's changes
// before the fork keep the old id (and their origin seqs), its lost ones
// stay the old id's, and those the restored copy made are its new id's.
// A node that pulled some of the copy's changes under the old id before
// the heal was found keeps them in its log, void (the fork's rule: old
// id, origin seq ≥ fork seq, stamp ≥ fork stamp); they share origin seqs
// with the lost changes, so "once" means: leaving out the void rows,
// each (origin, origin seq) at most once on a node, and the same set on
// every node. It returns the number of void rows of each node.
func checkEachChangeOnceAfterForks(t *testing.T, dbs ...string) map[string]int {
	t.Helper()
	forks := readForks(t, dbs[0])
	void := func(c logRow) bool {
		for _, f := range forks {
			var stamp hlc.Timestamp
			if err := stamp.UnmarshalText([]byte(c.HLC)); err != nil {
				t.Fatalf("log row %d: %v", c.Seq, err)
			}
			if c.Origin == f.node && c.OriginSeq >= f.seq && stamp >= f.hlc {
				return true
			}
		}
		return false
	}
	_, voids := eachChangeOnce(t, void, dbs...)
	return voids
}

// TestRestoreHubBehindDeviceCursors is the scenario with two
// devices: both sync with hub H; H is stopped and copied; H gets two
// writes, which both devices sync, and one more that no one syncs; H is
// stopped, restored from the copy, started, and writes three new rows.
// Each device syncs three times, exit 0 each time. The first sync finds
// H restored (the devices read its log and hold its own changes past
// what the copy holds), and H heals over HTTP: a new node id, the three
// new rows re-issued as its, the two lost ones back from the devices;
// the row only the lost copy held is gone, and said to be.
func TestRestoreHubBehindDeviceCursors(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "d1", "d2")
	hub, d1, d2 := nodes[0], nodes[1], nodes[2]
	devices := []string{d1, d2}
	serve := newServeProcess(t, hub, restoreToken, freeAddr(t))
	url := serve.url()

	insertRows(t, d1, "d1", 2)
	insertRows(t, d2, "d2", 1)
	syncHub(t, d1, url)
	syncHub(t, d2, url)
	syncHub(t, d1, url)

	serve.stop() // SIGTERM: no writer while the file is copied
	copyPath := filepath.Join(t.TempDir(), "hub-copy.db")
	copyFile(t, hub, copyPath)
	serve.restart()
	shell(t, hub, `INSERT INTO note VALUES ('lost-1', 'after the copy', 1); INSERT INTO note VALUES ('lost-2', 'after the copy', 2);`)
	syncHub(t, d1, url)
	syncHub(t, d2, url)
	shell(t, hub, `INSERT INTO note VALUES ('unshipped', 'only the lost copy holds it', 0)`)
	old := nodeIDOf(t, hub)

	serve.stop()
	restoreFrom(t, copyPath, hub)
	serve.restart()
	pythonWrite(t, hub, `INSERT INTO note VALUES ('new-1', 'after the restore', 1)`,
		`INSERT INTO note VALUES ('new-2', 'after the restore', 2)`, `INSERT INTO note VALUES ('new-3', 'after the restore', 3)`)
	for i := range 3 {
		for _, d := range devices {
			out, _ := syncHub(t, d, url)
			t.Logf("sync %d of %s: %s", i+1, filepath.Base(d), strings.TrimSpace(out))
		}
	}

	healed := healedID(t, hub, "hub", old)
	// The copy held no change of the hub's own; the three new rows are
	// re-issued; the two lost ones come back.
	oneHeal(t, "the hub's serve log", serve.log.String(), healReport{old: old, new: healed, fork: 4, kept: 0, reissued: 3, lostRet: 2})
	checkHealed(t, hub, url, devices,
		[]string{"d1-1", "d1-2", "d2-1", "lost-1", "lost-2", "new-1", "new-2", "new-3"}, []string{"unshipped"})
	if voids := checkEachChangeOnceAfterForks(t, hub, d1, d2); len(voids) != 0 {
		t.Fatalf("void rows in the logs (no device pulled the restored copy's changes before the heal): %v", voids)
	}

	// Writes after the heal travel both ways.
	shell(t, hub, `UPDATE note SET body = 'edited on the healed hub' WHERE id = 'lost-1'`)
	shell(t, d2, `UPDATE note SET n = 33 WHERE id = 'new-3'`)
	for _, d := range []string{d2, d1, d2} {
		syncHub(t, d, url)
	}
	dump := checkHealed(t, hub, url, devices,
		[]string{"d1-1", "d1-2", "d2-1", "lost-1", "lost-2", "new-1", "new-2", "new-3"}, []string{"unshipped"})
	if !strings.Contains(dump, "'edited on the healed hub'") || !strings.Contains(dump, "'new-3'|'after the restore'|33") {
		t.Fatalf("writes after the heal did not travel:\n%s", dump)
	}
	oneHeal(t, "the hub's serve log", serve.log.String(), healReport{old: old, new: healed, fork: 4, kept: 0, reissued: 3, lostRet: 2})
}

// TestRestoreDevice: device D1 is restored from a copy of itself after
// it had shipped more changes (two rows, an update), and one change it
// never shipped; before its next sync it writes again (Python's sqlite3:
// three rows, an update of another column of the row updated in the lost
// history). Its first sync finds it restored from what the hub holds of
// it; D1 heals (the WARN is in its sync's stderr): the lost changes come
// back from the hub, the new ones go to every peer.
func TestRestoreDevice(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "d1", "d2")
	hub, d1, d2 := nodes[0], nodes[1], nodes[2]
	devices := []string{d1, d2}
	serve := newServeProcess(t, hub, restoreToken, freeAddr(t))
	url := serve.url()

	insertRows(t, d1, "d1", 2)
	syncHub(t, d1, url)
	syncHub(t, d2, url)
	copyPath := backupTo(t, d1, t.TempDir())
	shell(t, d1, `INSERT INTO note VALUES ('lost-1', 'after the copy', 1); INSERT INTO note VALUES ('lost-2', 'after the copy', 2);`)
	shell(t, d1, `UPDATE note SET body = 'lost update' WHERE id = 'd1-1'`)
	syncHub(t, d1, url)
	syncHub(t, d2, url)
	shell(t, d1, `INSERT INTO note VALUES ('unshipped', 'only the lost copy holds it', 0)`)
	old := nodeIDOf(t, d1)

	restoreFrom(t, copyPath, d1)
	pythonWrite(t, d1, `INSERT INTO note VALUES ('new-1', 'after the restore', 1)`,
		`INSERT INTO note VALUES ('new-2', 'after the restore', 2)`, `INSERT INTO note VALUES ('new-3', 'after the restore', 3)`)
	pythonWrite(t, d1, `UPDATE note SET n = 99 WHERE id = 'd1-1'`)
	var logs strings.Builder
	for range 3 {
		_, stderr := syncHub(t, d1, url)
		logs.WriteString(stderr)
	}
	syncHub(t, d2, url)

	healed := healedID(t, d1, "device", old)
	// d1's copy held its two inserts; the four changes after them (three
	// inserts, one update) are re-issued; the three it shipped (two rows,
	// the update) come back.
	oneHeal(t, "d1's sync stderr", logs.String(), healReport{old: old, new: healed, fork: 3, kept: 2, reissued: 4, lostRet: 3})
	if hs := heals(serve.log.String()); len(hs) != 0 {
		t.Fatalf("the hub healed, but only the device was restored: %+v", hs)
	}
	dump := checkHealed(t, hub, url, devices,
		[]string{"d1-1", "d1-2", "lost-1", "lost-2", "new-1", "new-2", "new-3"}, []string{"unshipped"})
	if !strings.Contains(dump, "'d1-1'|'lost update'|99") {
		t.Fatalf("the lost update and the new one of another column of d1-1 should both hold:\n%s", dump)
	}
	if voids := checkEachChangeOnceAfterForks(t, hub, d1, d2); len(voids) != 0 {
		t.Fatalf("void rows in the logs: %v", voids)
	}
}

// deviceLoop is a device that writes a row and syncs with the hub, over
// and over, as an application beside a cron job does, until stopped or
// bounded (rows and time). Holding mu pauses its syncs (not its writes).
type deviceLoop struct {
	db, url string
	mu      sync.Mutex
	rows    []string // ids it inserted
	okSyncs atomic.Int64
	failed  []string // syncs that did not exit 0, with why
	err     error    // a write that failed
}

func (d *deviceLoop) run(stop <-chan struct{}, maxRows int, deadline time.Time) {
	name := strings.TrimSuffix(filepath.Base(d.db), ".db")
	for i := 1; i <= maxRows && time.Now().Before(deadline); i++ {
		select {
		case <-stop:
			return
		default:
		}
		id := fmt.Sprintf("%s-w%02d", name, i)
		if err := shellErr(d.db, fmt.Sprintf(`INSERT INTO note VALUES ('%s', 'written while the hub is restored', %d)`, id, i)); err != nil {
			d.err = err
			return
		}
		d.rows = append(d.rows, id)
		d.mu.Lock()
		r, err := runQuiet(withRestoreToken, binary, "sync", d.db, "--peer", d.url)
		d.mu.Unlock()
		switch {
		case err != nil:
			d.err = err
			return
		case r.code == 0:
			d.okSyncs.Add(1)
		default:
			d.failed = append(d.failed, fmt.Sprintf("row %d: exit %d: %s", i, r.code, strings.TrimSpace(r.stderr)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestoreWhileBothWrite: devices D1 and D2 write and sync in a loop
// while the hub is copied (the backup API, serve running), writes two
// rows that they sync, is killed (SIGKILL), gets a row no one syncs,
// is restored from the copy and restarted, and writes three rows (Python's
// sqlite3). D3 synced last before the copy and wrote since; it syncs
// first after the restore: what it knows of the hub is inside the copy,
// so it finds nothing wrong and pulls the restored copy's new rows under
// the hub's old id. Then D1 and D2, whose cursors are beyond the copy,
// resume: the first sync finds the hub restored and it heals; the fork
// reaches D3, which keeps the rows it pulled before as void and takes
// them again as the new id's. Every row written anywhere ends on every
// node except the one only the lost copy held.
func TestRestoreWhileBothWrite(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "d1", "d2", "d3")
	hub, d3 := nodes[0], nodes[3]
	for _, d := range nodes[1:] {
		shell(t, d, `PRAGMA journal_mode=WAL`)
	}
	serve := newServeProcess(t, hub, restoreToken, freeAddr(t))
	url := serve.url()
	want := []string{}
	for _, d := range nodes[1:] {
		id := strings.TrimSuffix(filepath.Base(d), ".db") + "-first"
		shell(t, d, `INSERT INTO note VALUES ('`+id+`', 'before the copy', 0)`)
		want = append(want, id)
		syncHub(t, d, url)
	}
	syncHub(t, nodes[1], url)
	syncHub(t, nodes[2], url)

	loops := []*deviceLoop{{db: nodes[1], url: url}, {db: nodes[2], url: url}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second)
	for _, l := range loops {
		wg.Go(func() { l.run(stop, 60, deadline) })
	}
	stopLoops := func() {
		close(stop)
		wg.Wait()
	}
	waitSyncs := func(what string, n int64) {
		t.Helper()
		waitFor(t, what, func() bool {
			for _, l := range loops {
				if l.okSyncs.Load() < n {
					return false
				}
			}
			return true
		})
	}
	waitSyncs("three syncs of each device", 3)

	copyPath := backupTo(t, hub, t.TempDir())
	shell(t, hub, `INSERT INTO note VALUES ('h-lost-1', 'after the copy', 1); INSERT INTO note VALUES ('h-lost-2', 'after the copy', 2);`)
	want = append(want, "h-lost-1", "h-lost-2")
	waitFor(t, "the hub's two rows on both looping devices", func() bool {
		return noteIDs(t, nodes[1])["h-lost-2"] && noteIDs(t, nodes[2])["h-lost-2"]
	})
	shell(t, d3, `INSERT INTO note VALUES ('d3-after-copy', 'not synced before the restore', 1)`)
	want = append(want, "d3-after-copy")
	old := nodeIDOf(t, hub)

	for _, l := range loops {
		l.mu.Lock() // no sync while the hub is put back; writes go on
	}
	serve.kill()
	shell(t, hub, `INSERT INTO note VALUES ('h-unshipped', 'only the lost copy holds it', 0)`)
	restoreFrom(t, copyPath, hub)
	serve.restart()
	pythonWrite(t, hub, `INSERT INTO note VALUES ('h-new-1', 'after the restore', 1)`,
		`INSERT INTO note VALUES ('h-new-2', 'after the restore', 2)`, `INSERT INTO note VALUES ('h-new-3', 'after the restore', 3)`)
	want = append(want, "h-new-1", "h-new-2", "h-new-3")
	syncHub(t, d3, url) // first after the restore, from inside the copy
	if hs := heals(serve.log.String()); len(hs) != 0 {
		t.Fatalf("d3 knows nothing beyond the copy, yet the hub healed: %+v", hs)
	}
	if !noteIDs(t, d3)["h-new-3"] {
		t.Fatalf("d3 did not get the restored hub's new rows:\n%s", noteDump(t, d3))
	}
	before := make([]int64, len(loops))
	for i, l := range loops {
		before[i] = l.okSyncs.Load()
		l.mu.Unlock()
	}
	waitFor(t, "three more syncs of each device after the restore", func() bool {
		for i, l := range loops {
			if l.okSyncs.Load() < before[i]+3 {
				return false
			}
		}
		return true
	})
	stopLoops()
	for _, l := range loops {
		if l.err != nil {
			t.Fatalf("%s: %v", filepath.Base(l.db), l.err)
		}
		if len(l.failed) > 0 {
			t.Errorf("%s: %d of its syncs did not exit 0: %s", filepath.Base(l.db), len(l.failed), strings.Join(l.failed, "\n"))
		}
		t.Logf("%s wrote %d rows, %d syncs exited 0", filepath.Base(l.db), len(l.rows), l.okSyncs.Load())
		want = append(want, l.rows...)
	}
	for range 2 {
		for _, d := range []string{d3, nodes[1], nodes[2]} {
			syncHub(t, d, url)
		}
	}

	healed := healedID(t, hub, "hub", old)
	h := theHeal(t, "the hub's serve log", serve.log.String())
	// The hub wrote nothing of its own before the copy; its three new
	// rows are re-issued, its two lost ones come back.
	if h.old != old || h.new != healed || h.kept != 0 || h.reissued != 3 || h.lostRet != 2 || h.fork < 1 {
		t.Fatalf("the heal's figures: %+v", h)
	}
	checkHealed(t, hub, url, nodes[1:], want, []string{"h-unshipped"})
	voids := checkEachChangeOnceAfterForks(t, nodes...)
	if len(voids) != 1 || voids["d3.db"] != 3 {
		t.Fatalf("void rows %v: want d3's three rows pulled from the restored copy before the heal, and none elsewhere", voids)
	}
}

// litestream is a `litestream replicate` process for one database, with
// a file:// replica, started and stopped by the test.
type litestream struct {
	t      *testing.T
	bin    string
	config string
	log    *syncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
}

// startLitestream replicates db to a file:// replica in dir, syncing
// often so that the test need not wait long for a position.
func startLitestream(t *testing.T, bin, db, dir string) *litestream {
	t.Helper()
	config := filepath.Join(dir, "litestream.yml")
	yml := fmt.Sprintf("dbs:\n  - path: %s\n    monitor-interval: 100ms\n    replica:\n      url: file://%s\n      sync-interval: 100ms\n",
		db, filepath.Join(dir, "replica"))
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &litestream{t: t, bin: bin, config: config, log: &syncBuffer{}}
	l.cmd = exec.Command(bin, "replicate", "-config", config)
	l.cmd.Stdout, l.cmd.Stderr = l.log, l.log
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.done = make(chan struct{})
	go func() { l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("litestream logged:\n%s", l.log)
		}
	})
	return l
}

// stop ends replication (SIGTERM, SIGKILL after 10 s).
func (l *litestream) stop() {
	select {
	case <-l.done:
		return
	default:
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		l.cmd.Process.Signal(syscall.SIGKILL)
		<-l.done
	}
}

// restore runs `litestream restore` of db into out with the extra flags.
func (l *litestream) restore(db, out string, flags ...string) {
	l.t.Helper()
	args := append([]string{"restore", "-config", l.config, "-o", out}, flags...)
	r := run(l.t, nil, l.bin, append(args, db)...)
	if r.code != 0 {
		l.t.Fatalf("litestream %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
}

// waitReplicated waits until a restore of the latest position holds the
// note row id: the replica has everything written before it.
func (l *litestream) waitReplicated(db, id string) {
	l.t.Helper()
	probe := filepath.Join(l.t.TempDir(), "probe.db")
	waitFor(l.t, "litestream to replicate "+id, func() bool {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(probe + suffix)
		}
		r, err := runQuiet(nil, l.bin, "restore", "-config", l.config, "-o", probe, db)
		if err != nil || r.code != 0 {
			return false
		}
		out, err := exec.Command("sqlite3", probe, "SELECT count(*) FROM note WHERE id = '"+id+"'").Output()
		return err == nil && strings.TrimSpace(string(out)) == "1"
	})
}

// TestRestoreHubFromLitestream: the hub's database is replicated by a real
// `litestream replicate` to a file:// replica. The hub writes a row the
// devices sync; that point in time is noted. After it the hub writes a
// row the devices sync (lost with the restore) and one no one syncs; it
// is killed, `litestream restore -timestamp` puts the file back as it
// was at the noted time, serve starts on it, and the hub writes two
// rows. The devices sync: the hub heals, its lost row comes back, the
// one no one synced is gone, everything converges.
func TestRestoreHubFromLitestream(t *testing.T) {
	bin := need(t, "litestream")
	nodes := newReplicas(t, noteTable, "hub", "d1", "d2")
	hub, d1, d2 := nodes[0], nodes[1], nodes[2]
	devices := []string{d1, d2}
	ls := startLitestream(t, bin, hub, t.TempDir())
	serve := newServeProcess(t, hub, restoreToken, freeAddr(t))
	url := serve.url()

	insertRows(t, d1, "d1", 3)
	insertRows(t, d2, "d2", 2)
	for _, d := range []string{d1, d2, d1} {
		syncHub(t, d, url)
	}
	shell(t, hub, `INSERT INTO note VALUES ('h-kept', 'before the point in time', 1)`)
	for _, d := range devices {
		syncHub(t, d, url)
	}
	ls.waitReplicated(hub, "h-kept")
	time.Sleep(1100 * time.Millisecond) // the point in time, in whole seconds, after every write so far
	pointInTime := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)

	shell(t, hub, `INSERT INTO note VALUES ('h-lost', 'after the point in time, synced', 2)`)
	for _, d := range devices {
		syncHub(t, d, url)
	}
	shell(t, hub, `INSERT INTO note VALUES ('h-unshipped', 'after the point in time, never synced', 3)`)
	ls.waitReplicated(hub, "h-unshipped") // the replica's latest position holds both: the restore goes back in time
	old := nodeIDOf(t, hub)

	serve.kill()
	ls.stop()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(hub + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	ls.restore(hub, hub, "-timestamp", pointInTime.Format(time.RFC3339))
	checkIntegrity(t, hub)
	if ids := noteIDs(t, hub); !ids["h-kept"] || ids["h-lost"] || ids["h-unshipped"] {
		t.Fatalf("litestream restored to %s a file that does not hold the hub as it was then:\n%s", pointInTime.Format(time.RFC3339), noteDump(t, hub))
	}
	shell(t, hub, `PRAGMA journal_mode=WAL`)
	serve.restart()
	pythonWrite(t, hub, `INSERT INTO note VALUES ('h-new-1', 'after the restore', 1)`, `INSERT INTO note VALUES ('h-new-2', 'after the restore', 2)`)
	for range 3 {
		for _, d := range devices {
			syncHub(t, d, url)
		}
	}

	healed := healedID(t, hub, "hub", old)
	h := theHeal(t, "the hub's serve log", serve.log.String())
	// h-kept is the hub's one change the restored file holds; the two new
	// rows are re-issued; h-lost comes back.
	if h.old != old || h.new != healed || h.kept != 1 || h.reissued != 2 || h.lostRet != 1 {
		t.Fatalf("the heal's figures: %+v", h)
	}
	checkHealed(t, hub, url, devices, []string{"d1-1", "d1-2", "d1-3", "d2-1", "d2-2", "h-kept", "h-lost", "h-new-1", "h-new-2"},
		[]string{"h-unshipped"})
	if voids := checkEachChangeOnceAfterForks(t, hub, d1, d2); len(voids) != 0 {
		t.Fatalf("void rows in the logs: %v", voids)
	}
}
