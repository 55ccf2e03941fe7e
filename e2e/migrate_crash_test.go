package e2e

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillMigrate: `trigsync migrate` is killed with SIGKILL while it
// rewrites a large table (DROP COLUMN copies every row). Whenever the kill
// lands, the database holds either the old schema or the whole migration
// (schema version, triggers, log row), never a part; it stays intact,
// captures writes and syncs.
func TestKillMigrate(t *testing.T) {
	killedMidway := 0
	for attempt, delay := range []time.Duration{30, 60, 120, 240} {
		// The rows are there before install: nothing to ship but the test's.
		dbs := newReplicas(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER, pad TEXT);
			WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 100000)
			INSERT INTO note SELECT 'r' || x, 'body ' || x, x, printf('%.200c', 'x') FROM i;`, "a", "b")
		a, b := dbs[0], dbs[1]
		cmd := exec.Command(binary, "migrate", a, "--sql", "ALTER TABLE note DROP COLUMN pad")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Logf("attempt %d: migrate finished before the kill (%v)", attempt, err)
		case <-time.After(delay * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err != nil && strings.Contains(err.Error(), "killed") {
				killedMidway++
			}
		}
		checkIntegrity(t, a)
		v := schemaVersion(t, a)
		cols := columns(t, a, "note")
		logged := shell(t, a, `SELECT count(*) FROM _trigsync_changelog WHERE op = 'S'`)
		switch {
		case v == 0 && len(cols) == 4 && logged == "0\n":
		case v == 1 && len(cols) == 3 && logged == "1\n":
		default:
			t.Fatalf("attempt %d: half a migration: schema version %d, columns %v, %s schema rows in the log", attempt, v, cols, strings.TrimSpace(logged))
		}
		if status := trigsync(t, "status", a); strings.Contains(status, "STALE") {
			t.Fatalf("attempt %d: triggers do not match the schema after the kill:\n%s", attempt, status)
		}
		shell(t, a, `UPDATE note SET body = 'after the kill' WHERE id = 'r1'`)
		trigsync(t, "sync", a, "--peer", b)
		if got := shell(t, b, `SELECT body FROM note WHERE id = 'r1'`); got != "after the kill\n" {
			t.Fatalf("attempt %d: b has %q", attempt, got)
		}
	}
	t.Logf("%d of 4 kills landed while migrate ran", killedMidway)
}
