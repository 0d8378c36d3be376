package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procSampler reads a process's CPU time and memory from /proc/PID.
type procSampler struct {
	pid    int
	rssMax float64 // MB, largest VmRSS seen by sampleRSS
}

func newProcSampler(pid int) (*procSampler, error) {
	s := &procSampler{pid: pid}
	if _, err := os.ReadFile(s.path("status")); err != nil {
		return nil, fmt.Errorf("-pid %d: %w", pid, err)
	}
	return s, nil
}

func (s *procSampler) path(name string) string { return fmt.Sprintf("/proc/%d/%s", s.pid, name) }

type procStatus struct{ rss, hwm float64 } // MB

// status reads VmRSS and VmHWM (peak resident set since the process started).
func (s *procSampler) status() procStatus {
	var st procStatus
	b, err := os.ReadFile(s.path("status"))
	if err != nil {
		return st
	}
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(string(f[1]), 64)
		switch string(f[0]) {
		case "VmRSS:":
			st.rss = kb / 1024
		case "VmHWM:":
			st.hwm = kb / 1024
		}
	}
	return st
}

func (s *procSampler) sampleRSS() {
	s.rssMax = max(s.rssMax, s.status().rss)
}

// procCPU is user + system CPU time of a process, in clock ticks.
type procCPU int64

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports
// (sysconf(_SC_CLK_TCK) is not in the standard library).
const clockTicks = 100

func (c procCPU) sub(d procCPU) procCPU { return c - d }

func (c procCPU) Seconds() float64 { return float64(c) / clockTicks }

func (s *procSampler) cpu() procCPU {
	b, err := os.ReadFile(s.path("stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may contain
	// spaces: state is field 3, utime 14, stime 15 (proc(5)).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return procCPU(ut + st)
}
