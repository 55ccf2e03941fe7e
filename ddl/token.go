package ddl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token. The tokenizer follows SQLite's
// (tokenize.c): the same characters start, continue and end each kind.
type tokKind uint8

const (
	tEOF    tokKind = iota // past the last token
	tSpace                 // white space or a comment, never returned by next
	tWord                  // bare identifier or keyword
	tQuoted                // "identifier", `identifier` or [identifier]
	tString                // 'string'
	tBlob                  // x'hex'
	tNumber                // 12, 0x1F, 1.5e3, .5, 1_000
	tParam                 // ?, ?1, :name, @name, $name, #name
	tLParen                // (
	tRParen                // )
	tComma                 // ,
	tDot                   // .
	tSemi                  // ;
	tOp                    // any other operator
)

// token is a token's kind and its byte range in the script.
type token struct {
	kind       tokKind
	start, end int
}

// lexer reads the tokens of a script.
type lexer struct {
	src string
	pos int
}

// next returns the next token, skipping space and comments; its kind is tEOF
// at the end of the script.
func (lx *lexer) next() (token, error) {
	for lx.pos < len(lx.src) {
		start := lx.pos
		kind, end, err := lx.scan(start)
		if err != nil {
			return token{}, err
		}
		lx.pos = end
		if kind != tSpace {
			return token{kind, start, end}, nil
		}
	}
	return token{kind: tEOF, start: len(lx.src), end: len(lx.src)}, nil
}

// at returns the byte at i, or 0 past the end (a script holds no NUL, so 0
// plays the part of the terminator SQLite's tokenizer stops at).
func (lx *lexer) at(i int) byte {
	if i < len(lx.src) {
		return lx.src[i]
	}
	return 0
}

// scan reads the token that starts at i and returns its kind and end.
func (lx *lexer) scan(i int) (tokKind, int, error) {
	c := lx.at(i)
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r':
		j := i + 1
		for isSpace(lx.at(j)) {
			j++
		}
		return tSpace, j, nil
	case c == 0xEF && lx.at(i+1) == 0xBB && lx.at(i+2) == 0xBF: // byte order mark
		return tSpace, i + 3, nil
	case c == '-' && lx.at(i+1) == '-':
		if k := strings.IndexByte(lx.src[i:], '\n'); k >= 0 {
			return tSpace, i + k, nil
		}
		return tSpace, len(lx.src), nil
	case c == '/' && lx.at(i+1) == '*' && i+2 < len(lx.src):
		if k := strings.Index(lx.src[i+2:], "*/"); k >= 0 {
			return tSpace, i + 2 + k + 2, nil
		}
		return tSpace, len(lx.src), nil // an unterminated comment runs to the end
	case c == '\'' || c == '"' || c == '`':
		return lx.quoted(i, c)
	case c == '[':
		if k := strings.IndexByte(lx.src[i:], ']'); k >= 0 {
			return tQuoted, i + k + 1, nil
		}
		return 0, 0, lx.errorf(i, "unterminated [identifier]")
	case (c == 'x' || c == 'X') && lx.at(i+1) == '\'':
		return lx.blob(i)
	case isIDStart(c):
		j := i + 1
		for isIDChar(lx.at(j)) {
			j++
		}
		return tWord, j, nil
	case isDigit(c) || c == '.' && isDigit(lx.at(i+1)):
		return lx.number(i)
	case c == '?':
		j := i + 1
		for isDigit(lx.at(j)) {
			j++
		}
		return tParam, j, nil
	case c == '$' || c == '@' || c == ':' || c == '#':
		return lx.param(i)
	}
	switch c {
	case '(':
		return tLParen, i + 1, nil
	case ')':
		return tRParen, i + 1, nil
	case ',':
		return tComma, i + 1, nil
	case '.':
		return tDot, i + 1, nil
	case ';':
		return tSemi, i + 1, nil
	case '+', '*', '/', '%', '&', '~':
		return tOp, i + 1, nil
	case '-': // - -> ->>
		switch {
		case lx.at(i+1) == '>' && lx.at(i+2) == '>':
			return tOp, i + 3, nil
		case lx.at(i+1) == '>':
			return tOp, i + 2, nil
		}
		return tOp, i + 1, nil
	case '=': // = ==
		if lx.at(i+1) == '=' {
			return tOp, i + 2, nil
		}
		return tOp, i + 1, nil
	case '<': // < <= <> <<
		if d := lx.at(i + 1); d == '=' || d == '>' || d == '<' {
			return tOp, i + 2, nil
		}
		return tOp, i + 1, nil
	case '>': // > >= >>
		if d := lx.at(i + 1); d == '=' || d == '>' {
			return tOp, i + 2, nil
		}
		return tOp, i + 1, nil
	case '|': // | ||
		if lx.at(i+1) == '|' {
			return tOp, i + 2, nil
		}
		return tOp, i + 1, nil
	case '!': // != only
		if lx.at(i+1) == '=' {
			return tOp, i + 2, nil
		}
	}
	_, n := utf8.DecodeRuneInString(lx.src[i:])
	return 0, 0, lx.errorf(i, "unrecognized token %q", lx.src[i:i+n])
}

// quoted reads a string or a quoted identifier whose quote character q,
// doubled, stands for itself.
func (lx *lexer) quoted(i int, q byte) (tokKind, int, error) {
	for j := i + 1; j < len(lx.src); j++ {
		if lx.src[j] != q {
			continue
		}
		if lx.at(j+1) != q {
			if q == '\'' {
				return tString, j + 1, nil
			}
			return tQuoted, j + 1, nil
		}
		j++
	}
	if q == '\'' {
		return 0, 0, lx.errorf(i, "unterminated string")
	}
	return 0, 0, lx.errorf(i, "unterminated quoted identifier")
}

// blob reads x'hex': an even number of hex digits.
func (lx *lexer) blob(i int) (tokKind, int, error) {
	j := i + 2
	for isHex(lx.at(j)) {
		j++
	}
	if lx.at(j) != '\'' || (j-i)%2 != 0 {
		return 0, 0, lx.errorf(i, "malformed blob literal (x'…' takes an even number of hex digits)")
	}
	return tBlob, j + 1, nil
}

// number reads an integer or a real, with _ as digit separator; a number
// running into identifier characters (12ab) is malformed.
func (lx *lexer) number(i int) (tokKind, int, error) {
	digits := func(j int, ok func(byte) bool) int {
		for ok(lx.at(j)) || lx.at(j) == '_' {
			j++
		}
		return j
	}
	var j int
	if lx.at(i) == '0' && (lx.at(i+1) == 'x' || lx.at(i+1) == 'X') && isHex(lx.at(i+2)) {
		j = digits(i+2, isHex)
	} else {
		j = digits(i, isDigit)
		if lx.at(j) == '.' {
			j = digits(j+1, isDigit)
		}
		if e := lx.at(j); (e == 'e' || e == 'E') &&
			(isDigit(lx.at(j+1)) || (lx.at(j+1) == '+' || lx.at(j+1) == '-') && isDigit(lx.at(j+2))) {
			j = digits(j+2, isDigit)
		}
	}
	if isIDChar(lx.at(j)) {
		k := j
		for isIDChar(lx.at(k)) {
			k++
		}
		return 0, 0, lx.errorf(i, "malformed number %q", lx.src[i:k])
	}
	return tNumber, j, nil
}

// param reads a named parameter: $, @, : or # and a name, where a $ name may
// hold :: and end with a parenthesized suffix (Tcl variables).
func (lx *lexer) param(i int) (tokKind, int, error) {
	n := 0
	j := i + 1
	for ; j < len(lx.src); j++ {
		c := lx.src[j]
		if isIDChar(c) {
			n++
			continue
		}
		if c == '(' && n > 0 {
			for j++; j < len(lx.src) && !isSpace(lx.src[j]) && lx.src[j] != ')'; j++ {
			}
			if lx.at(j) != ')' {
				return 0, 0, lx.errorf(i, "unterminated parameter")
			}
			j++
			break
		}
		if c == ':' && lx.at(j+1) == ':' {
			j++
			continue
		}
		break
	}
	if n == 0 {
		return 0, 0, lx.errorf(i, "unrecognized token %q", lx.src[i:j])
	}
	return tParam, j, nil
}

// errorf returns an error naming the position of byte i.
func (lx *lexer) errorf(i int, format string, args ...any) error {
	return fmt.Errorf("%s: %s", position(lx.src, i), fmt.Sprintf(format, args...))
}

// position names byte i of src as a 1-based line and column (in characters).
func position(src string, i int) string {
	lineStart := strings.LastIndexByte(src[:i], '\n') + 1
	line := strings.Count(src[:lineStart], "\n") + 1
	return fmt.Sprintf("line %d, column %d", line, utf8.RuneCountInString(src[lineStart:i])+1)
}

func isSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isIDStart reports whether c starts a bare identifier.
func isIDStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

// isIDChar reports whether c continues a bare identifier.
func isIDChar(c byte) bool { return isIDStart(c) || isDigit(c) || c == '$' }
