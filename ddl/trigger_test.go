package ddl

import (
	"slices"
	"strings"
	"testing"
)

func TestTriggerWrites(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{`CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n WHERE sku = NEW.sku; END`, []string{"stock"}},
		{`CREATE TRIGGER touch AFTER UPDATE OF name ON item FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
		  BEGIN UPDATE item SET updated_at = datetime('now') WHERE id = NEW.id; END`, []string{"item"}},
		// The FTS5 external-content triggers of sqlite.org/fts5.html.
		{`CREATE TRIGGER tbl_au AFTER UPDATE ON tbl BEGIN
		    INSERT INTO fts_idx(fts_idx, rowid, b, c) VALUES('delete', old.a, old.b, old.c);
		    INSERT INTO fts_idx(rowid, b, c) VALUES (new.a, new.b, new.c);
		  END`, []string{"fts_idx"}},
		{`CREATE TRIGGER "audit me" AFTER DELETE ON "order" BEGIN
		    INSERT OR IGNORE INTO [audit log](what) VALUES ('d');
		    DELETE FROM "cache" WHERE k = OLD.id;
		    REPLACE INTO cache2 VALUES (1);
		    UPDATE OR REPLACE "Audit Log" SET n = n + 1;
		  END`, []string{"audit log", "cache", "cache2"}}, // names compare as SQLite compares them
		{`CREATE TRIGGER v BEFORE INSERT ON t WHEN NEW.x < 0 BEGIN SELECT RAISE(ABORT, 'x must be >= 0'); END`, nil},
		// An upsert's DO UPDATE and a CASE … END in the body are not targets or the end.
		{`CREATE TRIGGER up AFTER INSERT ON t BEGIN
		    INSERT INTO counts(k, n) VALUES (NEW.k, 1) ON CONFLICT (k) DO UPDATE SET n = CASE WHEN n > 0 THEN n + 1 ELSE 1 END;
		  END`, []string{"counts"}},
		// A header whose names are spelled like keywords.
		{`CREATE TRIGGER IF NOT EXISTS "begin" AFTER INSERT ON begin WHEN (SELECT 1) BEGIN
		    delete from Begin; END`, []string{"Begin"}},
		{`CREATE TEMP TRIGGER tt AFTER INSERT ON main.t BEGIN INSERT INTO main.u VALUES (1); END`, []string{"u"}},
		{`CREATE TRIGGER a AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); insert into U values (2); END`, []string{"u"}},
	} {
		got, err := TriggerWrites(tc.sql)
		if err != nil {
			t.Errorf("%.50s: %v", tc.sql, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%.50s: writes %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestTriggerWritesRefuses(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{`CREATE TABLE t (a)`, "body"},
		{`CREATE TRIGGER a AFTER INSERT ON t BEGIN WITH x AS (SELECT 1) INSERT INTO u SELECT * FROM x; END`, "expected INSERT"},
		{`CREATE TRIGGER a AFTER INSERT ON t BEGIN INSERT u VALUES (1); END`, "expected INTO"},
		{`CREATE TRIGGER a AFTER INSERT ON t BEGIN SELECT 1 END`, "semicolon"},
		{`CREATE TRIGGER a AFTER INSERT ON t BEGIN SELECT 'x`, "unterminated"},
	} {
		_, err := TriggerWrites(tc.sql)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.50s: error %v, want one containing %q", tc.sql, err, tc.want)
		}
	}
}

func FuzzTriggerWrites(f *testing.F) {
	f.Add(`CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n WHERE sku = NEW.sku; END`)
	f.Add(`CREATE TRIGGER x BEFORE DELETE ON t BEGIN SELECT RAISE(IGNORE); DELETE FROM u; END`)
	f.Fuzz(func(t *testing.T, sql string) {
		writes, err := TriggerWrites(sql) // must not panic, and names are never empty
		if err == nil && slices.Contains(writes, "") {
			t.Fatalf("empty table name from %q", sql)
		}
	})
}
