package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/ddl"
)

func migrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "migrate",
		Usage:     "change the schema on every node: apply DDL here as the next schema version, which peers apply in order",
		ArgsUsage: "DB [FILE.sql]",
		Description: "The statements run in one transaction; the triggers of the tables they touch are\n" +
			"made anew, and the migration is logged as the next schema version, which peers\n" +
			"apply before any change made on it. Supported: CREATE TABLE, ALTER TABLE ... ADD\n" +
			"COLUMN / RENAME COLUMN / DROP COLUMN / RENAME TO, DROP TABLE, CREATE [UNIQUE]\n" +
			"INDEX, DROP INDEX (docs/MIGRATIONS.md). --adopt records as a schema version what\n" +
			"was changed by hand since install.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "sql", Usage: "the `STATEMENTS` to run, instead of a file", EnvVars: env("sql")},
			&ucli.BoolFlag{Name: "adopt", Usage: "record the replicated tables' hand-made changes as a schema version (nothing runs here)", EnvVars: env("adopt")},
			&ucli.BoolFlag{Name: "dry-run", Usage: "check and run everything, print the statements, then roll it all back", EnvVars: env("dry-run")},
		},
		Action: func(c *ucli.Context) error {
			sources := 0
			for _, given := range []bool{c.IsSet("sql"), c.Args().Len() == 2, c.Bool("adopt")} {
				if given {
					sources++
				}
			}
			if sources != 1 || c.Args().Len() < 1 || c.Args().Len() > 2 {
				return usageError("migrate needs a database and exactly one of FILE.sql, --sql or --adopt")
			}
			script := c.String("sql")
			if c.Args().Len() == 2 {
				b, err := os.ReadFile(c.Args().Get(1))
				if err != nil {
					return fmt.Errorf("migrate: %w", err)
				}
				script = string(b)
			}
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			var m applier.Migration
			opts := applier.MigrateOptions{DryRun: c.Bool("dry-run")}
			if c.Bool("adopt") {
				m, err = applier.Adopt(c.Context, db, opts)
			} else {
				m, err = applier.Migrate(c.Context, db, script, opts)
			}
			if errors.Is(err, ddl.ErrEmpty) {
				return usageError("migrate %s: %v", path, err)
			}
			if err != nil {
				return fmt.Errorf("migrate %s: %w", path, err)
			}
			if opts.DryRun {
				_, err = fmt.Fprintf(c.App.Writer, "%s-- dry run: schema version %d would be made; nothing changed\n", m.SQL, m.Version)
				return err
			}
			kinds := make([]string, len(m.Statements))
			for i, st := range m.Statements {
				kinds[i] = st.Kind.String()
			}
			noun := "statements"
			if len(kinds) == 1 {
				noun = "statement"
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s is at schema version %d: %d %s (%s); peers apply it on their next exchange\n",
				path, m.Version, len(m.Statements), noun, strings.Join(kinds, ", "))
			return err
		},
	}
}
