package directory

import (
	"sync"
	"time"
)

// DirectoryQuery selects a page of a structure's accounts (guide
// « Consultation des comptes et services de la structure »).
type DirectoryQuery struct {
	SIRET   string
	Service string // one service; empty for all
	Query   string // a part of the identifier, first name or last name
	Page    int    // from 1
	Size    int    // accounts per page: 50 when zero, 200 at most
}

// DirectoryPage is one page of a structure's accounts, with its services.
type DirectoryPage struct {
	Services []ServiceCount // every service of the structure, with its matching accounts
	Accounts []Person       // this page, by last then first name; no mobile, no habilitations
	Total    int            // matching accounts in all pages
	Page     int
	Size     int
}

// ServiceCount is a service and how many matching accounts it holds.
type ServiceCount struct {
	Name     string
	Accounts int
}

// directoryCacheTTL is how long one listing serves the pages that follow
// it: a person paging through 10,000 accounts costs one search, not one a
// page. An account added meanwhile shows up at most this much later.
const directoryCacheTTL = 15 * time.Second

// directoryCache keeps the last listings (sorted, without mobiles), per
// structure, service and search. It is a cache of this process only: no
// decision rests on it.
type directoryCache struct {
	mu      sync.Mutex
	entries map[directoryKey]directoryListing
}

type directoryKey struct{ siret, service, query string }

type directoryListing struct {
	at       time.Time
	services []ServiceCount
	accounts []Person
}

const directoryCacheSize = 32

func (c *directoryCache) get(k directoryKey, now time.Time) (directoryListing, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.entries[k]
	if !ok || now.Sub(l.at) > directoryCacheTTL || now.Before(l.at) {
		return directoryListing{}, false
	}
	return l, true
}

func (c *directoryCache) put(k directoryKey, l directoryListing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[directoryKey]directoryListing{}
	}
	if len(c.entries) >= directoryCacheSize {
		var oldest directoryKey
		first := true
		for key, e := range c.entries {
			if first || e.at.Before(c.entries[oldest].at) {
				oldest, first = key, false
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[k] = l
}
