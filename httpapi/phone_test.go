package httpapi_test

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// On a phone over a slow network, what the accessibility walk checks of
// every page beside axe-core: that the page does not move once its scripts
// have run (a layout shift, which a slow phone shows, its first paint
// coming before the scripts), and what it weighs, compressed. Lighthouse
// measures the same with timings (make lighthouse); these checks do not
// depend on the machine's load.

// phone is the screen that Lighthouse's mobile mode emulates (a Moto G Power).
var phone = emulation.SetDeviceMetricsOverrideParams{Width: 412, Height: 823, DeviceScaleFactor: 1.75, Mobile: true}

// pageBudget is the most that a page may transfer on a first visit (the
// bodies, compressed: HTML, styles, scripts, fonts, images).
const pageBudget = 200 << 10

// checkOnAPhone loads the page the tab shows again on a phone's screen,
// with an empty cache, then once more without its scripts, and fails when
// an element of the page is elsewhere or of another size once the scripts
// have run, when a text file came uncompressed, or when the page weighs
// more than pageBudget.
func checkOnAPhone(t *testing.T, tb *tab) {
	t.Helper()
	page := tb.safePath()
	href := eval[string](tb, `location.href`)
	tb.cdp("emulate a phone", func(ctx context.Context, target *chromedp.Target) error {
		if _, err := cdp.Call(ctx, target, emulation.SetDeviceMetricsOverride, phone); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, target, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	})
	defer tb.cdp("emulate a computer again", func(ctx context.Context, target *chromedp.Target) error {
		if _, err := cdp.Call(ctx, target, network.SetBlockedURLs, network.SetBlockedURLsParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, target, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: false}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, target, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		return err
	})

	// With its scripts, once the DSFR's has started and the page stands still.
	tb.do("open "+page+" on a phone", chromedp.Navigate(href))
	tb.waitLoaded()
	tb.waitFor("the DSFR script", `document.documentElement.getAttribute('data-fr-js') === 'true'`)
	withScripts := settledLayout(tb)
	tb.screenshot("phone " + page)
	checkWeight(t, tb, page)

	// Without any script, as a phone shows the page before they run.
	tb.cdp("block the scripts", func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, network.SetBlockedURLs, network.SetBlockedURLsParams{
			URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/*.js", Block: true}},
		})
		return err
	})
	tb.do("open "+page+" without scripts", chromedp.Navigate(href))
	tb.waitLoaded()
	if eval[bool](tb, `document.documentElement.hasAttribute('data-fr-js')`) {
		t.Fatalf("%s: the DSFR script ran although scripts were blocked", page)
	}
	withoutScripts := settledLayout(tb)

	if len(withScripts) != len(withoutScripts) {
		t.Errorf("%s on a phone: the scripts change the number of elements of the page from %d to %d", page, len(withoutScripts), len(withScripts))
		return
	}
	var moved []string
	for i, before := range withoutScripts {
		after := withScripts[i]
		if !before.near(after) && (before.visible() || after.visible()) {
			moved = append(moved, fmt.Sprintf("%s: %s before the scripts, %s after", before.What, before, after))
		}
	}
	if len(moved) > 0 {
		if len(moved) > 8 {
			moved = append(moved[:8], fmt.Sprintf("and %d more", len(moved)-8))
		}
		t.Errorf("%s on a phone: the scripts move %d elements of the page (a layout shift):\n  %s", page, len(moved), strings.Join(moved, "\n  "))
	}
}

// cdp runs a DevTools command in the tab, failing the test on an error.
func (tb *tab) cdp(what string, f func(ctx context.Context, target *chromedp.Target) error) {
	tb.t.Helper()
	tb.do(what, chromedp.Func(f))
}

// box is where an element of the page is, in CSS pixels from the top of the document.
type box struct {
	What string     `json:"what"`
	Rect [4]float64 `json:"rect"` // left, top, width, height
}

func (b box) String() string {
	return fmt.Sprintf("%.0f×%.0f at (%.0f, %.0f)", b.Rect[2], b.Rect[3], b.Rect[0], b.Rect[1])
}

// visible tells a box that takes some room: a caption left to screen
// readers (1×0) moves nothing when it moves.
func (b box) visible() bool { return b.Rect[2] >= 1 && b.Rect[3] >= 1 }

// near tells whether two boxes are the same, within a pixel.
func (b box) near(o box) bool {
	for i := range b.Rect {
		if math.Abs(b.Rect[i]-o.Rect[i]) > 1 {
			return false
		}
	}
	return true
}

// layoutScript lists the boxes of the elements of main and of the footer,
// in the order of the document, once the fonts are there.
const layoutScript = `document.fonts.ready.then(() => Array.from(document.querySelectorAll('main *, footer'), (e) => {
  const r = e.getBoundingClientRect();
  let what = e.tagName.toLowerCase();
  if (e.id) what += '#' + e.id;
  else if (typeof e.className === 'string' && e.className.trim()) what += '.' + e.className.trim().split(/\s+/).join('.');
  return {what, rect: [r.left + scrollX, r.top + scrollY, r.width, r.height]};
}))`

// settledLayout is the page's layout once two of its frames in a row agree.
func settledLayout(tb *tab) []box {
	tb.t.Helper()
	// Settled: the same layout five times in a row, over at least ten
	// frames, so that a script working in steps (slowly, on a loaded
	// machine) is not caught between two of them.
	var last []box
	still := 0
	for range 200 {
		boxes, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]box](layoutScript, chromedp.EvalAwaitPromise))
		if err != nil {
			tb.t.Fatalf("layout of %s: %v", tb.safePath(), err)
		}
		if last != nil && sameLayout(last, boxes) {
			still++
		} else {
			still = 0
		}
		if still == 4 {
			return boxes
		}
		last = boxes
		if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))))`, chromedp.EvalAwaitPromise)); err != nil {
			tb.t.Fatalf("wait for a frame: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.t.Fatalf("the layout of %s never settles", tb.safePath())
	return nil
}

func sameLayout(a, b []box) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].near(b[i]) {
			return false
		}
	}
	return true
}

// transfer is what the page loaded, as its resource timing tells.
type transfer struct {
	Name    string `json:"name"`
	Encoded int    `json:"encoded"` // the body as it came, compressed or not
	Decoded int    `json:"decoded"`
}

// checkWeight fails when a text file of the page came uncompressed or the
// page weighs more than pageBudget; it logs what the page weighs.
func checkWeight(t *testing.T, tb *tab, page string) {
	t.Helper()
	loaded := eval[[]transfer](tb, `[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
  .filter((e) => !e.name.startsWith('data:'))
  .map((e) => ({name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize}))`)
	total, byKind := 0, map[string]int{}
	for _, l := range loaded {
		total += l.Encoded
		u, err := url.Parse(l.Name)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimPrefix(path.Ext(u.Path), ".")
		if !strings.HasPrefix(u.Path, "/static/") {
			kind = "page"
			if strings.HasPrefix(u.Path, "/api/") {
				kind = "api"
			}
		}
		byKind[kind] += l.Encoded
		text := kind == "page" || kind == "css" || kind == "js" || kind == "svg"
		if text && l.Decoded > 512 && l.Encoded >= l.Decoded {
			t.Errorf("%s: %s came uncompressed (%d bytes)", page, u.Path, l.Decoded)
		}
	}
	t.Logf("%s on a first visit: %.1f KiB compressed (%v)", page, float64(total)/1024, byKind)
	if total > pageBudget {
		t.Errorf("%s weighs %.1f KiB on a first visit, over the budget of %d KiB: %v", page, float64(total)/1024, pageBudget>>10, byKind)
	}
}
