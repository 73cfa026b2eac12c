// Command go-regexp is the Go side of procwatch-agent's differential tests: it answers, with Go's
// own regexp package and the CloudWatch agent's procstat lookup logic, what procwatch must answer
// identically. It reads one JSON request per line on stdin and writes one JSON answer per line.
//
//	{"op":"match","regex":"…","inputs":["…"]}             → {"error":null|"…","matches":[true,…]}
//	{"op":"count","mode":"exe|pattern","selector":"…"}     → {"error":null|"…","pids":[…]}
//	{"op":"pidfile","path":"…"}                            → {"error":null|"…","pids":[…]}
//
// The lookups follow the CloudWatch agent's procstat native finder (aws/telegraf,
// plugins/inputs/procstat/native_finder_notwindows.go: Pattern and FullPattern; and
// plugins/inputs/procstat/native_finder.go: PidFile), with the process list of FastProcessList
// (every numeric entry of /proc) and gopsutil v3's Exe and Cmdline (process/process_linux.go:
// fillFromExeWithContext is os.Readlink of /proc/PID/exe; fillFromCmdlineWithContext reads
// /proc/PID/cmdline, splits it with strings.FieldsFunc on NUL, so empty arguments are dropped,
// and joins with spaces). A process whose exe or cmdline cannot be read is skipped, as there.
// It lists /proc itself, so run as another user (the systemd rig runs it as cwagent, the agent's
// default run_as_user) it counts what the agent counts as that user: the kernel refuses that user
// other users' exe links, never their command lines.
// Only the standard library is used, so the test can build it offline with Debian's golang-go.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type request struct {
	Op       string   `json:"op"`
	Regex    string   `json:"regex"`
	Inputs   []string `json:"inputs"`
	Mode     string   `json:"mode"`
	Selector string   `json:"selector"`
	Path     string   `json:"path"`
	ProcRoot string   `json:"procRoot"`
}

type answer struct {
	Error   *string `json:"error"`
	Matches []bool  `json:"matches,omitempty"`
	Pids    []int64 `json:"pids"`
}

func failed(err error) answer {
	message := err.Error()
	return answer{Error: &message, Pids: []int64{}}
}

func match(req request) answer {
	re, err := regexp.Compile(req.Regex)
	if err != nil {
		return failed(err)
	}
	matches := make([]bool, len(req.Inputs))
	for i, input := range req.Inputs {
		matches[i] = re.MatchString(input)
	}
	return answer{Matches: matches, Pids: []int64{}}
}

// pids lists /proc like gopsutil's Pids (readPidsFromDir): every entry whose name is a number.
func pids(procRoot string) ([]int64, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, entry := range entries {
		pid, err := strconv.ParseInt(entry.Name(), 10, 32)
		if err != nil {
			continue
		}
		out = append(out, pid)
	}
	return out, nil
}

func count(req request) answer {
	re, err := regexp.Compile(req.Selector)
	if err != nil {
		return failed(err)
	}
	procRoot := req.ProcRoot
	if procRoot == "" {
		procRoot = "/proc"
	}
	all, err := pids(procRoot)
	if err != nil {
		return failed(err)
	}
	found := []int64{}
	for _, pid := range all {
		dir := procRoot + "/" + strconv.FormatInt(pid, 10)
		var subject string
		if req.Mode == "exe" {
			exe, err := os.Readlink(dir + "/exe")
			if err != nil {
				continue
			}
			subject = exe
		} else {
			cmdline, err := os.ReadFile(dir + "/cmdline")
			if err != nil {
				continue
			}
			subject = strings.Join(strings.FieldsFunc(string(cmdline), func(r rune) bool { return r == '\u0000' }), " ")
		}
		if re.MatchString(subject) {
			found = append(found, pid)
		}
	}
	return answer{Pids: found}
}

// pidFile is NativeFinder.PidFile: the whole file, strings.TrimSpace, strconv.ParseInt base 10 into 32 bits.
func pidFile(req request) answer {
	content, err := os.ReadFile(req.Path)
	if err != nil {
		return failed(err)
	}
	pid, err := strconv.ParseInt(strings.TrimSpace(string(content)), 10, 32)
	if err != nil {
		return failed(err)
	}
	return answer{Pids: []int64{pid}}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var res answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			res = failed(err)
		} else {
			switch req.Op {
			case "match":
				res = match(req)
			case "count":
				res = count(req)
			case "pidfile":
				res = pidFile(req)
			default:
				message := "unknown op " + req.Op
				res = answer{Error: &message, Pids: []int64{}}
			}
		}
		if err := out.Encode(res); err != nil {
			os.Exit(1)
		}
	}
}
