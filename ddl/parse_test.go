package ddl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// accepted are scripts Parse takes, with the statements it returns.
var accepted = []struct {
	script string
	want   []Statement
}{
	// CREATE and DROP TRIGGER: semicolons inside the body do not end it.
	{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END; DROP TRIGGER main.old", []Statement{
		{Kind: CreateTrigger, SQL: "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END", Table: "t", Trigger: "tr"},
		{Kind: DropTrigger, SQL: "DROP TRIGGER main.old", Trigger: "old"}}},
	{"create trigger \"a b\" before update of x on main.t when new.x > 0 begin select case when 1 then 2 end; end;", []Statement{
		{Kind: CreateTrigger, SQL: "create trigger \"a b\" before update of x on main.t when new.x > 0 begin select case when 1 then 2 end; end", Table: "t", Trigger: "a b"}}},
	// CREATE TABLE
	{"CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)", []Statement{
		{Kind: CreateTable, SQL: "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)", Table: "t"}}},
	{"create table T(a);", []Statement{{Kind: CreateTable, SQL: "create table T(a)", Table: "T"}}},
	{"CREATE TABLE main.t(a)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE main.t(a)", Table: "t"}}},
	{`CREATE TABLE "MAIN" . "t" (a)`, []Statement{{Kind: CreateTable, SQL: `CREATE TABLE "MAIN" . "t" (a)`, Table: "t"}}},
	{"CREATE TABLE [main].[x y](a)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE [main].[x y](a)", Table: "x y"}}},
	{"CREATE TABLE `main`.`q`(a)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE `main`.`q`(a)", Table: "q"}}},
	{`CREATE TABLE "a""b" ("c""d" TEXT)`, []Statement{{Kind: CreateTable, SQL: `CREATE TABLE "a""b" ("c""d" TEXT)`, Table: `a"b`}}},
	{"CREATE TABLE `a``b`(x)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE `a``b`(x)", Table: "a`b"}}},
	{"CREATE TABLE 'it''s'(x)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE 'it''s'(x)", Table: "it's"}}},
	{"CREATE TABLE café(prix REAL)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE café(prix REAL)", Table: "café"}}},
	{`CREATE TABLE "表"(列)`, []Statement{{Kind: CreateTable, SQL: `CREATE TABLE "表"(列)`, Table: "表"}}},
	{"CREATE TABLE key(temp, if, rowid)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE key(temp, if, rowid)", Table: "key"}}},
	{"CREATE TABLE t(a$1)", []Statement{{Kind: CreateTable, SQL: "CREATE TABLE t(a$1)", Table: "t"}}},
	{"CREATE TABLE t(\n  id INTEGER PRIMARY KEY,\n  n INT NOT NULL DEFAULT (1+2) CHECK (n > 0), -- a comment; with a semicolon\n  s TEXT DEFAULT 'a;b' /* ; */,\n  b BLOB DEFAULT x'00ff',\n  CONSTRAINT u UNIQUE (n, s),\n  FOREIGN KEY (n) REFERENCES p(id)\n) STRICT, WITHOUT ROWID", []Statement{
		{Kind: CreateTable, SQL: "CREATE TABLE t(\n  id INTEGER PRIMARY KEY,\n  n INT NOT NULL DEFAULT (1+2) CHECK (n > 0), -- a comment; with a semicolon\n  s TEXT DEFAULT 'a;b' /* ; */,\n  b BLOB DEFAULT x'00ff',\n  CONSTRAINT u UNIQUE (n, s),\n  FOREIGN KEY (n) REFERENCES p(id)\n) STRICT, WITHOUT ROWID", Table: "t"}}},
	{"CREATE TABLE t(x REAL DEFAULT 1.5e-3, y DEFAULT 0x1F, z DEFAULT .5, w DEFAULT 1_000, v AS (x->>'$.a'))", []Statement{
		{Kind: CreateTable, SQL: "CREATE TABLE t(x REAL DEFAULT 1.5e-3, y DEFAULT 0x1F, z DEFAULT .5, w DEFAULT 1_000, v AS (x->>'$.a'))", Table: "t"}}},

	// ALTER TABLE … ADD
	{"ALTER TABLE t ADD COLUMN c TEXT", []Statement{{Kind: AddColumn, SQL: "ALTER TABLE t ADD COLUMN c TEXT", Table: "t", Column: "c"}}},
	{"alter table t add c", []Statement{{Kind: AddColumn, SQL: "alter table t add c", Table: "t", Column: "c"}}},
	{"ALTER TABLE main.t ADD [my col] INT NOT NULL DEFAULT 0 CHECK ([my col] >= 0) REFERENCES p(id) COLLATE nocase", []Statement{
		{Kind: AddColumn, SQL: "ALTER TABLE main.t ADD [my col] INT NOT NULL DEFAULT 0 CHECK ([my col] >= 0) REFERENCES p(id) COLLATE nocase", Table: "t", Column: "my col"}}},
	{`ALTER TABLE "t" ADD COLUMN "a""b" VARCHAR(10) DEFAULT 'PRIMARY KEY'`, []Statement{
		{Kind: AddColumn, SQL: `ALTER TABLE "t" ADD COLUMN "a""b" VARCHAR(10) DEFAULT 'PRIMARY KEY'`, Table: "t", Column: `a"b`}}},
	{"ALTER TABLE t ADD COLUMN column TEXT", []Statement{{Kind: AddColumn, SQL: "ALTER TABLE t ADD COLUMN column TEXT", Table: "t", Column: "column"}}},
	{"ALTER TABLE t ADD if NOT NULL DEFAULT 1", []Statement{{Kind: AddColumn, SQL: "ALTER TABLE t ADD if NOT NULL DEFAULT 1", Table: "t", Column: "if"}}},
	{"ALTER TABLE t ADD COLUMN ünïcødé", []Statement{{Kind: AddColumn, SQL: "ALTER TABLE t ADD COLUMN ünïcødé", Table: "t", Column: "ünïcødé"}}},

	// trigsync's counter declaration
	{"ALTER TABLE stock ALTER COLUMN qty SET COUNTER", []Statement{{Kind: SetCounter, SQL: "ALTER TABLE stock ALTER COLUMN qty SET COUNTER", Table: "stock", Column: "qty"}}},
	{`alter table main."my stock" alter "q q" set counter`, []Statement{{Kind: SetCounter, SQL: `alter table main."my stock" alter "q q" set counter`, Table: "my stock", Column: "q q"}}},
	// ALTER TABLE … RENAME
	{"ALTER TABLE t RENAME COLUMN a TO b", []Statement{{Kind: RenameColumn, SQL: "ALTER TABLE t RENAME COLUMN a TO b", Table: "t", Column: "a", NewName: "b"}}},
	{"ALTER TABLE t RENAME a TO `b b`", []Statement{{Kind: RenameColumn, SQL: "ALTER TABLE t RENAME a TO `b b`", Table: "t", Column: "a", NewName: "b b"}}},
	{"ALTER TABLE t RENAME column column TO [to]", []Statement{{Kind: RenameColumn, SQL: "ALTER TABLE t RENAME column column TO [to]", Table: "t", Column: "column", NewName: "to"}}},
	{"ALTER TABLE t RENAME TO u", []Statement{{Kind: RenameTable, SQL: "ALTER TABLE t RENAME TO u", Table: "t", NewName: "u"}}},
	{`ALTER TABLE [Main].t RENAME TO "new ""u"""`, []Statement{{Kind: RenameTable, SQL: `ALTER TABLE [Main].t RENAME TO "new ""u"""`, Table: "t", NewName: `new "u"`}}},

	// ALTER TABLE … DROP
	{"ALTER TABLE t DROP COLUMN c", []Statement{{Kind: DropColumn, SQL: "ALTER TABLE t DROP COLUMN c", Table: "t", Column: "c"}}},
	{"ALTER TABLE t DROP \"c\"", []Statement{{Kind: DropColumn, SQL: "ALTER TABLE t DROP \"c\"", Table: "t", Column: "c"}}},

	// DROP TABLE, indexes
	{"DROP TABLE t", []Statement{{Kind: DropTable, SQL: "DROP TABLE t", Table: "t"}}},
	{"DROP TABLE main.[t]", []Statement{{Kind: DropTable, SQL: "DROP TABLE main.[t]", Table: "t"}}},
	{"CREATE INDEX i ON t(a)", []Statement{{Kind: CreateIndex, SQL: "CREATE INDEX i ON t(a)", Table: "t", Index: "i"}}},
	{"CREATE UNIQUE INDEX main.\"i x\" ON t (a COLLATE nocase DESC, lower(b)) WHERE a IS NOT NULL AND (b > 0)", []Statement{
		{Kind: CreateIndex, SQL: "CREATE UNIQUE INDEX main.\"i x\" ON t (a COLLATE nocase DESC, lower(b)) WHERE a IS NOT NULL AND (b > 0)", Table: "t", Index: "i x"}}},
	{"DROP INDEX i", []Statement{{Kind: DropIndex, SQL: "DROP INDEX i", Index: "i"}}},
	{"DROP INDEX 'main'.`i`", []Statement{{Kind: DropIndex, SQL: "DROP INDEX 'main'.`i`", Index: "i"}}},

	// Scripts: several statements, comments, empty statements, no final semicolon.
	{"-- first\n/* lead */ CREATE TABLE t(a); -- trailing\n\n;;ALTER TABLE t ADD b /* inside */ TEXT /* after */ ;\n DROP INDEX i", []Statement{
		{Kind: CreateTable, SQL: "CREATE TABLE t(a)", Table: "t"},
		{Kind: AddColumn, SQL: "ALTER TABLE t ADD b /* inside */ TEXT", Table: "t", Column: "b"},
		{Kind: DropIndex, SQL: "DROP INDEX i", Index: "i"}}},
	{"\ufeffDROP TABLE t;\n", []Statement{{Kind: DropTable, SQL: "DROP TABLE t", Table: "t"}}},
	{"DROP TABLE t /* unterminated comment runs to the end ;", []Statement{{Kind: DropTable, SQL: "DROP TABLE t", Table: "t"}}},
	{"DROP TABLE t -- no newline", []Statement{{Kind: DropTable, SQL: "DROP TABLE t", Table: "t"}}},
	{"\t\r\n\fDROP \vTABLE\tt\r\n", []Statement{{Kind: DropTable, SQL: "DROP \vTABLE\tt", Table: "t"}}},
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range accepted {
		got, err := Parse(tc.script)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.script, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.script, got, tc.want)
		}
		again, err := Parse(Script(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Parse(Script(Parse(%q))) = %+v, %v; want %+v", tc.script, again, err, got)
		}
	}
}

// refused are scripts Parse refuses. unsupported says whether the error
// wraps ErrUnsupported; the error holds each of parts.
var refused = []struct {
	script      string
	unsupported bool
	parts       []string
}{
	// Kinds of statement.
	{"CREATE VIEW v AS SELECT 1", true, []string{"statement 1 (CREATE VIEW v AS SELECT 1)", "CREATE VIEW", "sqlite3 on each node"}},
	{"CREATE TEMP VIEW v AS SELECT 1", true, []string{"CREATE TEMP VIEW", "views are local"}},
	{"DROP VIEW v", true, []string{"DROP VIEW", "drop it with sqlite3 on each node"}},
	{"CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", true, []string{"CREATE TEMP TRIGGER", "temporary triggers", "without TEMP"}},
	{"CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN SELECT 1; END", true, []string{"IF NOT EXISTS"}},
	{"CREATE TRIGGER _trigsync_x AFTER INSERT ON t BEGIN SELECT 1; END", true, []string{"trigsync's own"}},
	{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN WITH x AS (SELECT 1) INSERT INTO u SELECT * FROM x; END", true, []string{"cannot read what its body writes"}},
	{"DROP TRIGGER IF EXISTS tr", true, []string{"IF EXISTS"}},
	{"CREATE VIRTUAL TABLE f USING fts5(body)", true, []string{"CREATE VIRTUAL TABLE", "not replicated"}},
	{"CREATE TEMP TABLE t(a)", true, []string{"CREATE TEMP TABLE", "temporary tables are not replicated", "without TEMP"}},
	{"create temporary table t(a)", true, []string{"CREATE TEMPORARY TABLE", "without TEMPORARY"}},
	{"CREATE TABLE t AS SELECT * FROM u", true, []string{"CREATE TABLE … AS SELECT", "INSERT … SELECT, which replicates"}},
	{"CREATE TABLE IF NOT EXISTS t(a)", true, []string{"CREATE TABLE IF NOT EXISTS", "exactly once on every node", "a table that may or may not exist"}},
	{"CREATE UNIQUE INDEX IF NOT EXISTS i ON t(a)", true, []string{"CREATE INDEX IF NOT EXISTS", "an index that may or may not exist"}},
	{"DROP TABLE IF EXISTS t", true, []string{"DROP TABLE IF EXISTS", "remove IF EXISTS"}},
	{"DROP INDEX if exists i", true, []string{"DROP INDEX IF EXISTS"}},
	{"ALTER TABLE t ADD COLUMN IF NOT EXISTS c", true, []string{"ADD COLUMN IF NOT EXISTS", "a column that may or may not exist"}},
	{"ALTER TABLE t DROP COLUMN IF EXISTS c", true, []string{"DROP COLUMN IF EXISTS"}},
	{"PRAGMA foreign_keys = ON", true, []string{"PRAGMA", "local settings"}},
	{"INSERT INTO t VALUES (1)", true, []string{"INSERT", "ordinary write, which replicates by itself"}},
	{"REPLACE INTO t VALUES (1)", true, []string{"REPLACE", "ordinary write"}},
	{"UPDATE t SET a = 1", true, []string{"UPDATE", "ordinary write"}},
	{"DELETE FROM t", true, []string{"DELETE", "ordinary write"}},
	{"WITH x AS (SELECT 1) DELETE FROM t", true, []string{"WITH", "data change"}},
	{"SELECT 1", true, []string{"SELECT", "changes nothing"}},
	{"EXPLAIN DROP TABLE t", true, []string{"EXPLAIN"}},
	{"BEGIN; CREATE TABLE t(a); COMMIT", true, []string{"statement 1 (BEGIN)", "one transaction of its own"}},
	{"CREATE TABLE t(a); COMMIT", true, []string{"statement 2 (COMMIT)", "remove COMMIT"}},
	{"SAVEPOINT s", true, []string{"SAVEPOINT"}},
	{"VACUUM", true, []string{"VACUUM", "local to each node"}},
	{"ANALYZE", true, []string{"ANALYZE"}},
	{"REINDEX i", true, []string{"REINDEX"}},
	{"ATTACH 'x.db' AS aux", true, []string{"ATTACH", "only the main database"}},
	{"DETACH aux", true, []string{"DETACH"}},
	{"GRANT ALL ON t TO bob", true, []string{"GRANT", "migrate takes CREATE TABLE"}},
	{"(SELECT 1)", true, []string{`a statement starting with "("`}},
	{"CREATE SEQUENCE s", true, []string{"CREATE SEQUENCE", "migrate takes"}},
	{"DROP SCHEMA s", true, []string{"DROP SCHEMA"}},
	{"ALTER INDEX i RENAME TO j", true, []string{"ALTER INDEX"}},
	{"ALTER TABLE t ALTER COLUMN c SET NOT NULL", true, []string{"ALTER COLUMN", "create the new table, copy the rows with INSERT … SELECT", "SET COUNTER"}},
	{"ALTER TABLE t ALTER COLUMN c SET COUNTER 1", false, []string{"expected the end of the statement"}},
	{"ALTER TABLE t ADD PRIMARY KEY (a)", true, []string{"ADD PRIMARY KEY:", "primary key do not change in place"}},
	{"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", true, []string{"ADD CONSTRAINT"}},
	{"ALTER TABLE t ADD CHECK (a > 0)", true, []string{"ADD CHECK"}},
	{"ALTER TABLE t DROP CONSTRAINT c", true, []string{"DROP CONSTRAINT"}},
	{"ALTER TABLE t ADD COLUMN id INTEGER CONSTRAINT pk PRIMARY KEY", true, []string{"ADD COLUMN … PRIMARY KEY", "INSERT … SELECT"}},
	{"ALTER TABLE t ADD COLUMN e TEXT UNIQUE", true, []string{"UNIQUE", "CREATE UNIQUE INDEX"}},

	// Schemas other than main.
	{"CREATE TABLE temp.t(a)", true, []string{"table temp.t", "only the main database"}},
	{"DROP TABLE aux.t", true, []string{"table aux.t", "only the main database"}},
	{`ALTER TABLE "aux"."t" ADD c`, true, []string{`table "aux"."t"`}},
	{"DROP INDEX x.i", true, []string{"index x.i"}},
	{"CREATE INDEX temp.i ON t(a)", true, []string{"index temp.i"}},

	// Parameters.
	{"CREATE TABLE t(a DEFAULT ?)", true, []string{"parameter ?", "no bound values"}},
	{"ALTER TABLE t ADD c DEFAULT :v", true, []string{"parameter :v"}},
	{"CREATE INDEX i ON t(a) WHERE a > @min", true, []string{"parameter @min"}},
	{"DROP TABLE $t", true, []string{"parameter $t"}},
	{"CREATE TABLE t(a DEFAULT ?12)", true, []string{"parameter ?12"}},
	{"CREATE TABLE t(a DEFAULT $a::b(c))", true, []string{"parameter $a::b(c)"}},

	// trigsync's and SQLite's own names, in every position.
	{"CREATE TABLE _trigsync_x(a)", true, []string{"table _trigsync_x", "trigsync's own"}},
	{"CREATE TABLE t(a, \"_TrigSync_b\")", true, []string{`column "_TrigSync_b"`}},
	{"CREATE TABLE SQLITE_x(a)", true, []string{"table SQLITE_x", "SQLite's own"}},
	{"CREATE TABLE main.sqlite_x(a)", true, []string{"table sqlite_x"}},
	{"ALTER TABLE _trigsync_log ADD c", true, []string{"table _trigsync_log"}},
	{"ALTER TABLE t ADD COLUMN [_trigsync_c]", true, []string{"column [_trigsync_c]"}},
	{"ALTER TABLE t RENAME COLUMN _trigsync_a TO b", true, []string{"column _trigsync_a"}},
	{"ALTER TABLE t RENAME COLUMN a TO sqlite_b", true, []string{"column sqlite_b"}},
	{"ALTER TABLE t RENAME TO _trigsync_u", true, []string{"table _trigsync_u"}},
	{"ALTER TABLE t DROP sqlite_c", true, []string{"column sqlite_c"}},
	{"DROP TABLE sqlite_stat1", true, []string{"table sqlite_stat1"}},
	{"CREATE INDEX _trigsync_i ON t(a)", true, []string{"index _trigsync_i"}},
	{"CREATE INDEX i ON `_trigsync_t`(a)", true, []string{"table `_trigsync_t`"}},
	{"DROP INDEX sqlite_autoindex_t_1", true, []string{"index sqlite_autoindex_t_1"}},

	// Empty names.
	{`CREATE TABLE ""(a)`, true, []string{`empty table name ""`}},
	{"ALTER TABLE t RENAME a TO []", true, []string{"empty column name []"}},

	// Malformed statements.
	{"CREATE TABLE t", false, []string{"incomplete statement: expected ( and the column list"}},
	{"CREATE TABLE t()", false, []string{`near ")": expected the column list`}},
	{"CREATE TABLE t(a", false, []string{"expected ) closing the column list"}},
	{"CREATE TABLE t(a; b)", false, []string{"statement 1 (CREATE TABLE t(a)", "expected ) closing"}},
	{"CREATE TABLE t(a,)", false, []string{"expected a column name"}},
	{"CREATE TABLE t(a) AS SELECT 1", false, []string{`near "AS"`}},
	{"CREATE TABLE t(a) STRICT WITHOUT ROWID", false, []string{`near "WITHOUT": expected , or the end`}},
	{"CREATE TABLE t(a) WITHOUT", false, []string{"expected a table option"}},
	{"CREATE TABLE select(a)", false, []string{`near "select": expected a table name (SELECT is a keyword`}},
	{"CREATE TABLE if(a)", false, []string{"expected NOT EXISTS"}},
	{"CREATE TABLE", false, []string{"expected a table name"}},
	{"CREATE", false, []string{"expected TABLE or INDEX"}},
	{"CREATE INDEX i t(a)", false, []string{`near "t": expected ON`}},
	{"CREATE INDEX i ON main.t(a)", false, []string{"qualify the index name instead"}},
	{"CREATE INDEX i ON t", false, []string{"incomplete statement"}},
	{"CREATE INDEX i ON t(a) WHERE", false, []string{"expected the WHERE condition"}},
	{"CREATE INDEX i ON t(a) x", false, []string{`near "x": expected the end of the statement`}},
	{"CREATE INDEX i ON t(a) WHERE (a > 0", false, []string{"expected )"}},
	{"ALTER TABLE t", false, []string{"expected ADD, RENAME or DROP"}},
	{"ALTER t ADD c", true, []string{"ALTER t:"}},
	{"ALTER", false, []string{"expected TABLE"}},
	{"ALTER TABLE t ADD COLUMN", false, []string{"incomplete statement: expected a column name"}},
	{"ALTER TABLE t ADD c INT, ADD d INT", false, []string{"one statement per column"}},
	{"ALTER TABLE t ADD c INT)", false, []string{`near ")"`}},
	{"ALTER TABLE t RENAME a b", false, []string{`near "b": expected TO`}},
	{"ALTER TABLE t RENAME column TO b", false, []string{`near "TO": expected a column name`}},
	{"ALTER TABLE t RENAME TO main.u", false, []string{`near "."`}},
	{"ALTER TABLE t DROP COLUMN a b", false, []string{`near "b"`}},
	{"DROP TABLE t, u", false, []string{`near ","`}},
	{"DROP TABLE if", false, []string{"expected EXISTS"}},
	{"DROP", false, []string{"expected TABLE or INDEX"}},
	{"DROP TABLE 1", false, []string{`near "1": expected a table name`}},
	{"DROP INDEX", false, []string{"expected an index name"}},

	// Tokens.
	{"CREATE TABLE t(a DEFAULT 'x)", false, []string{"statement 1: line 1, column 26: unterminated string"}},
	{"DROP TABLE t;\nDROP TABLE \"u", false, []string{"statement 2: line 2, column 12: unterminated quoted identifier"}},
	{"DROP TABLE `u", false, []string{"unterminated quoted identifier"}},
	{"DROP TABLE [u", false, []string{"unterminated [identifier]"}},
	{"CREATE TABLE t(a DEFAULT x'abc')", false, []string{"malformed blob literal"}},
	{"CREATE TABLE t(a DEFAULT x'zz')", false, []string{"malformed blob literal"}},
	{"CREATE TABLE t(a DEFAULT 12ab)", false, []string{`malformed number "12ab"`}},
	{"CREATE TABLE t(a DEFAULT 1 ! 2)", false, []string{`unrecognized token "!"`}},
	{"CREATE TABLE t(a DEFAULT {)", false, []string{`unrecognized token "{"`}},
	{"CREATE TABLE t(a DEFAULT $)", false, []string{`unrecognized token "$"`}},
	{"CREATE TABLE t(a DEFAULT $a(b c))", false, []string{"unterminated parameter"}},
	{"DROP\vTABLE t", false, []string{`line 1, column 5: unrecognized token "\v"`}},
	{"\vDROP TABLE t", false, []string{`line 1, column 1: unrecognized token "\v"`}},
	{"DROP TABLE t\x00", false, []string{"NUL byte"}},
	{"DROP TABLE \xff", false, []string{"line 1, column 12: the script is not valid UTF-8"}},
	{"DROP TABLE é\xff", false, []string{"line 1, column 13"}},

	// Nothing.
	{"", false, []string{"empty script"}},
	{" ;; -- only a comment\n/* and another */ ;", false, []string{"empty script"}},
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range refused {
		got, err := Parse(tc.script)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", tc.script, got)
			continue
		}
		if errors.Is(err, ErrUnsupported) != tc.unsupported {
			t.Errorf("Parse(%q): errors.Is(%q, ErrUnsupported) = %v, want %v", tc.script, err, !tc.unsupported, tc.unsupported)
		}
		for _, part := range tc.parts {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("Parse(%q): error %q does not hold %q", tc.script, err, part)
			}
		}
	}
}

// A refusal names the statement: its position among the script's
// statements and its first 60 characters, on one line.
func TestErrorNamesStatement(t *testing.T) {
	long := "CREATE VIEW a_rather_long_view_name AS\n  SELECT first_column, second_column FROM some_table"
	_, err := Parse("-- header\n;CREATE TABLE t(a);\n\n" + long)
	want := "statement 2 (CREATE VIEW a_rather_long_view_name AS SELECT first_column, ...): "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %q does not wrap ErrUnsupported", err)
	}
	for _, tc := range []struct{ sql, want string }{
		{"a", "a"},
		{"a \n\t b", "a b"},
		{strings.Repeat("x", 60), strings.Repeat("x", 60)},
		{strings.Repeat("x", 61), strings.Repeat("x", 60) + "..."},
		{strings.Repeat("é", 59) + " y", strings.Repeat("é", 59) + " ..."},
		{strings.Repeat("é", 60) + " y", strings.Repeat("é", 60) + "..."},
	} {
		if got := excerpt(tc.sql); got != tc.want {
			t.Errorf("excerpt(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	want := []string{"", "CREATE TABLE", "ADD COLUMN", "RENAME COLUMN", "DROP COLUMN", "RENAME TABLE", "DROP TABLE", "CREATE INDEX", "DROP INDEX"}
	for k := CreateTable; k <= DropIndex; k++ {
		if k.String() != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), want[k])
		}
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", got)
	}
}

func TestScript(t *testing.T) {
	stmts := []Statement{{SQL: "CREATE TABLE t(a)"}, {SQL: "DROP TABLE u"}}
	if got, want := Script(stmts), "CREATE TABLE t(a);\nDROP TABLE u;\n"; got != want {
		t.Errorf("Script = %q, want %q", got, want)
	}
	if got := Script(nil); got != "" {
		t.Errorf("Script(nil) = %q", got)
	}
}

// Parse runs in time linear in its input, on large and adversarial scripts.
func TestParseLarge(t *testing.T) {
	const n = 1 << 20
	for _, tc := range []struct {
		script string
		ok     bool
	}{
		{strings.Repeat("ALTER TABLE t ADD c;", n/20), true},
		{"CREATE TABLE t(a DEFAULT " + strings.Repeat("(", n) + strings.Repeat(")", n) + ")", true},
		{"CREATE TABLE t(a DEFAULT " + strings.Repeat("(", n), false},
		{"CREATE TABLE t(" + strings.Repeat("a,", n) + "a)", true},
		{strings.Repeat(";", n), false},
		{strings.Repeat("/*", n), false},
		{"DROP TABLE t; " + strings.Repeat("-- x\n", n), true},
		{"CREATE TABLE t(a DEFAULT '" + strings.Repeat("''", n), false},
		{"CREATE TABLE t(a DEFAULT $a(" + strings.Repeat("x", n), false},
		{strings.Repeat("DROP TABLE é;", n/13) + "DROP VIEW v", false},
	} {
		start := time.Now()
		_, err := Parse(tc.script)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%.40q…): %v", tc.script, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Parse(%.40q…) took %v", tc.script, d)
		}
	}
}
