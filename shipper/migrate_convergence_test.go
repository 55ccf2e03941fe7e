package shipper_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/shipper"
)

// migrations are the schema versions node 0 makes, in order, at random
// points of a schedule.
var migrations = []string{
	`ALTER TABLE t ADD COLUMN d DEFAULT 7`,
	`ALTER TABLE t RENAME COLUMN a TO a2`,
	`ALTER TABLE t DROP COLUMN b`,
	`ALTER TABLE t ADD COLUMN e TEXT; CREATE INDEX t_e ON t(e)`,
	`ALTER TABLE p RENAME TO q`,
}

// TestConvergenceWithMigrations runs random schedules on 3 to 5 nodes
// while node 0 makes schema versions (ADD, RENAME and DROP COLUMN, RENAME
// TO, an index): every node writes on whatever schema it has, pulls go
// between random pairs in small batches, with redelivery. Once all is
// delivered, every node has every version, the same schema and the same
// rows, and nothing is held. Replay a failure with -trigsync.seed=N
// -trigsync.seeds=1 (a tenth of the TestConvergence schedules run).
func TestConvergenceWithMigrations(t *testing.T) {
	tmpl := template(t)
	for seed := *firstSeed; seed < *firstSeed+uint64(max(1, *seeds/10)); seed++ {
		if !runMigratingSchedule(t, tmpl, seed) {
			t.Fatalf("seed %d diverged; replay: go test ./shipper -run TestConvergenceWithMigrations -trigsync.seed=%d -trigsync.seeds=10 -v", seed, seed)
		}
	}
}

func runMigratingSchedule(t *testing.T, tmpl []byte, seed uint64) bool {
	ctx := t.Context()
	r := rand.New(rand.NewPCG(seed, 7))
	nodes := newNodes(t, tmpl, 3+r.IntN(3))
	made := 0
	for step := 0; step < 40; step++ {
		i := r.IntN(len(nodes))
		n := nodes[i]
		switch k := r.IntN(12); {
		case k < 3:
			src := nodes[r.IntN(len(nodes))]
			if src.id != n.id {
				if _, err := shipper.Pull(ctx, n.db, &shipper.File{DB: src.db}, 1+r.IntN(4), applier.Options{}); err != nil {
					t.Fatalf("seed %d: pull: %v", seed, err)
				}
			}
		case k == 3:
			n.db.MustExec(`UPDATE _trigsync_peers SET pulled_seq = 0`)
		case k == 4 && made < len(migrations):
			if _, err := applier.Migrate(ctx, nodes[0].db, migrations[made], applier.MigrateOptions{}); err != nil {
				t.Fatalf("seed %d: migration %d: %v", seed, made+1, err)
			}
			made++
		default:
			writeOnSchema(r, n.db)
		}
	}
	deliverAll(t, r, nodes, seed)
	want, wantSchema := renderAll(t, nodes[0].db)
	ok := true
	for _, n := range nodes {
		v, _ := changelog.CurrentSchema(ctx, n.db)
		var open int
		n.db.Get(&open, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved IS NULL AND kind <> 'notice'`)
		got, gotSchema := renderAll(t, n.db)
		if got != want || gotSchema != wantSchema || v != int64(made) || open != 0 {
			t.Logf("seed %d: node %s at version %d of %d, %d open conflicts\n%s\n%s\nnode 0\n%s\n%s",
				seed, n.id[:6], v, made, open, gotSchema, got, wantSchema, want)
			ok = false
		}
	}
	return ok
}

// writeOnSchema makes one random change of t or p (or q) with the columns
// the node's schema has now.
func writeOnSchema(r *rand.Rand, db *sqlx.DB) {
	var cols []string
	db.Select(&cols, `SELECT name FROM pragma_table_info('t') WHERE name <> 'id'`)
	key := fmt.Sprintf("k%d", r.IntN(5))
	switch r.IntN(6) {
	case 0, 1:
		marks := strings.Repeat(", ?", len(cols))
		args := []any{key}
		for range cols {
			args = append(args, randomValue(r))
		}
		db.Exec(`INSERT OR IGNORE INTO t(id, `+strings.Join(cols, ", ")+`) VALUES (?`+marks+`)`, args...)
	case 2, 3:
		c := cols[r.IntN(len(cols))]
		db.Exec(`UPDATE t SET `+c+` = ? WHERE id = ?`, randomValue(r), key)
	case 4:
		db.Exec(`DELETE FROM t WHERE id = ?`, key)
	case 5:
		var pairs []string
		db.Select(&pairs, `SELECT name FROM sqlite_schema WHERE name IN ('p', 'q')`)
		if len(pairs) == 1 {
			db.Exec(`INSERT INTO `+pairs[0]+` VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET v = excluded.v`,
				r.IntN(2), fmt.Sprint(r.IntN(2)), randomValue(r))
		}
	}
}

// renderAll prints a node's rows (t, and p or q) and its schema.
func renderAll(t *testing.T, db *sqlx.DB) (rows, schemaSQL string) {
	var sqls []string
	db.Select(&sqls, `SELECT sql FROM sqlite_schema WHERE name IN ('t', 'p', 'q', 't_e') ORDER BY name`)
	var lines []string
	for _, table := range []string{"t", "p", "q"} {
		var n int
		db.Get(&n, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table)
		if n == 0 {
			continue
		}
		res, err := db.Queryx(`SELECT * FROM ` + table + ` ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := res.Columns()
		for res.Next() {
			raw, _ := res.SliceScan()
			var cells []string
			for i, col := range cols {
				v, err := changelog.FromSQL(raw[i])
				if err != nil {
					t.Fatal(err)
				}
				cells = append(cells, col+"="+v.String())
			}
			lines = append(lines, table+" "+strings.Join(cells, " "))
		}
		res.Close()
	}
	return strings.Join(lines, "\n"), strings.Join(sqls, "\n")
}
