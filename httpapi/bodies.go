package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// maxBody bounds every request body but those of uploadRoutes and
// largeBodyRoutes: the JSON of the API (decode) and the forms of the pages
// alike.
const maxBody = 64 << 10

// multipartMemory is how much of a multipart form is kept in memory; the
// rest of its files goes to temporary files, removed once served.
const multipartMemory = 256 << 10

// uploadRoutes are the routes that take multipart/form-data, by method and
// route pattern ("POST /gestion/comptes/import"), each with the bound of
// its whole body: the form of a bulk invitation's file (its preview and
// its confirmation, which posts the file's text again). Everywhere else
// multipart is refused before a byte of it is read.
var uploadRoutes = map[string]int64{
	"POST /gestion/inviter/fichier": bulkBodyBound,
}

// largeBodyRoutes are the routes whose body may pass maxBody, with their
// own bound, and which take no multipart: the API's bulk invitation.
var largeBodyRoutes = map[string]int64{
	"POST /api/v1/structures/:siret/invitations/bulk": bulkBodyBound,
}

// limitBodies bounds the request's body (refusing at once a declared length
// over the bound), refuses multipart/form-data outside uploads, and removes
// the temporary files of a parsed multipart form once the request is
// served: net/http removes only those of the request it handed over, and
// middlewares replace c.Request (clientAddress's WithContext).
func limitBodies(uploads, large map[string]int64, refuse func(c *gin.Context, err error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		route := c.Request.Method + " " + c.FullPath()
		limit, upload := uploads[route]
		if !upload {
			if isMultipart(c.Request) {
				refuse(c, errMultipart)
				return
			}
			var ok bool
			if limit, ok = large[route]; !ok {
				limit = maxBody
			}
		}
		if upload || limit > maxBody {
			// A file of 2 MiB on a slow line needs more than apexd's 30 s
			// (http.Server.ReadTimeout), which count the body.
			http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(2 * time.Minute))
		}
		if c.Request.ContentLength > limit {
			refuse(c, fmt.Errorf("%w: %d bytes, over %d", errTooLarge, c.Request.ContentLength, limit))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		defer func() {
			if f := c.Request.MultipartForm; f != nil {
				f.RemoveAll()
			}
		}()
		c.Next()
	}
}

// isMultipart reports a multipart body, whatever its case, parameters or
// flaws: a type that does not parse counts when it starts like one.
func isMultipart(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if t, _, err := mime.ParseMediaType(ct); err == nil {
		return strings.HasPrefix(t, "multipart/")
	}
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/")
}

// refuseBody answers a body refused by limitBodies: the API keeps its
// answers (415 unsupported_media_type for anything but JSON, 400
// bad_request for a body over the bound), pages say it in French.
func (s *Server) refuseBody(c *gin.Context, err error) {
	route := c.Request.Method + " " + c.FullPath()
	if _, upload := uploadRoutes[route]; (upload || largeBodyRoutes[route] > 0) && errors.Is(err, errTooLarge) {
		err = fileTooLarge(err) // a bulk invitation's file, over its bound
	}
	if !isAPI(c) {
		s.writePageError(c, err)
		return
	}
	var he *httpError
	if errors.As(err, &he) {
		s.writeAPIError(c, err)
		return
	}
	if errors.Is(err, errMultipart) {
		err = errMediaType
	} else {
		err = fmt.Errorf("%w: %v", errBadRequest, err)
	}
	s.writeAPIError(c, err)
}

// parseForm reads the form of a page's POST, its body already bounded by
// limitBodies: over the bound is errTooLarge, a body that does not parse
// errBadRequest.
func parseForm(c *gin.Context) error {
	err := c.Request.ParseForm()
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: %v", errTooLarge, err)
	}
	return fmt.Errorf("%w: %v", errBadRequest, err)
}
