package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/triggers"
)

func installCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "install",
		Usage:     "create trigsync's tables and install capture triggers on the replicated tables",
		ArgsUsage: "DB",
		Description: "Every table with a primary key is replicated unless --include or --exclude say\n" +
			"otherwise; the selection is remembered for later runs. Running install again\n" +
			"changes nothing, or regenerates the triggers of tables whose schema changed.",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "include", Usage: "replicate only these `TABLES` (comma-separated, repeatable; \\, for a comma in a name)", EnvVars: env("include")},
			&ucli.StringSliceFlag{Name: "exclude", Usage: "do not replicate these `TABLES`", EnvVars: env("exclude")},
			&ucli.BoolFlag{Name: "dry-run", Usage: "print the statements install would run, and change nothing", EnvVars: env("dry-run")},
			&ucli.StringSliceFlag{Name: "trigger", Usage: "what the application's trigger `NAME=fire|skip|auto` does when a peer's change is applied " +
				"(repeatable, remembered; auto: the rule decides)", EnvVars: env("trigger")},
			&ucli.StringSliceFlag{Name: "counter", Usage: "make `TABLE.COLUMN` a counter column: concurrent increments and decrements on different nodes all count " +
				"(repeatable, remembered; an INTEGER, REAL or NUMERIC column outside the primary key; every node needs the same counters: " +
				"`trigsync migrate --sql 'ALTER TABLE t ALTER COLUMN c SET COUNTER'` declares one for all)", EnvVars: env("counter")},
		},
		Action: func(c *ucli.Context) error {
			log, err := logger(c)
			if err != nil {
				return err
			}
			db, path, err := dbArg(c)
			if err != nil {
				return err
			}
			defer db.Close()
			opts := triggers.Options{DryRun: c.Bool("dry-run")}
			if c.IsSet("include") || c.IsSet("exclude") {
				opts.Selection = &triggers.Selection{
					Include: tableList(c.StringSlice("include")),
					Exclude: tableList(c.StringSlice("exclude")),
				}
			}
			for _, arg := range c.StringSlice("trigger") {
				name, action, err := apptriggers.ParseChoice(arg)
				if err != nil {
					return usageError("%v", err)
				}
				if opts.Triggers == nil {
					opts.Triggers = map[string]apptriggers.Action{}
				}
				opts.Triggers[name] = action
			}
			for _, arg := range c.StringSlice("counter") {
				dot := strings.LastIndexByte(arg, '.')
				if dot <= 0 || dot == len(arg)-1 {
					return usageError("--counter %q: want TABLE.COLUMN", arg)
				}
				if opts.Counters == nil {
					opts.Counters = map[string][]string{}
				}
				opts.Counters[arg[:dot]] = append(opts.Counters[arg[:dot]], arg[dot+1:])
			}
			r, err := triggers.Install(c.Context, db, opts)
			if err != nil {
				return fmt.Errorf("install in %s: %w", path, err)
			}
			for w, tables := range warnings(r.Tables) {
				log.Warn(w, "tables", strings.Join(tables, ","))
			}
			for _, s := range r.Skipped {
				log.Info("not replicated", "table", s.Table, "reason", s.Reason)
			}
			if err := r.AppTriggers.Check(); err != nil {
				log.Warn(err.Error())
			}
			out := c.App.Writer
			if opts.DryRun {
				for _, s := range r.Statements {
					fmt.Fprintf(out, "%s;\n", s)
				}
				fmt.Fprintf(out, "-- dry run: %d statements, nothing changed\n", len(r.Statements))
				for _, t := range r.AppTriggers {
					fmt.Fprintf(out, "-- app trigger %s on %s: %s on apply (%s)\n", t.Name, t.Table, t.Action, t.Why)
				}
				return nil
			}
			names := make([]string, len(r.Tables))
			for i, t := range r.Tables {
				names[i] = t.Name
			}
			verb := "installed in"
			if !r.NewNode {
				verb = "updated in"
			}
			if len(r.Statements) == 0 && !r.NewNode && r.MigratedFrom != 0 {
				verb = "already up to date in"
			}
			fmt.Fprintf(out, "trigsync %s %s: node %s, %d tables replicated (%s)\n",
				verb, path, r.NodeID, len(r.Tables), strings.Join(names, ", "))
			for _, t := range r.Tables {
				if len(t.Counters) > 0 {
					fmt.Fprintf(out, "counters        %s: %s (increments and decrements on every node add up)\n", t.Name, strings.Join(t.Counters, ", "))
				}
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			printAppTriggers(w, r.AppTriggers)
			return w.Flush()
		},
	}
}

func uninstallCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "uninstall",
		Usage:       "remove trigsync's triggers and tables; the application's data and triggers stay",
		ArgsUsage:   "DB",
		Description: "Changes not yet shipped to a peer are lost with the changelog.",
		Action: func(c *ucli.Context) error {
			db, path, err := dbArg(c)
			if err != nil {
				return err
			}
			defer db.Close()
			dropped, err := triggers.Uninstall(c.Context, db)
			if err != nil {
				return fmt.Errorf("uninstall from %s: %w", path, err)
			}
			_, err = fmt.Fprintf(c.App.Writer, "trigsync removed from %s (%d objects dropped)\n", path, len(dropped))
			return err
		},
	}
}
