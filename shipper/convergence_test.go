package shipper_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

var (
	seeds     = flag.Int("trigsync.seeds", 1000, "schedules TestConvergence runs")
	firstSeed = flag.Uint64("trigsync.seed", 0, "first seed of TestConvergence (to replay a failure)")
)

// convSchema is what every node starts with: two replicated tables (t.n
// a counter column, installed with --counter t.n), and
// the application's triggers of both kinds — an updated_at stamp on t and a
// stock decrement into s on every insert into p (their effects replicate:
// they must not run on apply), and the FTS5 external-content index of
// sqlite.org/fts5.html on t.a (local: it must run on apply).
const convSchema = `CREATE TABLE t(id TEXT PRIMARY KEY, a, b, c, n INTEGER, updated_at);
CREATE TABLE p(k1 INTEGER, k2 TEXT, v, PRIMARY KEY (k1, k2)) WITHOUT ROWID;
CREATE TABLE s(sku TEXT PRIMARY KEY, qty INTEGER);
INSERT INTO s VALUES ('x', 1000);
CREATE TRIGGER t_touch AFTER UPDATE OF a, b, c ON t BEGIN
  UPDATE t SET updated_at = strftime('%H:%M:%f', 'now') || '/' || hex(randomblob(2)) WHERE id = NEW.id; END;
CREATE TRIGGER p_stock AFTER INSERT ON p BEGIN UPDATE s SET qty = qty - 1 WHERE sku = 'x'; END;
CREATE VIRTUAL TABLE t_fts USING fts5(a, content='t', content_rowid='rowid');
CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN INSERT INTO t_fts(rowid, a) VALUES (new.rowid, new.a); END;
CREATE TRIGGER t_ad AFTER DELETE ON t BEGIN INSERT INTO t_fts(t_fts, rowid, a) VALUES ('delete', old.rowid, old.a); END;
CREATE TRIGGER t_au AFTER UPDATE ON t BEGIN
  INSERT INTO t_fts(t_fts, rowid, a) VALUES ('delete', old.rowid, old.a);
  INSERT INTO t_fts(rowid, a) VALUES (new.rowid, new.a); END;`

// template is an installed, empty database that nodes are copied from.
func template(t *testing.T) []byte {
	db, path := testutil.NewDB(t, convSchema)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{Counters: map[string][]string{"t": {"n"}}}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type simNode struct {
	t        *testing.T
	id       string
	path     string
	db       *sqlx.DB
	backup   []byte // a copy of the file, to restore the node from
	restored bool
}

// refresh reads the node's id again: a heal of a restore changes it.
func (n *simNode) refresh() {
	id, err := changelog.NodeID(n.t.Context(), n.db)
	if err != nil {
		n.t.Fatal(err)
	}
	n.id = id
}

// copyFile returns the node's file as a backup holds it.
func (n *simNode) copyFile() []byte {
	p := n.path + ".copy"
	os.Remove(p)
	n.db.MustExec(`VACUUM INTO ?`, p)
	b, err := os.ReadFile(p)
	if err != nil {
		n.t.Fatal(err)
	}
	return b
}

// restores counts the restores TestConvergence made.
var restores atomic.Int64

// restore puts the backup back in place of the node's file.
func (n *simNode) restore() {
	restores.Add(1)
	n.db.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(n.path + suffix)
	}
	if err := os.WriteFile(n.path, n.backup, 0o644); err != nil {
		n.t.Fatal(err)
	}
	db, err := sqlitedb.Open(n.t.Context(), n.path)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { db.Close() })
	n.db, n.restored = db, true
	n.refresh()
}

func newNodes(t *testing.T, tmpl []byte, n int) []*simNode {
	ctx := t.Context()
	dir := t.TempDir()
	var nodes []*simNode
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("n%d.db", i))
		if err := os.WriteFile(path, tmpl, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := sqlitedb.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tx := db.MustBegin()
		if _, _, err := changelog.ResetNodeID(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
		id, _ := changelog.NodeID(ctx, db)
		nodes = append(nodes, &simNode{t: t, id: id, path: path, db: db})
	}
	return nodes
}

func randomValue(r *rand.Rand) any {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return r.Int64N(100) - 50
	case 2:
		return float64(r.IntN(100)) / 4
	case 3:
		return fmt.Sprintf("s%d", r.IntN(100))
	}
	return []byte{byte(r.IntN(4))}
}

// write makes one random local change (or none when it does not fit).
func write(r *rand.Rand, x sqlx.Execer) {
	key := fmt.Sprintf("k%d", r.IntN(5))
	cols := []string{"a", "b", "c"}
	switch r.IntN(8) {
	case 0, 1:
		var n any // the counter's base: a number, or NULL
		if r.IntN(4) > 0 {
			n = r.Int64N(100)
		}
		x.Exec(`INSERT OR IGNORE INTO t VALUES (?, ?, ?, ?, ?)`, key, randomValue(r), randomValue(r), randomValue(r), n)
	case 2, 3:
		var sets []string
		var args []any
		for _, c := range cols {
			if r.IntN(2) == 0 {
				sets = append(sets, c+" = ?")
				args = append(args, randomValue(r))
			}
		}
		if r.IntN(3) == 0 { // and the counter, in the same statement: a U and an A row
			sets = append(sets, "n = ifnull(n, 0) + ?")
			args = append(args, r.Int64N(11)-5)
		}
		if len(sets) > 0 {
			x.Exec(`UPDATE t SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, key)...)
		}
	case 4:
		x.Exec(`DELETE FROM t WHERE id = ?`, key)
	case 5:
		x.Exec(`UPDATE OR IGNORE t SET id = ? WHERE id = ?`, fmt.Sprintf("k%d", r.IntN(5)), key)
	case 7: // the counter alone: an increment, a decrement, or set outright (a delta from the value seen)
		switch r.IntN(3) {
		case 0:
			x.Exec(`UPDATE t SET n = ifnull(n, 0) + ? WHERE id = ?`, 1+r.Int64N(5), key)
		case 1:
			x.Exec(`UPDATE t SET n = n - ? WHERE id = ?`, 1+r.Int64N(5), key)
		default:
			x.Exec(`UPDATE t SET n = ? WHERE id = ?`, r.Int64N(100), key)
		}
	case 6:
		k1, k2 := r.IntN(2), fmt.Sprint(r.IntN(2))
		if r.IntN(3) == 0 {
			x.Exec(`DELETE FROM p WHERE k1 = ? AND k2 = ?`, k1, k2)
		} else {
			x.Exec(`INSERT INTO p VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET v = excluded.v`, k1, k2, randomValue(r))
		}
	}
}

// TestConvergence runs random schedules on 3 to 5 nodes: random writes and
// multi-row transactions, pulls between random pairs in small batches,
// redelivery of everything already delivered. Once all is delivered every
// node holds the same rows, and they are what lww.Model makes of all the
// changes. Replay a failure with -trigsync.seed=N -trigsync.seeds=1.
func TestConvergence(t *testing.T) {
	tmpl := template(t)
	restores.Store(0)
	defer func() { t.Logf("%d schedules, %d nodes restored from an earlier copy", *seeds, restores.Load()) }()
	for seed := *firstSeed; seed < *firstSeed+uint64(*seeds); seed++ {
		if !runSchedule(t, tmpl, seed) {
			t.Fatalf("seed %d diverged; replay: go test ./shipper -run TestConvergence -trigsync.seed=%d -trigsync.seeds=1 -v", seed, seed)
		}
	}
}

func runSchedule(t *testing.T, tmpl []byte, seed uint64) bool {
	ctx := t.Context()
	r := rand.New(rand.NewPCG(seed, 99))
	nodes := newNodes(t, tmpl, 3+r.IntN(3))
	for step := 0; step < 30; step++ {
		n := nodes[r.IntN(len(nodes))]
		switch r.IntN(11) {
		case 0, 1, 2: // pull, in small batches
			src := nodes[r.IntN(len(nodes))]
			if src.id != n.id {
				if _, err := shipper.Pull(ctx, n.db, &shipper.File{DB: src.db}, 1+r.IntN(4), applier.Options{}); err != nil {
					t.Fatalf("seed %d: pull: %v", seed, err)
				}
				src.refresh()
				n.refresh()
			}
		case 10: // a backup of the node, or its restore from the one taken earlier
			switch {
			case n.backup == nil:
				n.backup = n.copyFile()
			case !n.restored && r.IntN(2) == 0: // once: restoring a copy older than a heal is not supported
				n.restore()
			}
		case 3: // redeliver everything from one peer
			n.db.MustExec(`UPDATE _trigsync_peers SET pulled_seq = 0`)
		case 4: // a multi-row transaction
			tx := n.db.MustBegin()
			for i := 0; i < 2+r.IntN(4); i++ {
				write(r, tx)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		default:
			write(r, n.db)
		}
	}
	deliverAll(t, r, nodes, seed)
	want := model(t, r, nodes)
	ok := true
	for _, n := range nodes {
		if got := render(t, n.db); got != want {
			t.Logf("seed %d: node %s\n%s\nmodel\n%s", seed, n.id[:6], got, want)
			ok = false
		}
		if problem := checkIndex(n.db); problem != "" {
			t.Logf("seed %d: node %s: the FTS5 index: %s", seed, n.id[:6], problem)
			ok = false
		}
	}
	return ok
}

// checkIndex says what is wrong with a node's FTS5 index of t.a: SQLite's
// integrity-check against the table, and a MATCH for every text value.
func checkIndex(db *sqlx.DB) string {
	if _, err := db.Exec(`INSERT INTO t_fts(t_fts) VALUES ('integrity-check')`); err != nil {
		return err.Error()
	}
	var rows []struct {
		RowID int64  `db:"rowid"`
		A     string `db:"a"`
	}
	if err := db.Select(&rows, `SELECT rowid, a FROM t WHERE typeof(a) = 'text'`); err != nil {
		return err.Error()
	}
	for _, row := range rows {
		var found []int64
		if err := db.Select(&found, `SELECT rowid FROM t_fts WHERE t_fts MATCH ?`, `"`+row.A+`"`); err != nil {
			return err.Error()
		}
		if !slices.Contains(found, row.RowID) {
			return fmt.Sprintf("MATCH %q does not find row %d", row.A, row.RowID)
		}
	}
	return ""
}

// deliverAll pulls between every pair of nodes, in random batch sizes,
// until nothing moves.
func deliverAll(t *testing.T, r *rand.Rand, nodes []*simNode, seed uint64) {
	for round := 0; ; round++ {
		moved := 0
		for _, dst := range nodes {
			for _, src := range nodes {
				if dst.id != src.id {
					res, err := shipper.Pull(t.Context(), dst.db, &shipper.File{DB: src.db}, 1+r.IntN(50), applier.Options{})
					if err != nil {
						t.Fatalf("seed %d: final pull: %v", seed, err)
					}
					moved += res.Applied + res.Dropped
					before := dst.id + src.id
					dst.refresh()
					src.refresh()
					if dst.id+src.id != before {
						moved++ // a heal: pull again
					}
				}
			}
		}
		if moved == 0 {
			return
		}
		if round > 10 {
			t.Fatalf("seed %d: changes still moving after %d rounds", seed, round)
		}
	}
}

// model feeds every node's log to lww.Model in a causal order: the logs
// interleaved at random, each in its own order. The changes a restored
// node's copy made (void by a fork in some log) are its successor's to
// make again: left out, and the stamps they gave rows are the successor's.
func model(t *testing.T, r *rand.Rand, nodes []*simNode) string {
	var logs [][]changelog.Change
	forks := map[string]changelog.Fork{}
	for _, n := range nodes {
		log := testutil.Changes(t, n.db)
		logs = append(logs, log)
		for _, c := range log {
			if c.Op == changelog.Forked {
				forks[c.Fork.Node] = *c.Fork
			}
		}
	}
	m := lww.NewModel()
	m.Seed("s "+keyText(changelog.Cells{{Column: "sku", Value: changelog.String("x")}}), map[string]string{"qty": changelog.Int64(1000).String()})
	m.Sum = sumValues(t)
	seen := map[string]bool{}
	pos := make([]int, len(logs))
	for {
		var open []int
		for i := range logs {
			if pos[i] < len(logs[i]) {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return m.Dump()
		}
		i := open[r.IntN(len(open))]
		c := logs[i][pos[i]]
		pos[i]++
		if f, ok := forks[c.Origin]; (ok && f.Void(c.OriginSeq, c.HLC)) || !c.Op.RowChange() {
			continue
		}
		if f, ok := forks[c.IncarnationNode]; ok && c.Incarnation >= f.HLC {
			c.IncarnationNode = f.Successor
		}
		id := fmt.Sprint(c.Origin, c.OriginSeq)
		if seen[id] {
			continue
		}
		seen[id] = true
		values := map[string]string{}
		for _, cell := range c.Set {
			values[cell.Column] = cell.Value.String()
		}
		op := map[changelog.Op]lww.Op{changelog.Insert: lww.Insert, changelog.Update: lww.Update, changelog.Delete: lww.Delete,
			changelog.Add: lww.Add}[c.Op]
		m.Apply(c.Table+" "+keyText(c.Key), lww.Change{Op: op, Stamp: lww.Stamp{HLC: c.HLC, Node: c.Origin},
			Incarnation: lww.Stamp{HLC: c.Incarnation, Node: c.IncarnationNode}}, values)
	}
}

// sumValues adds a counter delta to a cell's value (tagged forms) as the
// applier's ifnull(c, 0) + delta does: the tests write integers and NULL.
func sumValues(t *testing.T) func(value, delta string) string {
	return func(value, delta string) string {
		var sum int64
		for _, s := range []string{value, delta} {
			if s == "" || s == "null" {
				continue
			}
			v, err := changelog.ParseValue(s)
			if err != nil || (v.Type != changelog.Integer && v.Type != changelog.Null) {
				t.Fatalf("counter value %q: %v (the test writes integers)", s, err)
			}
			sum += v.Int
		}
		return changelog.Value{Type: changelog.Integer, Int: sum}.String()
	}
}

func keyText(key changelog.Cells) string {
	parts := make([]string, len(key))
	for i, c := range key {
		parts[i] = c.Value.String()
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

// render prints a node's tables as lww.Model.Dump does.
func render(t *testing.T, db *sqlx.DB) string {
	var lines []string
	for table, keys := range map[string][]string{"t": {"id"}, "p": {"k1", "k2"}, "s": {"sku"}} {
		rows, err := db.Queryx(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			raw, _ := rows.SliceScan()
			var key changelog.Cells
			var cells []string
			for i, col := range cols {
				v, err := changelog.FromSQL(raw[i])
				if err != nil {
					t.Fatal(err)
				}
				if contains(keys, col) {
					key = append(key, changelog.Cell{Column: col, Value: v})
				} else {
					cells = append(cells, col+"="+v.String())
				}
			}
			sort.Strings(cells)
			lines = append(lines, table+" "+keyText(key)+": "+strings.Join(cells, " "))
		}
		rows.Close()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
