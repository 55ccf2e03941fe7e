// Package e2e tests the trigsync binary as users run it: real processes,
// real database files, other SQLite clients (the sqlite3 shell, Python)
// writing beside it, and the arm64 build under qemu.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/testutil"
)

// binary is the trigsync built for the host by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trigsync-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trigsync")
	if err := build(binary, runtime.GOARCH); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the static trigsync binary for linux/arch.
func build(out, arch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/trigsync")
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build trigsync for %s: %v\n%s", arch, err, b)
	}
	return nil
}

// arm64 returns qemu-aarch64-static and the static linux/arm64 trigsync:
// TRIGSYNC_ARM64 (what make cross built), or one built for the test.
func arm64(t *testing.T) (qemu, binary string) {
	t.Helper()
	qemu = need(t, "qemu-aarch64-static")
	if binary = os.Getenv("TRIGSYNC_ARM64"); binary == "" {
		binary = filepath.Join(t.TempDir(), "trigsync-arm64")
		if err := build(binary, "arm64"); err != nil {
			t.Fatal(err)
		}
	}
	return qemu, binary
}

// need finds a tool; without it the test fails in CI and is skipped elsewhere.
func need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs it", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs a command with extra environment variables ("K=V").
func run(t testing.TB, env []string, name string, args ...string) result {
	t.Helper()
	r, err := runQuiet(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runQuiet runs a command like run, from any goroutine: it returns the
// failure to start instead of failing the test.
func runQuiet(env []string, name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out.String(), errb.String(), 0}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		return r, fmt.Errorf("%s: %v", name, err)
	}
	return r, nil
}

// trigsync runs the binary and fails the test unless it exits 0.
func trigsync(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, nil, binary, args...)
	if r.code != 0 {
		t.Fatalf("trigsync %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// shell runs SQL through the sqlite3 command-line shell, waiting up to 10 s
// for another writer (trigsync serve, say), as any client beside one must.
func shell(t testing.TB, db, sql string, env ...string) string {
	t.Helper()
	r := run(t, env, need(t, "sqlite3"), "-bail", "-cmd", ".timeout 10000", db, sql)
	if r.code != 0 {
		t.Fatalf("sqlite3: exit %d: %s", r.code, r.stderr)
	}
	return r.stdout
}

// change is one line of `trigsync changes --json`.
type change struct {
	Seq    int64                      `json:"seq"`
	HLC    string                     `json:"hlc"`
	Epoch  int64                      `json:"epoch"`
	Table  string                     `json:"table"`
	Op     string                     `json:"op"`
	Origin string                     `json:"origin"`
	Key    map[string]changelog.Value `json:"key"`
	Set    map[string]changelog.Value `json:"set"`
}

func changes(t *testing.T, bin []string, db string) []change {
	t.Helper()
	args := append(append([]string{}, bin[1:]...), "changes", "--json", "--limit", "1000000", db)
	r := run(t, nil, bin[0], args...)
	if r.code != 0 {
		t.Fatalf("changes: exit %d: %s", r.code, r.stderr)
	}
	var out []change
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var c change
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("decode changes: %v", err)
		}
		out = append(out, c)
	}
	return out
}
