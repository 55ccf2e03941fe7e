// Package ddl reads the schema changes `trigsync migrate` replicates
// (docs/MIGRATIONS.md): it splits a script into statements, classifies each
// and refuses anything else, with an error naming the statement and the
// supported path. It also reads which tables a trigger's body writes
// (TriggerWrites). It checks nothing against a database.
package ddl

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of a supported statement.
type Kind int

// The supported statements.
const (
	CreateTable   Kind = iota + 1 // CREATE TABLE t (…)
	AddColumn                     // ALTER TABLE t ADD [COLUMN] c …
	RenameColumn                  // ALTER TABLE t RENAME [COLUMN] a TO b
	DropColumn                    // ALTER TABLE t DROP [COLUMN] c
	RenameTable                   // ALTER TABLE t RENAME TO u
	DropTable                     // DROP TABLE t
	CreateIndex                   // CREATE [UNIQUE] INDEX i ON t (…) [WHERE …]
	DropIndex                     // DROP INDEX i
	CreateTrigger                 // CREATE TRIGGER g … ON t … BEGIN … END
	DropTrigger                   // DROP TRIGGER g
	// SetCounter is trigsync's own statement, not SQLite's: it makes a
	// column a counter (docs/MERGE.md, "Counter columns") on every node.
	SetCounter // ALTER TABLE t ALTER [COLUMN] c SET COUNTER
)

func (k Kind) String() string {
	switch k {
	case CreateTable:
		return "CREATE TABLE"
	case AddColumn:
		return "ADD COLUMN"
	case RenameColumn:
		return "RENAME COLUMN"
	case DropColumn:
		return "DROP COLUMN"
	case RenameTable:
		return "RENAME TABLE"
	case DropTable:
		return "DROP TABLE"
	case CreateIndex:
		return "CREATE INDEX"
	case DropIndex:
		return "DROP INDEX"
	case CreateTrigger:
		return "CREATE TRIGGER"
	case DropTrigger:
		return "DROP TRIGGER"
	case SetCounter:
		return "SET COUNTER"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Statement is one supported statement. Names are unquoted: "a""b" is a"b,
// [x y] is x y, a bare word is as written; a main. qualifier is dropped.
type Statement struct {
	Kind    Kind
	SQL     string // the statement as written: trimmed of surrounding space and comments, no trailing semicolon
	Table   string // the table it creates, alters or drops; for CREATE INDEX and TRIGGER the table it is on; "" for DROP INDEX and TRIGGER
	Column  string // AddColumn: the new column; RenameColumn: the old name; DropColumn: the dropped column; SetCounter: the counter
	NewName string // RenameColumn and RenameTable: the new name
	Index   string // CreateIndex and DropIndex: the index
	Trigger string // CreateTrigger and DropTrigger: the trigger
}

// ErrEmpty means a script holds no statement (only space and comments).
var ErrEmpty = errors.New("empty script: no statement")

// ErrUnsupported is wrapped by every refusal: of a statement kind, and of a
// supported statement using what migrate does not replicate (IF [NOT]
// EXISTS, a schema other than main, a parameter, an empty name or one
// reserved to trigsync or SQLite, an added column's PRIMARY KEY or UNIQUE).
// Malformed SQL and an empty script fail with other errors.
var ErrUnsupported = errors.New("unsupported schema change")

// supported is the supported path for a statement of no supported kind.
const supported = "migrate takes CREATE TABLE, ALTER TABLE … ADD, RENAME or DROP COLUMN, " +
	"ALTER TABLE … RENAME TO, DROP TABLE, CREATE [UNIQUE] INDEX, DROP INDEX, CREATE TRIGGER and DROP TRIGGER"

// rebuild is the supported path for a change SQLite makes in place but
// migrate does not replicate.
const rebuild = "create the new table, copy the rows with INSERT … SELECT (it replicates), drop the old table and rename the new one"

// Parse splits script into statements and classifies each. It fails on the
// first statement it cannot classify, naming it (its first 60 characters and
// its 1-based position in the script), and on an empty script. It also
// refuses a script that is not UTF-8 or holds a NUL byte. It runs in time
// linear in the length of script.
func Parse(script string) ([]Statement, error) {
	if err := checkText(script); err != nil {
		return nil, err
	}
	lx := lexer{src: script}
	var stmts []Statement
	var toks []token
	for {
		tok, err := lx.next()
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", len(stmts)+1, err)
		}
		// Inside CREATE TRIGGER a semicolon ends the statement only after
		// "; END", as sqlite3_complete reads it.
		if tok.kind != tSemi && tok.kind != tEOF || tok.kind == tSemi && inTriggerBody(script, toks) {
			toks = append(toks, tok)
			continue
		}
		if len(toks) > 0 {
			st, err := classify(script, toks)
			if err != nil {
				return nil, fmt.Errorf("statement %d (%s): %w", len(stmts)+1, excerpt(st.SQL), err)
			}
			stmts = append(stmts, st)
			toks = toks[:0]
		}
		if tok.kind == tEOF {
			break
		}
	}
	if len(stmts) == 0 {
		return nil, ErrEmpty
	}
	return stmts, nil
}

// Script joins statements back into one script: their SQL, each followed by ";\n".
func Script(stmts []Statement) string {
	var b strings.Builder
	for _, st := range stmts {
		b.WriteString(st.SQL)
		b.WriteString(";\n")
	}
	return b.String()
}

// checkText refuses a script that is not UTF-8 (it travels as JSON text) or
// holds a NUL byte (SQLite would stop reading there).
func checkText(s string) error {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return fmt.Errorf("%s: the script is not valid UTF-8", position(s, i))
		case r == 0:
			return fmt.Errorf("%s: the script holds a NUL byte", position(s, i))
		}
		i += n
	}
	return nil
}

// excerpt returns the first 60 characters of sql, each run of space or
// control characters shown as one space.
func excerpt(sql string) string {
	const max = 60
	var b strings.Builder
	n, gap := 0, false
	for _, r := range sql {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			gap = n > 0
			continue
		}
		if n == max {
			b.WriteString("...")
			break
		}
		if gap {
			b.WriteByte(' ')
			n, gap = n+1, false
			if n == max {
				b.WriteString("...")
				break
			}
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// refusef returns an error wrapping ErrUnsupported.
func refusef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// classify reads the statement made of toks (at least one). The Statement
// it returns holds SQL even with an error.
func classify(src string, toks []token) (Statement, error) {
	p := parser{src: src, toks: toks}
	st := Statement{SQL: src[toks[0].start:toks[len(toks)-1].end]}
	var err error
	switch {
	case p.word(0, "CREATE"):
		err = p.create(&st)
	case p.word(0, "ALTER"):
		err = p.alter(&st)
	case p.word(0, "DROP"):
		err = p.drop(&st)
	default:
		err = p.other()
	}
	return st, err
}

// parser walks the tokens of one statement.
type parser struct {
	src  string
	toks []token
	i    int // the current token
}

// peek returns the token k places after the current one, or tEOF.
func (p *parser) peek(k int) token {
	if j := p.i + k; j >= 0 && j < len(p.toks) {
		return p.toks[j]
	}
	return token{kind: tEOF}
}

func (p *parser) text(t token) string { return p.src[t.start:t.end] }

// word reports whether the token k places on is the bare keyword kw
// (upper case, compared ASCII case-insensitively as SQLite does).
func (p *parser) word(k int, kw string) bool {
	t := p.peek(k)
	return t.kind == tWord && asciiEqualFold(p.text(t), kw)
}

// accept consumes the current token if it is the bare keyword kw.
func (p *parser) accept(kw string) bool {
	if p.word(0, kw) {
		p.i++
		return true
	}
	return false
}

// upper returns the bare word k places on in upper case (ASCII only), to
// name a statement by its keywords.
func (p *parser) upper(k int) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, p.text(p.peek(k)))
}

// written returns the token k places on as an error message shows it: a
// bare word as written, anything else quoted.
func (p *parser) written(k int) string {
	t := p.peek(k)
	if t.kind == tWord {
		return cut(p.text(t))
	}
	return p.shown(t)
}

// shown returns a token quoted for an error message, cut at 30 characters.
func (p *parser) shown(t token) string {
	if t.kind == tEOF {
		return "end of statement"
	}
	return `"` + cut(p.text(t)) + `"`
}

// cut returns s cut at 30 characters.
func cut(s string) string {
	n := 0
	for i := range s {
		if n == 30 {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// unexpected is the syntax error at the current token.
func (p *parser) unexpected(want string) error {
	t := p.peek(0)
	if t.kind == tEOF {
		return fmt.Errorf("incomplete statement: expected %s", want)
	}
	return fmt.Errorf("near %s: expected %s", p.shown(t), want)
}

// end checks that the statement ends at the current token.
func (p *parser) end() error {
	if p.peek(0).kind != tEOF {
		return p.unexpected("the end of the statement")
	}
	return nil
}

// noParams refuses a statement holding a parameter.
func (p *parser) noParams(head string) error {
	for _, t := range p.toks {
		if t.kind == tParam {
			return refusef("%s with parameter %s: a migration has no bound values; write the value as a literal", head, cut(p.text(t)))
		}
	}
	return nil
}

// atCondition reports whether the current token starts IF [NOT] EXISTS.
func (p *parser) atCondition() bool {
	return p.word(0, "IF") && (p.word(1, "EXISTS") || p.word(1, "NOT") && p.word(2, "EXISTS"))
}

// noCondition refuses IF [NOT] EXISTS at the current token. A bare IF
// there is SQLite's keyword, so anything else after it is a syntax error.
func (p *parser) noCondition(head, noun, want string) error {
	if !p.word(0, "IF") {
		return nil
	}
	if p.atCondition() {
		return refuseCondition(head, noun, p.word(1, "NOT"))
	}
	p.i++
	return p.unexpected(want)
}

// refuseCondition explains why IF [NOT] EXISTS is refused.
func refuseCondition(head, noun string, not bool) error {
	cond := "IF EXISTS"
	if not {
		cond = "IF NOT EXISTS"
	}
	return refusef("%s %s: a migration runs exactly once on every node, in order, so it must say what it does unconditionally "+
		"(%s that may or may not exist would leave nodes with different schemas); remove %s", head, cond, article(noun), cond)
}

// isName reports whether t can be a name, as SQLite's nm: a bare word
// other than a reserved keyword, a quoted identifier or a string.
func (p *parser) isName(t token) bool {
	return t.kind == tWord && !reserved(p.text(t)) || t.kind == tQuoted || t.kind == tString
}

// name reads the name of a noun (table, column, index, schema) and returns
// it unquoted, and as written.
func (p *parser) name(noun string) (string, string, error) {
	want := article(noun) + " name"
	t := p.peek(0)
	if !p.isName(t) {
		if t.kind == tWord {
			return "", "", fmt.Errorf("near %s: expected %s (%s is a keyword: quote it to use it as a name)",
				p.shown(t), want, p.upper(0))
		}
		return "", "", p.unexpected(want)
	}
	p.i++
	written := p.text(t)
	v := unquote(written)
	if v == "" {
		return "", "", refusef("empty %s name %s: give the %s a name", noun, written, noun)
	}
	return v, written, nil
}

// article returns noun after its indefinite article.
func article(noun string) string {
	if noun == "index" {
		return "an " + noun
	}
	return "a " + noun
}

// ownName refuses a name that starts like trigsync's or SQLite's own.
func ownName(what, v, written string) error {
	switch {
	case asciiHasPrefixFold(v, "_trigsync_"):
		return refusef("%s %s: names starting with _trigsync_ are trigsync's own", what, cut(written))
	case asciiHasPrefixFold(v, "sqlite_"):
		return refusef("%s %s: names starting with sqlite_ are SQLite's own", what, cut(written))
	}
	return nil
}

// ownedName reads a name that must not be trigsync's or SQLite's.
func (p *parser) ownedName(what string) (string, error) {
	v, written, err := p.name(what)
	if err != nil {
		return "", err
	}
	return v, ownName(what, v, written)
}

// qualifiedName reads [schema.]name, where the schema must be main.
func (p *parser) qualifiedName(what string) (string, error) {
	if p.peek(1).kind != tDot {
		return p.ownedName(what)
	}
	start := p.peek(0).start
	schema, _, err := p.name("schema")
	if err != nil {
		return "", err
	}
	p.i++ // the dot
	v, written, err := p.name(what)
	if err != nil {
		return "", err
	}
	if !asciiEqualFold(schema, "main") {
		return "", refusef("%s %s: only the main database is replicated", what, cut(p.src[start:p.peek(-1).end]))
	}
	return v, ownName(what, v, written)
}

// group reads a non-empty parenthesized list through its closing
// parenthesis, calling item (when not nil) at the first token of each
// top-level item.
func (p *parser) group(what string, item func() error) error {
	if p.peek(0).kind != tLParen {
		return p.unexpected("( and " + what)
	}
	p.i++
	if p.peek(0).kind == tRParen {
		return p.unexpected(what)
	}
	for depth, start := 1, true; ; p.i++ {
		if start && item != nil {
			if err := item(); err != nil {
				return err
			}
		}
		t := p.peek(0)
		start = depth == 1 && t.kind == tComma
		switch t.kind {
		case tEOF:
			return p.unexpected(") closing " + what)
		case tLParen:
			depth++
		case tRParen:
			if depth--; depth == 0 {
				p.i++
				return nil
			}
		}
	}
}

// balanced reads the rest of the statement, whose parentheses must balance.
// At each top-level token it calls top (when not nil).
func (p *parser) balanced(top func(token) error) error {
	depth := 0
	for ; p.peek(0).kind != tEOF; p.i++ {
		t := p.peek(0)
		switch t.kind {
		case tLParen:
			depth++
		case tRParen:
			if depth == 0 {
				return p.unexpected("the end of the statement")
			}
			depth--
		default:
			if depth == 0 && top != nil {
				if err := top(t); err != nil {
					return err
				}
			}
		}
	}
	if depth > 0 {
		return p.unexpected(")")
	}
	return nil
}

// create reads a CREATE statement.
func (p *parser) create(st *Statement) error {
	p.i = 1
	temp := ""
	if p.word(0, "TEMP") || p.word(0, "TEMPORARY") {
		temp = p.upper(0) + " "
		p.i++
	}
	switch {
	case p.word(0, "VIEW"):
		return refusef("CREATE %sVIEW: views are local objects, not replicated; create it with sqlite3 on each node", temp)
	case temp != "" && p.word(0, "TRIGGER"):
		return refusef("CREATE %sTRIGGER: temporary triggers are local to one connection, not replicated; create a trigger without %s", temp, strings.TrimSpace(temp))
	case p.accept("TRIGGER"):
		return p.createTrigger(st)
	case temp != "" && p.word(0, "TABLE"):
		return refusef("CREATE %sTABLE: temporary tables are not replicated; create a table without %s", temp, strings.TrimSpace(temp))
	case temp != "" && p.peek(0).kind != tEOF:
		return refusef("CREATE %s%s: temporary objects are not replicated", temp, p.written(0))
	case p.word(0, "VIRTUAL") && p.word(1, "TABLE"):
		return refusef("CREATE VIRTUAL TABLE: virtual tables are not replicated; create it with sqlite3 on each node")
	case p.accept("TABLE"):
		return p.createTable(st)
	case p.word(0, "INDEX") || p.word(0, "UNIQUE") && p.word(1, "INDEX"):
		return p.createIndex(st)
	case p.peek(0).kind == tEOF:
		return p.unexpected("TABLE or INDEX")
	}
	return refusef("CREATE %s: %s", p.written(0), supported)
}

// createTable reads CREATE TABLE after TABLE.
func (p *parser) createTable(st *Statement) error {
	if err := p.noCondition("CREATE TABLE", "table", "NOT EXISTS"); err != nil {
		return err
	}
	if err := p.noParams("CREATE TABLE"); err != nil {
		return err
	}
	table, err := p.qualifiedName("table")
	if err != nil {
		return err
	}
	if p.word(0, "AS") {
		return refusef("CREATE TABLE … AS SELECT: create the table with its columns, then copy the rows with INSERT … SELECT, which replicates")
	}
	err = p.group("the column list", func() error {
		t := p.peek(0)
		if t.kind == tWord && (p.word(0, "CONSTRAINT") || p.word(0, "PRIMARY") || p.word(0, "UNIQUE") ||
			p.word(0, "CHECK") || p.word(0, "FOREIGN")) {
			return nil // a table constraint
		}
		if p.isName(t) {
			return ownName("column", unquote(p.text(t)), p.text(t))
		}
		return p.unexpected("a column name")
	})
	if err != nil {
		return err
	}
	// Table options: [WITHOUT] nm, separated by commas (SQLite judges which).
	for first := true; p.peek(0).kind != tEOF; first = false {
		if !first && p.peek(0).kind != tComma {
			return p.unexpected(", or the end of the statement")
		}
		if !first {
			p.i++
		}
		p.accept("WITHOUT")
		if !p.isName(p.peek(0)) {
			return p.unexpected("a table option (STRICT, WITHOUT ROWID)")
		}
		p.i++
	}
	st.Kind, st.Table = CreateTable, table
	return nil
}

// createIndex reads CREATE [UNIQUE] INDEX.
func (p *parser) createIndex(st *Statement) error {
	p.accept("UNIQUE")
	p.i++ // INDEX
	if err := p.noCondition("CREATE INDEX", "index", "NOT EXISTS"); err != nil {
		return err
	}
	if err := p.noParams("CREATE INDEX"); err != nil {
		return err
	}
	index, err := p.qualifiedName("index")
	if err != nil {
		return err
	}
	if !p.accept("ON") {
		return p.unexpected("ON")
	}
	table, err := p.ownedName("table")
	if err != nil {
		return err
	}
	if p.peek(0).kind == tDot {
		return p.unexpected("( (the indexed table takes no schema: qualify the index name instead, CREATE INDEX main.i ON t (…))")
	}
	if err := p.group("the indexed columns", nil); err != nil {
		return err
	}
	if p.accept("WHERE") {
		if p.peek(0).kind == tEOF {
			return p.unexpected("the WHERE condition")
		}
		if err := p.balanced(nil); err != nil {
			return err
		}
	}
	if err := p.end(); err != nil {
		return err
	}
	st.Kind, st.Table, st.Index = CreateIndex, table, index
	return nil
}

// alter reads an ALTER statement.
func (p *parser) alter(st *Statement) error {
	if !p.word(1, "TABLE") {
		if p.peek(1).kind == tEOF {
			p.i = 1
			return p.unexpected("TABLE")
		}
		return refusef("ALTER %s: %s", p.written(1), supported)
	}
	p.i = 2
	if err := p.noParams("ALTER TABLE"); err != nil {
		return err
	}
	table, err := p.qualifiedName("table")
	if err != nil {
		return err
	}
	st.Table = table
	switch {
	case p.accept("ADD"):
		return p.addColumn(st)
	case p.accept("RENAME"):
		return p.rename(st)
	case p.accept("DROP"):
		return p.dropColumn(st)
	case p.accept("ALTER"):
		return p.setCounter(st)
	}
	return p.unexpected("ADD, RENAME or DROP")
}

// constraint refuses a table constraint where ALTER TABLE … ADD or DROP
// expects a column.
func (p *parser) constraint(verb string) error {
	for _, c := range [][2]string{{"CONSTRAINT", ""}, {"PRIMARY", " KEY"}, {"UNIQUE", ""}, {"CHECK", ""}, {"FOREIGN", " KEY"}} {
		if p.word(0, c[0]) {
			return refusef("ALTER TABLE … %s %s%s: a table's constraints and primary key do not change in place; %s", verb, c[0], c[1], rebuild)
		}
	}
	return nil
}

// addColumn reads ALTER TABLE … ADD after ADD.
func (p *parser) addColumn(st *Statement) error {
	p.accept("COLUMN")
	if p.atCondition() {
		return refuseCondition("ALTER TABLE … ADD COLUMN", "column", p.word(1, "NOT"))
	}
	if err := p.constraint("ADD"); err != nil {
		return err
	}
	column, err := p.ownedName("column")
	if err != nil {
		return err
	}
	// The rest is the column's definition, read by SQLite; only what SQLite
	// refuses when adding a column gets its own message here.
	err = p.balanced(func(t token) error {
		switch {
		case p.word(0, "PRIMARY"):
			return refusef("ALTER TABLE … ADD COLUMN … PRIMARY KEY: a primary key does not change in place; %s", rebuild)
		case p.word(0, "UNIQUE"):
			return refusef("ALTER TABLE … ADD COLUMN … UNIQUE: SQLite cannot add a UNIQUE column; add the column, then CREATE UNIQUE INDEX on it")
		case t.kind == tComma:
			return fmt.Errorf("near \",\": one ALTER TABLE adds one column; write one statement per column")
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.Kind, st.Column = AddColumn, column
	return nil
}

// rename reads ALTER TABLE … RENAME after RENAME.
func (p *parser) rename(st *Statement) error {
	if p.accept("TO") {
		newName, err := p.ownedName("table")
		if err != nil {
			return err
		}
		st.Kind, st.NewName = RenameTable, newName
		return p.end()
	}
	p.accept("COLUMN")
	column, err := p.ownedName("column")
	if err != nil {
		return err
	}
	if !p.accept("TO") {
		return p.unexpected("TO")
	}
	newName, err := p.ownedName("column")
	if err != nil {
		return err
	}
	st.Kind, st.Column, st.NewName = RenameColumn, column, newName
	return p.end()
}

// dropColumn reads ALTER TABLE … DROP after DROP.
// setCounter reads trigsync's ALTER TABLE t ALTER [COLUMN] c SET COUNTER;
// any other ALTER COLUMN is refused.
func (p *parser) setCounter(st *Statement) error {
	p.accept("COLUMN")
	start := p.i
	if p.isName(p.peek(0)) && p.word(1, "SET") && p.word(2, "COUNTER") {
		column, err := p.ownedName("column")
		if err != nil {
			return err
		}
		p.i += 2
		st.Kind, st.Column = SetCounter, column
		return p.end()
	}
	p.i = start
	return refusef("ALTER TABLE … ALTER COLUMN: a column's type and constraints do not change in place through migrate; %s "+
		"(trigsync's ALTER TABLE t ALTER COLUMN c SET COUNTER makes a column a counter)", rebuild)
}

func (p *parser) dropColumn(st *Statement) error {
	p.accept("COLUMN")
	if p.atCondition() {
		return refuseCondition("ALTER TABLE … DROP COLUMN", "column", p.word(1, "NOT"))
	}
	if err := p.constraint("DROP"); err != nil {
		return err
	}
	column, err := p.ownedName("column")
	if err != nil {
		return err
	}
	st.Kind, st.Column = DropColumn, column
	return p.end()
}

// drop reads a DROP statement.
func (p *parser) drop(st *Statement) error {
	p.i = 1
	var kind Kind
	switch {
	case p.word(0, "TABLE"):
		kind = DropTable
	case p.word(0, "INDEX"):
		kind = DropIndex
	case p.word(0, "VIEW"):
		return refusef("DROP VIEW: views are local objects, not replicated; drop it with sqlite3 on each node")
	case p.word(0, "TRIGGER"):
		kind = DropTrigger
	case p.peek(0).kind == tEOF:
		return p.unexpected("TABLE or INDEX")
	default:
		return refusef("DROP %s: %s", p.written(0), supported)
	}
	p.i++
	head, noun := "DROP TABLE", "table"
	switch kind {
	case DropIndex:
		head, noun = "DROP INDEX", "index"
	case DropTrigger:
		head, noun = "DROP TRIGGER", "trigger"
	}
	if err := p.noCondition(head, noun, "EXISTS"); err != nil {
		return err
	}
	if err := p.noParams(head); err != nil {
		return err
	}
	name, err := p.qualifiedName(noun)
	if err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	st.Kind = kind
	switch kind {
	case DropTable:
		st.Table = name
	case DropIndex:
		st.Index = name
	default:
		st.Trigger = name
	}
	return nil
}

// inTriggerBody reports whether toks, a statement read so far, is a
// CREATE TRIGGER whose body has not ended: it does not end with "; END".
func inTriggerBody(src string, toks []token) bool {
	p := parser{src: src, toks: toks}
	at := 1
	if p.word(1, "TEMP") || p.word(1, "TEMPORARY") {
		at = 2
	}
	if !p.word(0, "CREATE") || !p.word(at, "TRIGGER") {
		return false
	}
	n := len(toks)
	return n < 2 || !(p.word(n-1, "END") && toks[n-2].kind == tSemi)
}

// createTrigger reads CREATE TRIGGER after TRIGGER: its name and table,
// and a body trigsync can read (TriggerWrites).
func (p *parser) createTrigger(st *Statement) error {
	if err := p.noCondition("CREATE TRIGGER", "trigger", "NOT EXISTS"); err != nil {
		return err
	}
	name, err := p.qualifiedName("trigger")
	if err != nil {
		return err
	}
	for p.peek(0).kind != tEOF && !p.word(0, "ON") {
		p.i++
	}
	if !p.accept("ON") {
		return p.unexpected("ON and the table")
	}
	table, err := p.qualifiedName("table")
	if err != nil {
		return err
	}
	if _, err := TriggerWrites(st.SQL); err != nil {
		return refusef("CREATE TRIGGER %s: trigsync cannot read what its body writes (%v), so it could not tell whether it runs on apply", cut(name), err)
	}
	st.Kind, st.Table, st.Trigger = CreateTrigger, table, name
	return nil
}

// other refuses a statement that is neither CREATE, ALTER nor DROP.
func (p *parser) other() error {
	if p.peek(0).kind != tWord {
		return refusef("a statement starting with %s: %s", p.written(0), supported)
	}
	head := p.upper(0)
	switch head {
	case "INSERT", "REPLACE", "UPDATE", "DELETE":
		return refusef("%s: a data change is an ordinary write, which replicates by itself; run it outside migrate", head)
	case "WITH":
		return refusef("WITH: a query or data change is no schema change; run data changes outside migrate, they replicate by themselves")
	case "SELECT", "VALUES", "EXPLAIN":
		return refusef("%s: a query changes nothing; a migration holds schema changes only", head)
	case "PRAGMA":
		return refusef("PRAGMA: pragmas are local settings, not replicated; run it with sqlite3 on each node that needs it")
	case "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE":
		return refusef("%s: migrate runs the whole script in one transaction of its own; remove %s", head, head)
	case "VACUUM", "ANALYZE", "REINDEX":
		return refusef("%s: maintenance is local to each node, not replicated; run it with sqlite3 on each node", head)
	case "ATTACH", "DETACH":
		return refusef("%s: only the main database is replicated", head)
	}
	return refusef("%s: %s", p.written(0), supported)
}

// unquote returns the value of a name token.
func unquote(s string) string {
	switch s[0] {
	case '"', '\'', '`':
		q := s[:1]
		return strings.ReplaceAll(s[1:len(s)-1], q+q, q)
	case '[':
		return s[1 : len(s)-1]
	}
	return s
}

// asciiEqualFold compares a and b ignoring ASCII case only, as SQLite
// compares keywords and names.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func asciiHasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// reserved reports whether the bare word w is a keyword SQLite never reads
// as a name (its keywords without an identifier fallback).
func reserved(w string) bool {
	if len(w) < 2 || len(w) > len("AUTOINCREMENT") {
		return false
	}
	var buf [len("AUTOINCREMENT")]byte
	for i := 0; i < len(w); i++ {
		buf[i] = w[i]
		if 'a' <= w[i] && w[i] <= 'z' {
			buf[i] -= 'a' - 'A'
		}
	}
	switch string(buf[:len(w)]) {
	case "ADD", "ALL", "ALTER", "AND", "AS", "AUTOINCREMENT", "BETWEEN", "CASE", "CHECK",
		"COLLATE", "COMMIT", "CONSTRAINT", "CREATE", "DEFAULT", "DEFERRABLE", "DELETE",
		"DISTINCT", "DROP", "ELSE", "ESCAPE", "EXCEPT", "EXISTS", "FOREIGN", "FROM", "GROUP",
		"HAVING", "IN", "INDEX", "INSERT", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "LIMIT",
		"NOT", "NOTHING", "NOTNULL", "NULL", "ON", "OR", "ORDER", "PRIMARY", "REFERENCES",
		"RETURNING", "SELECT", "SET", "TABLE", "THEN", "TO", "TRANSACTION", "UNION", "UNIQUE",
		"UPDATE", "USING", "VALUES", "WHEN", "WHERE":
		return true
	}
	return false
}
