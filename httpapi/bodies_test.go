package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"
)

// A route of uploadRoutes takes multipart up to its own bound, and the
// files of its form leave the disk once it is served, although a
// middleware replaced the request as clientAddress does; other routes
// refuse multipart.
func TestUploadRouteKeepsNoFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.MaxMultipartMemory = 1 << 10 // parts over 1 KiB go to disk
	var refused []error
	e.Use(limitBodies(map[string]int64{"POST /import": 1 << 20}, nil, func(c *gin.Context, err error) {
		refused = append(refused, err)
		c.AbortWithStatus(http.StatusTeapot)
	}), func(c *gin.Context) {
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), struct{}{}, 1))
		c.Next()
	})
	onDisk := 0
	handler := func(c *gin.Context) {
		f, err := c.FormFile("fichier")
		if err != nil {
			c.String(http.StatusBadRequest, err.Error())
			return
		}
		matches, _ := filepath.Glob(filepath.Join(tmp, "multipart-*"))
		onDisk = len(matches)
		c.String(http.StatusOK, "%d", f.Size)
	}
	e.POST("/import", handler)
	e.POST("/formulaire", handler)
	ts := httptest.NewServer(e)
	defer ts.Close()

	post := func(path string, size int) int {
		t.Helper()
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		fw, _ := w.CreateFormFile("fichier", "comptes.csv")
		fw.Write(bytes.Repeat([]byte("a"), size))
		w.Close()
		res, err := http.Post(ts.URL+path, w.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if status := post("/import", 100<<10); status != http.StatusOK || onDisk != 1 {
		t.Fatalf("an upload under its bound: %d, %d files on disk while served, want 200 and 1", status, onDisk)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "multipart-*")); len(left) != 0 {
		t.Errorf("the upload's file stayed: %v", left)
	}
	if status := post("/import", 2<<20); status != http.StatusTeapot || len(refused) != 1 || !errors.Is(refused[0], errTooLarge) {
		t.Errorf("an upload over its bound: %d, %v", status, refused)
	}
	if status := post("/formulaire", 10); status != http.StatusTeapot || len(refused) != 2 || !errors.Is(refused[1], errMultipart) {
		t.Errorf("multipart to a route without uploads: %d, %v", status, refused)
	}
}
