package ldif

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// Entry is one record of an LDIF file of entries (no change records).
type Entry struct {
	DN         string
	Attributes []Attribute // in file order; a repeated type is one Attribute
}

// Attribute is a type and its values.
type Attribute struct {
	Type   string
	Values []string
}

// Parse reads LDIF content records: comments, folded lines and base64 values
// ("attr:: ...") are understood; change records, URLs and includes are not.
func Parse(data []byte) ([]Entry, error) {
	var (
		entries []Entry
		lines   []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, " ") && len(lines) > 0:
			lines[len(lines)-1] += line[1:]
		case strings.HasPrefix(line, "#"):
		default:
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var cur *Entry
	for _, line := range lines {
		if line == "" {
			cur = nil
			continue
		}
		typ, value, err := parseLine(line)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			if !strings.EqualFold(typ, "dn") {
				return nil, fmt.Errorf("ldif: record starts with %q, not dn", typ)
			}
			entries = append(entries, Entry{DN: value})
			cur = &entries[len(entries)-1]
			continue
		}
		if strings.EqualFold(typ, "changetype") || strings.EqualFold(typ, "include") {
			return nil, fmt.Errorf("ldif: %s lines are not supported", typ)
		}
		cur.add(typ, value)
	}
	return entries, nil
}

func (e *Entry) add(typ, value string) {
	for i := range e.Attributes {
		if strings.EqualFold(e.Attributes[i].Type, typ) {
			e.Attributes[i].Values = append(e.Attributes[i].Values, value)
			return
		}
	}
	e.Attributes = append(e.Attributes, Attribute{Type: typ, Values: []string{value}})
}

func parseLine(line string) (typ, value string, err error) {
	typ, rest, ok := strings.Cut(line, ":")
	if !ok || typ == "" {
		return "", "", fmt.Errorf("ldif: line %q has no attribute type", line)
	}
	if b64, isB64 := strings.CutPrefix(rest, ":"); isB64 {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return "", "", fmt.Errorf("ldif: bad base64 value of %s: %w", typ, err)
		}
		return typ, string(raw), nil
	}
	if strings.HasPrefix(rest, "<") {
		return "", "", fmt.Errorf("ldif: URL values (%s:<) are not supported", typ)
	}
	return typ, strings.TrimLeft(rest, " "), nil
}
