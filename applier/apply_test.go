package applier_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

func node(t testing.TB, ddl ...string) *sqlx.DB {
	t.Helper()
	db, _ := testutil.NewDB(t, ddl...)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

func syncBoth(t *testing.T, a, b *sqlx.DB) shipper.Summary {
	t.Helper()
	s, err := shipper.Sync(t.Context(), a, b, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func conflicts(t *testing.T, db *sqlx.DB) []applier.Conflict {
	t.Helper()
	list, err := applier.Conflicts(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// A change that fails a constraint is set aside with its data and the
// error; the rest of the batch applies.
func TestConstraintFailureIsSetAside(t *testing.T) {
	ddl := `CREATE TABLE user(id TEXT PRIMARY KEY, email TEXT UNIQUE, age INTEGER CHECK (age >= 0))`
	a, b := node(t, ddl), node(t, ddl)
	a.MustExec(`INSERT INTO user VALUES ('u1', 'x@example.com', 30)`)
	b.MustExec(`INSERT INTO user VALUES ('u2', 'x@example.com', 40), ('u3', 'y@example.com', 50)`)
	s := syncBoth(t, a, b)
	if s.Sent.Conflicts != 1 || s.Received.Conflicts != 1 || s.Received.Applied != 1 {
		t.Fatalf("summary %+v", s)
	}
	list := conflicts(t, a)
	if len(list) != 1 || list[0].Kind != "error" || !strings.Contains(list[0].Error, "UNIQUE constraint failed: user.email") {
		t.Fatalf("conflicts on a: %+v", list)
	}
	var c changelog.Change
	if err := json.Unmarshal(list[0].Change, &c); err != nil || c.Key[0].Value.Text != "u2" || len(c.Set) != 2 {
		t.Fatalf("the conflict must keep the whole change: %s (%v)", list[0].Change, err)
	}
	var n int
	a.Get(&n, `SELECT count(*) FROM user WHERE id = 'u3'`)
	if n != 1 {
		t.Fatal("the rest of the batch must apply")
	}
}

// A change for a table or column this node lacks is held, not dropped.
func TestUnknownTableOrColumnIsHeld(t *testing.T) {
	a := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, colour TEXT)`, `CREATE TABLE extra(id TEXT PRIMARY KEY)`)
	b := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT)`)
	a.MustExec(`INSERT INTO item VALUES ('1', 'cup', 'red'); INSERT INTO extra VALUES ('e')`)
	s := syncBoth(t, a, b)
	if s.Sent.Held != 2 || s.Sent.Applied != 0 {
		t.Fatalf("summary %+v", s)
	}
	list := conflicts(t, b)
	if len(list) != 2 || list[0].Kind != "held" || !strings.Contains(list[0].Error, `"item" has no column "colour"`) ||
		!strings.Contains(list[1].Error, `table "extra" is not replicated on this node`) {
		t.Fatalf("held: %+v", list)
	}
}

// Names in a batch are checked against the local schema: a change cannot
// reach trigsync's own tables or a table that is not replicated.
func TestHostileBatch(t *testing.T) {
	db := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT)`, `CREATE TABLE secret(id TEXT PRIMARY KEY, v TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"secret"}}}); err != nil {
		t.Fatal(err)
	}
	before := testutil.Dump(t, db)
	var meta string
	db.Get(&meta, `SELECT group_concat(key || '=' || value) FROM _trigsync_meta`)
	key := changelog.Cells{{Column: "id", Value: changelog.String("x")}}
	set := changelog.Cells{{Column: "v", Value: changelog.String("pwned")}}
	batch := applier.Batch{Peer: "ffffffffffffffffffffffffffffffff", Through: 4, Changes: []changelog.Change{
		{Table: "_trigsync_meta", Op: changelog.Insert, Origin: strings.Repeat("f", 32), OriginSeq: 1, HLC: 1,
			Key: changelog.Cells{{Column: "key", Value: changelog.String("node_id")}}, Set: changelog.Cells{{Column: "value", Value: changelog.String("evil")}}},
		{Table: "secret", Op: changelog.Insert, Origin: strings.Repeat("f", 32), OriginSeq: 2, HLC: 2, Key: key, Set: set},
		{Table: "item", Op: changelog.Insert, Origin: strings.Repeat("f", 32), OriginSeq: 3, HLC: 3, Key: key, Set: set},
		{Table: "item", Op: changelog.Update, Origin: strings.Repeat("f", 32), OriginSeq: 4, HLC: 4, Key: changelog.Cells{{Column: `id" = 'x' OR 1=1 --`, Value: changelog.String("x")}}, Set: set},
	}}
	res, err := applier.Apply(t.Context(), db, batch, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Held != 4 || res.Applied != 0 {
		t.Fatalf("result %+v", res)
	}
	var metaAfter string
	db.Get(&metaAfter, `SELECT group_concat(key || '=' || value) FROM _trigsync_meta`)
	if after := testutil.Dump(t, db); after != before || metaAfter != meta {
		t.Fatalf("a hostile batch changed the database:\n%s\n%s", after, metaAfter)
	}
}

// Tables with the application's own triggers converge, and the writes those
// triggers make while the applier writes do not bounce back.
func TestApplicationTriggersConverge(t *testing.T) {
	ddl := []string{`CREATE TABLE doc(id TEXT PRIMARY KEY, title TEXT, slug TEXT)`,
		`CREATE TRIGGER doc_slug AFTER UPDATE OF title ON doc BEGIN UPDATE doc SET slug = lower(NEW.title) WHERE id = NEW.id; END`}
	a, b := node(t, ddl...), node(t, ddl...)
	a.MustExec(`INSERT INTO doc VALUES ('d', 'Hello', 'hello')`)
	syncBoth(t, a, b)
	a.MustExec(`UPDATE doc SET title = 'Hello World' WHERE id = 'd'`)
	b.MustExec(`UPDATE doc SET title = 'Bonjour' WHERE id = 'd'`)
	for i := 0; i < 3; i++ {
		syncBoth(t, a, b)
	}
	if s := syncBoth(t, a, b); s.Sent.Applied+s.Received.Applied != 0 {
		t.Fatalf("changes ping-pong: %+v", s)
	}
	da, db := testutil.Dump(t, a), testutil.Dump(t, b)
	var title, slug string
	a.QueryRow(`SELECT title, slug FROM doc`).Scan(&title, &slug)
	if da != db || slug != strings.ToLower(title) {
		t.Fatalf("nodes differ, or the slug does not follow the winning title:\n%s\n%s", da, db)
	}
}

func TestSameNodeIDRefused(t *testing.T) {
	a := node(t, `CREATE TABLE t(id TEXT PRIMARY KEY)`)
	if _, err := shipper.Sync(t.Context(), a, a, applier.Options{}); err == nil || !strings.Contains(err.Error(), "reset-node-id") {
		t.Fatalf("syncing a database with itself (or a copy): %v", err)
	}
}

// A stamp far ahead of this node's clock is held and does not drag the
// clock forward; it applies once the clocks agree, or when released.
func TestClockFarAheadIsHeld(t *testing.T) {
	ddl := `CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)`
	a, b := node(t, ddl), node(t, ddl)
	a.MustExec(`INSERT INTO t VALUES ('x', 'from the future')`)
	// Make a's stamp a year ahead, as a device with a wrong clock would.
	testutil.Changes(t, a)
	a.MustExec(`UPDATE _trigsync_changelog SET hlc = hlc + (365 * 86400000 << 16)`)
	before, _ := changelog.Now(t.Context(), b)
	s := syncBoth(t, a, b)
	if s.Sent.Held != 1 || s.Sent.Applied != 0 {
		t.Fatalf("summary %+v", s)
	}
	if after, _ := changelog.Now(t.Context(), b); after.Time().Sub(before.Time()) > time.Hour {
		t.Fatalf("a held stamp dragged the clock from %v to %v", before, after)
	}
	list := conflicts(t, b)
	if len(list) != 1 || list[0].Kind != "held" || !strings.Contains(list[0].Error, "ahead of this node's clock") {
		t.Fatalf("conflicts: %+v", list)
	}
	// A year later the clocks agree: the next apply takes it.
	later := func() time.Time { return time.Now().Add(366 * 24 * time.Hour) }
	if _, err := shipper.Pull(t.Context(), b, &shipper.File{DB: a}, 10, applier.Options{Now: later}); err != nil {
		t.Fatal(err)
	}
	var v string
	b.Get(&v, `SELECT v FROM t`)
	if v != "from the future" || len(conflicts(t, b)) != 0 {
		t.Fatalf("the held change should apply once the clocks agree: %q", v)
	}
}

// A device whose clock is unset (1970) holds nothing for skew.
func TestUnsetClockHoldsNothing(t *testing.T) {
	ddl := `CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)`
	a, b := node(t, ddl), node(t, ddl)
	a.MustExec(`INSERT INTO t VALUES ('x', 'now')`)
	res, err := shipper.Pull(t.Context(), b, &shipper.File{DB: a}, 10, applier.Options{Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil || res.Applied != 1 || res.Held != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestResolveConflicts(t *testing.T) {
	ddl := `CREATE TABLE user(id TEXT PRIMARY KEY, email TEXT UNIQUE)`
	a, b := node(t, ddl), node(t, ddl)
	a.MustExec(`INSERT INTO user VALUES ('u1', 'x@example.com')`)
	b.MustExec(`INSERT INTO user VALUES ('u2', 'x@example.com')`)
	syncBoth(t, a, b)
	if n := len(conflicts(t, a)); n != 1 {
		t.Fatalf("want 1 conflict on a, got %d", n)
	}
	// Retrying without fixing the cause changes nothing.
	if n, err := applier.Resolve(t.Context(), a, applier.Retry, nil, applier.Options{}); err != nil || n != 0 {
		t.Fatalf("retry: %d %v", n, err)
	}
	// The user fixes the other row; the retry applies u2.
	a.MustExec(`UPDATE user SET email = 'other@example.com' WHERE id = 'u1'`)
	if n, err := applier.Resolve(t.Context(), a, applier.Retry, nil, applier.Options{}); err != nil || n != 1 {
		t.Fatalf("retry after the fix: %d %v", n, err)
	}
	var n int
	a.Get(&n, `SELECT count(*) FROM user`)
	if n != 2 || len(conflicts(t, a)) != 0 {
		t.Fatalf("after retry: %d rows", n)
	}
	// On b, u1's insert failed too, and a's fix of u1 arrives after it: it
	// does not overtake the failed insert, it heals it (the two are
	// written as one row), with no retry on b.
	syncBoth(t, a, b)
	if list := conflicts(t, b); len(list) != 0 {
		t.Fatalf("conflicts on b: %+v", list)
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db || !strings.Contains(da, "other@example.com") {
		t.Fatalf("nodes differ after resolving:\n%s\n%s", da, db)
	}
}

func TestDiscardKeepsTheRecord(t *testing.T) {
	ddl := `CREATE TABLE user(id TEXT PRIMARY KEY, email TEXT UNIQUE)`
	a, b := node(t, ddl), node(t, ddl)
	a.MustExec(`INSERT INTO user VALUES ('u1', 'x@example.com')`)
	b.MustExec(`INSERT INTO user VALUES ('u2', 'x@example.com')`)
	syncBoth(t, a, b)
	if n, err := applier.Resolve(t.Context(), b, applier.Discard, nil, applier.Options{}); err != nil || n != 1 {
		t.Fatalf("discard: %d %v", n, err)
	}
	var kept int
	b.Get(&kept, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved LIKE 'discarded%'`)
	if kept != 1 || len(conflicts(t, b)) != 0 {
		t.Fatal("discard must keep the record")
	}
}

// With foreign keys enforced, parent and child apply in either order within
// a batch, and a child whose parent never comes is set aside.
func TestForeignKeys(t *testing.T) {
	ddl := []string{`CREATE TABLE parent(id TEXT PRIMARY KEY)`,
		`CREATE TABLE child(id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id))`}
	a, b := node(t, ddl...), node(t, ddl...)
	tx := a.MustBegin()
	tx.MustExec(`INSERT INTO child VALUES ('c1', 'p1')`) // child first: a's FKs are off
	tx.MustExec(`INSERT INTO parent VALUES ('p1')`)
	tx.MustExec(`INSERT INTO child VALUES ('orphan', 'nobody')`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	res, err := shipper.Pull(t.Context(), b, &shipper.File{DB: a}, 100, applier.Options{ForeignKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 2 || res.Conflicts != 1 {
		t.Fatalf("result %+v", res)
	}
	list := conflicts(t, b)
	if len(list) != 1 || !strings.Contains(list[0].Error, "FOREIGN KEY") || !strings.Contains(string(list[0].Change), "orphan") {
		t.Fatalf("conflicts: %+v", list)
	}
	var violations int
	b.Get(&violations, `SELECT count(*) FROM pragma_foreign_key_check`)
	if violations != 0 {
		t.Fatalf("%d foreign key violations on b", violations)
	}
}

// A change held for a column this node lacks applies once the column exists.
func TestHeldChangeAppliesWhenSchemaCatchesUp(t *testing.T) {
	a := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, colour TEXT)`)
	b := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT)`)
	a.MustExec(`INSERT INTO item VALUES ('1', 'cup', 'red')`)
	if s := syncBoth(t, a, b); s.Sent.Held != 1 {
		t.Fatalf("want the insert held: %+v", s)
	}
	b.MustExec(`ALTER TABLE item ADD COLUMN colour TEXT`)
	if _, err := triggers.Install(t.Context(), b, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	syncBoth(t, a, b) // nothing new to send: the held change is retried
	if len(conflicts(t, b)) != 0 {
		t.Fatalf("still held: %+v", conflicts(t, b))
	}
	if da, db := testutil.Dump(t, a), testutil.Dump(t, b); da != db {
		t.Fatalf("nodes differ:\n%s\n%s", da, db)
	}
	// The applied change was logged, so a third node gets it from b.
	c := node(t, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT, colour TEXT)`)
	syncBoth(t, b, c)
	if dc := testutil.Dump(t, c); dc != testutil.Dump(t, a) {
		t.Fatalf("forwarded through b:\n%s", dc)
	}
}
