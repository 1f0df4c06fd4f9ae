package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dgfip/apex-partenaires/notify"
)

// runOutbox lists the mails written into mail.outbox_dir (when no SMTP
// relay is configured), oldest first, or prints one of them: a person
// reads a sign-in code there without a mail server. "outbox sms" lists
// the SMS of sms.outbox_dir (when no SMS gateway is configured), where the
// security code of a forgotten password lands.
func runOutbox(_ context.Context, e *env, args []string) error {
	fs := e.newFlagSet("outbox", "outbox [--config FILE] [--json] [--to ADDRESS|NUMBER] [list | show NAME|last | sms]")
	configFile := e.configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	to := fs.String("to", "", "only the mails sent to this `address` (with sms: the SMS sent to this number)")
	args, err := parse(fs, args)
	if err != nil {
		return err
	}
	var show string
	switch {
	case len(args) == 0, len(args) == 1 && args[0] == "list":
	case len(args) == 1 && args[0] == "sms":
		cfg, err := loadConfig(*configFile)
		if err != nil {
			return err
		}
		return listSMSOutbox(e, cfg.SMS.OutboxDir, cfg.SMS.Gateway.URL != "", *to, *asJSON)
	case len(args) >= 1 && args[0] == "sms":
		return usagef("sms takes no argument")
	case len(args) == 2 && args[0] == "show":
		show = args[1]
	case len(args) >= 1 && args[0] == "show":
		return usagef("show takes one argument, a mail's name or last")
	default:
		return usagef("want list, show NAME|last, or sms, got %q", strings.Join(args, " "))
	}

	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}
	dir := cfg.Mail.OutboxDir
	if cfg.Mail.SMTP.Host != "" {
		fmt.Fprintf(e.stderr, "apexctl outbox: mail.smtp.host is set (%s): new mails go to the relay, not to %s\n", cfg.Mail.SMTP.Host, dir)
	}
	entries, err := notify.ListOutbox(dir)
	if err != nil {
		return err
	}
	if *to != "" {
		entries = sentTo(entries, *to)
	}

	if show == "" {
		return listOutbox(e, dir, entries, *asJSON)
	}
	name := show
	if name == "last" {
		if len(entries) == 0 {
			return fmt.Errorf("no mail in %s%s", dir, forAddress(*to))
		}
		name = entries[len(entries)-1].Name
	} else if !strings.HasSuffix(name, notify.OutboxExt) {
		name += notify.OutboxExt
	}
	msg, err := notify.ReadOutbox(dir, name)
	switch {
	case errors.Is(err, notify.ErrBadName):
		return usagef("%q is not the name of a mail (apexctl outbox lists them)", show)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no mail %s in %s", name, dir)
	case err != nil:
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			Name string `json:"name"`
			*notify.ReadMessage
		}{name, msg})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Fichier : %s\n", name)
	fmt.Fprintf(&b, "De : %s\n", msg.From)
	fmt.Fprintf(&b, "À : %s\n", strings.Join(msg.To, ", "))
	if !msg.Date.IsZero() {
		fmt.Fprintf(&b, "Date : %s\n", msg.Date.Local().Format("2006-01-02 15:04:05 -0700"))
	}
	fmt.Fprintf(&b, "Objet : %s\n\n", msg.Subject)
	b.WriteString(msg.Text)
	if !strings.HasSuffix(msg.Text, "\n") {
		b.WriteString("\n")
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

func listOutbox(e *env, dir string, entries []notify.OutboxEntry, asJSON bool) error {
	if asJSON {
		if entries == nil {
			entries = []notify.OutboxEntry{}
		}
		return writeJSON(e.stdout, entries)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintf(e.stdout, "Aucun courriel dans %s.\n", dir)
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tÀ\tOBJET\tNOM")
	for _, en := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", en.Time.Local().Format("2006-01-02 15:04:05"),
			strings.Join(en.To, ", "), en.Subject, en.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "apexctl outbox show NOM (ou last) affiche un courriel.\n")
	return err
}

// listSMSOutbox prints the SMS of an SMS outbox folder, oldest first, so
// that the newest is the last line.
func listSMSOutbox(e *env, dir string, gateway bool, to string, asJSON bool) error {
	if gateway {
		fmt.Fprintf(e.stderr, "apexctl outbox sms: sms.gateway.url is set: new SMS go to the gateway, not to %s\n", dir)
	}
	all, err := notify.ListSMSOutbox(dir)
	if err != nil {
		return err
	}
	list := []notify.SMS{}
	for _, m := range all {
		if to == "" || m.To == to {
			list = append(list, m)
		}
	}
	if asJSON {
		return writeJSON(e.stdout, list)
	}
	if len(list) == 0 {
		if to != "" {
			dir += " pour " + to
		}
		_, err := fmt.Fprintf(e.stdout, "Aucun SMS dans %s.\n", dir)
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "À\tTEXTE")
	for _, m := range list {
		// One line each, whatever the text holds.
		fmt.Fprintf(tw, "%s\t%s\n", m.To, strings.Join(strings.Fields(m.Text), " "))
	}
	return tw.Flush()
}

// sentTo keeps the mails sent to addr (case-insensitive).
func sentTo(entries []notify.OutboxEntry, addr string) []notify.OutboxEntry {
	var kept []notify.OutboxEntry
	for _, en := range entries {
		for _, to := range en.To {
			if strings.EqualFold(to, addr) {
				kept = append(kept, en)
				break
			}
		}
	}
	return kept
}

func forAddress(addr string) string {
	if addr == "" {
		return ""
	}
	return " for " + addr
}
