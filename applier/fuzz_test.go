package applier_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/triggers"
)

// FuzzApply feeds arbitrary batches (JSON, as peers send them) to the
// applier: it never panics, the database stays intact, and nothing is
// written outside the replicated tables.
func FuzzApply(f *testing.F) {
	origin := strings.Repeat("a", 32)
	for _, seed := range []string{
		`[{"table":"item","op":"I","origin":"` + origin + `","origin_seq":1,"hlc":"5","key":{"id":"t:k"},"set":{"name":"t:x","qty":"i:1"}}]`,
		`[{"table":"item","op":"U","origin":"` + origin + `","origin_seq":2,"hlc":"6","key":{"id":"t:k"},"set":{"qty":"r:-0"},"inc":"5","inc_node":"` + origin + `"}]`,
		`[{"table":"item","op":"D","origin":"` + origin + `","origin_seq":3,"hlc":"7","key":{"id":"t:k"},"inc":"5","inc_node":"` + origin + `"}]`,
		`[{"table":"secret","op":"I","origin":"` + origin + `","origin_seq":4,"hlc":"8","key":{"id":"t:k"},"set":{"v":"t:x"}}]`,
		`[{"table":"item","op":"I","origin":"` + origin + `","origin_seq":5,"hlc":"9","key":{"qty":"b:AA=="},"set":{"id":null}}]`,
		migrationSeed(origin, 6, "DROP TABLE secret;\n"),
		migrationSeed(origin, 7, "ALTER TABLE secret ADD COLUMN x;\n"),
		migrationSeed(origin, 8, "CREATE TABLE t2(id INTEGER PRIMARY KEY); CREATE INDEX t2_i ON secret(v);\n"),
		migrationSeed(origin, 9, "ALTER TABLE item ADD COLUMN colour TEXT;\n"),
		// Forks: forged for another node, of this very node (any id may come), with no stamp.
		`[{"op":"F","origin":"` + origin + `","origin_seq":10,"hlc":"11","fork":{"node":"` + strings.Repeat("b", 32) + `","seq":1,"hlc":"1","successor":"` + strings.Repeat("c", 32) + `"}}]`,
		`[{"op":"F","origin":"` + origin + `","origin_seq":11,"hlc":"12","fork":{"node":"` + strings.Repeat("d", 32) + `","seq":1,"hlc":"0","successor":"` + origin + `"}}]`,
		`[{"op":"F","origin":"` + origin + `","origin_seq":12,"hlc":"13","fork":{"node":"` + origin + `","seq":1,"hlc":"1","successor":"` + origin + `"}}]`,
	} {
		f.Add([]byte(seed))
	}
	db := node(f, `CREATE TABLE item(id TEXT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty < 100))`,
		`CREATE TABLE secret(id TEXT PRIMARY KEY, v TEXT)`, `INSERT INTO secret VALUES ('s', 'keep')`)
	if _, err := triggers.Install(f.Context(), db, triggers.Options{Selection: &triggers.Selection{Exclude: []string{"secret"}}}); err != nil {
		f.Fatal(err)
	}
	nodeID, _ := changelog.NodeID(f.Context(), db)
	f.Fuzz(func(t *testing.T, data []byte) {
		var changes []changelog.Change
		if json.Unmarshal(data, &changes) != nil {
			return
		}
		if _, err := applier.Apply(t.Context(), db, applier.Batch{Peer: origin, Through: 1, Changes: changes}, applier.Options{}); err != nil {
			t.Logf("apply: %v", err) // an error is allowed; damage is not
		}
		var check, secret, id string
		db.Get(&check, `PRAGMA integrity_check`)
		db.Get(&secret, `SELECT group_concat(id || v) FROM secret`)
		id, _ = changelog.NodeID(t.Context(), db)
		if check != "ok" || secret != "skeep" || id != nodeID {
			t.Fatalf("damage: integrity %q, secret %q, node id %q", check, secret, id)
		}
		var applying int
		db.Get(&applying, `SELECT applying FROM _trigsync_clock`)
		if applying != 0 {
			t.Fatal("echo suppression left on")
		}
	})
}

// migrationSeed is a batch of one schema version 1 made of sql.
func migrationSeed(origin string, seq int, sql string) string {
	m, _ := json.Marshal(changelog.Migration{Version: 1, SQL: sql, Checksum: changelog.Checksum(sql)})
	return fmt.Sprintf(`[{"op":"S","origin":"%s","origin_seq":%d,"hlc":"10","migration":%s}]`, origin, seq, m)
}
