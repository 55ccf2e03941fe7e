package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/migrations"
)

func TestExitCodesAndMessages(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	shell(t, db, `CREATE TABLE ok(id TEXT PRIMARY KEY, v); CREATE TABLE "no key"(a, b);`)
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		says string
	}{
		{nil, []string{"status", filepath.Join(dir, "missing.db")}, 1, "missing.db does not exist"},
		{nil, []string{"status", db}, 3, "trigsync is not installed in this database; run trigsync install"},
		{nil, []string{"install", db}, 3, `"no key" has no PRIMARY KEY`},
		{nil, []string{"install"}, 2, "install takes the database file (DB); got 0 arguments"},
		{nil, []string{"install", "--bogus", db}, 2, "flag provided but not defined: -bogus"},
		{nil, []string{"--log-format", "xml", "install", db}, 2, `--log-format "xml"`},
		{nil, []string{"changes", "--limit", "0", db}, 2, "--limit must be at least 1"},
		{nil, []string{"install", "--include", "nope", db}, 1, `--include names "nope"`},
		{[]string{"TRIGSYNC_EXCLUDE=no key"}, []string{"install", db}, 0, ""},
	} {
		r := run(t, tc.env, binary, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("trigsync %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.says)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range []string{"install", "uninstall", "status", "changes", "reset-node-id", "version"} {
		if out := trigsync(t, cmd, "--help"); !strings.Contains(out, "USAGE") || !strings.Contains(out, cmd) {
			t.Errorf("%s --help:\n%s", cmd, out)
		}
	}
	if out := trigsync(t, "--help"); !strings.Contains(out, "TRIGSYNC_LOG_FORMAT") {
		t.Errorf("--help should name the environment variables:\n%s", out)
	}
	if out := trigsync(t, "version"); !strings.Contains(out, "format 1") {
		t.Errorf("version: %s", out)
	}
}

// TestStatusJSON checks the documented, stable shape of status --json.
func TestStatusJSON(t *testing.T) {
	db := newDB(t, `CREATE TABLE a(id INTEGER PRIMARY KEY, v); CREATE VIRTUAL TABLE f USING fts5(x);
		CREATE TRIGGER a_f AFTER INSERT ON a BEGIN INSERT INTO f(rowid, x) VALUES (NEW.id, NEW.v); END;`)
	shell(t, db, `INSERT INTO a VALUES (1, 'x'); ALTER TABLE a ADD COLUMN w;`)
	var s struct {
		Database        string `json:"database"`
		Format          int    `json:"format"`
		MetadataVersion int    `json:"metadata_version"`
		SchemaVersion   int    `json:"schema_version"`
		NodeID          string `json:"node_id"`
		HLC             struct {
			Stamp   string `json:"stamp"`
			Time    string `json:"time"`
			Counter int    `json:"counter"`
		} `json:"hlc"`
		Changelog struct {
			Rows          int `json:"rows"`
			LastSeq       int `json:"last_seq"`
			PrunedThrough int `json:"pruned_through"`
		} `json:"changelog"`
		Tables []struct {
			Name        string   `json:"name"`
			Description int      `json:"description"`
			PrimaryKey  []string `json:"primary_key"`
			Columns     int      `json:"columns"`
			Counters    []string `json:"counters"`
			Warnings    []string `json:"warnings"`
			Stale       string   `json:"stale"`
		} `json:"tables"`
		Skipped []struct {
			Table  string `json:"table"`
			Reason string `json:"reason"`
		} `json:"skipped"`
		AppTriggers []struct {
			Name    string   `json:"name"`
			Table   string   `json:"table"`
			Writes  []string `json:"writes"`
			OnApply string   `json:"on_apply"`
			Chosen  bool     `json:"chosen"`
			Why     string   `json:"why"`
		} `json:"app_triggers"`
		Peers []struct {
			NodeID      string  `json:"node_id"`
			URL         string  `json:"url"`
			PulledSeq   int     `json:"pulled_seq"`
			AckedSeq    int     `json:"acked_seq"`
			Pending     int     `json:"pending"`
			Lag         float64 `json:"lag_seconds"`
			LastSuccess string  `json:"last_success"`
			LastError   string  `json:"last_error"`
			LastErrorAt string  `json:"last_error_at"`
		} `json:"peers"`
	}
	out := trigsync(t, "status", "--json", db)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("status --json does not match docs/CLI.md: %v\n%s", err, out)
	}
	if s.Format != 1 || s.MetadataVersion != migrations.Latest || len(s.NodeID) != 32 || s.HLC.Stamp == "0" || s.Changelog.Rows != 1 ||
		len(s.Tables) != 1 || s.Tables[0].Name != "a" || s.Tables[0].Stale == "" || len(s.Tables[0].Warnings) != 1 ||
		len(s.Skipped) == 0 || s.Skipped[0].Table != "f" || s.Peers == nil ||
		len(s.AppTriggers) != 1 || s.AppTriggers[0].Name != "a_f" || s.AppTriggers[0].OnApply != "fire" || s.AppTriggers[0].Writes[0] != "f" {
		t.Fatalf("status: %+v", s)
	}
	if text := trigsync(t, "status", db); !strings.Contains(text, "STALE") || !strings.Contains(text, "INTEGER PRIMARY KEY") {
		t.Fatalf("status text:\n%s", text)
	}
}

func TestDryRunResetAndUninstall(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	shell(t, db, `CREATE TABLE t(id TEXT PRIMARY KEY, v); INSERT INTO t VALUES ('a', 1);`)
	before := shell(t, db, `.schema`)
	if out := trigsync(t, "install", "--dry-run", db); !strings.Contains(out, `CREATE TRIGGER "_trigsync_i_t"`) {
		t.Fatalf("dry run:\n%s", out)
	}
	if after := shell(t, db, `.schema`); after != before {
		t.Fatal("dry run changed the schema")
	}
	trigsync(t, "install", db)
	shell(t, db, `UPDATE t SET v = 2`)

	// A copied file gets its own id; its history keeps the original's.
	copied := filepath.Join(dir, "copy.db")
	b, _ := os.ReadFile(db)
	os.WriteFile(copied, b, 0o644)
	orig := nodeID(t, db)
	out := trigsync(t, "reset-node-id", copied)
	fresh := nodeID(t, copied)
	if fresh == orig || !strings.Contains(out, fresh) || !strings.Contains(out, "was "+orig) {
		t.Fatalf("reset-node-id: %s", out)
	}
	shell(t, copied, `UPDATE t SET v = 3`)
	cs := changes(t, []string{binary}, copied)
	if len(cs) != 2 || cs[0].Origin != orig || cs[1].Origin != fresh {
		t.Fatalf("origins after reset: %+v", cs)
	}

	data := shell(t, db, `SELECT * FROM t`)
	trigsync(t, "uninstall", db)
	if got := shell(t, db, `SELECT * FROM t`); got != data {
		t.Fatalf("uninstall changed the data: %q → %q", data, got)
	}
	if got := shell(t, db, `.schema`); got != before {
		t.Fatalf("uninstall left objects behind:\n%s", got)
	}
}

func nodeID(t *testing.T, db string) string {
	var s struct {
		NodeID string `json:"node_id"`
	}
	if err := json.Unmarshal([]byte(trigsync(t, "status", "--json", db)), &s); err != nil {
		t.Fatal(err)
	}
	return s.NodeID
}

// TestARM64UnderQEMU runs the static linux/arm64 build under qemu: install
// on a database, capture a write made by the sqlite3 shell, decode it.
func TestARM64UnderQEMU(t *testing.T) {
	qemu, arm := arm64(t)
	if out, _ := exec.Command("file", arm).Output(); len(out) > 0 && !strings.Contains(string(out), "statically linked") {
		t.Fatalf("the arm64 binary must be static: %s", out)
	}
	db := filepath.Join(t.TempDir(), "arm.db")
	shell(t, db, `CREATE TABLE t(id TEXT PRIMARY KEY, v);`)
	if r := run(t, nil, qemu, arm, "install", db); r.code != 0 {
		t.Fatalf("install under qemu: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, qemu, arm, "version"); !strings.Contains(r.stdout, "linux/arm64") {
		t.Fatalf("version under qemu: %q", r.stdout)
	}
	shell(t, db, `INSERT INTO t VALUES ('from-shell', x'cafe'); UPDATE t SET v = -0.0;`)
	cs := changes(t, []string{qemu, arm}, db)
	if len(cs) != 2 || cs[0].Set["v"].String() != "b:yv4=" || cs[1].Set["v"].String() != "r:-0" {
		t.Fatalf("arm64 changes: %+v", cs)
	}
}

// TestSyncFiles: two databases written by the sqlite3 shell are merged by
// `trigsync sync --peer`; a constraint conflict is listed and retried.
func TestSyncFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	ddl := `CREATE TABLE user(id TEXT PRIMARY KEY, email TEXT UNIQUE, name TEXT);`
	shell(t, a, ddl)
	trigsync(t, "install", a)
	shell(t, a, `INSERT INTO user VALUES ('u0', 'zero@example.com', 'Zero');`)
	os.WriteFile(b, mustRead(t, a), 0o644) // a copy made with cp
	trigsync(t, "reset-node-id", b)
	shell(t, a, `UPDATE user SET name = 'Zed' WHERE id = 'u0'; INSERT INTO user VALUES ('u1', 'x@example.com', 'One');`)
	shell(t, b, `UPDATE user SET email = 'z@example.com' WHERE id = 'u0'; INSERT INTO user VALUES ('u2', 'x@example.com', 'Two');`)

	if out := trigsync(t, "sync", a, "--peer", b); out != "sent 1, received 1, conflicts 2, held 0\n" {
		t.Fatalf("sync: %q", out)
	}
	if out := trigsync(t, "sync", a, "--peer", b); out != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Fatalf("second sync: %q", out)
	}
	if got := shell(t, a, `SELECT * FROM user WHERE id = 'u0'`); got != "u0|z@example.com|Zed\n" {
		t.Fatalf("concurrent edits of different columns: %q", got)
	}
	out := trigsync(t, "conflicts", "--json", a)
	if !strings.Contains(out, `"kind":"error"`) || !strings.Contains(out, "UNIQUE constraint failed: user.email") {
		t.Fatalf("conflicts: %s", out)
	}
	// Fix the cause on both sides, retry, sync: the nodes agree.
	shell(t, a, `UPDATE user SET email = 'one@example.com' WHERE id = 'u1'`)
	shell(t, b, `UPDATE user SET email = 'two@example.com' WHERE id = 'u2'`)
	trigsync(t, "sync", a, "--peer", b)
	trigsync(t, "conflicts", "--retry", a)
	trigsync(t, "conflicts", "--retry", b)
	trigsync(t, "sync", a, "--peer", b)
	da, db := shell(t, a, `SELECT * FROM user ORDER BY id`), shell(t, b, `SELECT * FROM user ORDER BY id`)
	if da != db || strings.Count(da, "\n") != 3 {
		t.Fatalf("a:\n%s\nb:\n%s", da, db)
	}
	if r := run(t, nil, binary, "sync", a, "--peer", filepath.Join(dir, "missing.db")); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("sync with a missing peer: %d %s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpgradeThenSync: databases installed by a trigsync of metadata
// version 1 are upgraded in place by the commands that write, then merge.
func TestUpgradeThenSync(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	shell(t, a, ".read "+filepath.Join(testutil.RepoRoot(), "testdata/metadata-v1.sql"))
	shell(t, a, "VACUUM INTO '"+b+"'")
	trigsync(t, "reset-node-id", b)
	shell(t, a, `UPDATE note SET n = 10 WHERE id = 'a'`)
	shell(t, b, `UPDATE note SET body = 'from b' WHERE id = 'a'; INSERT INTO note VALUES ('e', 'new', 5);`)
	trigsync(t, "sync", a, "--peer", b)
	da, db := shell(t, a, `SELECT * FROM note ORDER BY id`), shell(t, b, `SELECT * FROM note ORDER BY id`)
	if da != db || !strings.Contains(da, "a|from b|10") || !strings.Contains(da, "e|new|5") {
		t.Fatalf("a:\n%s\nb:\n%s", da, db)
	}
	var s struct {
		MetadataVersion int `json:"metadata_version"`
	}
	json.Unmarshal([]byte(trigsync(t, "status", "--json", a)), &s)
	if s.MetadataVersion != migrations.Latest {
		t.Fatalf("metadata version %d after sync", s.MetadataVersion)
	}
}
