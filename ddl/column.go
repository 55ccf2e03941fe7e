package ddl

import (
	"fmt"
	"slices"
)

// ColumnDefinition returns the definition of column in a CREATE TABLE
// statement as SQLite stores it (sqlite_schema.sql): the column's name,
// type and constraints as written, ready for ALTER TABLE … ADD COLUMN.
func ColumnDefinition(createTable, column string) (string, error) {
	lx := lexer{src: createTable}
	var toks []token
	for {
		tok, err := lx.next()
		if err != nil {
			return "", fmt.Errorf("read the definition of column %q: %w", column, err)
		}
		if tok.kind == tEOF {
			break
		}
		toks = append(toks, tok)
	}
	open := slices.IndexFunc(toks, func(t token) bool { return t.kind == tLParen })
	if open < 0 {
		return "", fmt.Errorf("read the definition of column %q: the table has no column list", column)
	}
	depth, from := 1, open+1
list:
	for i := open + 1; i < len(toks); i++ {
		switch k := toks[i].kind; {
		case k == tLParen:
			depth++
		case k == tRParen && depth > 1:
			depth--
		case k == tComma && depth == 1, k == tRParen:
			if i > from && isColumn(createTable, toks[from], column) {
				return createTable[toks[from].start:toks[i-1].end], nil
			}
			if k == tRParen {
				break list
			}
			from = i + 1
		}
	}
	return "", fmt.Errorf("the table definition has no column %q", column)
}

// isColumn reports whether a column definition starting with tok defines
// the named column (and not a table constraint).
func isColumn(src string, tok token, column string) bool {
	if tok.kind != tWord && tok.kind != tQuoted && tok.kind != tString {
		return false
	}
	word := src[tok.start:tok.end]
	if tok.kind == tWord {
		for _, kw := range []string{"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"} {
			if asciiEqualFold(word, kw) {
				return false
			}
		}
	}
	return asciiEqualFold(unquote(word), column)
}
