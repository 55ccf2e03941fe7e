package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestOverlappingSyncs: a sync finding another one running on the same
// database waits for it; past --wait it exits 3 with a clear message and
// touches nothing. Syncs started together take turns and duplicate nothing.
func TestOverlappingSyncs(t *testing.T) {
	dir := t.TempDir()
	hub, device := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db")
	shell(t, hub, `PRAGMA journal_mode=WAL; CREATE TABLE note(id INTEGER PRIMARY KEY, body TEXT);`)
	trigsync(t, "install", hub)
	shell(t, hub, "VACUUM INTO '"+device+"'")
	trigsync(t, "reset-node-id", device)
	shell(t, device, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO note SELECT i, 'row ' || i FROM n`)
	url := startServe(t, hub, "tok")
	env := []string{"TRIGSYNC_TOKEN=tok"}

	// A run that holds the lock (as a sync does) keeps the next one out.
	f, err := os.OpenFile(device+"-trigsync.lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, binary, "sync", device, "--peer", url, "--wait", "300ms")
	if r.code != 3 || !strings.Contains(r.stderr, "another trigsync sync is running") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := shell(t, hub, `SELECT count(*) FROM note`); n != "0\n" {
		t.Fatalf("the refused sync sent %s rows", n)
	}
	f.Close() // as a killed run's lock goes with it

	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, env, binary, "sync", device, "--peer", url, "--wait", "60s")
		}()
	}
	wg.Wait()
	sent := 0
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("overlapping sync: exit %d: %s", r.code, r.stderr)
		}
		if strings.HasPrefix(r.stdout, "sent 2000,") {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("the rows were sent %d times: %+v", sent, results)
	}
	if n := shell(t, hub, `SELECT count(*) FROM note`); n != "2000\n" {
		t.Fatalf("hub has %s rows", n)
	}
}
