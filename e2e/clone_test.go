package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCloneWhileWriting: clone makes a new node from a serving hub while
// the sqlite3 shell keeps writing there; the clone has its own node id,
// catches up, and replicates both ways. Cloning onto an existing file is
// refused.
func TestCloneWhileWriting(t *testing.T) {
	dir := t.TempDir()
	hub, clone := filepath.Join(dir, "hub.db"), filepath.Join(dir, "clone.db")
	shell(t, hub, `PRAGMA journal_mode=WAL; CREATE TABLE note(id INTEGER PRIMARY KEY, body TEXT);`)
	trigsync(t, "install", hub)
	shell(t, hub, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		INSERT INTO note SELECT i, 'row ' || i FROM n`)
	url := startServe(t, hub, "tok")
	env := []string{"TRIGSYNC_TOKEN=tok"}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 40; i++ {
			shell(t, hub, fmt.Sprintf(`INSERT INTO note VALUES (%d, 'written during the clone')`, 100000+i))
		}
	}()
	r := run(t, env, binary, "clone", url, clone)
	wg.Wait()
	if r.code != 0 || !strings.HasPrefix(r.stdout, "cloned "+url+" into "+clone) {
		t.Fatalf("clone: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	if nodeID(t, clone) == nodeID(t, hub) {
		t.Fatal("the clone kept the hub's node id")
	}
	shell(t, clone, `INSERT INTO note VALUES (0, 'written on the clone')`)
	if r := run(t, env, binary, "sync", clone, "--peer", url); r.code != 0 || !strings.HasPrefix(r.stdout, "sent 1,") {
		t.Fatalf("sync: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	dump := `SELECT count(*), sum(id), group_concat(DISTINCT body) FROM note`
	if dh, dc := shell(t, hub, dump), shell(t, clone, dump); dh != dc || !strings.HasPrefix(dh, "20041|") {
		t.Fatalf("hub %s, clone %s", dh, dc)
	}
	if r := run(t, env, binary, "clone", url, clone); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("clone onto an existing file: exit %d, %s", r.code, r.stderr)
	}
}

// TestRecloneNeeded: after the hub pruned history every known peer
// acknowledged, a copy made before those changes, which lacks them, is
// refused with "re-clone needed" (exit 3, sync --no-rebuild) instead of
// diverging in silence, or rebuilds from the hub's snapshot (sync); a
// fresh clone works.
func TestRecloneNeeded(t *testing.T) {
	dir := t.TempDir()
	hub, device, stale, fresh := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db"),
		filepath.Join(dir, "stale.db"), filepath.Join(dir, "fresh.db")
	shell(t, hub, `PRAGMA journal_mode=WAL; CREATE TABLE note(id INTEGER PRIMARY KEY, body TEXT);`)
	trigsync(t, "install", hub)
	shell(t, hub, `INSERT INTO note VALUES (1, 'before the copy')`)
	shell(t, hub, "VACUUM INTO '"+stale+"'")
	trigsync(t, "reset-node-id", stale)
	url := startServe(t, hub, "tok")
	env := []string{"TRIGSYNC_TOKEN=tok"}
	if r := run(t, env, binary, "clone", url, device); r.code != 0 {
		t.Fatalf("clone: %s", r.stderr)
	}
	shell(t, hub, `INSERT INTO note VALUES (2, 'after the copy'); DELETE FROM note WHERE id = 1; INSERT INTO note VALUES (3, 'the last')`)
	if r := run(t, env, binary, "sync", device, "--peer", url); r.code != 0 {
		t.Fatalf("sync: %s", r.stderr)
	}
	if out := trigsync(t, "gc", "--retention", "0s", hub); !strings.HasPrefix(out, "pruned 3 log rows and 1 tombstones") {
		t.Fatalf("gc: %q", out)
	}
	r := run(t, env, binary, "sync", stale, "--peer", url, "--no-rebuild")
	if r.code != 3 || !strings.Contains(r.stderr, "re-clone needed") || !strings.Contains(r.stderr, "trigsync clone") {
		t.Fatalf("stale copy: exit %d: %s", r.code, r.stderr)
	}
	// Without --no-rebuild, it rebuilds from the hub's snapshot.
	if r := run(t, env, binary, "sync", stale, "--peer", url); r.code != 0 || !strings.Contains(r.stdout, "rebuilt from the peer's snapshot") {
		t.Fatalf("stale copy, rebuilding: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, env, binary, "sync", device, "--peer", url); r.code != 0 {
		t.Fatalf("a device that has everything: %s", r.stderr)
	}
	if r := run(t, env, binary, "clone", url, fresh); r.code != 0 {
		t.Fatalf("clone after gc: %s", r.stderr)
	}
	dump := `SELECT * FROM note ORDER BY id`
	if dh, dd, df, ds := shell(t, hub, dump), shell(t, device, dump), shell(t, fresh, dump), shell(t, stale, dump); dh != dd || dh != df || dh != ds || dh != "2|after the copy\n3|the last\n" {
		t.Fatalf("hub %q, device %q, fresh %q, stale %q", dh, dd, df, ds)
	}
}
