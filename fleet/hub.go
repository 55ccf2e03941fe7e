package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hub is a `trigsync serve` process on loopback.
type hub struct {
	binary, db, listen string
	args               []string
	env                []string
	cmd                *exec.Cmd
	addr               string
	done               chan error
}

// start runs serve and waits until it listens.
func (h *hub) start(ctx context.Context) error {
	args := append([]string{"--log-format", "json", "--log-level", "info", "serve", "--listen", h.listen}, h.args...)
	h.cmd = exec.Command(h.binary, append(args, h.db)...)
	h.cmd.Env = append(os.Environ(), h.env...)
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		return err
	}
	h.cmd.Stdout = io.Discard
	if err := h.cmd.Start(); err != nil {
		return fmt.Errorf("start the hub: %w", err)
	}
	h.done = make(chan error, 1)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Addr  string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				select {
				case addr <- line.Addr:
				default:
				}
			} else if line.Level == "ERROR" {
				fmt.Fprintf(os.Stderr, "hub: %s\n", sc.Text())
			}
		}
	}()
	go func() { h.done <- h.cmd.Wait() }()
	select {
	case h.addr = <-addr:
		h.listen = h.addr // a restart listens on the same port
		return nil
	case err := <-h.done:
		return fmt.Errorf("the hub exited before it listened: %v", err)
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
		return fmt.Errorf("the hub did not listen within 30 s")
	case <-ctx.Done():
		h.cmd.Process.Kill()
		return ctx.Err()
	}
}

// kill ends the process with SIGKILL and waits for it.
func (h *hub) kill() {
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}

// stop ends the process with SIGTERM and waits for it.
func (h *hub) stop() {
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		h.kill()
	}
}

// usage is a process's CPU time and resident memory, as /proc reports it.
type usage struct {
	CPU time.Duration // user + system, of every thread
	RSS int64         // resident set, bytes
	HWM int64         // peak resident set, bytes
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times (100 on every
// Linux the project runs on).
const clockTick = 10 * time.Millisecond

// procUsage reads /proc/pid/stat and /proc/pid/status.
func procUsage(pid int) (usage, error) {
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	u.CPU = time.Duration(utime+stime) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = kb << 10
		case "VmHWM":
			u.HWM = kb << 10
		}
	}
	return u, nil
}
