// Package cli wires trigsync's packages into the trigsync command. Each
// command lives in its own file; none holds logic beyond flags and output.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/ddl"
	"github.com/trigsync/trigsync/evolve"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/migrations"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// Exit codes (docs/CLI.md).
const (
	ExitOK      = 0
	ExitError   = 1 // the command failed
	ExitUsage   = 2 // wrong arguments or flags
	ExitRefused = 3 // the database is not in a state the command accepts
)

// New returns the trigsync application writing to stdout and stderr.
func New(version string, stdout, stderr io.Writer) *ucli.App {
	onUsageError := func(c *ucli.Context, err error, _ bool) error {
		return ucli.Exit(fmt.Sprintf("trigsync: %v (see --help)", err), ExitUsage)
	}
	app := &ucli.App{
		Name:    "trigsync",
		Usage:   "multi-master replication for SQLite, built on triggers and a changelog",
		Version: version,
		Writer:  stdout, ErrWriter: stderr,
		HideVersion:               true,
		DisableSliceFlagSeparator: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "log-format", Value: "text", Usage: "log as `text` or json", EnvVars: env("log-format")},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "log `level`: debug, info, warn, error", EnvVars: env("log-level")},
		},
		Commands: []*ucli.Command{
			installCommand(), uninstallCommand(), migrateCommand(), statusCommand(), changesCommand(),
			syncCommand(), serveCommand(), cloneCommand(), gcCommand(), conflictsCommand(), resetNodeIDCommand(), verifyCommand(),
			devicesCommand(), demoCommand(), versionCommand(),
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*ucli.Context, error) {}, // Run reports
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
		for _, sub := range c.Subcommands {
			sub.OnUsageError = onUsageError
		}
	}
	return app
}

// Run runs the application and returns the process exit code.
func Run(ctx context.Context, version string, args []string, stdout, stderr io.Writer) int {
	app := New(version, stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if msg := err.Error(); msg != "" {
		if !strings.HasPrefix(msg, "trigsync: ") {
			msg = "trigsync: " + msg
		}
		fmt.Fprintln(stderr, msg)
	}
	return code
}

// exitCode is the exit code of a command that failed with err.
func exitCode(err error) int {
	var coder ucli.ExitCoder
	code := ExitError
	switch {
	case errors.As(err, &coder):
		code = coder.ExitCode()
	case errors.Is(err, triggers.ErrNoPrimaryKey), errors.Is(err, triggers.ErrNotInstalled), errors.Is(err, triggers.ErrCounter),
		errors.Is(err, migrations.ErrTooNew), errors.Is(err, errBusy), errors.Is(err, shipper.ErrRecloneNeeded),
		errors.Is(err, triggers.ErrSchemaDrift), errors.Is(err, ddl.ErrUnsupported), errors.Is(err, evolve.ErrRefused), errors.Is(err, evolve.ErrNothingToAdopt),
		errors.Is(err, shipper.ErrPeerRefused),
		errors.Is(err, applier.ErrSchemaConflict), errors.Is(err, apptriggers.ErrUndecided), errors.Is(err, restore.ErrTooMany), errors.Is(err, restore.ErrClockBehind):
		code = ExitRefused
	}
	return code
}

// flagsFirst moves a command's flags before its positional arguments, so
// that `trigsync sync DB --peer OTHER` parses as the docs write it (urfave/cli
// v2 stops reading flags at the first argument). Nothing after "--" moves.
func flagsFirst(app *ucli.App, args []string) []string {
	for i := 1; i < len(args); i++ {
		cmd := app.Command(args[i])
		if cmd == nil {
			if strings.HasPrefix(args[i], "-") && !strings.Contains(args[i], "=") && takesValue(app.Flags, args[i]) {
				i++ // a global flag's value
			}
			continue
		}
		// A subcommand's flags are its own (trigsync devices add NAME DB --hub).
		for i+1 < len(args) && cmd.Command(args[i+1]) != nil {
			cmd, i = cmd.Command(args[i+1]), i+1
		}
		var flags, rest []string
		tail := args[i+1:]
		for j := 0; j < len(tail); j++ {
			a := tail[j]
			switch {
			case a == "--":
				rest = append(rest, tail[j:]...)
				j = len(tail)
			case strings.HasPrefix(a, "-") && a != "-":
				flags = append(flags, a)
				if !strings.Contains(a, "=") && takesValue(cmd.Flags, a) && j+1 < len(tail) {
					j++
					flags = append(flags, tail[j])
				}
			default:
				rest = append(rest, a)
			}
		}
		return append(append(append([]string{}, args[:i+1]...), flags...), rest...)
	}
	return args
}

// takesValue reports whether the flag named by arg ("-x" or "--name") is
// one of flags that reads a value.
func takesValue(flags []ucli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				switch f.(type) {
				case *ucli.BoolFlag, *altsrc.BoolFlag:
					return false
				}
				return true
			}
		}
	}
	return false
}

// env names the environment variable of a flag: TRIGSYNC_ and the flag's
// name in upper case with dashes as underscores.
func env(flag string) []string {
	return []string{"TRIGSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// logger builds the logger the global flags ask for.
func logger(c *ucli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	}
	return nil, usageError("--log-format %q: want text or json", c.String("log-format"))
}

func usageError(format string, args ...any) error {
	return ucli.Exit("trigsync: "+fmt.Sprintf(format, args...), ExitUsage)
}

// dbArg opens the database named by the command's only argument.
func dbArg(c *ucli.Context) (*sqlx.DB, string, error) {
	// The command's ArgsUsage says how many arguments it takes: "DB", or
	// "DB [FILE.sql]" for one more that may be left out.
	usage := strings.Fields(c.Command.ArgsUsage)
	if c.NArg() < 1 || c.NArg() > len(usage) {
		return nil, "", usageError("%s takes the database file (%s); got %d arguments", c.Command.Name, c.Command.ArgsUsage, c.NArg())
	}
	path := c.Args().First()
	db, err := sqlitedb.Open(c.Context, path)
	return db, path, err
}

// tableList splits comma-separated table names from repeatable flags; a
// backslash keeps a comma in a name ("a\,b").
func tableList(values []string) []string {
	var names []string
	for _, v := range values {
		var cur strings.Builder
		for i := 0; i < len(v); i++ {
			switch {
			case v[i] == '\\' && i+1 < len(v) && v[i+1] == ',':
				cur.WriteByte(',')
				i++
			case v[i] == ',':
				names = append(names, cur.String())
				cur.Reset()
			default:
				cur.WriteByte(v[i])
			}
		}
		names = append(names, cur.String())
	}
	out := names[:0]
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// installedArg opens the database named by the command's only argument,
// checks that trigsync is installed in it and, for a command that writes,
// upgrades trigsync's tables in place when an older trigsync made them.
func installedArg(c *ucli.Context, writes bool) (*sqlx.DB, string, error) {
	db, path, err := dbArg(c)
	if err != nil {
		return nil, "", err
	}
	return installed(c, db, path, writes)
}

// installed checks that trigsync is installed in db, opened from path,
// and, for a command that writes, upgrades trigsync's tables in place
// when an older trigsync made them; db is closed when not.
func installed(c *ucli.Context, db *sqlx.DB, path string, writes bool) (*sqlx.DB, string, error) {
	err := requireInstalled(c, db, path)
	if err == nil && writes {
		err = upgrade(c, db, path)
	}
	if err != nil {
		db.Close()
		return nil, "", err
	}
	return db, path, nil
}

// upgrade migrates trigsync's tables to this build's metadata version.
func upgrade(c *ucli.Context, db *sqlx.DB, path string) error {
	tx, err := db.BeginTxx(c.Context, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer tx.Rollback()
	from, err := migrations.Migrate(c.Context, tx)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if from == migrations.Latest {
		return nil
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: upgrade trigsync's tables: %w", path, err)
	}
	if log, err := logger(c); err == nil {
		log.Info("upgraded trigsync's tables", "database", path, "from", from, "to", migrations.Latest)
	}
	return nil
}

// requireInstalled fails with triggers.ErrNotInstalled when trigsync's
// tables are missing.
func requireInstalled(c *ucli.Context, db *sqlx.DB, path string) error {
	v, err := migrations.Version(c.Context, db)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if v == 0 {
		return fmt.Errorf("%s: %w; run trigsync install %s", path, triggers.ErrNotInstalled, path)
	}
	return nil
}
