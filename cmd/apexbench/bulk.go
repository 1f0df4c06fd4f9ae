package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
)

// bulkRows is the size of the bulk invitation the bench measures.
const bulkRows = 1000

// measureBulk times a bulk invitation of bulkRows rows into the big
// structure through apexd (POST /structures/{siret}/invitations/bulk, a
// CSV file, as its administrator: each row checked, added with its audit
// event, its mail queued), against bulkRows adds of the same entries
// issued directly, one after the other as the service does. Each side
// takes bulkRounds turns, alternating, with fresh addresses each time;
// a side's time is the mean of its turns.
func (e *env) measureBulk(svc ldapPool) row {
	service := e.pop.services[0]
	serviceDN := "ou=" + ldap.EscapeDN(service) + ",ou=" + e.pop.big + ",ou=structures," + suffix
	var bulk, raw result
	for turn := range bulkRounds {
		prefix := fmt.Sprintf("%d.%d", time.Now().UnixNano(), turn)
		var file strings.Builder
		file.WriteString("\ufeffAdresse mail;Rôle;Service\r\n")
		for i := range bulkRows {
			fmt.Fprintf(&file, "bulk%s.%d@bench.example.fr;collaborateur;%s\r\n", prefix, i, service)
		}
		bulk.add(oneRun(func() error { return e.bulkInvite(file.String()) }))
		raw.add(oneRun(func() error {
			return svc.do(func(c *ldap.Conn) error {
				for i := range bulkRows {
					email := fmt.Sprintf("raw%s.%d@bench.example.fr", prefix, i)
					if err := c.Add(rawInvitation(e.pop.big, serviceDN, email, fmt.Sprintf("raw%s%d", strings.ReplaceAll(prefix, ".", ""), i))); err != nil {
						return err
					}
				}
				return nil
			})
		}))
	}
	bulk.elapsed /= bulkRounds
	raw.elapsed /= bulkRounds
	return row{name: fmt.Sprintf("bulk invitation of %d rows", bulkRows), unit: "s", service: bulk, raw: raw,
		serviceLabel: "POST /invitations/bulk (CSV)", rawLabel: fmt.Sprintf("%d adds of the same entries", bulkRows), concurrency: 1, totalTime: true}
}

// bulkRounds is how many turns each side of the bulk pair takes.
const bulkRounds = 2

// bulkInvite sends one CSV file and checks that every row was invited.
func (e *env) bulkInvite(file string) error {
	req, _ := http.NewRequest("POST", e.base+"/api/v1/structures/"+e.pop.big+"/invitations/bulk", strings.NewReader(file))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var report struct {
		Invited int `json:"invited"`
	}
	if err := json.NewDecoder(res.Body).Decode(&report); err != nil || res.StatusCode != 200 || report.Invited != bulkRows {
		return fmt.Errorf("bulk invitation: %d, %d invited, %v", res.StatusCode, report.Invited, err)
	}
	return nil
}

// add sums another turn into r.
func (r *result) add(turn result) {
	r.ops += turn.ops
	r.errors += turn.errors
	r.elapsed += turn.elapsed
	r.lat = append(r.lat, turn.lat...)
}

// oneRun times op once, as a result of one operation.
func oneRun(op func() error) result {
	start := time.Now()
	if err := op(); err != nil {
		fmt.Println("  ", err)
		return result{errors: 1, elapsed: time.Since(start)}
	}
	d := time.Since(start)
	return result{ops: 1, elapsed: d, lat: []time.Duration{d}}
}

// rawInvitation is the entry an invitation adds (directory's
// CreateInvitation): an invited account named by its request id under its
// service, with its mail key, its sort key, its link's record and expiry.
func rawInvitation(siret, serviceDN, email, requestID string) *ldap.AddRequest {
	sum := sha256.Sum256([]byte(requestID))
	req := ldap.NewAddRequest("apexRequestId="+requestID+","+serviceDN, nil)
	expires := time.Now().Add(7 * 24 * time.Hour)
	for _, a := range [][]string{
		{"objectClass", "inetOrgPerson", "apexPerson"}, {"cn", email}, {"displayName", email}, {"sn", "-"}, {"mail", email},
		{"apexMailKey", directory.MailKey(suffix, siret, email)}, {"apexRole", "collaborateur"}, {"apexAccountState", "invited"},
		{"apexRequestId", requestID}, {"apexRequestedAt", time.Now().UTC().Format("20060102150405Z")}, {"apexSiret", siret},
		{"apexService", serviceDN}, {"apexRequestedBy", "admin.bench-px"},
		{"apexSortKey", strings.ToLower(email)},
		{"apexInvitation", fmt.Sprintf("v1 %s %d", hex.EncodeToString(sum[:]), expires.Unix())},
		{"apexInvitationExpires", expires.UTC().Format("20060102150405Z")},
	} {
		req.Attribute(a[0], a[1:])
	}
	return req
}
