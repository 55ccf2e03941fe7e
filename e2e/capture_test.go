package e2e

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/internal/testutil"
)

const valuesTable = `CREATE TABLE v(id TEXT PRIMARY KEY, a, b, c, d REAL, e TEXT COLLATE NOCASE) WITHOUT ROWID;`

func newDB(t *testing.T, ddl string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "app.db")
	shell(t, db, "PRAGMA journal_mode=WAL;"+ddl)
	trigsync(t, "install", db)
	return db
}

func TestCaptureFromSQLiteShell(t *testing.T) {
	db := newDB(t, valuesTable)
	// trusted_schema=OFF forbids triggers to call functions that are not
	// innocuous; trigsync's triggers call none.
	shell(t, db, `PRAGMA trusted_schema=OFF;
		INSERT INTO v VALUES ('k1', 9223372036854775807, -9223372036854775808, 1.0, 2, 'abc');
		INSERT INTO v VALUES ('k2', '1', x'', '', NULL, x'00ff');
		UPDATE v SET a = 1, e = 'ABC' WHERE id = 'k1';
		UPDATE v SET a = 1 WHERE id = 'k1';
		UPDATE v SET id = 'k3' WHERE id = 'k2';
		DELETE FROM v WHERE id = 'k1';`)
	got := changes(t, []string{binary}, db)
	want := []struct {
		op, id string
		set    map[string]changelog.Value
	}{
		{"I", "k1", map[string]changelog.Value{"a": changelog.Int64(math.MaxInt64), "b": changelog.Int64(math.MinInt64),
			"c": changelog.Float(1), "d": changelog.Float(2), "e": changelog.String("abc")}},
		{"I", "k2", map[string]changelog.Value{"a": changelog.String("1"), "b": changelog.Bytes([]byte{}),
			"c": changelog.String(""), "d": changelog.NullValue(), "e": changelog.Bytes([]byte{0, 0xff})}},
		{"U", "k1", map[string]changelog.Value{"a": changelog.Int64(1), "e": changelog.String("ABC")}},
		{"D", "k2", nil},
		{"I", "k3", map[string]changelog.Value{"a": changelog.String("1"), "b": changelog.Bytes([]byte{}),
			"c": changelog.String(""), "d": changelog.NullValue(), "e": changelog.Bytes([]byte{0, 0xff})}},
		{"D", "k1", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("want %d changes, got %d: %+v", len(want), len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Op != w.op || g.Table != "v" || !g.Key["id"].Equal(changelog.String(w.id)) || len(g.Set) != len(w.set) {
			t.Fatalf("change %d: got %+v, want %+v", i, g, w)
		}
		for col, v := range w.set {
			if !g.Set[col].Equal(v) {
				t.Errorf("change %d column %s: got %v want %v", i, col, g.Set[col], v)
			}
		}
	}
}

// TestConcurrentClients has the sqlite3 shell, Python's sqlite3 module and
// this Go process write to one database at once while the log is stamped
// over and over. Every write is captured exactly, stamps increase along the
// log, and no transaction is split across epochs.
func TestConcurrentClients(t *testing.T) {
	need(t, "python3")
	db := newDB(t, `CREATE TABLE w(id TEXT PRIMARY KEY, tx TEXT, n INTEGER, f, blob BLOB);`)
	const txs, rowsPerTx = 40, 5

	script := ""
	for i := 0; i < txs; i++ {
		script += "BEGIN IMMEDIATE;"
		for j := 0; j < rowsPerTx; j++ {
			script += fmt.Sprintf("INSERT INTO w VALUES ('sh-%d-%d', 'sh-%d', %d, %d.25, x'0%d');", i, j, i, j, j, j)
		}
		script += "COMMIT;"
	}
	python := fmt.Sprintf(`
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
for i in range(%d):
    c.execute("BEGIN IMMEDIATE")
    for j in range(%d):
        c.execute("INSERT INTO w VALUES (?, ?, ?, ?, ?)", ("py-%%d-%%d" %% (i, j), "py-%%d" %% i, 2**63 - 1 - j, -0.0, bytes([j])))
    c.execute("COMMIT")
`, txs, rowsPerTx)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := sqlitedb.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if b, err := exec.CommandContext(ctx, "sqlite3", "-cmd", ".timeout 30000", db, script).CombinedOutput(); err != nil {
			errs <- fmt.Errorf("sqlite3: %v %s", err, b)
		}
	}()
	go func() {
		defer wg.Done()
		if b, err := exec.CommandContext(ctx, "python3", "-c", python, db).CombinedOutput(); err != nil {
			errs <- fmt.Errorf("python: %v %s", err, b)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < txs; i++ {
			tx, err := conn.BeginTxx(ctx, nil)
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < rowsPerTx; j++ {
				tx.MustExec(`INSERT INTO w VALUES (?, ?, ?, ?, ?)`, fmt.Sprintf("go-%d-%d", i, j), fmt.Sprintf("go-%d", i), j, "text", nil)
			}
			if err := tx.Commit(); err != nil {
				errs <- err
				return
			}
			trigsync(t, "changes", "--limit", "1", db) // stamps the log while the others write
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := changes(t, []string{binary}, db)
	if len(got) != 3*txs*rowsPerTx {
		t.Fatalf("want %d changes, got %d", 3*txs*rowsPerTx, len(got))
	}
	epochOf := map[string]int64{}
	var last uint64
	epochs := map[int64]bool{}
	for _, c := range got {
		stamp, _ := strconv.ParseUint(c.HLC, 10, 64)
		if stamp <= last {
			t.Fatalf("seq %d: stamp %d does not increase", c.Seq, stamp)
		}
		last = stamp
		tx := c.Set["tx"].Text
		if e, seen := epochOf[tx]; seen && e != c.Epoch {
			t.Fatalf("transaction %s split across epochs %d and %d", tx, e, c.Epoch)
		}
		epochOf[tx] = c.Epoch
		epochs[c.Epoch] = true
		if tx[:2] == "py" {
			f := c.Set["f"]
			if f.Type != changelog.Real || f.Real != 0 || !math.Signbit(f.Real) || c.Set["n"].Int < math.MaxInt64-rowsPerTx {
				t.Fatalf("python values changed on the way: %+v", c.Set)
			}
		}
	}
	if len(epochs) < 2 {
		t.Errorf("stamping ran %d times during the writes: want several epochs, got %d", txs, len(epochs))
	}
}

// TestClockStepsBack runs the sqlite3 shell with its clock moved a day
// ahead, then at the real time, then a day back: stamps keep increasing.
func TestClockStepsBack(t *testing.T) {
	faketime := need(t, "faketime")
	sqlite3 := need(t, "sqlite3")
	db := newDB(t, `CREATE TABLE t(id TEXT PRIMARY KEY, v);`)
	for i, offset := range []string{"+1d", "", "-1d", "-1d"} {
		sql := fmt.Sprintf("INSERT INTO t VALUES ('r%d', %d);", i, i)
		var r result
		if offset == "" {
			r = run(t, nil, sqlite3, db, sql)
		} else {
			r = run(t, nil, faketime, "-f", offset, sqlite3, db, sql)
		}
		if r.code != 0 {
			t.Fatalf("write %d: %s", i, r.stderr)
		}
	}
	got := changes(t, []string{binary}, db)
	var stamps []hlc.Timestamp
	for _, c := range got {
		s, _ := strconv.ParseUint(c.HLC, 10, 64)
		stamps = append(stamps, hlc.Timestamp(s))
	}
	ahead := time.Until(stamps[0].Time())
	if ahead < 23*time.Hour || ahead > 25*time.Hour {
		t.Fatalf("first stamp %v should be a day ahead", stamps[0])
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i] != stamps[i-1]+1 {
			t.Fatalf("after a stamp from the future the clock runs on its counter: %v then %v", stamps[i-1], stamps[i])
		}
	}
}

func TestCaptureOnChinookThroughShell(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chinook.db")
	shell(t, db, ".read "+filepath.Join(testutil.RepoRoot(), "testdata/chinook/Chinook_Sqlite.sql"))
	trigsync(t, "install", db)
	shell(t, db, `UPDATE Invoice SET Total = Total * 2 WHERE BillingCountry = 'Norway';
		DELETE FROM InvoiceLine WHERE InvoiceId IN (SELECT InvoiceId FROM Invoice WHERE BillingCountry = 'Norway');`)
	var norway, lines int
	fmt.Sscan(shell(t, db, `SELECT count(*) FROM Invoice WHERE BillingCountry = 'Norway'`), &norway)
	got := changes(t, []string{binary}, db)
	for _, c := range got {
		if c.Op == "D" {
			lines++
		}
	}
	if norway == 0 || len(got) != norway+lines || lines == 0 {
		t.Fatalf("%d Norway invoices, %d changes (%d deletes)", norway, len(got), lines)
	}
}
