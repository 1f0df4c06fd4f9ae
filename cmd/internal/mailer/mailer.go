// Package mailer opens the mail path of the APEX Partenaires programs
// (apexd, apexctl) from the configuration: the SMTP relay, or the file
// outbox when mail.smtp.host is empty, behind the durable queue; and the
// SMS path: the HTTP gateway, or the SMS file outbox when
// sms.gateway.url is empty.
package mailer

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/notify"
)

// Counts counts what the queue did, for the metrics.
type Counts struct{ sent, failed atomic.Int64 }

// Stats returns the mails sent and given up on so far.
func (c *Counts) Stats() (sent, failed float64) {
	return float64(c.sent.Load()), float64(c.failed.Load())
}

// Open builds the mail path: the SMTP relay, or the file outbox when
// mail.smtp.host is empty, behind a durable queue so that no caller waits
// on a relay and no accepted mail is lost. The queue is started; the
// caller closes it. cfg must have passed Validate.
func Open(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*notify.Queue, *Counts, error) {
	var relay notify.Mailer
	if cfg.Mail.SMTP.Host != "" {
		smtp, err := notify.NewSMTP(notify.SMTPConfig{
			Host:     cfg.Mail.SMTP.Host,
			Port:     cfg.Mail.SMTP.Port,
			TLS:      cfg.Mail.SMTP.TLS,
			Username: cfg.Mail.SMTP.Username,
			Password: cfg.Mail.SMTP.Password,
			From:     cfg.Mail.From,
		})
		if err != nil {
			return nil, nil, err
		}
		relay = smtp
	} else {
		outbox, err := notify.NewOutbox(cfg.Mail.OutboxDir, cfg.Mail.From)
		if err != nil {
			return nil, nil, err
		}
		relay = outbox
	}
	counts := &Counts{}
	queue, err := notify.NewQueue(notify.QueueConfig{
		SpoolDir:  cfg.Mail.SpoolDir,
		FailedDir: filepath.Join(cfg.Mail.OutboxDir, "failed"),
		Logger:    logger,
		OnSent:    func() { counts.sent.Add(1) },
		OnFailed:  func() { counts.failed.Add(1) },
	}, relay)
	if err != nil {
		return nil, nil, err
	}
	if err := queue.Start(ctx); err != nil {
		return nil, nil, err
	}
	return queue, counts, nil
}

// OpenSMS builds the SMS path: the HTTP gateway of sms.gateway.* when
// sms.gateway.url is set, otherwise the file outbox of sms.outbox_dir
// (created when missing), which apexctl outbox sms lists. There is no
// queue: directory.SelfService sends a renewal's code in the background,
// and the gateway's timeout bounds each try. cfg must have passed Validate.
func OpenSMS(cfg *config.Config) (notify.SMSSender, error) {
	if cfg.SMS.Gateway.URL != "" {
		g, err := notify.NewGateway(cfg.SMS.Gateway.Config())
		if err != nil {
			return nil, err
		}
		return g, nil
	}
	o, err := notify.NewSMSOutbox(cfg.SMS.OutboxDir)
	if err != nil {
		return nil, err
	}
	return o, nil
}
