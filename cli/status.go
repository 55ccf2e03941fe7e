package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/triggers"
)

// Status is the document `status --json` prints (docs/CLI.md). Fields are
// only ever added.
type Status struct {
	Database        string                `json:"database"`
	Format          int                   `json:"format"`
	MetadataVersion int                   `json:"metadata_version"`
	SchemaVersion   int64                 `json:"schema_version"` // the last migration applied (docs/MIGRATIONS.md)
	NodeID          string                `json:"node_id"`
	HLC             StatusHLC             `json:"hlc"`
	Changelog       StatusChangelog       `json:"changelog"`
	Tables          []triggers.TableState `json:"tables"`
	Skipped         []triggers.Skipped    `json:"skipped"`
	AppTriggers     apptriggers.Plan      `json:"app_triggers"` // the application's triggers on replicated tables: what each does on apply
	Peers           []peers.Peer          `json:"peers"`
}

// StatusHLC is the node's current clock.
type StatusHLC struct {
	Stamp   hlc.Timestamp `json:"stamp"`
	Time    time.Time     `json:"time"`
	Counter uint16        `json:"counter"`
}

// StatusChangelog sums up the log.
type StatusChangelog struct {
	Rows          int64 `json:"rows"`
	LastSeq       int64 `json:"last_seq"`
	PrunedThrough int64 `json:"pruned_through"`
}

func statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "show the node id, the replicated and skipped tables, the changelog and the clock",
		ArgsUsage: "DB",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "json", Usage: "print the stable JSON document of docs/CLI.md", EnvVars: env("json")},
			deviceExpiryFlag(),
		},
		Action: func(c *ucli.Context) error {
			db, path, err := installedArg(c, false)
			if err != nil {
				return err
			}
			defer db.Close()
			// One read transaction: every figure describes the same moment.
			// Deferred (read-only): it never waits for a writer.
			tx, err := db.BeginTxx(c.Context, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return fmt.Errorf("status of %s: %w", path, err)
			}
			defer tx.Rollback()
			st, err := triggers.Inspect(c.Context, tx)
			if err != nil {
				return fmt.Errorf("status of %s: %w", path, err)
			}
			s := Status{Database: path, Format: changelog.Format, MetadataVersion: st.MetadataVersion,
				Tables: st.Tables, Skipped: st.Skipped, AppTriggers: st.AppTriggers}
			if s.NodeID, err = changelog.NodeID(c.Context, tx); err != nil {
				return err
			}
			now, err := changelog.Now(c.Context, tx)
			if err != nil {
				return err
			}
			s.HLC = StatusHLC{Stamp: now, Time: now.Time(), Counter: now.Counter()}
			if err := tx.QueryRowxContext(c.Context,
				`SELECT count(*), ifnull(max(seq), 0) FROM `+changelog.LogTable).
				Scan(&s.Changelog.Rows, &s.Changelog.LastSeq); err != nil {
				return fmt.Errorf("count changelog rows: %w", err)
			}
			s.Peers = []peers.Peer{}
			if s.MetadataVersion >= 3 { // older installs know no peers yet
				if s.Peers, err = peers.List(c.Context, tx, time.Now()); err != nil {
					return err
				}
				peers.MarkExpired(s.Peers, time.Now(), c.Duration("device-expiry"))
				if s.Changelog.PrunedThrough, err = applier.PrunedThrough(c.Context, tx); err != nil {
					return err
				}
			}
			if s.MetadataVersion >= 4 { // before, no migration
				if s.SchemaVersion, err = changelog.CurrentSchema(c.Context, tx); err != nil {
					return err
				}
			}
			if s.Tables == nil {
				s.Tables = []triggers.TableState{}
			}
			if s.Skipped == nil {
				s.Skipped = []triggers.Skipped{}
			}
			if s.AppTriggers == nil {
				s.AppTriggers = apptriggers.Plan{}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return printStatus(c, s)
		},
	}
}

func printStatus(c *ucli.Context, s Status) error {
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "database\t%s\n", s.Database)
	fmt.Fprintf(w, "node id\t%s\n", s.NodeID)
	fmt.Fprintf(w, "format\t%d (metadata version %d)\n", s.Format, s.MetadataVersion)
	fmt.Fprintf(w, "schema version\t%d\n", s.SchemaVersion)
	if s.HLC.Stamp == 0 {
		fmt.Fprintf(w, "hlc\tnone yet: no change captured or received\n")
	} else {
		fmt.Fprintf(w, "hlc\t%s\n", s.HLC.Stamp)
	}
	pruned := ""
	if s.Changelog.PrunedThrough > 0 {
		pruned = fmt.Sprintf(", pruned through seq %d", s.Changelog.PrunedThrough)
	}
	fmt.Fprintf(w, "changelog\t%d rows, last seq %d%s\n", s.Changelog.Rows, s.Changelog.LastSeq, pruned)
	fmt.Fprintf(w, "replicated\t%d tables\n", len(s.Tables))
	for _, t := range s.Tables {
		note := ""
		if t.Stale != "" {
			note = "  STALE: " + t.Stale
		}
		if len(t.Counters) > 0 {
			note = ", counters (" + strings.Join(t.Counters, ", ") + ")" + note
		}
		fmt.Fprintf(w, "  %s\tkey (%s), %d columns%s\n", t.Name, strings.Join(t.PrimaryKey, ", "), t.Columns, note)
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "not replicated\t%d tables\n", len(s.Skipped))
		for _, t := range s.Skipped {
			fmt.Fprintf(w, "  %s\t%s\n", t.Table, t.Reason)
		}
	}
	printAppTriggers(w, s.AppTriggers)
	fmt.Fprintf(w, "peers\t%d\n", len(s.Peers))
	for _, p := range s.Peers {
		name := p.NodeID
		if p.URL != "" {
			name += " (" + p.URL + ")"
		}
		last := "never"
		if p.LastSuccess != nil {
			last = p.LastSuccess.Local().Format(time.DateTime)
		}
		if p.Expired {
			last += " (expired: it no longer holds back log GC)"
		}
		fmt.Fprintf(w, "  %s\tpulled through %d, acknowledged through %d, %d pending, lag %s, last success %s\n",
			name, p.PulledSeq, p.AckedSeq, p.Pending, time.Duration(p.Lag*float64(time.Second)).Round(time.Millisecond), last)
		if p.LastError != "" {
			fmt.Fprintf(w, "  \tlast error at %s: %s\n", p.LastErrorAt.Local().Format(time.DateTime), p.LastError)
		}
	}
	tables := make([]triggers.Table, len(s.Tables))
	for i, t := range s.Tables {
		tables[i] = t.Table
	}
	for warn, names := range warnings(tables) {
		fmt.Fprintf(w, "warning\t%s: %s\n", strings.Join(names, ", "), warn)
	}
	var stale []string
	for _, t := range s.Tables {
		if t.Stale != "" {
			stale = append(stale, t.Name)
		}
	}
	if len(stale) > 0 {
		fmt.Fprintf(w, "warning\t%s: changed outside trigsync; nothing ships until `trigsync migrate --adopt` (every node) or `trigsync install` (this node only) records it\n",
			strings.Join(stale, ", "))
	}
	return w.Flush()
}

// printAppTriggers lists the application's triggers and what each does
// when a peer's change is applied.
func printAppTriggers(w io.Writer, plan apptriggers.Plan) {
	if len(plan) == 0 {
		return
	}
	fmt.Fprintf(w, "app triggers\t%d (on apply: fire runs it, skip does not)\n", len(plan))
	for _, t := range plan {
		action := string(t.Action)
		if t.Action == apptriggers.Undecided {
			action = "UNDECIDED, nothing applies until you choose with install --trigger " + t.Name + "=fire|skip"
		}
		fmt.Fprintf(w, "  %s\ton %s: %s: %s\n", t.Name, t.Table, action, t.Why)
	}
}

// warnings groups the tables' warnings: the tables each warning concerns.
func warnings(tables []triggers.Table) map[string][]string {
	out := map[string][]string{}
	for _, t := range tables {
		for _, w := range t.Warnings {
			out[w] = append(out[w], t.Name)
		}
	}
	return out
}
