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

// measureBulk times one bulk invitation of bulkRows rows into the big
// structure through apexd (POST /structures/{siret}/invitations/bulk, a
// CSV file, as its administrator: each row checked, counted in its limit,
// added, kept in its history, its mail queued), against bulkRows adds of
// the same entries issued directly, one after the other as the service
// does. Each side once: the run is long enough to time alone.
func (e *env) measureBulk(svc ldapPool) row {
	run := time.Now().UnixNano()
	service := e.pop.services[0]
	var file strings.Builder
	file.WriteString("\ufeffAdresse mail;Rôle;Service\r\n")
	for i := range bulkRows {
		fmt.Fprintf(&file, "bulk%d.%d@bench.example.fr;collaborateur;%s\r\n", run, i, service)
	}
	bulk := oneRun(func() error {
		req, _ := http.NewRequest("POST", e.base+"/api/v1/structures/"+e.pop.big+"/invitations/bulk", strings.NewReader(file.String()))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+e.token)
		client := &http.Client{Timeout: 10 * time.Minute}
		res, err := client.Do(req)
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
	})
	serviceDN := "ou=" + ldap.EscapeDN(service) + ",ou=" + e.pop.big + ",ou=structures," + suffix
	raw := oneRun(func() error {
		return svc.do(func(c *ldap.Conn) error {
			for i := range bulkRows {
				if err := c.Add(rawInvitation(e.pop.big, serviceDN, fmt.Sprintf("raw%d.%d@bench.example.fr", run, i), fmt.Sprintf("raw%d%d", run, i))); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return row{name: fmt.Sprintf("bulk invitation of %d rows", bulkRows), unit: "s", service: bulk, raw: raw,
		serviceLabel: "POST /invitations/bulk (CSV)", rawLabel: fmt.Sprintf("%d adds of the same entries", bulkRows), concurrency: 1, totalTime: true}
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
// service, with its mail key and its link's record.
func rawInvitation(siret, serviceDN, email, requestID string) *ldap.AddRequest {
	sum := sha256.Sum256([]byte(requestID))
	req := ldap.NewAddRequest("apexRequestId="+requestID+","+serviceDN, nil)
	for _, a := range [][]string{
		{"objectClass", "inetOrgPerson", "apexPerson"}, {"cn", email}, {"displayName", email}, {"sn", "-"}, {"mail", email},
		{"apexMailKey", directory.MailKey(suffix, siret, email)}, {"apexRole", "collaborateur"}, {"apexAccountState", "invited"},
		{"apexRequestId", requestID}, {"apexRequestedAt", time.Now().UTC().Format("20060102150405Z")}, {"apexSiret", siret},
		{"apexService", serviceDN}, {"apexRequestedBy", "admin.bench-px"},
		{"apexInvitation", fmt.Sprintf("v1 %s %d", hex.EncodeToString(sum[:]), time.Now().Add(7*24*time.Hour).Unix())},
	} {
		req.Attribute(a[0], a[1:])
	}
	return req
}
