package shipper_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// convSchema's t.n is a counter column (installed with --counter t.n).
const convSchema = `CREATE TABLE t(id TEXT PRIMARY KEY, a, b, c, n INTEGER);
CREATE TABLE p(k1 INTEGER, k2 TEXT, v, PRIMARY KEY (k1, k2)) WITHOUT ROWID;`

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
	id string
	db *sqlx.DB
}

func newNodes(t *testing.T, tmpl []byte, n int) []simNode {
	ctx := t.Context()
	dir := t.TempDir()
	var nodes []simNode
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
		nodes = append(nodes, simNode{id, db})
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
		switch r.IntN(10) {
		case 0, 1, 2: // pull, in small batches
			src := nodes[r.IntN(len(nodes))]
			if src.id != n.id {
				if _, err := shipper.Pull(ctx, n.db, &shipper.File{DB: src.db}, 1+r.IntN(4), applier.Options{}); err != nil {
					t.Fatalf("seed %d: pull: %v", seed, err)
				}
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
	}
	return ok
}

// deliverAll pulls between every pair of nodes, in random batch sizes,
// until nothing moves.
func deliverAll(t *testing.T, r *rand.Rand, nodes []simNode, seed uint64) {
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
// interleaved at random, each in its own order.
func model(t *testing.T, r *rand.Rand, nodes []simNode) string {
	var logs [][]changelog.Change
	for _, n := range nodes {
		logs = append(logs, testutil.Changes(t, n.db))
	}
	m := lww.NewModel()
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
	for table, keys := range map[string][]string{"t": {"id"}, "p": {"k1", "k2"}} {
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
