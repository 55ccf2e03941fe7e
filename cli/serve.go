package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/metrics"
	"github.com/trigsync/trigsync/schema"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
)

// tokenFlags: the bearer token, from the environment or a file.
func tokenFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "token-file", Usage: "read the bearer token from `FILE` (or set TRIGSYNC_TOKEN)", EnvVars: env("token-file")},
	}
}

// token returns the bearer token: the file's first line, or TRIGSYNC_TOKEN.
func token(c *ucli.Context) (string, error) {
	if path := c.String("token-file"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if line = strings.TrimSpace(line); line == "" {
			return "", fmt.Errorf("token file %s is empty", path)
		}
		return line, nil
	}
	return os.Getenv("TRIGSYNC_TOKEN"), nil
}

// remoteConfig says, from the flags, how to reach peers: the token, TLS,
// the logger.
func remoteConfig(c *ucli.Context) (shipper.RemoteConfig, error) {
	log, err := logger(c)
	if err != nil {
		return shipper.RemoteConfig{}, err
	}
	tok, err := token(c)
	if err != nil {
		return shipper.RemoteConfig{}, err
	}
	tlsConfig, err := clientTLS(c)
	return shipper.RemoteConfig{Token: tok, TLS: tlsConfig, Logger: log, UserAgent: "trigsync/" + c.App.Version}, err
}

// remote is the peer at url, reached as remoteConfig says.
func remote(c *ucli.Context, url string) (*shipper.Remote, error) {
	cfg, err := remoteConfig(c)
	if err != nil {
		return nil, err
	}
	r, err := shipper.NewRemote(url, cfg)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return r, nil
}

// cpuProfile profiles the CPU into the file at path until stop.
func cpuProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// seenEvery is how often serve writes when devices were last seen.
const seenEvery = 10 * time.Second

func serveCommand() *ucli.Command {
	flags, readConfig := configurable(append(append(tokenFlags(), tlsServerFlags()...),
		&ucli.StringFlag{Name: "listen", Value: "127.0.0.1:7480", Usage: "listen on `ADDR`", EnvVars: env("listen")},
		&ucli.StringSliceFlag{Name: "peer", Usage: "push to and pull from the node at `URL` (repeatable)", EnvVars: env("peer")},
		&ucli.DurationFlag{Name: "pull-interval", Value: 5 * time.Second, Usage: "pull from peers this often", EnvVars: env("pull-interval")},
		&ucli.DurationFlag{Name: "max-clock-skew", Value: applier.DefaultMaxClockSkew,
			Usage: "hold changes stamped further than this ahead of the local clock", EnvVars: env("max-clock-skew")},
		foreignKeysFlag(),
		retentionFlag(),
		deviceExpiryFlag(),
		&ucli.DurationFlag{Name: "gc-interval", Value: time.Hour, Usage: "prune the log this often (trigsync gc); 0: never", EnvVars: env("gc-interval")},
		&ucli.StringFlag{Name: "cpu-profile", Usage: "write a Go CPU profile of the whole run to `FILE` (go tool pprof reads it)", EnvVars: env("cpu-profile")},
		&ucli.IntFlag{Name: "max-concurrent", Usage: "answer at most `N` requests that read or write the database at once, others 503 with Retry-After; 0: 4 × the CPUs Go uses",
			EnvVars: env("max-concurrent")},
	))
	return &ucli.Command{
		Name:      "serve",
		Usage:     "answer peers over HTTP: serve this node's changes and apply theirs (docs/PROTOCOL.md)",
		ArgsUsage: "DB",
		Flags:     flags,
		Before:    readConfig,
		Action: func(c *ucli.Context) error {
			if path := c.String("cpu-profile"); path != "" {
				stop, err := cpuProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			peerCfg, err := remoteConfig(c)
			if err != nil {
				return err
			}
			log, tok := peerCfg.Logger, peerCfg.Token
			serverTLS, err := serverTLS(c)
			if err != nil {
				return err
			}
			if c.Int("max-concurrent") < 0 {
				return usageError("--max-concurrent %d: want 0 (the default) or more", c.Int("max-concurrent"))
			}
			db, path, err := installedArg(c, true)
			if err != nil {
				return err
			}
			defer db.Close()
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			if tok == "" && !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
				// Device credentials need a token of every request too.
				has, err := devices.Any(c.Context, db)
				if err != nil || !has {
					ln.Close()
				}
				if err != nil {
					return err
				}
				if !has {
					return usageError("serving %s beyond loopback needs a token: set TRIGSYNC_TOKEN or --token-file, or add device credentials (trigsync devices add)", ln.Addr())
				}
			}
			m := metrics.New(db, log)
			srv, err := server.New(c.Context, server.Config{DB: db, Token: tok, Logger: log, Metrics: m.Handler(), Observe: m.Observe,
				MaxConcurrent: c.Int("max-concurrent"), Overloaded: m.Overloaded, Served: m.Served, Rejected: m.Rejected, Lag: m.Lag,
				SnapshotDir: filepath.Dir(path),
				Apply:       applier.Options{MaxClockSkew: c.Duration("max-clock-skew"), ForeignKeys: c.Bool("foreign-keys"), Logger: log, Schema: &schema.Cache{}}})
			if err != nil {
				return err
			}
			loop := &shipper.Loop{DB: db, Pull: c.Duration("pull-interval"), Apply: srv.ApplyOptions(), Logger: log, Observe: m.Observe}
			for _, u := range c.StringSlice("peer") {
				r, err := shipper.NewRemote(u, peerCfg)
				if err != nil {
					ln.Close()
					return usageError("--peer: %v", err)
				}
				loop.Peers = append(loop.Peers, r)
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout: 2 * time.Minute, TLSConfig: serverTLS}
			scheme := "http"
			if serverTLS != nil {
				scheme = "https"
				ln = tls.NewListener(ln, serverTLS)
			}
			log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "database", path)
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			loopCtx, stopLoop := context.WithCancel(c.Context)
			seenDone := make(chan struct{})
			go func() { srv.KeepSeen(loopCtx, seenEvery); close(seenDone) }()
			defer func() { <-seenDone }() // after stopLoop: its last write follows the shutdown
			loopDone := make(chan struct{})
			go func() { loop.Run(loopCtx); close(loopDone) }()
			if every := c.Duration("gc-interval"); every > 0 {
				gcDone := make(chan struct{})
				go func() {
					pruneEvery(loopCtx, db, every, c.Duration("retention"), c.Duration("device-expiry"), log)
					close(gcDone)
				}()
				defer func() { <-gcDone }()
			}
			defer func() { stopLoop(); <-loopDone }()
			select {
			case err := <-done:
				return fmt.Errorf("serve: %w", err)
			case <-c.Context.Done():
			}
			log.Info("shutting down")
			shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("shut down: %w", err)
			}
			return nil
		},
	}
}
