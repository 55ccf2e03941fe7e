package restore

import (
	"testing"

	"github.com/trigsync/trigsync/hlc"
)

// TestMatches: the one-request exchange goes on only when what the peer
// knows is exactly what the node states; anything else takes the exchange
// that checks.
func TestMatches(t *testing.T) {
	h := func(n int64) hlc.Timestamp { return hlc.New(1_700_000_000_000+n, 0) }
	claim := Claim{Pruned: 10, Log: Record{Seq: 40, HLC: h(40)}, Own: Record{Seq: 38, HLC: h(38)}}
	for _, c := range []struct {
		name string
		k    Knowledge
		want bool
	}{
		{"the same", Knowledge{LogSeq: 40, LogHLC: h(40), OwnSeq: 38, OwnHLC: h(38)}, true},
		{"stamps not known to the peer", Knowledge{LogSeq: 40, OwnSeq: 38}, true},
		{"the peer read less (an answer lost)", Knowledge{LogSeq: 35, LogHLC: h(35), OwnSeq: 34, OwnHLC: h(34)}, false},
		{"the peer read more (a restored node)", Knowledge{LogSeq: 45, LogHLC: h(45), OwnSeq: 38, OwnHLC: h(38)}, false},
		{"another change at the seq", Knowledge{LogSeq: 40, LogHLC: h(41), OwnSeq: 38, OwnHLC: h(38)}, false},
		{"own changes from another route", Knowledge{LogSeq: 40, LogHLC: h(40), OwnSeq: 39, OwnHLC: h(39)}, false},
		{"another own change", Knowledge{LogSeq: 40, LogHLC: h(40), OwnSeq: 38, OwnHLC: h(37)}, false},
		{"own changes in pruned history", Knowledge{LogSeq: 40, LogHLC: h(40), OwnSeq: 9, OwnHLC: h(1)}, true},
	} {
		if got := c.k.Matches(claim); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
	// A cursor in pruned history matches on the seq alone.
	if !(Knowledge{LogSeq: 5, LogHLC: h(1)}).Matches(Claim{Pruned: 10, Log: Record{Seq: 5}}) {
		t.Error("a cursor in pruned history: no match")
	}
	// A row the node lacks at the seq never matches.
	if (Knowledge{LogSeq: 40}).Matches(Claim{Log: Record{Seq: 40}}) {
		t.Error("a claim without the row: a match")
	}
}
