package slapd

import (
	"path/filepath"

	"github.com/dgfip/apex-partenaires/ldif"
)

// Attach returns a Server for a slapd that another program runs, such as a
// container of the directory image whose data folder dir is mounted from
// this host: slapd's log and its ldapi socket are in dir, so LogPath,
// LogTail and DialRoot work as for a slapd started here (DialRoot as the
// same user as slapd's, root for the image). stop ends it; Stop and Kill
// call it once, and Exited is closed after it. PID is 0 and Config holds
// only the URL and suffix: such a server cannot be started again with Start.
func Attach(url, suffix, dir string, stop func() error) *Server {
	return &Server{
		URL:       url,
		Suffix:    suffix,
		ServiceDN: ldif.ServiceDN(suffix),
		cfg:       Config{Dir: dir, Suffix: suffix, Listen: url},
		dir:       dir,
		socket:    filepath.Join(dir, "ldapi"),
		exited:    make(chan struct{}),
		stopOther: stop,
	}
}

func (s *Server) stopAttached() error {
	s.closeLog.Do(func() {
		s.closeErr = s.stopOther()
		close(s.exited)
	})
	return s.closeErr
}
