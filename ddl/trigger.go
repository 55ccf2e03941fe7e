package ddl

import (
	"errors"
	"fmt"
)

// TriggerWrites returns the tables the body of a CREATE TRIGGER statement
// writes (INSERT, REPLACE, UPDATE and DELETE targets), unquoted, each
// once, in the order the body names them; none for a body of SELECTs (a
// check that raises, say). It reads statements SQLite accepted, as
// sqlite_schema holds them: inside a trigger the targets of data changes
// are unqualified tables of the trigger's schema and a body holds no WITH
// (sqlite.org/lang_createtrigger.html), so the first words of each body
// statement name everything it writes.
func TriggerWrites(sql string) ([]string, error) {
	if err := checkText(sql); err != nil {
		return nil, err
	}
	lx := lexer{src: sql}
	var toks []token
	for {
		tok, err := lx.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tEOF {
			break
		}
		toks = append(toks, tok)
	}
	p := parser{src: sql, toks: toks}
	body, err := p.triggerBody()
	if err != nil {
		return nil, err
	}
	var writes []string
	seen := map[string]bool{}
	for _, stmt := range body {
		p := parser{src: sql, toks: stmt}
		target, err := p.target()
		if err != nil {
			return nil, fmt.Errorf("trigger body statement %q: %w", excerpt(sql[stmt[0].start:stmt[len(stmt)-1].end]), err)
		}
		if key := lowerASCIIString(target); target != "" && !seen[key] {
			seen[key] = true
			writes = append(writes, target)
		}
	}
	return writes, nil
}

// triggerBody returns the statements between the trigger's BEGIN and its
// final END. The body starts at the first top-level BEGIN followed by a
// statement's first word: BEGIN is no reserved word, so a name in the
// header may be spelled so too, but it is never followed by one of these.
func (p *parser) triggerBody() ([][]token, error) {
	if !p.word(0, "CREATE") {
		return nil, errors.New("not a CREATE TRIGGER statement")
	}
	n := len(p.toks)
	if n == 0 || !p.word(n-1, "END") {
		return nil, errors.New("a trigger body ends with END")
	}
	depth := 0
	for ; p.i < n; p.i++ {
		switch p.peek(0).kind {
		case tLParen:
			depth++
		case tRParen:
			depth--
		}
		if depth == 0 && p.word(0, "BEGIN") && statementStart(p, 1) {
			break
		}
	}
	if p.i == n {
		return nil, errors.New("no trigger body (BEGIN … END) found")
	}
	var body [][]token
	var stmt []token
	for _, t := range p.toks[p.i+1 : n-1] {
		if t.kind == tSemi {
			if len(stmt) > 0 {
				body = append(body, stmt)
			}
			stmt = nil
			continue
		}
		stmt = append(stmt, t)
	}
	if len(stmt) > 0 {
		return nil, errors.New("the last statement of the trigger body has no semicolon before END")
	}
	return body, nil
}

// statementStart reports whether the token k places on starts a statement a
// trigger body may hold.
func statementStart(p *parser, k int) bool {
	for _, w := range [...]string{"INSERT", "REPLACE", "UPDATE", "DELETE", "SELECT", "VALUES", "WITH"} {
		if p.word(k, w) {
			return true
		}
	}
	return false
}

// target returns the table a trigger body statement writes, "" for a query.
func (p *parser) target() (string, error) {
	switch {
	case p.accept("SELECT"), p.accept("VALUES"):
		return "", nil
	case p.accept("INSERT"):
		if p.accept("OR") {
			p.i++ // the conflict resolution
		}
		if !p.accept("INTO") {
			return "", p.unexpected("INTO")
		}
	case p.accept("REPLACE"):
		if !p.accept("INTO") {
			return "", p.unexpected("INTO")
		}
	case p.accept("UPDATE"):
		if p.accept("OR") {
			p.i++
		}
	case p.accept("DELETE"):
		if !p.accept("FROM") {
			return "", p.unexpected("FROM")
		}
	default:
		return "", p.unexpected("INSERT, REPLACE, UPDATE, DELETE or SELECT")
	}
	if !p.isName(p.peek(0)) {
		return "", p.unexpected("a table name")
	}
	if p.peek(1).kind == tDot { // a TEMP trigger may name main.t
		p.i += 2
		if !p.isName(p.peek(0)) {
			return "", p.unexpected("a table name")
		}
	}
	return unquote(p.text(p.peek(0))), nil
}

func lowerASCIIString(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lowerASCII(b[i])
	}
	return string(b)
}
