package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHealUniqueEmail: two nodes insert users with one UNIQUE email (the
// sqlite3 shell on A, Python's sqlite3 on B); sync sets each insert aside
// on the other node. B renames its user's email and retries (a cause fixed
// locally), then syncs with A: A, on which no command runs, heals — the
// rename, held behind A's failed insert of the same row, is written with
// it as one row — and both nodes hold the same users, nothing open.
func TestHealUniqueEmail(t *testing.T) {
	nodes := newReplicas(t, `CREATE TABLE users(id TEXT PRIMARY KEY, email TEXT UNIQUE, name TEXT);`, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, a, `INSERT INTO users VALUES ('u1', 'x@example.org', 'Alice');`)
	if _, err := exec.LookPath("python3"); err == nil {
		r := run(t, nil, "python3", "-c", `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("INSERT INTO users VALUES (?, ?, ?)", ("u2", "x@example.org", "Bob"))
c.commit()
`, b)
		if r.code != 0 {
			t.Fatalf("python3: exit %d: %s", r.code, r.stderr)
		}
	} else {
		shell(t, b, `INSERT INTO users VALUES ('u2', 'x@example.org', 'Bob');`)
	}
	if out := trigsync(t, "sync", a, "--peer", b); out != "sent 0, received 0, conflicts 2, held 0\n" {
		t.Fatalf("sync: %q", out)
	}
	for _, db := range nodes {
		if out := trigsync(t, "conflicts", db); !strings.Contains(out, "error") || !strings.Contains(out, "UNIQUE constraint failed: users.email") {
			t.Fatalf("conflicts of %s: %s", db, out)
		}
	}

	shell(t, b, `UPDATE users SET email = 'bob@example.org' WHERE id = 'u2';`)
	if out := trigsync(t, "conflicts", "--retry", b); out != "1 conflicts resolved\n" {
		t.Fatalf("retry on b: %q", out)
	}
	if out := trigsync(t, "sync", b, "--peer", a); !strings.HasSuffix(out, ", held 0\n") {
		t.Fatalf("sync from b: %q", out)
	}

	const want = "u1|x@example.org|Alice\nu2|bob@example.org|Bob\n"
	for _, db := range nodes {
		if got := shell(t, db, `SELECT * FROM users ORDER BY id`); got != want {
			t.Fatalf("users of %s:\n%s", db, got)
		}
		if out := trigsync(t, "conflicts", "--json", db); out != "" {
			t.Fatalf("open conflicts on %s: %s", db, out)
		}
	}
	if got := shell(t, a, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved LIKE 'applied (healed: conflicts 1, 2 %'`); got != "2\n" {
		t.Fatalf("a should record both conflicts healed: %s", shell(t, a, `SELECT id, kind, resolved FROM _trigsync_conflicts`))
	}
	// Nothing more to exchange, and each log holds every change once.
	if out := trigsync(t, "sync", a, "--peer", b); out != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Fatalf("next sync: %q", out)
	}
	checkEachChangeOnce(t, a, b)
	checkIntegrity(t, a)
}
