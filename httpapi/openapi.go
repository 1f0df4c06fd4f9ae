package httpapi

import (
	_ "embed"

	"github.com/gin-gonic/gin"
)

// openAPI documents every route under /api/v1; a test holds it to the router.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(c *gin.Context) {
	c.Data(200, "application/json", openAPI)
}
