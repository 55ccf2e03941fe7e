package ddl

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, and that a script it accepts
// comes back from Script to the same statements.
func FuzzParse(f *testing.F) {
	for _, tc := range accepted {
		f.Add(tc.script)
	}
	for _, tc := range refused {
		f.Add(tc.script)
	}
	f.Fuzz(func(t *testing.T, script string) {
		stmts, err := Parse(script)
		if err != nil {
			if stmts != nil {
				t.Fatalf("Parse(%q) returned statements with error %v", script, err)
			}
			return
		}
		if len(stmts) == 0 {
			t.Fatalf("Parse(%q) returned no statement and no error", script)
		}
		for _, st := range stmts {
			if st.Kind < CreateTable || st.Kind > SetCounter {
				t.Fatalf("Parse(%q): kind %v", script, st.Kind)
			}
			if st.SQL == "" || strings.Trim(st.SQL, " \t\n\v\f\r") != st.SQL || !strings.Contains(script, st.SQL) {
				t.Fatalf("Parse(%q): SQL %q is not a trimmed part of the script", script, st.SQL)
			}
		}
		again, err := Parse(Script(stmts))
		if err != nil {
			t.Fatalf("Parse(Script(Parse(%q))): %v", script, err)
		}
		if !reflect.DeepEqual(again, stmts) {
			t.Fatalf("Parse(Script(Parse(%q)))\n got %+v\nwant %+v", script, again, stmts)
		}
	})
}
