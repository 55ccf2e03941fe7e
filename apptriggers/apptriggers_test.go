package apptriggers

import (
	"errors"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	replicated := func(table string) bool {
		switch strings.ToLower(table) {
		case "sale", "stock", "audit", "doc":
			return true
		}
		return false
	}
	defs := []Definition{
		{"dec", "sale", `CREATE TRIGGER dec AFTER INSERT ON sale BEGIN UPDATE stock SET qty = qty - NEW.n; END`},
		{"check_n", "sale", `CREATE TRIGGER check_n BEFORE INSERT ON sale WHEN NEW.n < 0 BEGIN SELECT RAISE(ABORT, 'n < 0'); END`},
		{"fts", "doc", `CREATE TRIGGER fts AFTER INSERT ON doc BEGIN INSERT INTO doc_fts(rowid, body) VALUES (new.rowid, new.body); END`},
		{"both", "sale", `CREATE TRIGGER both AFTER INSERT ON sale BEGIN INSERT INTO "Audit" VALUES (1); DELETE FROM cache; END`},
		// A local table's own trigger writes a replicated table: writing
		// the local table writes that one too.
		{"via_cache", "doc", `CREATE TRIGGER via_cache AFTER INSERT ON doc BEGIN INSERT INTO cache VALUES (1); END`},
		{"cache_up", "cache", `CREATE TRIGGER cache_up AFTER INSERT ON cache BEGIN INSERT INTO stock VALUES (1, 1); END`},
		// Local tables whose triggers write each other: no endless walk.
		{"loop", "doc", `CREATE TRIGGER loop AFTER DELETE ON doc BEGIN DELETE FROM l1; END`},
		{"l1_l2", "l1", `CREATE TRIGGER l1_l2 AFTER DELETE ON l1 BEGIN DELETE FROM l2; END`},
		{"l2_l1", "l2", `CREATE TRIGGER l2_l1 AFTER DELETE ON l2 BEGIN DELETE FROM l1; END`},
		{"odd", "stock", `CREATE TRIGGER odd AFTER INSERT ON stock BEGIN WITH x AS (SELECT 1) SELECT * FROM x; END`},
		{"chosen", "stock", `CREATE TRIGGER chosen AFTER UPDATE ON stock BEGIN INSERT INTO audit VALUES (2); END`},
	}
	plan := Classify(defs, replicated, map[string]Action{"chosen": Fire})
	want := map[string]Action{"dec": Skip, "check_n": Skip, "fts": Fire, "both": Undecided, "via_cache": Undecided,
		"loop": Fire, "odd": Undecided, "chosen": Fire}
	if len(plan) != len(want) {
		t.Fatalf("plan of %d triggers, want %d (those on replicated tables): %+v", len(plan), len(want), plan)
	}
	for _, tr := range plan {
		if tr.Action != want[tr.Name] {
			t.Errorf("%s: %s (%s), want %s", tr.Name, tr.Action, tr.Why, want[tr.Name])
		}
	}
	if tr := plan[0]; tr.Name != "both" || !strings.Contains(tr.Why, `replicated "Audit", "stock" and local "cache"`) {
		t.Errorf("first (by name) %s: %s", tr.Name, tr.Why)
	}
	err := plan.Check()
	if !errors.Is(err, ErrUndecided) || !strings.Contains(err.Error(), `"via_cache"`) || !strings.Contains(err.Error(), `"odd"`) {
		t.Errorf("Check: %v", err)
	}
	if got := len(plan.Skipped()); got != 2 {
		t.Errorf("%d skipped, want 2", got)
	}
}

func TestParseChoice(t *testing.T) {
	for in, want := range map[string]string{"dec=skip": "dec skip", " Dec = FIRE ": "Dec fire", "a=b=auto": ""} {
		name, a, err := ParseChoice(in)
		got := name + " " + string(a)
		if err != nil {
			got = ""
		}
		if got != want {
			t.Errorf("ParseChoice(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"dec", "=skip", "dec=maybe"} {
		if _, _, err := ParseChoice(in); err == nil {
			t.Errorf("ParseChoice(%q): no error", in)
		}
	}
}
