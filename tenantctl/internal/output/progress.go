package output

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Progress reports long work. On a terminal it redraws one bar line; elsewhere (CI, pipes,
// logs) it writes one plain line per step, so the record survives.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	what  string
	drawn bool
	last  string // Count's last item (plain output)
}

// NewProgress reports progress of what ("migrating") to w; tty picks the bar.
func NewProgress(w io.Writer, tty bool, what string) *Progress {
	return &Progress{w: w, tty: tty, what: what}
}

const barWidth = 30

// Step records that done of total are finished, the last being item.
func (p *Progress) Step(done, total int, item string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "%s %d/%d %s\n", p.what, done, total, item)
		return
	}
	filled := 0
	if total > 0 {
		filled = min(barWidth, done*barWidth/total)
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s [%s%s] %d/%d %s", p.what,
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), done, total, item)
	p.drawn = true
}

// Println writes a line that stays (a failure, a note) without breaking the bar.
func (p *Progress) Println(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, line)
}

// Done ends the bar's line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// Count records work without a known total (records read, bytes written): on a terminal the
// line is redrawn; elsewhere a line is written only when item changes, so a log gets one line
// per phase rather than one per message.
func (p *Progress) Count(n int64, unit, item string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%s: %d %s (%s)", p.what, n, unit, item)
	if !p.tty {
		if item != p.last {
			fmt.Fprintln(p.w, line)
			p.last = item
		}
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s", line)
	p.drawn = true
}
