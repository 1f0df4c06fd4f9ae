package notify

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OutboxExt ends the name of every message of an outbox.
const OutboxExt = ".eml"

// timestampLayout starts the names of outbox and spool files: fixed width,
// so that names sort as times do.
const timestampLayout = "20060102T150405.000000000Z"

// tempPrefix starts the files being written, which listings skip.
const tempPrefix = ".tmp-"

// Outbox is a Mailer that writes each message into a folder, as an .eml
// file a person reads with apexctl outbox or any mail program: the
// delivery of a machine without a mail server. It is safe for concurrent
// use.
type Outbox struct {
	dir  string
	from *mail.Address
	now  func() time.Time
}

var _ Mailer = (*Outbox)(nil)

// NewOutbox creates dir (0700) when missing. from is the sender, as for
// SMTPConfig.From.
func NewOutbox(dir, from string) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("notify: outbox: no folder")
	}
	a, err := parseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	return &Outbox{dir: dir, from: a, now: time.Now}, nil
}

// Send writes m as a new file <UTC time>-<random>.eml (0600) holding the
// bytes Compose gives; the file appears whole or not at all.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if o.from == nil || o.now == nil {
		return errors.New("notify: outbox: not made by NewOutbox")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.now()
	raw, err := compose(o.from, m, now)
	if err != nil {
		return err
	}
	name, err := newFileName(now, OutboxExt)
	if err != nil {
		return fmt.Errorf("notify: outbox: %w", err)
	}
	if err := writeFileAtomic(o.dir, name, raw); err != nil {
		return fmt.Errorf("notify: outbox: %w", err)
	}
	return nil
}

// OutboxEntry describes one message of an outbox.
type OutboxEntry struct {
	Name    string    `json:"name"`    // the file's name, for ReadOutbox
	Time    time.Time `json:"time"`    // when it was written (from the name)
	To      []string  `json:"to"`      // empty when the file is not a readable mail
	Subject string    `json:"subject"` // decoded
	Size    int64     `json:"size"`    // bytes
}

// ListOutbox lists the messages of an outbox, oldest first. A folder that
// does not exist yet holds no message.
func ListOutbox(dir string) ([]OutboxEntry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	var entries []OutboxEntry
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, OutboxExt) || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		e := OutboxEntry{Name: name, Size: info.Size(), Time: info.ModTime().UTC()}
		if t, ok := fileNameTime(name); ok {
			e.Time = t
		}
		// A file that is not a mail is listed all the same, without To
		// nor Subject: the operator sees it is there.
		if h, err := readHeader(filepath.Join(dir, name)); err == nil {
			e.To = addressList(h, "To")
			e.Subject = decodeHeader(h.Get("Subject"))
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b OutboxEntry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return entries, nil
}

// ReadMessage is a mail read back: its headers decoded, its parts
// decoded to UTF-8 text with \n line ends.
type ReadMessage struct {
	From    string    `json:"from"`
	To      []string  `json:"to"`
	Subject string    `json:"subject"`
	Date    time.Time `json:"date"`
	Text    string    `json:"text"` // the text/plain part
	HTML    string    `json:"html"` // the text/html part
}

// ErrBadName is returned by ReadOutbox for a name that is not a file of
// the folder (a path, "..").
var ErrBadName = errors.New("notify: not a message name")

// ReadOutbox reads the message name of the outbox dir. name is a file name
// as ListOutbox gives it, never a path.
func ReadOutbox(dir, name string) (*ReadMessage, error) {
	if name == "" || name == "." || strings.Contains(name, "..") || strings.ContainsAny(name, `/\`) ||
		filepath.Base(name) != name || !strings.HasSuffix(name, OutboxExt) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	// os.Root keeps the read inside dir even through a symbolic link.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	defer f.Close()
	msg, err := ParseMessage(f)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox %s: %w", name, err)
	}
	return msg, nil
}

// ParseMessage reads a mail as Compose writes it, or any MIME mail whose
// text parts are UTF-8 (or ASCII): its first text/plain and text/html
// parts, multipart or not, quoted-printable or base64.
func ParseMessage(r io.Reader) (*ReadMessage, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("parse mail: %w", err)
	}
	out := &ReadMessage{
		From:    decodeHeader(msg.Header.Get("From")),
		To:      addressList(msg.Header, "To"),
		Subject: decodeHeader(msg.Header.Get("Subject")),
	}
	if d, err := msg.Header.Date(); err == nil {
		out.Date = d
	}
	if err := readParts(out, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, fmt.Errorf("parse mail: %w", err)
	}
	return out, nil
}

func readParts(out *ReadMessage, contentType, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mediaType, err = "text/plain", nil
	}
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextPart decodes quoted-printable itself and drops the header.
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			err = readParts(out, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			p.Close()
			if err != nil {
				return err
			}
		}
	}
	var target *string
	switch mediaType {
	case "text/plain":
		target = &out.Text
	case "text/html":
		target = &out.HTML
	default:
		return nil
	}
	if *target != "" {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &newlineSkipper{r: body})
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	*target = strings.ReplaceAll(string(raw), "\r\n", "\n")
	return nil
}

// newlineSkipper drops the line ends of a base64 body.
type newlineSkipper struct{ r io.Reader }

func (n *newlineSkipper) Read(p []byte) (int, error) {
	c, err := n.r.Read(p)
	kept := 0
	for _, b := range p[:c] {
		if b != '\r' && b != '\n' {
			p[kept] = b
			kept++
		}
	}
	return kept, err
}

// readHeader reads only the header of a mail file.
func readHeader(path string) (mail.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	msg, err := mail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	return msg.Header, nil
}

func decodeHeader(s string) string {
	dec := new(mime.WordDecoder)
	if d, err := dec.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// addressList gives the bare addresses of a header, or its raw value when
// it does not parse.
func addressList(h mail.Header, key string) []string {
	if h.Get(key) == "" {
		return nil
	}
	list, err := h.AddressList(key)
	if err != nil {
		return []string{decodeHeader(h.Get(key))}
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}

// newFileName is "<UTC time>-<random><ext>": names sort as times do, and
// two messages of the same nanosecond still get two files.
func newFileName(now time.Time, ext string) (string, error) {
	r, err := randomHex(8)
	if err != nil {
		return "", err
	}
	return now.UTC().Format(timestampLayout) + "-" + r + ext, nil
}

// fileNameTime reads the time back from a name newFileName gave.
func fileNameTime(name string) (time.Time, bool) {
	if len(name) < len(timestampLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(timestampLayout, name[:len(timestampLayout)])
	return t, err == nil
}

// writeFileAtomic writes dir/name (0600) through a temporary file renamed
// into place, synced before and after the rename: after a crash the file
// is either whole or absent, never truncated.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or a creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
