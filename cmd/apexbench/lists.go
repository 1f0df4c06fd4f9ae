package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// The management lists and the export at national size: the first and the
// last page of each list through apexd, against the rawest LDAP work that
// gives the same page, the sorted page that slapd's sssvlv serves (a VLV
// search); and the export of the big structure against one paged search of
// its accounts.
//
// slapd keeps a sort until its connection closes (5 at most on one
// connection): apexd sorts on a connection of its own, dialled and bound
// for one list, and so does the raw side, or it would be refused after 5.

// listAttrs are what apexd reads of an account in a list (directory's listAttrs).
var listAttrs = []string{"uid", "givenName", "sn", "mail", "apexRole", "apexAccountState", "apexSiret", "apexService",
	"apexRequestId", "apexRequestedBy", "apexRequestedAt", "apexDecidedBy", "apexDecidedAt", "apexRefusalReason",
	"memberOf", "pwdAccountLockedTime", "pwdChangedTime"}

var personOrder = []*ldap.SortKey{{AttributeType: "apexSortKey", MatchingRule: "caseExactOrderingMatch"}, {AttributeType: "apexRequestId", MatchingRule: "caseExactOrderingMatch"}}

// list is one management list: its route and token, and the search that
// apexd makes of it.
type list struct {
	name   string
	path   string // under /api/v1, without query
	token  string
	base   string
	scope  int
	filter string
	attrs  []string
	keys   []*ldap.SortKey
}

func (e *env) lists() []list {
	structures := "ou=structures," + suffix
	big := "ou=" + e.pop.big + "," + structures
	inStructure := "(|(apexRole=responsable)(apexRole=collaborateur))"
	return []list{
		{"agent: structures", "/structures", e.agentToken, structures, ldap.ScopeSingleLevel, "(objectClass=apexStructure)",
			[]string{"apexSiret", "apexLabel", "apexCategory"},
			[]*ldap.SortKey{{AttributeType: "apexSortKey", MatchingRule: "caseExactOrderingMatch"}, {AttributeType: "apexSiret", MatchingRule: "numericStringOrderingMatch"}}},
		{"agent: administrators", "/accounts", e.agentToken, structures, ldap.ScopeWholeSubtree, "(&(objectClass=apexPerson)(apexRole=administrateur))", listAttrs, personOrder},
		{"agent: requests", "/requests", e.agentToken, structures, ldap.ScopeWholeSubtree, "(&(objectClass=apexPerson)(apexRole=administrateur)(apexAccountState=submitted))", listAttrs, personOrder},
		{"administrator: accounts", "/accounts", e.token, big, ldap.ScopeWholeSubtree, "(&(objectClass=apexPerson)" + inStructure + ")", listAttrs, personOrder},
		{"administrator: requests", "/requests", e.token, big, ldap.ScopeWholeSubtree, "(&(objectClass=apexPerson)" + inStructure + "(apexAccountState=submitted))", listAttrs, personOrder},
		{"administrator: invitations", "/invitations", e.token, big, ldap.ScopeWholeSubtree, "(&(objectClass=apexPerson)" + inStructure + "(apexAccountState=invited))", listAttrs, personOrder},
	}
}

const listPageSize = 50

// listTotal is the total apexd answers for a list.
func (e *env) listTotal(l list) (int, error) {
	req, _ := http.NewRequest("GET", e.base+"/api/v1"+l.path+"?size=1", nil)
	req.Header.Set("Authorization", "Bearer "+l.token)
	res, err := e.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d %v", l.path, res.StatusCode, err)
	}
	return out.Total, nil
}

// rawPage is the raw side: a sorted page by VLV on a new connection bound
// as the service, which it closes. It checks the page has want entries.
func (e *env) rawPage(l list, page, want int) error {
	c, err := ldap.DialURL(e.srv.URL)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(e.srv.ServiceDN, servicePassword); err != nil {
		return err
	}
	res, err := c.Search(ldap.NewSearchRequest(l.base, l.scope, ldap.NeverDerefAliases, 0, 0, false, l.filter, l.attrs,
		[]ldap.Control{ldap.NewControlServerSideSortingWithSortKeys(l.keys), vlvControl{offset: (page-1)*listPageSize + 1, after: listPageSize - 1}}))
	if err != nil {
		return err
	}
	if len(res.Entries) != want {
		return fmt.Errorf("%s page %d: %d entries, want %d", l.name, page, len(res.Entries), want)
	}
	return nil
}

// measureLists measures the first and the last page of each list.
func measureLists(e *env, o options) ([]row, error) {
	const clients = 4
	var rows []row
	for _, l := range e.lists() {
		total, err := e.listTotal(l)
		if err != nil {
			return nil, err
		}
		last := max(1, (total+listPageSize-1)/listPageSize)
		for _, p := range []struct {
			which string
			page  int
		}{{"first", 1}, {"last", last}} {
			want := min(listPageSize, total-(p.page-1)*listPageSize)
			path := fmt.Sprintf("/api/v1%s?size=%d&page=%d", l.path, listPageSize, p.page)
			svc, raw := alternate(clients, o.duration/4, 0, 0, func(int) error {
				return e.call("GET", path, l.token, nil, 200)
			}, func(int) error { return e.rawPage(l, p.page, want) })
			rows = append(rows, row{name: fmt.Sprintf("%s, %s page", l.name, p.which), unit: "ops/s", service: svc, raw: raw,
				serviceLabel: fmt.Sprintf("GET %s (%d in all, page %d)", l.path, total, p.page), rawLabel: "sorted page (VLV), new connection", concurrency: clients})
		}
	}
	return rows, nil
}

// exportResult is an export of the big structure: its time and apexd's
// memory, resident before it and at its peak.
type exportResult struct {
	accounts       int
	service, raw   result
	before, during float64 // MiB
}

// measureExport runs the export of the big structure through apexd and
// the same paged search directly, three times each, in turns;
// apexd's peak resident memory is reset (clear_refs) before each export
// of apexd, and read after.
func measureExport(e *env) (exportResult, error) {
	var r exportResult
	for range 3 {
		r.before = max(r.before, e.apexdMemory("VmRSS"))
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", e.apexd.Process.Pid), []byte("5"), 0)
		got := run(1, time.Hour, 1, func(int) error {
			n, err := e.exportBig()
			r.accounts = n
			return err
		})
		r.during = max(r.during, e.apexdMemory("VmHWM"))
		r.service.ops += got.ops
		r.service.errors += got.errors
		r.service.elapsed += got.elapsed
		r.service.lat = append(r.service.lat, got.lat...)
		raw := run(1, time.Hour, 1, func(int) error { return e.rawExport() })
		r.raw.ops += raw.ops
		r.raw.errors += raw.errors
		r.raw.elapsed += raw.elapsed
		r.raw.lat = append(r.raw.lat, raw.lat...)
	}
	if r.service.errors > 0 || r.raw.errors > 0 {
		return r, fmt.Errorf("export: %d errors, raw %d", r.service.errors, r.raw.errors)
	}
	r.service.elapsed /= 3 // the mean of the three
	r.raw.elapsed /= 3
	return r, nil
}

// exportBig downloads the export of the big structure, keeping nothing,
// and returns the accounts it holds.
func (e *env) exportBig() (int, error) {
	req, _ := http.NewRequest("GET", e.base+"/api/v1/structures/"+e.pop.big+"/accounts.csv", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("export: %d", res.StatusCode)
	}
	lines := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		lines++
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return lines - 1, nil
}

// rawExport is the export's raw side: the structure's accounts, 250 a
// page, on a connection of its own, as apexd reads them.
func (e *env) rawExport() error {
	c, err := ldap.DialURL(e.srv.URL)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(e.srv.ServiceDN, servicePassword); err != nil {
		return err
	}
	attrs := append(append([]string(nil), listAttrs...), "apexKnownAddress")
	_, err = c.SearchWithPaging(ldap.NewSearchRequest("ou="+e.pop.big+",ou=structures,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=apexPerson)", attrs, nil), 250)
	return err
}

// apexdMemory reads a memory figure of apexd's /proc status (VmRSS, VmHWM), in MiB.
func (e *env) apexdMemory(field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.apexd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// vlvControl is the VLV request (draft-ietf-ldapext-ldapv3-vlv), which
// go-ldap has not: after entries after the one at offset (from 1).
type vlvControl struct{ offset, after int }

func (v vlvControl) GetControlType() string { return "2.16.840.1.113730.3.4.9" }

func (v vlvControl) Encode() *ber.Packet {
	req := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "VirtualListViewRequest")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "beforeCount"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(v.after), "afterCount"))
	byOffset := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "byOffset")
	byOffset.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(v.offset), "offset"))
	byOffset.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(0), "contentCount"))
	req.AppendChild(byOffset)
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v.GetControlType(), "Control Type"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(req.Bytes()), "Control Value"))
	return packet
}

func (v vlvControl) String() string { return fmt.Sprintf("VLV offset %d, %d after", v.offset, v.after) }
