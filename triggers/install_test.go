package triggers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/triggers"
)

var ctx = context.Background()

func install(t *testing.T, db *sqlx.DB, opts triggers.Options) triggers.Report {
	t.Helper()
	r, err := triggers.Install(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// schemaDump lists every schema object with its SQL.
func schemaDump(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var rows []string
	if err := db.Select(&rows, `SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_schema ORDER BY type, name`); err != nil {
		t.Fatal(err)
	}
	return strings.Join(rows, "\n")
}

func TestInstallChinook(t *testing.T) {
	db, _ := testutil.NewDB(t, readFile(t, "testdata/chinook/Chinook_Sqlite.sql"))
	r := install(t, db, triggers.Options{})

	if !r.NewNode || len(r.NodeID) != 32 {
		t.Fatalf("node id %q (new %v): want a fresh 32-digit id", r.NodeID, r.NewNode)
	}
	got := map[string][]string{}
	for _, tb := range r.Tables {
		got[tb.Name] = tb.PrimaryKey
		if tb.Name != "PlaylistTrack" && !slices.Contains(tb.Warnings, triggers.WarnRowidKey) {
			t.Errorf("%s: want the INTEGER PRIMARY KEY warning, got %q", tb.Name, tb.Warnings)
		}
	}
	if len(got) != 11 || !reflect.DeepEqual(got["PlaylistTrack"], []string{"PlaylistId", "TrackId"}) ||
		!reflect.DeepEqual(got["Track"], []string{"TrackId"}) {
		t.Fatalf("replicated tables: %v", got)
	}

	db.MustExec(`UPDATE Track SET Name = 'Renamed', UnitPrice = 1.29 WHERE TrackId = 1`)
	db.MustExec(`DELETE FROM PlaylistTrack WHERE PlaylistId = 1 AND TrackId = 3402`)
	db.MustExec(`INSERT INTO Genre (GenreId, Name) VALUES (26, 'Polka')`)
	cs := testutil.Changes(t, db)
	if len(cs) != 3 {
		t.Fatalf("want 3 changes, got %d: %+v", len(cs), cs)
	}
	// UnitPrice was 0.99, so both columns changed; nothing else is logged.
	want := []struct {
		table, op string
		key, set  changelog.Cells
	}{
		{"Track", "U", cells("TrackId", changelog.Int64(1)), cells("Name", changelog.String("Renamed"), "UnitPrice", changelog.Float(1.29))},
		{"PlaylistTrack", "D", cells("PlaylistId", changelog.Int64(1), "TrackId", changelog.Int64(3402)), nil},
		{"Genre", "I", cells("GenreId", changelog.Int64(26)), cells("Name", changelog.String("Polka"))},
	}
	for i, w := range want {
		c := cs[i]
		if c.Table != w.table || string(c.Op) != w.op || !equalCells(c.Key, w.key) || !equalCells(c.Set, w.set) {
			t.Errorf("change %d: got %s %s key %v set %v; want %s %s key %v set %v",
				i, c.Table, c.Op, c.Key, c.Set, w.table, w.op, w.key, w.set)
		}
	}
}

func cells(kv ...any) changelog.Cells {
	var cs changelog.Cells
	for i := 0; i < len(kv); i += 2 {
		cs = append(cs, changelog.Cell{Column: kv[i].(string), Value: kv[i+1].(changelog.Value)})
	}
	return cs
}

func equalCells(a, b changelog.Cells) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Column != b[i].Column || !a[i].Value.Equal(b[i].Value) {
			return false
		}
	}
	return true
}

func TestHostileIdentifiers(t *testing.T) {
	db, _ := testutil.NewDB(t, readFile(t, "testdata/hostile.sql"))
	r := install(t, db, triggers.Options{})
	if len(r.Tables) != 7 {
		t.Fatalf("want all 7 tables replicated, got %+v (skipped %+v)", r.Tables, r.Skipped)
	}
	db.MustExec(`INSERT INTO "select" VALUES ('a', 1, 2.5)`)
	db.MustExec(`UPDATE "select" SET "where" = 2 WHERE "from" = 'a'`)
	db.MustExec(`INSERT INTO "my table" VALUES ('id 1', x'00ff', 'b')`)
	db.MustExec(`INSERT INTO "we""ird'table" VALUES (1, 'two', 'x'';DROP TABLE "select";--')`)
	db.MustExec(`UPDATE "we""ird'table" SET 'k''2' = 'three'`)
	db.MustExec(`INSERT INTO "ünïcødé 表" VALUES ('ключ', 1.0)`)
	db.MustExec(`UPDATE "ünïcødé 表" SET "値" = 1`)
	db.MustExec(`INSERT INTO "a,b" VALUES ('k', 'abc', '1.0', 1)`)
	db.MustExec(`UPDATE "a,b" SET c = 'ABC'`) // NOCASE-equal, but a change
	db.MustExec(`UPDATE "a,b" SET u = 1.0`)   // 1 and 1.0 are distinct values
	db.MustExec(`UPDATE "a,b" SET n = 1.0`)   // NUMERIC stores 1.0 as 1: no change
	db.MustExec(`INSERT INTO gen (id, a) VALUES ('g', 2)`)
	db.MustExec(`UPDATE gen SET a = 3`)
	db.MustExec(`INSERT INTO "_trigsync" VALUES ('x', 'y', 'z')`)

	var got []string
	for _, c := range testutil.Changes(t, db) {
		k, _ := c.Key.MarshalJSON()
		s, _ := c.Set.MarshalJSON()
		got = append(got, c.Table+" "+string(c.Op)+" "+string(k)+" "+string(s))
	}
	want := []string{
		`select I {"from":"t:a"} {"where":"i:1","order":"r:2.5"}`,
		`select U {"from":"t:a"} {"where":"i:2"}`,
		`my table I {"my id":"t:id 1"} {"the \"value\"":"b:AP8=","bracket col":"t:b"}`,
		`we"ird'table I {"k\"1":"i:1","k'2":"t:two"} {"v;--":"t:x';DROP TABLE \"select\";--"}`,
		`we"ird'table D {"k\"1":"i:1","k'2":"t:two"} {}`,
		`we"ird'table I {"k\"1":"i:1","k'2":"t:three"} {"v;--":"t:x';DROP TABLE \"select\";--"}`,
		`ünïcødé 表 I {"ключ":"t:ключ"} {"値":"r:1"}`,
		`ünïcødé 表 U {"ключ":"t:ключ"} {"値":"i:1"}`,
		`a,b I {"x,y":"t:k"} {"c":"t:abc","n":"i:1","u":"i:1"}`,
		`a,b U {"x,y":"t:k"} {"c":"t:ABC"}`,
		`a,b U {"x,y":"t:k"} {"u":"r:1"}`,
		`gen I {"id":"t:g"} {"a":"i:2"}`,
		`gen U {"id":"t:g"} {"a":"i:3"}`,
		`_trigsync I {"_trigsync_i_x":"t:x"} {"END":"t:y","BEGIN":"t:z"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRefusesTableWithoutPrimaryKey(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE good(id TEXT PRIMARY KEY)`, `CREATE TABLE "no key"(a, b)`)
	before := schemaDump(t, db)
	_, err := triggers.Install(ctx, db, triggers.Options{})
	if !errors.Is(err, triggers.ErrNoPrimaryKey) {
		t.Fatalf("want ErrNoPrimaryKey, got %v", err)
	}
	for _, want := range []string{`"no key" has no PRIMARY KEY`, "--exclude no key", "UUIDv7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should say %q", err, want)
		}
	}
	if after := schemaDump(t, db); after != before {
		t.Fatalf("a refused install changed the schema:\n%s", after)
	}
	r := install(t, db, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"NO KEY"}}})
	if len(r.Tables) != 1 || !slices.Contains(r.Skipped, triggers.Skipped{Table: "no key", Reason: "named by --exclude"}) {
		t.Fatalf("tables %+v skipped %+v", r.Tables, r.Skipped)
	}
	// The selection is remembered.
	if r := install(t, db, triggers.Options{}); len(r.Statements) != 0 || len(r.Tables) != 1 {
		t.Fatalf("second install: %d statements, tables %+v", len(r.Statements), r.Tables)
	}
	if _, err := triggers.Install(ctx, db, triggers.Options{Selection: &triggers.Selection{Include: []string{"nope"}}}); err == nil ||
		!strings.Contains(err.Error(), `--include names "nope", which is not a table`) {
		t.Fatalf("unknown table in --include: %v", err)
	}
}

func TestSkipsVirtualShadowAndSQLiteTables(t *testing.T) {
	db, _ := testutil.NewDB(t,
		`CREATE TABLE doc(id TEXT PRIMARY KEY, body TEXT)`,
		`CREATE VIRTUAL TABLE doc_fts USING fts5(body)`,
		`CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, v)`,
		`INSERT INTO seq(v) VALUES (1)`)
	r := install(t, db, triggers.Options{})
	reasons := map[string]string{}
	for _, s := range r.Skipped {
		reasons[s.Table] = s.Reason
	}
	if !strings.HasPrefix(reasons["doc_fts"], "virtual table") || reasons["doc_fts_data"] != "shadow table of a virtual table" ||
		reasons["sqlite_sequence"] != "SQLite's own table" {
		t.Fatalf("skipped: %v", reasons)
	}
	if len(r.Tables) != 2 {
		t.Fatalf("replicated: %+v", r.Tables)
	}
	db.MustExec(`INSERT INTO doc_fts VALUES ('hello')`) // no trigger, no error
}

func TestInstallIsIdempotent(t *testing.T) {
	db, _ := testutil.NewDB(t, readFile(t, "testdata/hostile.sql"))
	first := install(t, db, triggers.Options{})
	before := schemaDump(t, db)
	second := install(t, db, triggers.Options{})
	if len(second.Statements) != 0 || second.NewNode || second.NodeID != first.NodeID {
		t.Fatalf("second install: %d statements, new node %v", len(second.Statements), second.NewNode)
	}
	if after := schemaDump(t, db); after != before {
		t.Fatalf("second install changed the schema")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id TEXT PRIMARY KEY, v)`)
	before := schemaDump(t, db)
	r := install(t, db, triggers.Options{DryRun: true})
	if len(r.Statements) != 4 || !strings.HasPrefix(r.Statements[0], `CREATE TRIGGER "_trigsync_i_t"`) {
		t.Fatalf("dry run statements: %q", r.Statements)
	}
	if after := schemaDump(t, db); after != before {
		t.Fatalf("dry run changed the schema:\n%s", after)
	}
}

func TestReinstallAfterHandMadeSchemaChange(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE a(id TEXT PRIMARY KEY, v)`, `CREATE TABLE b(id TEXT PRIMARY KEY, v)`)
	first := install(t, db, triggers.Options{})
	db.MustExec(`INSERT INTO a VALUES ('1', 'old')`)
	db.MustExec(`ALTER TABLE a ADD COLUMN w TEXT`)

	st, err := triggers.Inspect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tables[0].Stale == "" || st.Tables[1].Stale != "" {
		t.Fatalf("want a stale, b fresh: %+v", st.Tables)
	}
	r := install(t, db, triggers.Options{})
	for _, s := range r.Statements {
		if strings.Contains(s, `ON "b"`) {
			t.Errorf("b's triggers were regenerated: %s", s)
		}
	}
	if len(r.Statements) == 0 || r.Tables[0].Description == first.Tables[0].Description {
		t.Fatalf("a was not regenerated under a new description: %+v", r.Tables)
	}
	db.MustExec(`INSERT INTO a VALUES ('2', 'new', 'w')`)
	cs := testutil.Changes(t, db)
	if len(cs) != 2 || len(cs[0].Set) != 1 || len(cs[1].Set) != 2 || cs[1].Set[1].Column != "w" {
		t.Fatalf("old row must decode with the old description, new with the new: %+v", cs)
	}
	// A dropped trigger is noticed and restored.
	db.MustExec(`DROP TRIGGER "_trigsync_d_b"`)
	if st, _ := triggers.Inspect(ctx, db); st.Tables[1].Stale == "" {
		t.Fatal("a missing trigger should make the table stale")
	}
	if r := install(t, db, triggers.Options{}); len(r.Statements) != 1 {
		t.Fatalf("want the one trigger recreated: %q", r.Statements)
	}
}

func TestUninstallKeepsDataAndAppTriggers(t *testing.T) {
	db, _ := testutil.NewDB(t, readFile(t, "testdata/chinook/Chinook_Sqlite.sql"),
		`CREATE TABLE audit(id INTEGER PRIMARY KEY, what TEXT)`,
		`CREATE TRIGGER app_audit AFTER UPDATE ON Artist BEGIN INSERT INTO audit(what) VALUES (NEW.Name); END`)
	install(t, db, triggers.Options{})
	db.MustExec(`UPDATE Artist SET Name = 'AC/DC (live)' WHERE ArtistId = 1`)
	if n := len(testutil.Changes(t, db)); n != 2 { // the Artist update and the app trigger's audit row
		t.Fatalf("want 2 changes, got %d", n)
	}
	data := testutil.Dump(t, db)
	dropped, err := triggers.Uninstall(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	triggersDropped := 0
	for _, d := range dropped {
		if strings.HasPrefix(d, "DROP TRIGGER") {
			triggersDropped++
		}
	}
	if triggersDropped != 12*3+11 { // 12 tables × i,k,d; 11 with non-key columns × u
		t.Errorf("dropped %d triggers: %q", triggersDropped, dropped)
	}
	if got := testutil.Dump(t, db); got != data {
		t.Fatal("uninstall changed the data")
	}
	var left []string
	db.Select(&left, `SELECT name FROM sqlite_schema WHERE name LIKE '%trigsync%'`)
	var app int
	db.Get(&app, `SELECT count(*) FROM sqlite_schema WHERE name = 'app_audit'`)
	if len(left) != 0 || app != 1 {
		t.Fatalf("left behind %q; app trigger present: %d", left, app)
	}
	db.MustExec(`UPDATE Artist SET Name = 'AC/DC' WHERE ArtistId = 1`) // still works without trigsync
}

func TestEchoSuppression(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(id TEXT PRIMARY KEY, v)`)
	install(t, db, triggers.Options{})
	tx := db.MustBegin()
	tx.MustExec(`UPDATE _trigsync_clock SET applying = 1`)
	tx.MustExec(`INSERT INTO t VALUES ('a', 1)`)
	tx.MustExec(`UPDATE t SET v = 2`)
	tx.MustExec(`DELETE FROM t`)
	tx.MustExec(`UPDATE _trigsync_clock SET applying = 0`)
	tx.MustExec(`INSERT INTO t VALUES ('b', 1)`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	cs := testutil.Changes(t, db)
	if len(cs) != 1 || cs[0].Key[0].Value.Text != "b" {
		t.Fatalf("only the write outside the flag may be logged: %+v", cs)
	}
}

func TestUpdates(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE t(a TEXT, b INTEGER, x, y REAL, PRIMARY KEY (a, b))`)
	install(t, db, triggers.Options{})
	db.MustExec(`INSERT INTO t VALUES ('k', 1, 'x', 1.5)`)
	db.MustExec(`UPDATE t SET x = 'x', y = 1.5`)       // nothing changes: nothing logged
	db.MustExec(`UPDATE t SET x = 'x2'`)               // one column
	db.MustExec(`UPDATE t SET b = 2, y = 3`)           // key change: D old, I new
	db.MustExec(`UPDATE t SET a = a, b = b, x = 'x3'`) // key set but unchanged: a plain update
	var got []string
	var last changelog.Change
	for i, c := range testutil.Changes(t, db) {
		k, _ := c.Key.MarshalJSON()
		s, _ := c.Set.MarshalJSON()
		got = append(got, string(c.Op)+" "+string(k)+" "+string(s))
		if i > 0 && c.HLC <= last.HLC {
			t.Errorf("stamps must increase: %v then %v", last.HLC, c.HLC)
		}
		last = c
	}
	want := []string{
		`I {"a":"t:k","b":"i:1"} {"x":"t:x","y":"r:1.5"}`,
		`U {"a":"t:k","b":"i:1"} {"x":"t:x2"}`,
		`D {"a":"t:k","b":"i:1"} {}`,
		`I {"a":"t:k","b":"i:2"} {"x":"t:x2","y":"r:3"}`,
		`U {"a":"t:k","b":"i:2"} {"x":"t:x3"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWideTable(t *testing.T) {
	cols := []string{"id TEXT PRIMARY KEY"}
	for i := 1; i < 150; i++ {
		cols = append(cols, "c"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+strconv.Itoa(i))
	}
	db, _ := testutil.NewDB(t, `CREATE TABLE wide(`+strings.Join(cols, ", ")+`)`)
	install(t, db, triggers.Options{})
	db.MustExec(`INSERT INTO wide(id) VALUES ('w')`)
	last := strings.Fields(cols[149])[0]
	db.MustExec(`UPDATE wide SET ` + last + ` = 'end', ` + strings.Fields(cols[64])[0] + ` = 64`)
	cs := testutil.Changes(t, db)
	if len(cs) != 2 || len(cs[0].Set) != 149 || len(cs[1].Set) != 2 || cs[1].Set[1].Column != last {
		t.Fatalf("wide table: %d changes, sets %d and %+v", len(cs), len(cs[0].Set), cs[len(cs)-1].Set)
	}
}
