package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVerifyFindsOneChangedCell: two nodes of 100,000 equal rows compare
// equal, over FILE and over HTTP to a real serve; one cell changed by the
// sqlite3 shell on one of them (its triggers log it; nothing syncs) is
// found and named, and nothing else.
func TestVerifyFindsOneChangedCell(t *testing.T) {
	const rows = 100_000
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, b, `PRAGMA journal_mode=WAL`) // VACUUM INTO made a rollback-journal copy
	insertRows(t, a, "n", rows)
	insertRows(t, b, "n", rows)
	const token = "verify-token"
	url := startServe(t, b, token)
	withToken := []string{"TRIGSYNC_TOKEN=" + token}

	verify := func(peer string, args ...string) result {
		t.Helper()
		return run(t, withToken, binary, append([]string{"verify", a, "--peer", peer}, args...)...)
	}
	for _, peer := range []string{b, url} {
		if r := verify(peer); r.code != 0 || r.stdout != "equal: 1 table, 100000 rows compared\n" {
			t.Fatalf("verify --peer %s of equal nodes: exit %d\n%s%s", peer, r.code, r.stdout, r.stderr)
		}
	}
	if r := run(t, nil, binary, "verify", a, "--peer", url); r.code != 2 || !strings.Contains(r.stderr, "401") {
		t.Errorf("verify without the token: exit %d, %s", r.code, r.stderr)
	}

	shell(t, b, `UPDATE note SET n = 0 WHERE id = 'n-54321'`)
	if got := logRows(t, b); got != rows+1 {
		t.Fatalf("b's log holds %d rows, want %d: the shell's update was not captured", got, rows+1)
	}
	want := "note id=t:n-54321: n differ: local n=i:54321; peer n=i:0\n" +
		"different: 1 difference in 1 table, 100000 rows compared\n"
	for _, peer := range []string{b, url} {
		if r := verify(peer); r.code != 1 || r.stdout != want {
			t.Errorf("verify --peer %s: exit %d\n%s%s\nwant exit 1 and\n%s", peer, r.code, r.stdout, r.stderr, want)
		}
		r := verify(peer, "--json")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var diff struct {
			Table, Kind, Side string
			Key, Local, Peer  map[string]string
			Columns           []string
		}
		var sum struct {
			Kind        string
			Equal       bool
			Differences int
			Rows        int
		}
		if r.code != 1 || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &diff) != nil || json.Unmarshal([]byte(lines[1]), &sum) != nil {
			t.Fatalf("verify --json --peer %s: exit %d\n%s%s", peer, r.code, r.stdout, r.stderr)
		}
		if diff.Table != "note" || diff.Kind != "row" || diff.Side != "both" || diff.Key["id"] != "t:n-54321" ||
			strings.Join(diff.Columns, ",") != "n" || diff.Local["n"] != "i:54321" || diff.Peer["n"] != "i:0" {
			t.Errorf("verify --json --peer %s: difference %s", peer, lines[0])
		}
		if sum.Kind != "summary" || sum.Equal || sum.Differences != 1 || sum.Rows != rows {
			t.Errorf("verify --json --peer %s: summary %s", peer, lines[1])
		}
	}
	// The shell puts the cell back: equal again.
	shell(t, b, `UPDATE note SET n = 54321 WHERE id = 'n-54321'`)
	if r := verify(url); r.code != 0 {
		t.Errorf("verify after the cell was put back: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
