package directory_test

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// slapdOp is one operation as slapd logs it (log level stats): its kind
// (MOD, SRCH, ADD, DEL, BIND, EXT, …), the DN it names (a search's base),
// and its result code.
type slapdOp struct {
	kind   string
	dn     string
	result int
}

// logOffset is where slapd's log ends now: slapdOps reads from there.
func logOffset(t *testing.T, srv *slapd.Server) int64 {
	t.Helper()
	info, err := os.Stat(srv.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

var (
	opLine     = regexp.MustCompile(`conn=(\d+) op=(\d+) (MOD|SRCH|ADD|DEL|MODRDN|BIND|EXT|CMP) (?:dn|base)="([^"]*)"`)
	resultLine = regexp.MustCompile(`conn=(\d+) op=(\d+) (?:SEARCH )?RESULT tag=\d+ err=(\d+)`)
)

// slapdOps reads the operations slapd received since offset, in order,
// once each has its result: slapd logs a result after sending it, so a
// client may see it a little before the log does.
func slapdOps(t *testing.T, srv *slapd.Server, offset int64) []slapdOp {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ops, complete := readOps(t, srv.LogPath(), offset)
		if complete {
			return ops
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd's log: operations without a result after 10 s: %+v", ops)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readOps(t *testing.T, path string, offset int64) ([]slapdOp, bool) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var ops []slapdOp
	index := map[string]int{} // conn/op → position in ops
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := opLine.FindStringSubmatch(line); m != nil {
			key := m[1] + "/" + m[2]
			if _, seen := index[key]; !seen { // a MOD logs its dn once, then its attributes
				index[key] = len(ops)
				ops = append(ops, slapdOp{kind: m[3], dn: m[4], result: -1})
			}
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			if i, ok := index[m[1]+"/"+m[2]]; ok {
				ops[i].result, _ = strconv.Atoi(m[3])
			}
		}
	}
	for _, op := range ops {
		if op.result < 0 {
			return ops, false
		}
	}
	return ops, true
}

// countOps counts the operations of that kind on dn (any DN when empty),
// with that result (any when negative).
func countOps(ops []slapdOp, kind, dn string, result int) int {
	n := 0
	for _, op := range ops {
		if op.kind == kind && (dn == "" || strings.EqualFold(op.dn, dn)) && (result < 0 || op.result == result) {
			n++
		}
	}
	return n
}
