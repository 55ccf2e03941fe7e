package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of `trigsync migrate` (docs/MIGRATIONS.md) with real processes:
// schema versions made on one node while others write on the old schema,
// reaching every node in every order, DROP COLUMN against a writer, DDL
// made by hand and adopted, two nodes migrating at once, and the
// migrations refused before anything runs.

// syncLine is sync's one line: what the peer applied, what this node
// applied, what either set aside, and (when some) the changes made on an
// older schema that lost cells or were dropped.
var syncLine = regexp.MustCompile(`^sent (\d+), received (\d+), conflicts (\d+), held (\d+)(?:, dropped (\d+))?\n$`)

type syncSummary struct {
	sent, received, conflicts, held, dropped int
	line                                     string
}

func parseSync(t *testing.T, out string) syncSummary {
	t.Helper()
	m := syncLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("sync printed %q, not its summary line", out)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return syncSummary{n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[5]), strings.TrimSpace(out)}
}

// syncWith runs `trigsync sync db --peer peer` (a file or a URL), which
// must exit 0, and returns its summary.
func syncWith(t *testing.T, env []string, db, peer string) syncSummary {
	t.Helper()
	r := run(t, env, binary, "sync", db, "--peer", peer)
	if r.code != 0 {
		t.Fatalf("sync %s --peer %s: exit %d\n%s%s", filepath.Base(db), filepath.Base(peer), r.code, r.stdout, r.stderr)
	}
	return parseSync(t, r.stdout)
}

// schemaVersion is `status --json`'s schema_version, which must be there.
func schemaVersion(t *testing.T, db string) int64 {
	t.Helper()
	var s struct {
		SchemaVersion *int64 `json:"schema_version"`
	}
	out := trigsync(t, "status", "--json", db)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json %s: %v\n%s", filepath.Base(db), err, out)
	}
	if s.SchemaVersion == nil {
		t.Fatalf("status --json %s has no schema_version:\n%s", filepath.Base(db), out)
	}
	return *s.SchemaVersion
}

// openConflicts is `trigsync conflicts --json`: one JSON object per open
// conflict.
type openConflict struct {
	ID     int64           `json:"id"`
	Kind   string          `json:"kind"`
	Table  string          `json:"table"`
	Change json.RawMessage `json:"change"`
	Error  string          `json:"error"`
}

func openConflicts(t *testing.T, db string) []openConflict {
	t.Helper()
	out := trigsync(t, "conflicts", "--json", db)
	var list []openConflict
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var c openConflict
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("conflicts --json %s: %v\n%s", filepath.Base(db), err, out)
		}
		list = append(list, c)
	}
	return list
}

func checkNoConflicts(t *testing.T, dbs ...string) {
	t.Helper()
	for _, db := range dbs {
		if list := openConflicts(t, db); len(list) > 0 {
			var why []string
			for _, c := range list[:min(5, len(list))] {
				why = append(why, fmt.Sprintf("#%d %s %s: %s", c.ID, c.Kind, c.Table, c.Error))
			}
			t.Errorf("%s has %d open conflicts, e.g. %s", filepath.Base(db), len(list), strings.Join(why, "; "))
		}
	}
}

// tableSQL is the CREATE TABLE statement SQLite stores for a table.
func tableSQL(t *testing.T, db, table string) string {
	t.Helper()
	return shell(t, db, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = '`+table+`'`)
}

// columns is the table's column names, in order.
func columns(t *testing.T, db, table string) []string {
	t.Helper()
	return strings.Fields(shell(t, db, `SELECT name FROM pragma_table_info('`+table+`') ORDER BY cid`))
}

// dumpAll is every column of note, quoted, ordered by id.
func dumpAll(t *testing.T, db string) string {
	t.Helper()
	cols := columns(t, db, "note")
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `quote("` + c + `")`
	}
	return shell(t, db, `SELECT `+strings.Join(q, ", ")+` FROM note ORDER BY id`)
}

// schemaRows is a node's _trigsync_schema: version, node and SQL of each
// schema version it applied.
func schemaRows(t *testing.T, db string) string {
	t.Helper()
	return shell(t, db, `SELECT version, node, quote(sql) FROM _trigsync_schema ORDER BY version`)
}

// copyNode copies a node's database byte for byte (node id included),
// after moving its WAL into the main file.
func copyNode(t *testing.T, src, dst string) {
	t.Helper()
	shell(t, src, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("%s-wal still holds %d bytes after the checkpoint", filepath.Base(src), fi.Size())
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// migrateOK runs a migration that must succeed and checks its line.
func migrateOK(t *testing.T, db string, version int, kinds string, args ...string) {
	t.Helper()
	out := trigsync(t, append([]string{"migrate", db}, args...)...)
	n := strings.Count(kinds, ",") + 1
	noun := "statements"
	if n == 1 {
		noun = "statement"
	}
	want := fmt.Sprintf("%s is at schema version %d: %d %s (%s); peers apply it on their next exchange\n", db, version, n, noun, kinds)
	if out != want {
		t.Fatalf("migrate printed %q, want %q", out, want)
	}
}

// noteRow is what a test expects of one row of note after a migration
// that renamed body to text and added tag.
type noteRow struct {
	text, tag string // "" for NULL tag
	n         int
}

func (r noteRow) dump(id string) string {
	tag := "NULL"
	if r.tag != "" {
		tag = "'" + r.tag + "'"
	}
	return fmt.Sprintf("'%s'|'%s'|%d|%s\n", id, r.text, r.n, tag)
}

func expectedDump(rows map[string]noteRow) string {
	ids := make([]string, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(rows[id].dump(id))
	}
	return b.String()
}

// deviceWriter is an application on a device writing note with the
// sqlite3 shell: on the old schema (body) until its node has applied the
// migration (the old statements fail then), on the new one (text, tag)
// after, as an application upgraded with its database would.
type deviceWriter struct {
	name, db string
	ops      int
	done     atomic.Int64 // operations committed
	finished atomic.Bool
	oldOps   int // operations made on the old schema (valid once finished)
	rows     map[string]noteRow
	shared   func(k int, newSchema bool) string // this writer's edit of the shared row
	err      error
}

// write runs the writer's operations: each inserts a row, and every fifth
// also edits an earlier row of its own and the shared row, in one
// transaction.
func (w *deviceWriter) write() {
	defer w.finished.Store(true)
	w.rows = map[string]noteRow{}
	newSchema := false
	for k := 0; k < w.ops; k++ {
		id := fmt.Sprintf("%s-%03d", w.name, k)
		for attempt := 0; ; attempt++ {
			col, insert := "body", fmt.Sprintf(`INSERT INTO note(id, body, n) VALUES ('%s', '%s body %d', %d);`, id, w.name, k, k)
			if newSchema {
				col, insert = "text", fmt.Sprintf(`INSERT INTO note(id, text, n, tag) VALUES ('%s', '%s body %d', %d, 'new on %s');`, id, w.name, k, k, w.name)
			}
			sql := "BEGIN;" + insert
			if k%5 == 4 {
				sql += fmt.Sprintf(`UPDATE note SET %s = '%s edit %d' WHERE id = '%s-%03d';`, col, w.name, k, w.name, k-2)
				sql += w.shared(k, newSchema)
			}
			sql += "COMMIT;"
			err := shellErr(w.db, sql)
			if err != nil && !newSchema && attempt == 0 &&
				(strings.Contains(err.Error(), "no column named body") || strings.Contains(err.Error(), "no such column: body")) {
				newSchema = true // the migration reached this node: the application is upgraded
				continue
			}
			if err != nil {
				w.err = fmt.Errorf("%s, operation %d (new schema: %v): %w", w.name, k, newSchema, err)
				return
			}
			break
		}
		tag := ""
		if newSchema {
			tag = "new on " + w.name
		} else {
			w.oldOps = k + 1
		}
		w.rows[id] = noteRow{text: fmt.Sprintf("%s body %d", w.name, k), n: k, tag: tag}
		if k%5 == 4 {
			edited := fmt.Sprintf("%s-%03d", w.name, k-2)
			r := w.rows[edited]
			r.text = fmt.Sprintf("%s edit %d", w.name, k)
			w.rows[edited] = r
		}
		w.done.Add(1)
		time.Sleep(5 * time.Millisecond) // an application's pace: the syncs run meanwhile
	}
}

// TestMigrateWhileOthersWrite: a hub runs serve; two devices write note
// with the sqlite3 shell, 100 transactions each on the old schema, and
// sync with the hub every 50 ms meanwhile. The hub migrates (ADD COLUMN
// tag, RENAME COLUMN body TO text) while serve runs and the devices
// write, then writes rows using tag. b's syncs are paused around the
// migration, so that it ships at least 10 old-schema changes after the
// hub made the version, which the hub translates; c's go on, racing with
// the migration (serve applies c's pushes while migrate waits for the
// write lock, or after it). Each device's application switches to the
// new schema once its node applied the version. After the writers stop and a few rounds, every node is at
// schema version 1 with the same table and the same rows: the
// old-schema rows with their values under text, the edits of the shared
// row made on both schemas; no conflict, every change once.
func TestMigrateWhileOthersWrite(t *testing.T) {
	start := time.Now()
	nodes := newReplicas(t, noteTable, "hub", "b", "c")
	hub, devB, devC := nodes[0], nodes[1], nodes[2]
	const token = "migrate-token"
	env := []string{"TRIGSYNC_TOKEN=" + token}
	shell(t, hub, `INSERT INTO note VALUES ('shared', 'from the hub', 0)`)
	url := startServe(t, hub, token)
	syncWith(t, env, devB, url)
	syncWith(t, env, devC, url)

	// b edits the shared row's body (text), c its n: both survive, each the
	// writer's last value.
	var lastB, lastC atomic.Int64
	writers := []*deviceWriter{
		{name: "b", db: devB, ops: 100, shared: func(k int, newSchema bool) string {
			lastB.Store(int64(k))
			if newSchema {
				return fmt.Sprintf(`UPDATE note SET text = 'shared by b %d' WHERE id = 'shared';`, k)
			}
			return fmt.Sprintf(`UPDATE note SET body = 'shared by b %d' WHERE id = 'shared';`, k)
		}},
		{name: "c", db: devC, ops: 100, shared: func(k int, _ bool) string {
			lastC.Store(int64(k))
			return fmt.Sprintf(`UPDATE note SET n = %d WHERE id = 'shared';`, k)
		}},
	}
	pause := make([]sync.Mutex, len(writers)) // held by a device's sync; the test takes it to pause them
	var wg sync.WaitGroup
	syncErrs := make(chan string, 1000)
	var syncs atomic.Int64
	for i, w := range writers {
		wg.Add(2)
		go func() { defer wg.Done(); w.write() }()
		go func() {
			defer wg.Done()
			for n := 0; n < 400 && !w.finished.Load(); n++ {
				pause[i].Lock()
				r, err := runQuiet(env, binary, "sync", w.db, "--peer", url)
				pause[i].Unlock()
				syncs.Add(1)
				switch {
				case err != nil:
					syncErrs <- err.Error()
				case r.code != 0 || !syncLine.MatchString(r.stdout):
					syncErrs <- fmt.Sprintf("sync %s: exit %d: %s%s", w.name, r.code, r.stdout, r.stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	waitProgress := func(what string, f func(w *deviceWriter) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			ok := true
			for _, w := range writers {
				ok = ok && (f(w) || w.finished.Load())
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitProgress("30 writes on each device", func(w *deviceWriter) bool { return w.done.Load() >= 30 })

	// Pause b's syncs: b keeps writing on the old schema while the hub
	// migrates, and ships those changes after the migration.
	pause[0].Lock()
	atMigration := make([]int64, len(writers))
	for i, w := range writers {
		atMigration[i] = w.done.Load()
	}
	migrateOK(t, hub, 1, "ADD COLUMN, RENAME COLUMN", "--sql", "ALTER TABLE note ADD COLUMN tag TEXT; ALTER TABLE note RENAME COLUMN body TO text")
	hubRows := map[string]noteRow{}
	for k := 0; k < 20; k++ {
		id := fmt.Sprintf("hub-%02d", k)
		shell(t, hub, fmt.Sprintf(`INSERT INTO note(id, text, n, tag) VALUES ('%s', 'hub text %d', %d, 'hub tag %d')`, id, k, k, k))
		hubRows[id] = noteRow{text: fmt.Sprintf("hub text %d", k), n: k, tag: fmt.Sprintf("hub tag %d", k)}
	}
	shell(t, hub, `UPDATE note SET tag = 'tagged on the hub' WHERE id = 'shared'`)
	waitProgress("10 more old-schema writes on b", func(w *deviceWriter) bool {
		return w != writers[0] || w.done.Load() >= atMigration[0]+10
	})
	pause[0].Unlock()
	wg.Wait()
	close(syncErrs)
	for e := range syncErrs {
		t.Errorf("a sync during the writes failed: %s", e)
	}
	for _, w := range writers {
		if w.err != nil {
			t.Fatalf("writer: %v", w.err)
		}
		t.Logf("device %s: %d of %d writes on the old schema (%d before the migration)", w.name, w.oldOps, w.ops, atMigration[slices.Index(writers, w)])
		if min := map[string]int{"b": 40, "c": 30}[w.name]; w.oldOps < min {
			t.Errorf("device %s made %d writes on the old schema, want at least %d (30 before the migration, for b 10 after)", w.name, w.oldOps, min)
		}
	}
	t.Logf("%d syncs during the writes", syncs.Load())

	want := map[string]noteRow{}
	for _, w := range writers {
		for id, r := range w.rows {
			want[id] = r
		}
	}
	for id, r := range hubRows {
		want[id] = r
	}
	want["shared"] = noteRow{text: fmt.Sprintf("shared by b %d", lastB.Load()), n: int(lastC.Load()), tag: "tagged on the hub"}
	wantDump := expectedDump(want)

	converged := func() bool {
		d := dumpAll(t, hub)
		return d == wantDump && dumpAll(t, devB) == d && dumpAll(t, devC) == d
	}
	rounds := 0
	for ; rounds < 8 && !converged(); rounds++ {
		syncWith(t, env, devB, url)
		syncWith(t, env, devC, url)
	}
	t.Logf("converged after %d rounds", rounds)
	for _, db := range []string{devB, devC} {
		if s := syncWith(t, env, db, url); s.sent+s.received+s.conflicts+s.held != 0 {
			t.Errorf("sync %s after convergence: %s", filepath.Base(db), s.line)
		}
	}

	wantTable := "CREATE TABLE note(id TEXT PRIMARY KEY, text TEXT, n INTEGER, tag TEXT)\n"
	for _, db := range nodes {
		name := filepath.Base(db)
		if v := schemaVersion(t, db); v != 1 {
			t.Errorf("%s is at schema version %d, want 1", name, v)
		}
		if got := tableSQL(t, db, "note"); got != wantTable {
			t.Errorf("%s's note: %q, want %q", name, got, wantTable)
		}
		if got := dumpAll(t, db); got != wantDump {
			t.Errorf("%s's rows differ from what was written:\n%s", name, lineDiff(wantDump, got))
		}
		for _, w := range writers {
			id := w.name + "-000" // written on the old schema, never edited
			if got := shell(t, db, `SELECT quote(text), quote(tag) FROM note WHERE id = '`+id+`'`); got != "'"+w.name+" body 0'|NULL\n" {
				t.Errorf("%s: the old-schema row %s reads %q under text, tag", name, id, got)
			}
		}
		checkIntegrity(t, db)
	}
	if got := schemaRows(t, devB); got != schemaRows(t, hub) || got != schemaRows(t, devC) {
		t.Errorf("the nodes recorded different schema versions:\nhub: %sb: %sc: %s", schemaRows(t, hub), got, schemaRows(t, devC))
	}
	checkNoConflicts(t, nodes...)

	// The devices' old-schema changes made before they received version 1
	// but shipped after the hub made it: the hub translated them. b made
	// at least 10 (its sync was paused); c, as it happened.
	hubLog := readLog(t, hub)
	hubS := slices.IndexFunc(hubLog, func(c logRow) bool { return c.Op == "S" })
	for _, w := range writers {
		devLog := readLog(t, w.db)
		devS := slices.IndexFunc(devLog, func(c logRow) bool { return c.Op == "S" })
		if hubS < 0 || devS < 0 {
			t.Fatalf("no schema row in the hub's (%d) or %s's (%d) log", hubS, w.name, devS)
		}
		id := nodeID(t, w.db)
		before := map[int64]bool{}
		for _, c := range devLog[:devS] {
			if c.Origin == id {
				before[c.OriginSeq] = true
			}
		}
		translated := 0
		for _, c := range hubLog[hubS+1:] {
			if c.Origin == id && before[c.OriginSeq] {
				translated++
			}
		}
		t.Logf("device %s: %d old-schema changes reached the hub after its migration", w.name, translated)
		if w.name == "b" && translated < 10 {
			t.Errorf("device %s: %d old-schema changes reached the hub after its migration, want at least 10", w.name, translated)
		}
	}
	checkEachChangeOnce(t, nodes...)
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// lineDiff shows the lines only one of two dumps has.
func lineDiff(want, got string) string {
	w, g := strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n")
	var b strings.Builder
	n := 0
	for _, l := range w {
		if l != "" && !slices.Contains(g, l) && n < 10 {
			b.WriteString("  want " + l)
			n++
		}
	}
	for _, l := range g {
		if l != "" && !slices.Contains(w, l) && n < 20 {
			b.WriteString("  got  " + l)
			n++
		}
	}
	fmt.Fprintf(&b, "  (%d rows wanted, %d got)", strings.Count(want, "\n"), strings.Count(got, "\n"))
	return b.String()
}

// TestNewColumnRowsInEveryOrder: a adds two columns (tag, without a
// default, and prio with DEFAULT 5) and writes rows using them and not;
// b, having received the migration once, writes on both schemas; c,
// which has not, writes on the old one; all three edit one shared row,
// each a different column. From that one starting point (the files
// copied byte for byte, node ids included), the three pairwise syncs run
// in each of their 6 orders, then one more round: every order ends with
// the three nodes at schema version 1 with the same rows, and rows made
// without the new columns hold prio's default wherever they arrived from
// (docs/MIGRATIONS.md: "their rows get the column's default").
//
// It fails today in the 4 orders where an old-schema insert (b-old or
// c-old) reaches a node through a node that applied it after the
// migration: the relaying node logs the translated insert under its new
// table description, the added column's slot empty, and the log reads
// that back as an explicit prio = NULL, which the next node inserts.
// The nodes then disagree for good while every sync reports nothing to do.
func TestNewColumnRowsInEveryOrder(t *testing.T) {
	start := time.Now()
	nodes := newReplicas(t, noteTable, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	shell(t, a, `INSERT INTO note VALUES ('shared', 'from a', 0)`)
	syncWith(t, nil, b, a)
	syncWith(t, nil, c, a)

	shell(t, b, `INSERT INTO note VALUES ('b-old', 'b on the old schema', 3)`)
	migrateOK(t, a, 1, "ADD COLUMN, ADD COLUMN", "--sql", "ALTER TABLE note ADD COLUMN tag TEXT; ALTER TABLE note ADD COLUMN prio INTEGER DEFAULT 5")
	shell(t, a, `INSERT INTO note(id, body, n, tag, prio) VALUES ('a-new', 'a uses them', 1, 'red', 9);
		INSERT INTO note(id, body, n) VALUES ('a-plain', 'a does not', 2);
		UPDATE note SET tag = 'tagged on a' WHERE id = 'shared';`)
	if s := syncWith(t, nil, b, a); s.received != 4 || s.sent != 1 {
		t.Fatalf("b's first sync with a: %s, want b-old sent and the migration and a's 3 changes received", s.line)
	}
	shell(t, b, `INSERT INTO note(id, body, n, tag, prio) VALUES ('b-new', 'b uses them', 5, 'blue', 7);
		UPDATE note SET body = 'edited on b' WHERE id = 'shared';`)
	shell(t, c, `INSERT INTO note VALUES ('c-old', 'c on the old schema', 4);
		UPDATE note SET n = 44 WHERE id = 'shared';`)
	if v := schemaVersion(t, c); v != 0 {
		t.Fatalf("c is at schema version %d before any sync, want 0", v)
	}

	starting := t.TempDir()
	names := []string{"a", "b", "c"}
	for i, db := range nodes {
		copyNode(t, db, filepath.Join(starting, names[i]+".db"))
	}
	want := strings.Join([]string{
		`'a-new'|'a uses them'|1|'red'|9`,
		`'a-plain'|'a does not'|2|NULL|5`,
		`'b-new'|'b uses them'|5|'blue'|7`,
		`'b-old'|'b on the old schema'|3|NULL|5`,
		`'c-old'|'c on the old schema'|4|NULL|5`,
		`'shared'|'edited on b'|44|'tagged on a'|5`,
	}, "\n") + "\n"
	wantTable := "CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER, tag TEXT, prio INTEGER DEFAULT 5)\n"

	pairs := [][2]int{{0, 1}, {1, 2}, {0, 2}} // a-b, b-c, a-c
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		var steps []string
		for _, p := range order {
			steps = append(steps, names[pairs[p][0]]+"-"+names[pairs[p][1]])
		}
		t.Run(strings.Join(steps, ","), func(t *testing.T) {
			dir := t.TempDir()
			dbs := make([]string, 3)
			for i, n := range names {
				dbs[i] = filepath.Join(dir, n+".db")
				copyNode(t, filepath.Join(starting, n+".db"), dbs[i])
			}
			var lines []string
			for _, p := range order {
				s := syncWith(t, nil, dbs[pairs[p][0]], dbs[pairs[p][1]])
				lines = append(lines, names[pairs[p][0]]+"-"+names[pairs[p][1]]+": "+s.line)
			}
			for _, p := range pairs { // the final round
				s := syncWith(t, nil, dbs[p[0]], dbs[p[1]])
				lines = append(lines, "final "+names[p[0]]+"-"+names[p[1]]+": "+s.line)
				if s.conflicts+s.held != 0 {
					t.Errorf("final round %s-%s: %s", names[p[0]], names[p[1]], s.line)
				}
			}
			dumps := make([]string, 3)
			for i, db := range dbs {
				if v := schemaVersion(t, db); v != 1 {
					t.Errorf("%s is at schema version %d, want 1", names[i], v)
				}
				if got := tableSQL(t, db, "note"); got != wantTable {
					t.Errorf("%s's note: %q, want %q", names[i], got, wantTable)
				}
				if ids := strings.Fields(shell(t, db, `SELECT id FROM note WHERE prio IS NULL`)); len(ids) > 0 {
					t.Errorf("%s: rows made without prio hold NULL instead of its DEFAULT 5: %v "+
						"(they came through a node that translated their old-schema insert and relayed it with prio = NULL)", names[i], ids)
				}
				dumps[i] = dumpAll(t, db)
				if dumps[i] != want {
					t.Errorf("%s's rows:\n%s", names[i], lineDiff(want, dumps[i]))
				}
			}
			if dumps[0] != dumps[1] || dumps[1] != dumps[2] {
				t.Errorf("the nodes disagree after every pair synced:\na:\n%sb:\n%sc:\n%s", dumps[0], dumps[1], dumps[2])
			}
			checkNoConflicts(t, dbs...)
			checkEachChangeOnce(t, dbs...)
			if t.Failed() {
				t.Logf("syncs:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestDropColumnWhileAPeerWritesIt: a drops body while b, not yet synced,
// updates body and n of one row, only body of another, and inserts a row
// with a body. Synced both ways, in either order: body is gone on both
// nodes, b's edit of n survived, the body-only update is dropped, the
// insert arrives without its body; sync exits 0, counts the 3 changes
// that lost cells as dropped, and sets nothing aside.
func TestDropColumnWhileAPeerWritesIt(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, a, `INSERT INTO note VALUES ('r1', 'one', 1); INSERT INTO note VALUES ('r2', 'two', 2);`)
	syncWith(t, nil, b, a)
	migrateOK(t, a, 1, "DROP COLUMN", "--sql", "ALTER TABLE note DROP COLUMN body")
	shell(t, b, `UPDATE note SET body = 'b edit', n = 10 WHERE id = 'r1';
		UPDATE note SET body = 'only the body' WHERE id = 'r2';
		INSERT INTO note VALUES ('b3', 'new on b', 3);`)

	starting := t.TempDir()
	copyNode(t, a, filepath.Join(starting, "a.db"))
	copyNode(t, b, filepath.Join(starting, "b.db"))
	want := "'b3'|3\n'r1'|10\n'r2'|2\n"
	for _, first := range []string{"b", "a"} {
		t.Run(first+" syncs first", func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
			copyNode(t, filepath.Join(starting, "a.db"), a)
			copyNode(t, filepath.Join(starting, "b.db"), b)
			var s1, s2 syncSummary
			if first == "b" {
				// b ships its old-schema changes (a translates them), then
				// receives the DROP COLUMN.
				s1, s2 = syncWith(t, nil, b, a), syncWith(t, nil, a, b)
				if s1.sent != 2 || s1.received != 1 || s1.dropped != 3 {
					t.Errorf("sync b --peer a: %s, want sent 2 (the body-only update is dropped), received 1, dropped 3", s1.line)
				}
			} else {
				// a ships the DROP COLUMN first: b drops body, then ships
				// its changes made before.
				s1, s2 = syncWith(t, nil, a, b), syncWith(t, nil, b, a)
				if s1.sent != 1 || s1.received != 2 || s1.dropped != 3 {
					t.Errorf("sync a --peer b: %s, want sent 1, received 2 (the body-only update is dropped), dropped 3", s1.line)
				}
			}
			if s2.sent+s2.received+s2.conflicts+s2.held+s2.dropped != 0 {
				t.Errorf("the second sync moved changes: %s", s2.line)
			}
			if s1.conflicts+s1.held != 0 {
				t.Errorf("the first sync set changes aside: %s", s1.line)
			}
			for _, db := range []string{a, b} {
				name := filepath.Base(db)
				if cols := columns(t, db, "note"); !slices.Equal(cols, []string{"id", "n"}) {
					t.Errorf("%s's note has columns %v, want [id n]", name, cols)
				}
				if v := schemaVersion(t, db); v != 1 {
					t.Errorf("%s is at schema version %d, want 1", name, v)
				}
				if got := dumpAll(t, db); got != want {
					t.Errorf("%s's rows:\n%swant:\n%s", name, got, want)
				}
				checkIntegrity(t, db)
			}
			checkNoConflicts(t, a, b)
			// Each log holds each change once. b's update of nothing but
			// body is in b's log (b made it) and nowhere else: a dropped it
			// whole on arrival, and a change dropped is not logged.
			logA, logB := logIDs(t, a), logIDs(t, b)
			bNode := nodeID(t, b)
			for id, c := range logB {
				if _, ok := logA[id]; !ok && (id.origin != bNode || c.Op != "U" || keyString(c.Key) != `{"id":"t:r2"}`) {
					t.Errorf("b's log has %s/%d %s %s, a's has not", shortID(id.origin), id.seq, c.Op, keyString(c.Key))
				}
			}
			for id := range logA {
				if _, ok := logB[id]; !ok {
					t.Errorf("a's log has %s/%d, b's has not", shortID(id.origin), id.seq)
				}
			}
			if len(logB) != len(logA)+1 {
				t.Errorf("b's log has %d changes, a's %d: want one more on b (the update of the dropped column only)", len(logB), len(logA))
			}
		})
	}
}

// logIDs is a node's log by change (origin, origin seq), each of which
// must be there once.
func logIDs(t *testing.T, db string) map[changeID]logRow {
	t.Helper()
	out := map[changeID]logRow{}
	for _, c := range readLog(t, db) {
		id := changeID{c.Origin, c.OriginSeq}
		if _, dup := out[id]; dup {
			t.Errorf("%s's log holds %s/%d more than once", filepath.Base(db), shortID(c.Origin), c.OriginSeq)
		}
		out[id] = c
	}
	return out
}

// TestHandMadeAlterDetected: a column added to note by hand with the
// sqlite3 shell. status marks note STALE and warns, naming note and
// `migrate --adopt`; sync exits 3 naming the table and ships nothing
// (the change written before the ALTER neither); migrate refuses to run
// on top of it. `migrate --adopt` records the column as schema version
// 1; then sync ships the version and the waiting change, b gets the
// column, and a write of it on a reaches b.
func TestHandMadeAlterDetected(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, a, `INSERT INTO note VALUES ('a1', 'before the alter', 1)`)
	shell(t, a, `ALTER TABLE note ADD COLUMN x TEXT`)

	status := trigsync(t, "status", a)
	if !regexp.MustCompile(`(?m)^  note\s+key \(id\), 3 columns\s+STALE: `).MatchString(status) ||
		!regexp.MustCompile("(?m)^warning\\s+note: changed outside trigsync; .*`trigsync migrate --adopt`").MatchString(status) ||
		!regexp.MustCompile(`(?m)^schema version\s+0$`).MatchString(status) {
		t.Fatalf("status of a table changed by hand:\n%s", status)
	}
	logBefore := logRows(t, b)
	for _, args := range [][]string{{"sync", a, "--peer", b}, {"sync", b, "--peer", a}} {
		r := run(t, nil, binary, args...)
		if r.code != 3 || !strings.Contains(r.stderr, `"note"`) || !strings.Contains(r.stderr, "schema changed outside trigsync") {
			t.Fatalf("%s with a table changed by hand: exit %d, %q %q", strings.Join(args[:2], " "), r.code, r.stdout, r.stderr)
		}
		t.Logf("%s: %s", strings.Join(args[:2], " "), strings.TrimSpace(r.stderr))
	}
	if n := noteCount(t, b); n != 0 || logRows(t, b) != logBefore {
		t.Fatalf("a refused sync shipped: b has %d rows, %d log rows (had %d)", n, logRows(t, b), logBefore)
	}
	schemaBefore := shell(t, a, ".schema")
	r := run(t, nil, binary, "migrate", a, "--sql", "ALTER TABLE note ADD COLUMN y TEXT")
	if r.code != 3 || !strings.Contains(r.stderr, `"note"`) || !strings.Contains(r.stderr, "--adopt") {
		t.Errorf("migrate on top of a hand-made change: exit %d, %q", r.code, r.stderr)
	}
	if shell(t, a, ".schema") != schemaBefore || schemaVersion(t, a) != 0 {
		t.Errorf("the refused migrate changed a")
	}

	migrateOK(t, a, 1, "ADD COLUMN", "--adopt")
	if got := shell(t, a, `SELECT sql FROM _trigsync_schema`); !strings.Contains(got, "ADD COLUMN x TEXT") {
		t.Errorf("the adopted version's SQL: %q", got)
	}
	status = trigsync(t, "status", a)
	if strings.Contains(status, "STALE") || strings.Contains(status, "warning") || !regexp.MustCompile(`(?m)^schema version\s+1$`).MatchString(status) {
		t.Errorf("status after --adopt:\n%s", status)
	}
	if s := syncWith(t, nil, a, b); s.sent != 2 || s.received != 0 || s.conflicts+s.held != 0 {
		t.Errorf("sync after --adopt: %s, want the insert and the schema version sent", s.line)
	}
	if cols := columns(t, b, "note"); !slices.Equal(cols, []string{"id", "body", "n", "x"}) {
		t.Fatalf("b's note has columns %v after the sync, want [id body n x]", cols)
	}
	if v := schemaVersion(t, b); v != 1 {
		t.Errorf("b is at schema version %d, want 1", v)
	}
	shell(t, a, `UPDATE note SET x = 'x on a' WHERE id = 'a1'; INSERT INTO note VALUES ('a2', 'after', 2, 'x too');`)
	if s := syncWith(t, nil, a, b); s.sent != 2 || s.conflicts+s.held != 0 {
		t.Errorf("sync of the writes of x: %s", s.line)
	}
	want := "'a1'|'before the alter'|1|'x on a'\n'a2'|'after'|2|'x too'\n"
	for _, db := range nodes {
		if got := dumpAll(t, db); got != want {
			t.Errorf("%s:\n%swant:\n%s", filepath.Base(db), got, want)
		}
		if st := trigsync(t, "status", db); strings.Contains(st, "STALE") {
			t.Errorf("%s is STALE:\n%s", filepath.Base(db), st)
		}
	}
	checkNoConflicts(t, nodes...)
	checkEachChangeOnce(t, nodes...)
}

// TestConcurrentMigrationsCLI: a and b (copies of one database) each make
// a schema version 1 before they sync, b first. b's, the older stamp,
// wins: a's sync with b exits 3 with "schema conflict" and changes
// nothing on a; b applied a's changes made before the fork, holds a's
// version 1 (shown by `conflicts`) and a's later change behind it, and
// keeps its own schema and rows. A sync b starts against a's file is
// refused the same way (a receives b's version), and so is an exchange
// over HTTP in both directions.
func TestConcurrentMigrationsCLI(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	shell(t, a, `INSERT INTO note VALUES ('a1', 'a before the fork', 1)`)
	shell(t, b, `INSERT INTO note VALUES ('b1', 'b before the fork', 2)`)
	migrateOK(t, b, 1, "ADD COLUMN", "--sql", "ALTER TABLE note ADD COLUMN colour TEXT")
	time.Sleep(5 * time.Millisecond)
	migrateOK(t, a, 1, "ADD COLUMN", "--sql", "ALTER TABLE note ADD COLUMN size INTEGER")
	shell(t, a, `INSERT INTO note VALUES ('a2', 'a on its version', 3, 7)`)
	shell(t, b, `INSERT INTO note VALUES ('b2', 'b on its version', 4, 'red')`)
	aNode, bNode := nodeID(t, a), nodeID(t, b)
	aSchema, bSchema := schemaRows(t, a), schemaRows(t, b)
	aRows, bRows := dumpAll(t, a), dumpAll(t, b)
	aTable := tableSQL(t, a, "note")

	r := run(t, nil, binary, "sync", a, "--peer", b)
	if r.code != 3 || !strings.Contains(r.stderr, "schema conflict") || !strings.Contains(r.stderr, "ADD COLUMN colour") {
		t.Fatalf("the loser's sync: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	t.Logf("sync a --peer b: %s", strings.TrimSpace(r.stderr))
	// The loser: nothing of the exchange applied, its version and rows stay.
	if schemaRows(t, a) != aSchema || dumpAll(t, a) != aRows || tableSQL(t, a, "note") != aTable {
		t.Errorf("the refused exchange changed a:\n%s%s", schemaRows(t, a), dumpAll(t, a))
	}
	if v := schemaVersion(t, a); v != 1 {
		t.Errorf("a is at schema version %d, want 1 (its own)", v)
	}
	// The winner: its version and rows, plus a's change made before the fork.
	if got := schemaRows(t, b); got != bSchema || !strings.Contains(got, bNode) {
		t.Errorf("b's schema versions changed: %s, had %s", got, bSchema)
	}
	wantB := "'a1'|'a before the fork'|1|NULL\n" + bRows
	if got := dumpAll(t, b); got != wantB {
		t.Errorf("b's rows:\n%swant:\n%s", got, wantB)
	}
	if cols := columns(t, b, "note"); !slices.Equal(cols, []string{"id", "body", "n", "colour"}) {
		t.Errorf("b's note has columns %v", cols)
	}
	list := openConflicts(t, b)
	var heldVersion, heldA2 bool
	for _, c := range list {
		var ch struct {
			Op        string `json:"op"`
			Origin    string `json:"origin"`
			Key       map[string]string
			Migration *struct {
				Version int64  `json:"version"`
				SQL     string `json:"sql"`
			} `json:"migration"`
		}
		if err := json.Unmarshal(c.Change, &ch); err != nil {
			t.Fatal(err)
		}
		if c.Kind != "held" || ch.Origin != aNode {
			t.Errorf("b's conflict %d: %s of %s: %s", c.ID, c.Kind, shortID(ch.Origin), c.Error)
			continue
		}
		if ch.Op == "S" && ch.Migration != nil && ch.Migration.Version == 1 && strings.Contains(ch.Migration.SQL, "ADD COLUMN size") &&
			strings.Contains(c.Error, "schema conflict") {
			heldVersion = true
		}
		if ch.Key["id"] == "t:a2" {
			heldA2 = true
		}
	}
	if !heldVersion || !heldA2 || len(list) != 2 {
		t.Errorf("b's conflicts, want a's version 1 and a2 held: %s", trigsync(t, "conflicts", b))
	}
	if out := trigsync(t, "conflicts", b); !strings.Contains(out, "schema conflict: version 1 here is") {
		t.Errorf("`trigsync conflicts` of the winner:\n%s", out)
	}

	// The winner starting the exchange with the loser's file: the loser
	// receives the winner's version and refuses; nothing changes.
	r = run(t, nil, binary, "sync", b, "--peer", a)
	if r.code != 3 || !strings.Contains(r.stderr, "schema conflict") {
		t.Errorf("sync b --peer a: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if dumpAll(t, a) != aRows || dumpAll(t, b) != wantB || schemaRows(t, a) != aSchema || schemaRows(t, b) != bSchema {
		t.Errorf("sync b --peer a changed a node")
	}

	// Over HTTP: the loser syncing with the winner's serve is refused
	// (exit 3); the winner syncing with the loser's serve too (409).
	const token = "fork-token"
	env := []string{"TRIGSYNC_TOKEN=" + token}
	urlB := startServe(t, b, token)
	r = run(t, env, binary, "sync", a, "--peer", urlB)
	if r.code != 3 || !strings.Contains(r.stderr, "schema conflict") {
		t.Errorf("sync a --peer (b's serve): exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	urlA := startServe(t, a, token)
	r = run(t, env, binary, "sync", b, "--peer", urlA)
	if r.code != 3 || !strings.Contains(r.stderr, "409") || !strings.Contains(r.stderr, "schema conflict") {
		t.Errorf("sync b --peer (a's serve): exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if dumpAll(t, a) != aRows || dumpAll(t, b) != wantB || schemaRows(t, a) != aSchema || schemaRows(t, b) != bSchema {
		t.Errorf("the exchanges over HTTP changed a node:\na: %sb: %s", dumpAll(t, a), dumpAll(t, b))
	}
	for _, db := range nodes {
		checkIntegrity(t, db)
	}
}

// TestMigrateRefusals: migrations refused before anything runs exit 3
// with a message naming the problem, usage errors exit 2, and neither
// changes the database (its schema, its schema version, its log).
func TestMigrateRefusals(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a")
	a := nodes[0]
	shell(t, a, `INSERT INTO note VALUES ('r1', 'one', 1)`)
	script := filepath.Join(t.TempDir(), "m.sql")
	if err := os.WriteFile(script, []byte("ALTER TABLE note ADD COLUMN tag TEXT;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		return shell(t, a, ".schema") + fmt.Sprintf("schema version %d\n", schemaVersion(t, a)) +
			shell(t, a, `SELECT count(*) FROM _trigsync_changelog; SELECT count(*) FROM _trigsync_schema;`) + dumpAll(t, a)
	}
	before := state()
	cases := []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"view", []string{"--sql", "CREATE VIEW v AS SELECT 1"}, 3, []string{"CREATE VIEW", "view"}},
		{"missing table", []string{"--sql", "DROP TABLE nope"}, 3, []string{`"nope"`, "no table"}},
		{"if not exists", []string{"--sql", "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY)"}, 3, []string{"IF NOT EXISTS"}},
		{"existing column", []string{"--sql", "ALTER TABLE note ADD COLUMN body TEXT"}, 3, []string{`"body"`, "already"}},
		{"primary key column", []string{"--sql", "ALTER TABLE note DROP COLUMN id"}, 3, []string{`"id"`, "primary key"}},
		{"second statement refused", []string{"--sql", "ALTER TABLE note ADD COLUMN tag TEXT; DROP TABLE nope"}, 3, []string{"statement 2", `"nope"`}},
		{"table without a primary key", []string{"--sql", "CREATE TABLE t2(x)"}, 3, []string{`"t2"`, "PRIMARY KEY"}},
		{"dml", []string{"--sql", "UPDATE note SET n = 2"}, 3, []string{"UPDATE"}},
		{"nothing to adopt", []string{"--adopt"}, 3, []string{"nothing to adopt"}},
		{"no source", nil, 2, []string{"exactly one of FILE.sql, --sql or --adopt"}},
		{"a file and --sql", []string{script, "--sql", "ALTER TABLE note ADD COLUMN x TEXT"}, 2, []string{"exactly one of"}},
		{"--adopt and --sql", []string{"--adopt", "--sql", "ALTER TABLE note ADD COLUMN x TEXT"}, 2, []string{"exactly one of"}},
		{"a file and --adopt", []string{script, "--adopt"}, 2, []string{"exactly one of"}},
	}
	for _, c := range cases {
		r := run(t, nil, binary, append([]string{"migrate", a}, c.args...)...)
		ok := r.code == c.code && r.stdout == "" && strings.HasPrefix(r.stderr, "trigsync: ") && strings.Count(r.stderr, "\n") == 1
		for _, s := range c.says {
			ok = ok && strings.Contains(r.stderr, s)
		}
		if !ok {
			t.Errorf("%s: exit %d (want %d), stdout %q, stderr %q (want it to say %q)", c.name, r.code, c.code, r.stdout, r.stderr, c.says)
		}
		if after := state(); after != before {
			t.Fatalf("%s changed the database:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
		}
	}
	// An empty script runs nothing: a usage error.
	for _, empty := range []string{"", ";", "  -- nothing\n"} {
		r := run(t, nil, binary, "migrate", a, "--sql", empty)
		if r.code != 2 || !strings.Contains(r.stderr, "no statement") {
			t.Errorf("migrate --sql %q: exit %d (want 2), %q", empty, r.code, r.stderr)
		}
		if after := state(); after != before {
			t.Fatalf("an empty script changed the database")
		}
	}
	// The file form (docs/CLI.md: `trigsync migrate DB FILE.sql`): a
	// refused statement in a file is refused like one given with --sql, and
	// a good file migrates.
	t.Run("file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.sql")
		if err := os.WriteFile(bad, []byte("CREATE VIEW v AS SELECT 1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, nil, binary, "migrate", a, bad); r.code != 3 || !strings.Contains(r.stderr, "CREATE VIEW") {
			t.Errorf("migrate DB bad.sql: exit %d (want 3), %q", r.code, r.stderr)
		}
		if after := state(); after != before {
			t.Fatalf("a refused file changed the database")
		}
		r := run(t, nil, binary, "migrate", a, script)
		want := a + " is at schema version 1: 1 statement (ADD COLUMN); peers apply it on their next exchange\n"
		if r.code != 0 || r.stdout != want {
			t.Fatalf("migrate DB m.sql: exit %d, %q %q; want exit 0, %q", r.code, r.stdout, r.stderr, want)
		}
		if v := schemaVersion(t, a); v != 1 || !slices.Contains(columns(t, a, "note"), "tag") {
			t.Errorf("after the file's migration: schema version %d, columns %v", v, columns(t, a, "note"))
		}
	})
}

// TestMigrateDryRun: --dry-run prints what would run and changes nothing.
func TestMigrateDryRun(t *testing.T) {
	a := newReplicas(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT);`, "a")[0]
	before := shell(t, a, ".schema")
	out := trigsync(t, "migrate", "--dry-run", a, "--sql", "ALTER TABLE note ADD COLUMN tag TEXT; CREATE INDEX note_tag ON note(tag)")
	want := "ALTER TABLE note ADD COLUMN tag TEXT;\nCREATE INDEX note_tag ON note(tag);\n-- dry run: schema version 1 would be made; nothing changed\n"
	if out != want {
		t.Fatalf("dry run printed %q, want %q", out, want)
	}
	if shell(t, a, ".schema") != before || schemaVersion(t, a) != 0 {
		t.Fatal("a dry run changed the database")
	}
}
